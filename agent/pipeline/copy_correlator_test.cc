#include "agent/pipeline/copy_correlator.h"
#include "agent/sources/recording_sink.h"

#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace custos::agent::pipeline {
namespace {

using custos::v1::Event;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'763'700'000 * kSecond;

Event Read(uint32_t pid, const std::string& path, uint64_t size, int64_t time_ns,
           std::vector<std::string> labels = {}) {
  Event e;
  e.set_time_ns(time_ns);
  e.mutable_actor()->set_pid(pid);
  auto* f = e.mutable_file();
  f->set_op(custos::v1::FILE_OP_READ);
  f->set_path(path);
  f->set_size(size);
  for (auto& l : labels) f->add_classifications(l);
  return e;
}

Event Copy(uint32_t pid, const std::string& path, uint64_t size, int64_t time_ns) {
  Event e;
  e.set_time_ns(time_ns);
  e.mutable_actor()->set_pid(pid);
  auto* f = e.mutable_file();
  f->set_op(custos::v1::FILE_OP_COPY_TO_REMOVABLE);
  f->set_path(path);
  f->set_size(size);
  f->set_device_fingerprint("fp-stick");
  return e;
}

struct Fixture {
  explicit Fixture(CopyCorrelatorOptions options = {})
      : correlator(&sink, options, nullptr, &clock) {}
  FakeClock clock;
  RecordingSink sink;
  CopyCorrelator correlator;
};

TEST(CopyCorrelatorTest, SamePidNameAndSizeWithinWindowLinksSourcePathAndLabels) {
  Fixture f;
  ASSERT_TRUE(f.correlator.Push(Read(42, "/home/alice/plan.xlsx", 1000, kT0, {"finance"})));
  EXPECT_TRUE(f.sink.Take().empty()) << "reads are not passed on by default";
  ASSERT_TRUE(f.correlator.Push(Copy(42, "/media/stick/plan.xlsx", 1000, kT0 + 30 * kSecond)));
  f.correlator.ReleaseDue();  // linked: released without waiting for the hold
  auto events = f.sink.Take();
  ASSERT_EQ(events.size(), 1u);
  const auto& file = events[0].file();
  EXPECT_EQ(file.op(), custos::v1::FILE_OP_COPY_TO_REMOVABLE);
  EXPECT_EQ(file.path(), "/media/stick/plan.xlsx");
  EXPECT_EQ(file.device_fingerprint(), "fp-stick");
  EXPECT_EQ(file.source_path(), "/home/alice/plan.xlsx");
  ASSERT_EQ(file.classifications_size(), 1);
  EXPECT_EQ(file.classifications(0), "finance");
  EXPECT_EQ(f.correlator.stats().linked, 1u);
}

TEST(CopyCorrelatorTest, ReadArrivingAfterTheCopyWithinHoldLinks) {
  Fixture f;
  ASSERT_TRUE(f.correlator.Push(Copy(7, "/media/stick/a.txt", 5, kT0)));
  f.correlator.ReleaseDue();
  EXPECT_TRUE(f.sink.Take().empty()) << "an unmatched copy waits for its read";
  // cp closes the destination before the source: the read is seen slightly later.
  ASSERT_TRUE(f.correlator.Push(Read(7, "/src/a.txt", 5, kT0 + kSecond / 100, {"secret"})));
  f.correlator.ReleaseDue();
  auto events = f.sink.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file().source_path(), "/src/a.txt");
  EXPECT_EQ(events[0].file().classifications(0), "secret");
}

TEST(CopyCorrelatorTest, OtherPidOtherSizeOtherNameOrTooOldDoesNotLink) {
  Fixture f;
  ASSERT_TRUE(f.correlator.Push(Read(1, "/src/report.pdf", 100, kT0, {"x"})));   // other pid
  ASSERT_TRUE(f.correlator.Push(Read(2, "/src/report.pdf", 101, kT0, {"x"})));   // other size
  ASSERT_TRUE(f.correlator.Push(Read(2, "/src/report2.pdf", 100, kT0, {"x"})));  // other name
  ASSERT_TRUE(f.correlator.Push(Read(3, "/src/report.pdf", 100, kT0 - 61 * kSecond)));  // too old
  ASSERT_TRUE(f.correlator.Push(Copy(2, "/media/s/report.pdf", 100, kT0 + kSecond)));
  ASSERT_TRUE(f.correlator.Push(Copy(3, "/media/s/report.pdf", 100, kT0)));
  f.correlator.ReleaseDue();
  EXPECT_TRUE(f.sink.Take().empty());
  f.clock.Advance(seconds(2));  // the hold expires: released unlinked
  f.correlator.ReleaseDue();
  auto events = f.sink.Take();
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    EXPECT_EQ(e.file().source_path(), "");
    EXPECT_EQ(e.file().classifications_size(), 0);
    EXPECT_EQ(e.file().device_fingerprint(), "fp-stick");
  }
  EXPECT_EQ(f.correlator.stats().unlinked, 2u);
  EXPECT_EQ(f.correlator.stats().linked, 0u);
}

TEST(CopyCorrelatorTest, WindowIsConfigurable) {
  CopyCorrelatorOptions options;
  options.window = milliseconds(5000);
  Fixture f(options);
  ASSERT_TRUE(f.correlator.Push(Read(9, "/src/a", 1, kT0)));
  ASSERT_TRUE(f.correlator.Push(Copy(9, "/m/a", 1, kT0 + 6 * kSecond)));
  f.correlator.Stop();  // releases what is held
  auto events = f.sink.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file().source_path(), "");
}

TEST(CopyCorrelatorTest, RecentReadsTableIsBoundedLeastRecentlyReadEvictedFirst) {
  CopyCorrelatorOptions options;
  options.max_reads = 3;
  Fixture f(options);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(f.correlator.Push(Read(5, "/src/f" + std::to_string(i), 10, kT0)));
  }
  ASSERT_TRUE(f.correlator.Push(Read(5, "/src/f0", 10, kT0 + 1)));  // f0 read again: most recent
  ASSERT_TRUE(f.correlator.Push(Read(5, "/src/f3", 10, kT0 + 2)));  // evicts f1
  EXPECT_EQ(f.correlator.reads_in_table(), 3u);
  EXPECT_EQ(f.correlator.stats().reads_evicted, 1u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(f.correlator.Push(Copy(5, "/m/f" + std::to_string(i), 10, kT0 + kSecond)));
  }
  f.correlator.Stop();
  std::map<std::string, std::string> source;
  for (const auto& e : f.sink.Take()) source[e.file().path()] = e.file().source_path();
  EXPECT_EQ(source["/m/f0"], "/src/f0");
  EXPECT_EQ(source["/m/f1"], "") << "evicted";
  EXPECT_EQ(source["/m/f2"], "/src/f2");
  EXPECT_EQ(source["/m/f3"], "/src/f3");
}

TEST(CopyCorrelatorTest, OtherEventsPassThroughAndReadsCanBeForwarded) {
  CopyCorrelatorOptions options;
  options.forward_reads = true;
  Fixture f(options);
  Event usb;
  usb.mutable_usb()->set_action(custos::v1::USB_ACTION_MOUNTED);
  ASSERT_TRUE(f.correlator.Push(std::move(usb)));
  ASSERT_TRUE(f.correlator.Push(Read(1, "/a", 1, kT0)));
  Event create;
  create.mutable_file()->set_op(custos::v1::FILE_OP_CREATE);
  ASSERT_TRUE(f.correlator.PushWait(std::move(create), milliseconds(1)));
  auto events = f.sink.Take();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0].has_usb());
  EXPECT_EQ(events[1].file().op(), custos::v1::FILE_OP_READ);
  EXPECT_EQ(events[2].file().op(), custos::v1::FILE_OP_CREATE);
  f.sink.Refuse(1);
  Event another;
  another.mutable_file()->set_op(custos::v1::FILE_OP_DELETE);
  EXPECT_FALSE(f.correlator.Push(std::move(another))) << "the downstream refusal is returned";
}

TEST(CopyCorrelatorTest, HeldCopiesAreBoundedAndRefusalsReportedAsLost) {
  CopyCorrelatorOptions options;
  options.max_held = 1;
  Fixture f(options);
  ASSERT_TRUE(f.correlator.Push(Copy(1, "/m/a", 1, kT0)));
  ASSERT_TRUE(f.correlator.Push(Copy(1, "/m/b", 1, kT0)));  // over max_held: passed on at once
  auto events = f.sink.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file().path(), "/m/b");
  f.sink.Refuse(1);
  f.clock.Advance(seconds(3));
  f.correlator.ReleaseDue();  // "/m/a" refused
  EXPECT_EQ(f.correlator.stats().dropped, 1u);
  ASSERT_TRUE(f.correlator.Push(Copy(0, "/m/c", 1, kT0)));  // no pid: released at once
  f.correlator.ReleaseDue();
  events = f.sink.Take();
  ASSERT_EQ(events.size(), 2u);
  ASSERT_TRUE(events[0].has_events_lost());
  EXPECT_EQ(events[0].events_lost().source(), "copy_correlator");
  EXPECT_EQ(events[0].events_lost().count(), 1u);
  EXPECT_EQ(events[1].file().path(), "/m/c");
}

TEST(CopyCorrelatorTest, ThreadReleasesLinkedCopiesAndStopFlushesHeldOnes) {
  RecordingSink sink;
  CopyCorrelator correlator(&sink, CopyCorrelatorOptions{}, nullptr, RealClock());
  correlator.Start();
  ASSERT_TRUE(correlator.Push(Read(3, "/s/x", 2, kT0)));
  ASSERT_TRUE(correlator.Push(Copy(3, "/m/x", 2, kT0)));
  ASSERT_TRUE(correlator.Push(Copy(4, "/m/y", 2, kT0)));  // held for 2 s
  std::vector<Event> got;
  for (int i = 0; i < 500 && got.empty(); ++i) {
    auto events = sink.Take();
    got.insert(got.end(), events.begin(), events.end());
    if (got.empty()) std::this_thread::sleep_for(milliseconds(2));  // polling a real thread
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].file().source_path(), "/s/x");
  correlator.Stop();
  auto rest = sink.Take();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].file().path(), "/m/y");
}

// The file source registers its snapshot store through the correlator: both durability
// notifications (written, then synced) must reach it from the sink that logs.
TEST(CopyCorrelatorTest, DurabilityListenersGetBothNotificationsFromDownstream) {
  struct Downstream : RecordingSink {
    void AddDurabilityListener(DurabilityListener* l) override { listener = l; }
    void RemoveDurabilityListener(DurabilityListener* l) override {
      if (listener == l) listener = nullptr;
    }
    DurabilityListener* listener = nullptr;
  } downstream;
  struct Listener : DurabilityListener {
    void OnLogged(uint64_t mark, SinkPosition) override { logged = mark; }
    void OnSynced(uint64_t mark) override { synced = mark; }
    uint64_t logged = 0, synced = 0;
  } listener;
  FakeClock clock;
  CopyCorrelator correlator(&downstream, {}, nullptr, &clock);
  correlator.AddDurabilityListener(&listener);
  ASSERT_EQ(downstream.listener, &listener);
  downstream.listener->OnLogged(7, {1, 7});
  downstream.listener->OnSynced(5);
  EXPECT_EQ(listener.logged, 7u);
  EXPECT_EQ(listener.synced, 5u);
  correlator.RemoveDurabilityListener(&listener);
  EXPECT_EQ(downstream.listener, nullptr);
}

}  // namespace
}  // namespace custos::agent::pipeline
