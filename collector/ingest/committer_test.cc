#include "collector/ingest/committer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/testing/gated_store.h"
#include "common/testing/testing.h"

namespace custos::collector::ingest {
namespace {

using namespace std::chrono_literals;

using store::testing::GatedStore;

std::unique_ptr<store::BatchWrite> Batch(int64_t agent_key, uint64_t first_seq, int n) {
  auto b = std::make_unique<store::BatchWrite>();
  b->agent_key = agent_key;
  b->epoch = 1;
  b->first_seq = first_seq;
  b->buffer = std::string(static_cast<size_t>(n), 'x');
  for (int i = 0; i < n; ++i) {
    store::EventRow r;
    r.time_ns = 1'700'000'000'000'000'000 + i;
    r.type = store::EventType::kFile;
    r.payload = std::string_view(b->buffer).substr(static_cast<size_t>(i), 1);
    b->rows.push_back(r);
  }
  return b;
}

class GroupCommitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inner = store::OpenSqliteStore({.path = dir_.Sub("c.db")});
    ASSERT_TRUE(inner.ok()) << inner.status().ToString();
    store_ = std::make_unique<GatedStore>(std::move(*inner));
    for (const char* id : {"a1", "a2"}) {
      store::AgentRecord a;
      a.agent_id = id;
      a.hostname = std::string("host-") + id;
      a.enrolled_at_ns = 1;
      auto r = store_->RegisterAgent(a);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      keys_.push_back(r->key);
    }
    committer_ =
        std::make_unique<GroupCommitter>(store_.get(), &registry_, 10000, 1000000, 1u << 30, 0ms);
  }
  void TearDown() override {
    if (store_) store_->OpenGate();
    committer_.reset();
  }
  // Submits; the future gets the batch's outcome.
  std::future<Status> Submit(std::unique_ptr<store::BatchWrite> b) {
    auto p = std::make_shared<std::promise<Status>>();
    auto f = p->get_future();
    committer_->Submit(std::move(b), [p](const Status& s) { p->set_value(s); });
    return f;
  }

  testing::TempDir dir_;
  metrics::Registry registry_;
  std::unique_ptr<GatedStore> store_;
  std::vector<int64_t> keys_;
  std::unique_ptr<GroupCommitter> committer_;
};

TEST_F(GroupCommitterTest, BatchesQueuedBehindAFailedOneOfTheirStreamAreRefusedUntilTheResend) {
  const int64_t a1 = keys_[0], a2 = keys_[1];
  // 1. a1's batch 1..10 is inside a commit that will fail (disk full); meanwhile its session has
  //    already sent 11..20, and another agent's batch waits in the same next group.
  store_->CloseGate();
  store_->FailNextCommit();
  auto first = Submit(Batch(a1, 1, 10));
  ASSERT_TRUE(testing::WaitFor([&] { return store_->commits_waiting() == 1; }, 5s));
  auto second = Submit(Batch(a1, 11, 10));
  auto other = Submit(Batch(a2, 1, 5));
  store_->OpenGate();
  EXPECT_EQ(first.get().code(), StatusCode::kResourceExhausted);
  // 11..20 must not commit: the cursor would pass 1..10 and the agent, resuming after it,
  // would never resend them.
  Status s = second.get();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_TRUE(other.get().ok());  // other streams are not held back
  EXPECT_EQ(*store_->LastCommittedSeq(a1, 1), 0u);
  // A straggler of the failed session is refused too.
  EXPECT_EQ(Submit(Batch(a1, 21, 10)).get().code(), StatusCode::kUnavailable);

  // 2. The agent reconnects and resends from the cursor: everything commits, gap-free.
  EXPECT_TRUE(Submit(Batch(a1, 1, 10)).get().ok());
  EXPECT_TRUE(Submit(Batch(a1, 11, 10)).get().ok());
  EXPECT_EQ(*store_->LastCommittedSeq(a1, 1), 20u);
  EXPECT_EQ(*store_->CountEvents(std::nullopt), 25u);
  EXPECT_EQ(*store_->LastCommittedSeq(a2, 1), 5u);
}

}  // namespace
}  // namespace custos::collector::ingest
