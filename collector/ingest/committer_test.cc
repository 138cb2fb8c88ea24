#include "collector/ingest/committer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"

namespace custos::collector::ingest {
namespace {

using namespace std::chrono_literals;

// Delegates to a real store. While the gate is closed CommitBatches waits (the committer is
// inside a commit, so what is submitted meanwhile goes into the next group); FailNextCommit
// makes the next commit fail as a full disk does (SQLITE_FULL), writing nothing.
class FlakyStore final : public store::Store {
 public:
  explicit FlakyStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}

  void CloseGate() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = false;
  }
  void OpenGate() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void FailNextCommit() {
    std::lock_guard<std::mutex> l(mu_);
    fail_next_ = true;
  }
  int commits_waiting() {
    std::lock_guard<std::mutex> l(mu_);
    return waiting_;
  }

  Status CommitBatches(std::span<store::BatchWrite* const> batches) override {
    {
      std::unique_lock<std::mutex> l(mu_);
      ++waiting_;
      cv_.wait(l, [&] { return open_; });
      --waiting_;
      if (fail_next_) {
        fail_next_ = false;
        return ResourceExhaustedError("store: commit: database or disk is full");
      }
    }
    return inner_->CommitBatches(batches);
  }
  Result<uint64_t> LastCommittedSeq(int64_t agent_key, uint64_t epoch) override {
    return inner_->LastCommittedSeq(agent_key, epoch);
  }
  Result<std::vector<store::StoredEvent>> QueryEvents(const store::EventQuery& query) override {
    return inner_->QueryEvents(query);
  }
  Result<uint64_t> CountEvents(std::optional<std::string> agent_id) override {
    return inner_->CountEvents(std::move(agent_id));
  }
  Status CreateEnrollmentToken(const store::EnrollmentTokenRecord& record,
                               std::string_view token_sha256) override {
    return inner_->CreateEnrollmentToken(record, token_sha256);
  }
  Result<store::EnrollmentTokenRecord> ConsumeEnrollmentToken(std::string_view token_sha256,
                                                              int64_t now_ns) override {
    return inner_->ConsumeEnrollmentToken(token_sha256, now_ns);
  }
  Status RevokeEnrollmentToken(std::string_view id, int64_t now_ns) override {
    return inner_->RevokeEnrollmentToken(id, now_ns);
  }
  Result<std::vector<store::EnrollmentTokenRecord>> ListEnrollmentTokens() override {
    return inner_->ListEnrollmentTokens();
  }
  Result<store::AgentRecord> RegisterAgent(const store::AgentRecord& record) override {
    return inner_->RegisterAgent(record);
  }
  Result<store::AgentRecord> FindAgent(std::string_view agent_id) override {
    return inner_->FindAgent(agent_id);
  }
  Status UpdateAgentCertificate(std::string_view agent_id, std::string_view serial,
                                int64_t not_after_ns) override {
    return inner_->UpdateAgentCertificate(agent_id, serial, not_after_ns);
  }
  Status ForgetPreviousCertificate(int64_t agent_key) override {
    return inner_->ForgetPreviousCertificate(agent_key);
  }
  Status ConfirmAgentHost(std::string_view agent_id) override {
    return inner_->ConfirmAgentHost(agent_id);
  }
  Result<std::vector<int64_t>> RevokedAgentKeys() override { return inner_->RevokedAgentKeys(); }
  Status RevokeAgent(std::string_view agent_id, std::string_view reason, int64_t now_ns) override {
    return inner_->RevokeAgent(agent_id, reason, now_ns);
  }
  Status TouchAgent(int64_t agent_key, int64_t now_ns) override {
    return inner_->TouchAgent(agent_key, now_ns);
  }
  Result<std::vector<store::AgentRecord>> ListAgents() override { return inner_->ListAgents(); }
  Result<store::StoreStats> Stats() override { return inner_->Stats(); }
  Status CheckIntegrity() override { return inner_->CheckIntegrity(); }

 private:
  std::unique_ptr<store::Store> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  bool fail_next_ = false;
  int waiting_ = 0;
};

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
    store_ = std::make_unique<FlakyStore>(std::move(*inner));
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
  std::unique_ptr<FlakyStore> store_;
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
