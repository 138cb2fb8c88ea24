#include "agent/pipeline/proc_events.h"

#include <gtest/gtest.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agent/pipeline/utf8.h"
#include "common/testing/testing.h"

namespace custos::agent::pipeline {
namespace {

// proc_event.what (linux/cn_proc.h nests the enum in the struct).
constexpr uint32_t PROC_EVENT_NONE = 0x00000000, PROC_EVENT_FORK = 0x00000001,
                   PROC_EVENT_EXEC = 0x00000002, PROC_EVENT_UID = 0x00000004,
                   PROC_EVENT_COMM = 0x00000200, PROC_EVENT_EXIT = 0x80000000;

// One netlink message as the kernel's proc connector sends it: nlmsghdr, cn_msg, proc_event
// (what, cpu, timestamp, then `data` as 32-bit words).
std::string Message(uint32_t what, std::vector<uint32_t> data, uint32_t seq = 7, uint32_t ack = 0,
                    uint32_t idx = CN_IDX_PROC) {
  std::string ev(16 + 24, '\0');
  std::memcpy(ev.data(), &what, 4);
  for (size_t i = 0; i < data.size() && i < 6; ++i)
    std::memcpy(ev.data() + 16 + 4 * i, &data[i], 4);
  cn_msg cn{};
  cn.id.idx = idx;
  cn.id.val = CN_VAL_PROC;
  cn.seq = seq;
  cn.ack = ack;
  cn.len = static_cast<uint16_t>(ev.size());
  nlmsghdr nh{};
  nh.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(sizeof cn + ev.size()));
  nh.nlmsg_type = NLMSG_DONE;
  std::string out(NLMSG_ALIGN(nh.nlmsg_len), '\0');
  std::memcpy(out.data(), &nh, sizeof nh);
  std::memcpy(out.data() + NLMSG_HDRLEN, &cn, sizeof cn);
  std::memcpy(out.data() + NLMSG_HDRLEN + sizeof cn, ev.data(), ev.size());
  return out;
}

TEST(ParseProcEventsTest, ReadsForkExecUidExitAndAck) {
  const std::string datagram =
      Message(PROC_EVENT_FORK, {100, 100, 200, 200}) + Message(PROC_EVENT_EXEC, {200, 200}) +
      Message(PROC_EVENT_UID, {201, 200, 1000, 0}) +
      Message(PROC_EVENT_EXIT, {200, 200, 0, 17, 100, 100}) + Message(PROC_EVENT_NONE, {1}, 9, 1) +
      Message(PROC_EVENT_COMM, {200, 200});
  std::vector<ProcEvent> events;
  ASSERT_TRUE(ParseProcEvents(datagram, &events).ok());
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].kind, ProcEvent::Kind::kFork);
  EXPECT_EQ(events[0].pid, 200u);
  EXPECT_EQ(events[0].parent, 100u);
  EXPECT_TRUE(events[0].IsProcess());
  EXPECT_EQ(events[1].kind, ProcEvent::Kind::kExec);
  EXPECT_EQ(events[1].pid, 200u);
  EXPECT_EQ(events[2].kind, ProcEvent::Kind::kUid);
  EXPECT_EQ(events[2].pid, 200u);  // the thread group, not thread 201
  EXPECT_EQ(events[2].tid, 201u);
  EXPECT_FALSE(events[2].IsProcess());
  EXPECT_EQ(events[3].kind, ProcEvent::Kind::kExit);
  EXPECT_EQ(events[4].kind, ProcEvent::Kind::kAck);
  EXPECT_EQ(events[4].ack_err, 1u);
  EXPECT_EQ(events[4].seq, 9u);
  EXPECT_EQ(events[4].ack, 1u);
  EXPECT_EQ(events[5].kind, ProcEvent::Kind::kOther);
}

TEST(ParseProcEventsTest, ANewThreadIsNotAProcess) {
  std::vector<ProcEvent> events;
  ASSERT_TRUE(ParseProcEvents(Message(PROC_EVENT_FORK, {100, 100, 101, 100}), &events).ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].IsProcess());
}

TEST(ParseProcEventsTest, OtherConnectorsAreSkipped) {
  std::vector<ProcEvent> events;
  ASSERT_TRUE(ParseProcEvents(Message(PROC_EVENT_EXEC, {5, 5}, 1, 0, /*idx=*/7) +
                                  Message(PROC_EVENT_EXEC, {6, 6}),
                              &events)
                  .ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].pid, 6u);
}

TEST(ParseProcEventsTest, EveryTruncationIsAnErrorOrFewerEventsNeverACrash) {
  const std::string datagram =
      Message(PROC_EVENT_FORK, {1, 1, 2, 2}) + Message(PROC_EVENT_EXIT, {2, 2, 0, 0, 1, 1});
  for (size_t len = 0; len < datagram.size(); ++len) {
    std::vector<ProcEvent> events;
    Status s = ParseProcEvents(std::string_view(datagram.data(), len), &events);
    EXPECT_LT(events.size(), 2u) << len;
    if (len != 0 && len != datagram.size() / 2) {
      EXPECT_FALSE(s.ok()) << len;
      EXPECT_NE(s.message().find("proc events:"), std::string::npos);
    }
  }
}

TEST(ParseProcEventsTest, LengthsPointingOutsideTheMessageAreRefused) {
  std::string m = Message(PROC_EVENT_EXEC, {3, 3});
  std::string long_cn = m;
  const uint16_t big = 4000;
  std::memcpy(long_cn.data() + NLMSG_HDRLEN + offsetof(cn_msg, len), &big, 2);
  std::vector<ProcEvent> events;
  EXPECT_FALSE(ParseProcEvents(long_cn, &events).ok());
  EXPECT_TRUE(events.empty());

  std::string short_cn = m;
  const uint16_t small = 12;  // not even the event header
  std::memcpy(short_cn.data() + NLMSG_HDRLEN + offsetof(cn_msg, len), &small, 2);
  EXPECT_FALSE(ParseProcEvents(short_cn, &events).ok());

  std::string long_nl = m;
  const uint32_t huge = 1u << 30;
  std::memcpy(long_nl.data(), &huge, 4);
  EXPECT_FALSE(ParseProcEvents(long_nl, &events).ok());

  std::string error = m;
  const uint16_t type = NLMSG_ERROR;
  std::memcpy(error.data() + offsetof(nlmsghdr, nlmsg_type), &type, 2);
  EXPECT_FALSE(ParseProcEvents(error, &events).ok());
  EXPECT_TRUE(events.empty());
}

// ---- the real kernel (needs CAP_NET_ADMIN in the initial namespaces) ---------------------------

class ProcEventTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcEventTrackerOptions options;
    options.pause_above_events_per_second = 1'000'000;  // other tests' processes never pause it
    auto started = ProcEventTracker::Start(&attributor_, options);
    if (!started.ok()) {
      if (geteuid() != 0) GTEST_SKIP() << "needs root: " << started.status().ToString();
      FAIL() << "root, yet no process events: " << started.status().ToString();
    }
    tracker_ = std::move(*started);
    ASSERT_TRUE(attributor_.tracking());
  }

  // Waits (at most 5 s) until `done` holds for the facts of `pid`.
  template <typename Pred>
  custos::v1::Actor WaitForFacts(uint32_t pid, Pred done) {
    custos::v1::Actor actor;
    for (int i = 0; i < 500; ++i) {
      actor = attributor_.AttributeProcess(pid);
      if (done(actor)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return actor;
  }

  ProcessAttributor attributor_;
  std::unique_ptr<ProcEventTracker> tracker_;
};

using custos::testing::RunToExit;

TEST_F(ProcEventTrackerTest, AnExecdProcessKeepsItsFactsAfterItExitedThoughNobodyAskedEarlier) {
  const auto sleep = RunToExit("/bin/sleep", {"sleep", "0.3"});
  ASSERT_TRUE(sleep.ok());
  // The process is gone and was never looked up while it ran: only the exec event read it.
  const auto pid = static_cast<uint32_t>(sleep.pid);
  const custos::v1::Actor actor =
      WaitForFacts(pid, [](const auto& a) { return !a.executable().empty(); });
  EXPECT_EQ(actor.pid(), pid);
  EXPECT_EQ(actor.ppid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(actor.executable(), EscapeToUtf8(std::filesystem::canonical("/bin/sleep").string()));
  EXPECT_EQ(actor.command_line(), "sleep 0.3");
  EXPECT_EQ(actor.uid(), geteuid());
  EXPECT_FALSE(actor.partial());
  const auto ts = tracker_->stats();
  EXPECT_GE(ts.execs, 1u);
  EXPECT_GE(ts.forks, 1u);
  EXPECT_TRUE(ts.running);
  EXPECT_GE(attributor_.stats().exec_reads, 1u);
}

TEST_F(ProcEventTrackerTest, AForkedChildInheritsItsParentsFactsAndAnExecReplacesThem) {
  // Cache the test process itself (tracked: tracking is on).
  const custos::v1::Actor self = attributor_.AttributeProcess(static_cast<uint32_t>(getpid()));
  ASSERT_FALSE(self.partial());
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  if (child == 0) {
    char c;
    (void)!read(go[0], &c, 1);  // exec only when the parent says so
    execl("/bin/sleep", "sleep", "0.3", static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(child, 0);
  const auto pid = static_cast<uint32_t>(child);
  // The fork event is applied (as a kernel reader does before attributing): the child is a copy
  // of us, inherited, served with no procfs read.
  attributor_.SyncEvents();
  EXPECT_GE(attributor_.stats().inherited, 1u);
  const auto misses = attributor_.stats().misses;
  const custos::v1::Actor forked = attributor_.AttributeProcess(pid);
  EXPECT_EQ(attributor_.stats().misses, misses) << "read from procfs, not inherited";
  EXPECT_EQ(forked.pid(), pid);
  EXPECT_EQ(forked.ppid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(forked.executable(), self.executable());
  EXPECT_EQ(forked.command_line(), self.command_line());
  EXPECT_FALSE(forked.partial());
  ASSERT_EQ(write(go[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(go[0]);
  close(go[1]);
  // Gone now; its exec was read while it slept.
  attributor_.SyncEvents();
  const custos::v1::Actor execd = attributor_.AttributeProcess(pid);
  EXPECT_EQ(attributor_.stats().misses, misses);
  EXPECT_EQ(execd.command_line(), "sleep 0.3");
  EXPECT_NE(execd.executable(), self.executable());
  EXPECT_FALSE(execd.partial());
}

TEST_F(ProcEventTrackerTest, AUidChangeIsReadAgain) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to change uid";
  const custos::v1::Actor self = attributor_.AttributeProcess(static_cast<uint32_t>(getpid()));
  ASSERT_FALSE(self.partial());
  int go[2], ready[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  const pid_t child = fork();
  if (child == 0) {
    char c;
    (void)!read(go[0], &c, 1);
    if (setresuid(65534, 65534, 65534) != 0) _exit(1);
    (void)!write(ready[1], "x", 1);
    (void)!read(done[0], &c, 1);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  const auto pid = static_cast<uint32_t>(child);
  attributor_.SyncEvents();  // the fork: inherited from us, uid 0
  EXPECT_EQ(attributor_.AttributeProcess(pid).uid(), 0u);
  const auto reads = attributor_.stats().exec_reads;
  ASSERT_EQ(write(go[1], "x", 1), 1);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  attributor_.SyncEvents();  // the uid change: read again while the child waits
  EXPECT_GT(attributor_.stats().exec_reads, reads);
  const custos::v1::Actor after = attributor_.AttributeProcess(pid);
  EXPECT_EQ(after.uid(), 65534u);
  EXPECT_EQ(after.executable(), self.executable());
  EXPECT_FALSE(after.partial());
  ASSERT_EQ(write(done[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  for (int fd : {go[0], go[1], ready[0], ready[1], done[0], done[1]}) close(fd);
}

// Without CAP_NET_ADMIN: a clear error and tracking stays off. ("" or what went wrong.)
std::string CheckRefusedWithoutCapNetAdmin() {
  ProcessAttributor attributor;
  auto started = ProcEventTracker::Start(&attributor);
  if (started.ok()) return "started without CAP_NET_ADMIN";
  if (started.status().code() != StatusCode::kPermissionDenied) {
    return "code: " + started.status().ToString();
  }
  if (started.status().message().find("needs CAP_NET_ADMIN") == std::string::npos) {
    return "message: " + started.status().message();
  }
  if (attributor.tracking()) return "tracking on";
  return "";
}

TEST(ProcEventTrackerPrivilegeTest, WithoutCapNetAdminStartFailsAndSaysWhy) {
  EXPECT_EQ(custos::testing::RunUnprivileged(CheckRefusedWithoutCapNetAdmin), "");
}

TEST(ProcEventTrackerPauseTest, AnExecStormPausesTrackingWhichResumesByItself) {
  ProcessAttributor attributor;
  ProcEventTrackerOptions options;
  options.pause_above_events_per_second = 200;
  options.pause_for = std::chrono::milliseconds(1000);
  auto started = ProcEventTracker::Start(&attributor, options);
  if (!started.ok()) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: " << started.status().ToString();
    FAIL() << started.status().ToString();
  }
  std::unique_ptr<ProcEventTracker> tracker = std::move(*started);
  // A storm: 500 fork + exec, as fast as they go (one second holds more than 200 events).
  bool saw_pause = false;
  for (int i = 0; i < 500 && !saw_pause; ++i) {
    ASSERT_TRUE(RunToExit("/bin/true", {"true"}).ok());
    saw_pause = tracker->stats().paused;
  }
  for (int i = 0; i < 200 && !saw_pause; ++i) {
    saw_pause = tracker->stats().paused;
    if (!saw_pause) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(saw_pause);
  EXPECT_FALSE(attributor.tracking());
  EXPECT_GE(tracker->stats().pauses, 1u);
  // Subscribed again: a process that is gone before anyone asks keeps the facts of its exec. (The
  // threshold counts the whole host's events: should other tests' processes pause it again
  // meanwhile, wait for the next resume and try again.)
  custos::v1::Actor actor;
  for (int attempt = 0; attempt < 3; ++attempt) {
    bool resumed = false;
    for (int i = 0; i < 500 && !resumed; ++i) {
      resumed = !tracker->stats().paused && attributor.tracking();
      if (!resumed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(resumed);
    EXPECT_TRUE(tracker->stats().running);
    const auto pauses = tracker->stats().pauses;
    const auto sleep = RunToExit("/bin/sleep", {"sleep", "0.3"});
    ASSERT_TRUE(sleep.ok());
    attributor.SyncEvents();
    actor = attributor.AttributeProcess(static_cast<uint32_t>(sleep.pid));
    if (tracker->stats().pauses == pauses) break;
  }
  EXPECT_EQ(actor.command_line(), "sleep 0.3");
  EXPECT_FALSE(actor.partial());
  tracker->Stop();
  EXPECT_FALSE(attributor.tracking());
}

TEST_F(ProcEventTrackerTest, StopTurnsTrackingOffAndIsIdempotent) {
  tracker_->Stop();
  EXPECT_FALSE(attributor_.tracking());
  EXPECT_FALSE(tracker_->stats().running);
  tracker_->Stop();
  tracker_.reset();
  // Without tracking the attributor still works the old way.
  const custos::v1::Actor self = attributor_.AttributeProcess(static_cast<uint32_t>(getpid()));
  EXPECT_FALSE(self.partial());
}

}  // namespace
}  // namespace custos::agent::pipeline
