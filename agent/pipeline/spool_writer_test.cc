#include "agent/pipeline/spool_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "agent/spool/segment.h"
#include "common/fs/file_system.h"
#include "common/testing/testing.h"
#include "common/time/clock.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::pipeline {
namespace {

namespace v1 = custos::v1;
using fs::FaultInjectionFileSystem;

v1::Event FileEvent(const std::string& path) {
  v1::Event e;
  e.set_time_ns(1);
  e.mutable_file()->set_op(v1::FILE_OP_CREATE);
  e.mutable_file()->set_path(path);
  return e;
}

class SpoolWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool::SpoolOptions options;
    options.dir = "/spool";
    auto s = spool::Spool::Open(&fs_, options, &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    spool_ = std::move(*s);
  }
  std::unique_ptr<SpoolWriter> Writer(SpoolWriterOptions options) {
    options.host = "host-1";
    return std::make_unique<SpoolWriter>(spool_.get(), options, &clock_,
                                         [this] { ++durable_calls_; });
  }
  // Every durable record, parsed back.
  std::vector<std::pair<spool::RecordOut, v1::Event>> ReadAll() {
    std::vector<std::pair<spool::RecordOut, v1::Event>> all;
    auto records = spool_->Read(1, 1'000'000, 1u << 30);
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    if (!records.ok()) return all;
    for (auto& r : *records) {
      v1::Event e;
      EXPECT_TRUE(e.ParseFromString(r.payload)) << "seq " << r.seq;
      all.emplace_back(std::move(r), std::move(e));
    }
    return all;
  }

  FaultInjectionFileSystem fs_;
  FakeClock clock_;
  std::unique_ptr<spool::Spool> spool_;
  std::atomic<int> durable_calls_{0};
};

TEST_F(SpoolWriterTest, EventsArriveInOrderWithHostTypeAndPriority) {
  SpoolWriterOptions o;
  o.gather_delay = std::chrono::milliseconds(0);
  auto w = Writer(o);
  w->Start();
  // One Event reused for every push, as the replay source does: each push must carry only its
  // own fields, and an accepted event is handed back cleared.
  v1::Event e;
  for (int i = 0; i < 1000; ++i) {
    e = FileEvent("/data/f" + std::to_string(i));
    if (i % 100 == 7) e.mutable_file()->add_classifications("confidential");
    if (i == 500) e.set_host("explicit-host");
    ASSERT_TRUE(w->Push(std::move(e)));
    EXPECT_FALSE(e.has_file()) << i;
  }
  v1::Event setting;
  setting.set_time_ns(2);
  setting.mutable_setting()->set_key("/etc/ssh/sshd_config");
  ASSERT_TRUE(w->PushWait(std::move(setting), std::chrono::milliseconds(100)));
  w->Stop();

  auto all = ReadAll();
  ASSERT_EQ(all.size(), 1001u);
  for (int i = 0; i < 1000; ++i) {
    const auto& [rec, ev] = all[i];
    EXPECT_EQ(rec.seq, static_cast<uint64_t>(i + 1));
    EXPECT_EQ(ev.file().path(), "/data/f" + std::to_string(i));
    EXPECT_EQ(ev.host(), i == 500 ? "explicit-host" : "host-1");
    EXPECT_EQ(rec.type, SpoolWriter::TypeOf(ev));
    EXPECT_EQ(rec.priority, i % 100 == 7 ? 150 : 100) << i;
    EXPECT_EQ(ev.file().classifications_size(), i % 100 == 7 ? 1 : 0) << i;
  }
  EXPECT_EQ(all[1000].second.setting().key(), "/etc/ssh/sshd_config");
  EXPECT_EQ(all[1000].first.priority, 250);
  SpoolWriterStats st = w->Stats();
  EXPECT_EQ(st.accepted, 1001u);
  EXPECT_EQ(st.written, 1001u);
  EXPECT_EQ(st.dropped, 0u);
  EXPECT_GE(durable_calls_.load(), 1);
  EXPECT_EQ(static_cast<uint64_t>(durable_calls_.load()), st.syncs);
}

TEST_F(SpoolWriterTest, FullRingRefusesLeavesTheEventAndReportsTheLoss) {
  SpoolWriterOptions o;
  o.ring_capacity = 3;
  auto w = Writer(o);  // not started: nothing drains the ring yet
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Push(FileEvent("/a" + std::to_string(i))));
  v1::Event refused = FileEvent("/refused");
  EXPECT_FALSE(w->Push(std::move(refused)));
  EXPECT_EQ(refused.file().path(), "/refused");  // untouched: the producer may offer it again
  EXPECT_FALSE(w->PushWait(std::move(refused), std::chrono::milliseconds(20)));
  EXPECT_EQ(refused.file().path(), "/refused");
  EXPECT_EQ(w->Stats().dropped, 1u);  // PushWait's timeout is not a drop: the caller still holds it
  w->Start();
  ASSERT_TRUE(w->PushWait(std::move(refused), std::chrono::seconds(5)));
  w->Stop();

  auto all = ReadAll();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].second.file().path(), "/a0");
  EXPECT_EQ(all[2].second.file().path(), "/a2");
  // The loss report follows the group that was waiting when the writer woke.
  ASSERT_TRUE(all[3].second.has_events_lost());
  EXPECT_EQ(all[3].second.events_lost().count(), 1u);
  EXPECT_EQ(all[3].second.events_lost().source(), "pipeline");
  EXPECT_EQ(all[3].first.priority, 250);
  EXPECT_EQ(all[4].second.file().path(), "/refused");
}

TEST_F(SpoolWriterTest, ByteCapAdmitsOneLargeEventButNotMore) {
  SpoolWriterOptions o;
  o.ring_capacity_bytes = 1000;
  auto w = Writer(o);
  v1::Event big = FileEvent(std::string(4000, 'x'));  // larger than the cap on its own
  EXPECT_TRUE(w->Push(std::move(big)));
  EXPECT_FALSE(w->Push(FileEvent("/small")));
  w->Start();
  w->Stop();
  auto all = ReadAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].second.file().path().size(), 4000u);
  EXPECT_TRUE(all[1].second.has_events_lost());
}

TEST_F(SpoolWriterTest, EventOverTheEventCapIsKeptWithLongFieldsShortenedAndFlagged) {
  auto w = Writer({});
  w->Start();
  const size_t cap = SpoolWriterOptions().max_field_bytes;
  // A path over even the spool's record limit, with a 2-byte character across the field cap
  // that the cut must not split.
  v1::Event huge =
      FileEvent(std::string(cap - 1, 'p') + "\xc3\xa9" + std::string(spool::kMaxPayloadBytes, 'p'));
  huge.mutable_actor()->set_command_line("cp " + std::string(300000, 'c'));
  huge.mutable_file()->add_classifications("confidential");
  huge.set_time_ns(42);
  EXPECT_TRUE(w->PushWait(std::move(huge), std::chrono::seconds(5)));  // taken: replay moves on
  EXPECT_TRUE(w->Push(FileEvent("/after")));
  w->Stop();
  auto all = ReadAll();
  ASSERT_EQ(all.size(), 2u);
  const v1::Event& kept = all[0].second;
  EXPECT_TRUE(kept.truncated());
  EXPECT_EQ(kept.time_ns(), 42);
  EXPECT_EQ(kept.file().path(), std::string(cap - 1, 'p'));
  EXPECT_EQ(kept.actor().command_line().size(), cap);
  EXPECT_EQ(kept.file().classifications(0), "confidential");  // short fields untouched
  EXPECT_FALSE(all[1].second.truncated());
  EXPECT_EQ(all[1].second.file().path(), "/after");
  EXPECT_EQ(w->Stats().truncated, 1u);
}

TEST_F(SpoolWriterTest, EventStillOverTheCapWithShortFieldsBecomesALossReport) {
  auto w = Writer({});
  w->Start();
  // 40 labels of 8 KiB: none is over the field cap, together they are over the event cap.
  v1::Event wide = FileEvent("/wide");
  for (int i = 0; i < 40; ++i) wide.mutable_file()->add_classifications(std::string(8192, 'l'));
  wide.set_time_ns(42);
  EXPECT_TRUE(w->PushWait(std::move(wide), std::chrono::seconds(5)));
  EXPECT_TRUE(w->Push(FileEvent("/after")));
  w->Stop();
  auto all = ReadAll();
  ASSERT_EQ(all.size(), 2u);
  const v1::Event& lost = all[0].second;
  ASSERT_TRUE(lost.has_events_lost());
  EXPECT_EQ(lost.events_lost().count(), 1u);
  EXPECT_EQ(lost.time_ns(), 42);
  EXPECT_EQ(lost.host(), "host-1");
  EXPECT_NE(lost.events_lost().reason().find("event limit"), std::string::npos);
  EXPECT_EQ(all[0].first.priority, 250);
  EXPECT_EQ(all[0].first.type, SpoolWriter::TypeOf(lost));
  EXPECT_EQ(all[1].second.file().path(), "/after");
  EXPECT_EQ(w->Stats().write_errors, 0u);
}

TEST_F(SpoolWriterTest, GroupsAreCappedAtMaxGroupEventsPerSync) {
  SpoolWriterOptions o;
  o.max_group = 4;
  auto w = Writer(o);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(w->Push(FileEvent("/g" + std::to_string(i))));
  w->Start();
  w->Stop();
  EXPECT_EQ(w->Stats().syncs, 3u);  // 4 + 4 + 2
  EXPECT_EQ(durable_calls_.load(), 3);
  auto all = ReadAll();
  ASSERT_EQ(all.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(all[i].second.file().path(), "/g" + std::to_string(i));
}

TEST_F(SpoolWriterTest, SpoolFailureDropsThatGroupAndCountsItThenCarriesOn) {
  SpoolWriterOptions o;
  o.max_group = 2;
  auto w = Writer(o);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(w->Push(FileEvent("/f" + std::to_string(i))));
  fs_.FailNext(FaultInjectionFileSystem::Op::kSync, InternalError("injected fsync failure"));
  w->Start();
  w->Stop();
  SpoolWriterStats st = w->Stats();
  EXPECT_EQ(st.write_errors, 1u);
  EXPECT_EQ(st.dropped, 2u);
  EXPECT_EQ(st.written, 2u);
  // The first group's append failed to become durable; the second group is in the spool.
  auto records = spool_->Read(1, 100, 1u << 20);
  ASSERT_TRUE(records.ok());
  ASSERT_FALSE(records->empty());
  v1::Event last;
  ASSERT_TRUE(last.ParseFromString(records->back().payload));
  EXPECT_EQ(last.file().path(), "/f3");
}

// A checkpoint of the file snapshot waits for OnSynced: it must come only after a Sync that
// succeeded, with the mark that Sync covers, and never ahead of OnLogged.
TEST_F(SpoolWriterTest, SyncedMarksFollowEachSuccessfulSyncAndNeverRunAheadOfTheWrite) {
  struct Listener : DurabilityListener {
    void OnLogged(uint64_t mark, SinkPosition) override {
      std::lock_guard<std::mutex> l(mu);
      logged.push_back(mark);
    }
    void OnSynced(uint64_t mark) override {
      std::lock_guard<std::mutex> l(mu);
      synced.push_back(mark);
      logged_then.push_back(logged.empty() ? 0 : logged.back());
      syncs_then.push_back(writer->Stats().syncs);
    }
    std::mutex mu;
    std::vector<uint64_t> logged, synced, logged_then, syncs_then;
    SpoolWriter* writer = nullptr;
  } listener;
  SpoolWriterOptions o;
  o.max_group = 2;
  auto w = Writer(o);
  listener.writer = w.get();
  w->AddDurabilityListener(&listener);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(w->Push(FileEvent("/s" + std::to_string(i))));
  // The first chunk (marks 1-2) is written but its fsync fails: never told synced.
  fs_.FailNext(FaultInjectionFileSystem::Op::kSync, InternalError("injected fsync failure"));
  w->Start();
  w->Stop();
  w->RemoveDurabilityListener(&listener);
  std::lock_guard<std::mutex> l(listener.mu);
  EXPECT_EQ(listener.logged, (std::vector<uint64_t>{2, 4, 6}));
  EXPECT_EQ(listener.synced, (std::vector<uint64_t>{4, 6}));
  for (size_t i = 0; i < listener.synced.size(); ++i) {
    EXPECT_GE(listener.logged_then[i], listener.synced[i]);  // written before told synced
    EXPECT_EQ(listener.syncs_then[i], i + 1);                // right after its own Sync
  }
}

TEST_F(SpoolWriterTest, DiskFullCountsTheLostEventsThenResumesAndReportsThemWhenSpaceReturns) {
  SpoolWriterOptions o;
  o.gather_delay = std::chrono::milliseconds(0);
  auto w = Writer(o);
  w->Start();
  ASSERT_TRUE(w->Push(FileEvent("/before")));
  ASSERT_TRUE(testing::WaitFor([&] { return w->Stats().written == 1; }, std::chrono::seconds(5)));

  fs_.SetCapacity(1);  // the disk is full: every append fails with ENOSPC after a short write
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Push(FileEvent("/lost" + std::to_string(i))));
  ASSERT_TRUE(testing::WaitFor([&] { return w->Stats().dropped == 3; }, std::chrono::seconds(5)));
  EXPECT_GE(w->Stats().write_errors, 1u);
  EXPECT_EQ(w->Stats().written, 1u);
  EXPECT_EQ(spool_->Stats().next_seq, 2u);  // nothing of the failed appends kept a seq

  fs_.SetCapacity(0);  // space returns
  const auto returned = std::chrono::steady_clock::now();
  ASSERT_TRUE(w->Push(FileEvent("/after")));
  ASSERT_TRUE(testing::WaitFor([&] { return w->Stats().written >= 2; }, std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - returned, std::chrono::seconds(5));
  w->Stop();
  EXPECT_EQ(w->Stats().dropped, 3u);

  auto all = ReadAll();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].second.file().path(), "/before");
  EXPECT_EQ(all[1].second.file().path(), "/after");
  // The collector learns what the full disk cost, with the first group the spool took again.
  ASSERT_TRUE(all[2].second.has_events_lost());
  EXPECT_EQ(all[2].second.events_lost().count(), 3u);
  EXPECT_EQ(all[2].second.events_lost().source(), "pipeline");
  EXPECT_NE(all[2].second.events_lost().reason().find("No space left on device"), std::string::npos)
      << all[2].second.events_lost().reason();
}

TEST_F(SpoolWriterTest, ConcurrentProducersLoseNothingAndKeepTheirOrder) {
  SpoolWriterOptions o;
  o.ring_capacity = 256;  // small: producers often find it full and wait
  o.max_group = 64;
  o.gather_delay = std::chrono::milliseconds(1);
  auto w = Writer(o);
  w->Start();
  constexpr int kThreads = 4, kEach = 5000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      v1::Event e;  // reused, as the replay source does
      for (int i = 0; i < kEach; ++i) {
        e.set_time_ns(1);
        e.mutable_file()->set_path("/t" + std::to_string(t) + "/" + std::to_string(i));
        while (!w->PushWait(std::move(e), std::chrono::milliseconds(100))) {
        }
      }
    });
  }
  for (auto& p : producers) p.join();
  w->Stop();
  auto all = ReadAll();
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  std::vector<int> next(kThreads, 0);
  for (const auto& [rec, ev] : all) {
    const std::string& path = ev.file().path();
    const size_t slash = path.find('/', 1);
    ASSERT_NE(slash, std::string::npos) << path;
    const int t = std::stoi(path.substr(2, slash - 2));
    EXPECT_EQ(std::stoi(path.substr(slash + 1)), next[t]++) << path;
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kEach);
  EXPECT_EQ(w->Stats().dropped, 0u);
}

// The file source keeps its persisted snapshot in step with the spool through these marks: a
// mark is reported durable only after the records up to it were appended and synced.
// The file source keeps its persisted snapshot in step with the spool through these marks: a
// mark is reported only once the records up to it are in the spool, with the spool position.
TEST_F(SpoolWriterTest, DurabilityMarksAreReportedOnceTheirRecordsAreInTheSpool) {
  struct Listener : DurabilityListener {
    void OnLogged(uint64_t mark, SinkPosition position) override {
      std::lock_guard<std::mutex> l(mu);
      marks.push_back(mark);
      positions.push_back(position);
      appended.push_back(spool->Stats().next_seq - 1);
    }
    std::mutex mu;
    std::vector<uint64_t> marks;
    std::vector<SinkPosition> positions;
    std::vector<uint64_t> appended;
    spool::Spool* spool = nullptr;
  } listener;
  listener.spool = spool_.get();
  SpoolWriterOptions o;
  o.gather_delay = std::chrono::milliseconds(0);
  auto w = Writer(o);
  const uint64_t epoch = spool_->Stats().epoch;
  ASSERT_TRUE(w->RecoveredPosition().has_value());
  EXPECT_EQ(*w->RecoveredPosition(), (SinkPosition{epoch, 0}));  // an empty spool
  w->AddDurabilityListener(&listener);
  EXPECT_EQ(w->DurabilityMark(), 0u);
  w->Start();
  ASSERT_TRUE(w->Push(FileEvent("/a")));
  const uint64_t first = w->DurabilityMark();
  ASSERT_TRUE(w->Push(FileEvent("/b")));
  const uint64_t second = w->DurabilityMark();
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(second, 2u);
  w->Stop();
  {
    std::lock_guard<std::mutex> l(listener.mu);
    ASSERT_FALSE(listener.marks.empty());
    EXPECT_EQ(listener.marks.back(), second);
    EXPECT_EQ(listener.positions.back(), (SinkPosition{epoch, 2}));
    for (size_t i = 0; i < listener.marks.size(); ++i) {
      // One record per event here: the records up to the mark are in the spool.
      EXPECT_GE(listener.appended[i], listener.marks[i]);
      EXPECT_EQ(listener.positions[i].seq, listener.appended[i]);
      if (i > 0) {
        EXPECT_GE(listener.marks[i], listener.marks[i - 1]);
      }
    }
  }
  EXPECT_EQ(ReadAll().size(), 2u);
  w->RemoveDurabilityListener(&listener);
  // A writer created on a spool that holds records: they survived, up to the last seq.
  auto again = Writer(o);
  EXPECT_EQ(*again->RecoveredPosition(), (SinkPosition{epoch, 2}));
}

TEST_F(SpoolWriterTest, PushAfterStopIsRefused) {
  auto w = Writer({});
  w->Start();
  w->Stop();
  v1::Event e = FileEvent("/late");
  EXPECT_FALSE(w->Push(std::move(e)));
  EXPECT_EQ(e.file().path(), "/late");
}

}  // namespace
}  // namespace custos::agent::pipeline
