#include "agent/pipeline/attribution.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "agent/pipeline/utf8.h"
#include "common/testing/testing.h"
#include "common/time/clock.h"

namespace custos::agent::pipeline {
namespace {

using custos::testing::TempDir;
using namespace std::string_literals;

// A fake /proc/PID directory: stat, exe (a dangling symlink is fine), cmdline, status, loginuid.
struct FakeProcess {
  uint32_t pid = 4242;
  uint32_t ppid = 1;
  std::string comm = "cp";
  uint64_t start_time = 1000;
  std::string exe = "/usr/bin/cp";
  std::string cmdline = "cp\0-a\0/home/alice/secret.docx\0/media/usb/\0"s;
  uint32_t uid = 0;
  std::optional<uint32_t> login_uid = 1000;
};

void WriteFake(const std::string& proc_root, const FakeProcess& p) {
  const std::string dir = proc_root + "/" + std::to_string(p.pid);
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(custos::testing::WriteFile(
                  dir + "/stat", std::to_string(p.pid) + " (" + p.comm + ") S " +
                                     std::to_string(p.ppid) +
                                     " 4242 4242 34816 4242 4194304 97 0 0 0 0 0 0 0 20 0 1 0 " +
                                     std::to_string(p.start_time) + " 8642560 224 ...\n")
                  .ok());
  std::filesystem::remove(dir + "/exe");
  std::filesystem::create_symlink(p.exe, dir + "/exe");
  ASSERT_TRUE(custos::testing::WriteFile(dir + "/cmdline", p.cmdline).ok());
  const std::string u = std::to_string(p.uid);
  ASSERT_TRUE(custos::testing::WriteFile(
                  dir + "/status", "Name:\t" + p.comm + "\nUmask:\t0022\nState:\tS\nPPid:\t" +
                                       std::to_string(p.ppid) + "\nUid:\t" + u + "\t" + u + "\t" +
                                       u + "\t" + u + "\nGid:\t0\t0\t0\t0\n")
                  .ok());
  std::filesystem::remove(dir + "/loginuid");
  if (p.login_uid) {
    ASSERT_TRUE(custos::testing::WriteFile(dir + "/loginuid", std::to_string(*p.login_uid)).ok());
  }
}

// A bash process, and the same process after it exec'd cp (same pid and start time).
FakeProcess Shell() {
  FakeProcess p;
  p.comm = "bash";
  p.exe = "/usr/bin/bash";
  return p;
}
FakeProcess ExecedCp(FakeProcess p) {
  p.comm = "cp";
  p.exe = "/usr/bin/cp";
  return p;
}

std::optional<std::string> FakeUsers(uint32_t uid) {
  static const std::map<uint32_t, std::string> users = {{0, "root"}, {1000, "alice"}};
  auto it = users.find(uid);
  if (it == users.end()) return std::nullopt;
  return it->second;
}

TEST(ProcessAttributorTest, AttributesTheTestProcessItself) {
  ProcessAttributor attributor;
  const custos::v1::Actor actor = attributor.Attribute(static_cast<uint32_t>(getpid()));
  EXPECT_EQ(actor.pid(), static_cast<uint32_t>(getpid()));
  EXPECT_EQ(actor.ppid(), static_cast<uint32_t>(getppid()));
  EXPECT_EQ(actor.executable(),
            EscapeToUtf8(std::filesystem::read_symlink("/proc/self/exe").string()));
  EXPECT_NE(actor.command_line().find("attribution_test"), std::string::npos)
      << actor.command_line();
  EXPECT_EQ(actor.uid(), geteuid());
  if (geteuid() == 0) {
    EXPECT_EQ(actor.user_name(), "root");
  }
  EXPECT_FALSE(actor.user_name().empty());
  EXPECT_FALSE(actor.partial());
}

TEST(ProcessAttributorTest, SudoIsAttributedToTheLoginUser) {
  TempDir proc;
  FakeProcess sudo_cp;  // uid 0, loginuid 1000
  WriteFake(proc.path(), sudo_cp);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  const custos::v1::Actor actor = attributor.Attribute(sudo_cp.pid);
  EXPECT_EQ(actor.pid(), 4242u);
  EXPECT_EQ(actor.ppid(), 1u);
  EXPECT_EQ(actor.executable(), "/usr/bin/cp");
  EXPECT_EQ(actor.command_line(), "cp -a /home/alice/secret.docx /media/usb/");
  EXPECT_EQ(actor.uid(), 0u);
  EXPECT_EQ(actor.user_name(), "root");
  EXPECT_EQ(actor.login_uid(), 1000u);
  EXPECT_EQ(actor.login_user(), "alice");
  EXPECT_FALSE(actor.partial());
}

TEST(ProcessAttributorTest, UnsetLoginUidHasNoLoginUser) {
  TempDir proc;
  FakeProcess daemon;
  daemon.login_uid = kUnsetLoginUid;
  WriteFake(proc.path(), daemon);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  const custos::v1::Actor actor = attributor.Attribute(daemon.pid);
  EXPECT_EQ(actor.login_uid(), kUnsetLoginUid);
  EXPECT_EQ(actor.login_user(), "");
  EXPECT_FALSE(actor.partial());
}

TEST(ProcessAttributorTest, CommandLineIsCappedAndEscaped) {
  TempDir proc;
  FakeProcess p;
  p.comm = "weird) name (x";  // comm with parentheses and spaces
  p.exe = "/tmp/evil\xff\\bin";
  p.cmdline = "tool\0\xc3\xa9t\xe9\0"s + std::string(5000, 'a');
  WriteFake(proc.path(), p);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  const custos::v1::Actor actor = attributor.Attribute(p.pid);
  EXPECT_EQ(actor.executable(), "/tmp/evil\\xff\\\\bin");
  EXPECT_EQ(actor.command_line().substr(0, 16), "tool \xc3\xa9t\\xe9 aaa");
  EXPECT_EQ(actor.command_line().size(), 1024u + 3u);  // 1024 raw bytes, one \xNN escape
  EXPECT_TRUE(IsValidUtf8(actor.command_line()));
  EXPECT_EQ(actor.ppid(), 1u);
  EXPECT_FALSE(actor.partial());
}

TEST(ProcessAttributorTest, ExitedProcessIsPartial) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ProcessAttributor attributor;
  const custos::v1::Actor actor = attributor.Attribute(static_cast<uint32_t>(child));
  EXPECT_EQ(actor.pid(), static_cast<uint32_t>(child));
  EXPECT_TRUE(actor.partial());
  EXPECT_EQ(actor.executable(), "");
  EXPECT_EQ(actor.user_name(), "");
  EXPECT_EQ(actor.login_uid(), kUnsetLoginUid);
}

TEST(ProcessAttributorTest, UnreadableFactMakesActorPartial) {
  TempDir proc;
  FakeProcess p;
  WriteFake(proc.path(), p);
  std::filesystem::remove(proc.path() + "/4242/exe");
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  const custos::v1::Actor actor = attributor.Attribute(p.pid);
  EXPECT_TRUE(actor.partial());
  EXPECT_EQ(actor.executable(), "");
  EXPECT_EQ(actor.login_user(), "alice");  // the facts that were readable are kept
}

TEST(ProcessAttributorTest, CachesFactsWhileStartTimeAndCommAreUnchanged) {
  TempDir proc;
  FakeProcess p;
  WriteFake(proc.path(), p);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  EXPECT_EQ(attributor.Attribute(p.pid).executable(), "/usr/bin/cp");
  // The same process (same start time and comm): served from the cache.
  FakeProcess same = p;
  same.exe = "/usr/bin/changed-behind-our-back";
  WriteFake(proc.path(), same);
  EXPECT_EQ(attributor.Attribute(p.pid).executable(), "/usr/bin/cp");
  EXPECT_EQ(attributor.stats().hits, 1u);
  EXPECT_EQ(attributor.stats().misses, 1u);
}

TEST(ProcessAttributorTest, ReusedPidGetsFreshFacts) {
  TempDir proc;
  FakeProcess first;
  WriteFake(proc.path(), first);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  EXPECT_EQ(attributor.Attribute(first.pid).executable(), "/usr/bin/cp");

  FakeProcess second = first;  // same pid, a different process: later start time
  second.start_time = 2000;
  second.exe = "/usr/bin/scp";
  second.comm = "cp";  // same comm on purpose: the start time alone must tell them apart
  second.cmdline = "scp\0x\0"s;
  second.uid = 1000;
  second.login_uid = 1000;
  WriteFake(proc.path(), second);
  const custos::v1::Actor actor = attributor.Attribute(first.pid);
  EXPECT_EQ(actor.executable(), "/usr/bin/scp");
  EXPECT_EQ(actor.command_line(), "scp x");
  EXPECT_EQ(actor.uid(), 1000u);
  EXPECT_EQ(actor.user_name(), "alice");
  EXPECT_EQ(attributor.stats().misses, 2u);
}

TEST(ProcessAttributorTest, ExecIsDetectedByComm) {
  TempDir proc;
  const FakeProcess shell = Shell();
  WriteFake(proc.path(), shell);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  EXPECT_EQ(attributor.Attribute(shell.pid).executable(), "/usr/bin/bash");
  const FakeProcess execed = ExecedCp(shell);  // fork+exec keeps pid and start time, changes comm
  WriteFake(proc.path(), execed);
  EXPECT_EQ(attributor.Attribute(shell.pid).executable(), "/usr/bin/cp");
}

TEST(ProcessAttributorTest, RecentlySeenProcessKeepsFactsAfterExitThenExpires) {
  TempDir proc;
  FakeProcess p;
  WriteFake(proc.path(), p);
  FakeClock clock;
  ProcessAttributor attributor({.proc_root = proc.path(),
                                .gone_grace = std::chrono::milliseconds(5000),
                                .user_name_lookup = FakeUsers,
                                .clock = &clock});
  EXPECT_FALSE(attributor.Attribute(p.pid).partial());
  std::filesystem::remove_all(proc.path() + "/4242");  // the process exits
  clock.Advance(std::chrono::seconds(1));
  const custos::v1::Actor recent = attributor.Attribute(p.pid);
  EXPECT_EQ(recent.executable(), "/usr/bin/cp");
  EXPECT_EQ(recent.login_user(), "alice");
  clock.Advance(std::chrono::seconds(10));
  const custos::v1::Actor stale = attributor.Attribute(p.pid);
  EXPECT_TRUE(stale.partial());
  EXPECT_EQ(stale.executable(), "");
}

// On the real /proc: the stat file of a recently seen process stays open and is re-read with one
// pread; once the process is gone (reaped), the kept fd fails and the exit is noticed.
TEST(ProcessAttributorTest, KeptStatFdNoticesARealProcessExit) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  FakeClock clock;
  ProcessAttributorOptions options;
  options.gone_grace = std::chrono::milliseconds(5000);
  options.clock = &clock;
  ProcessAttributor attributor(options);
  const auto pid = static_cast<uint32_t>(child);
  // Wait for the exec (the comm changes from the test's to "sleep") and a stable read of it: a
  // read during the exec sees the new exe with the old comm, is partial and is not cached.
  custos::v1::Actor actor;
  for (int i = 0; i < 200; ++i) {
    actor = attributor.AttributeProcess(pid);
    if (!actor.partial() &&
        (actor.executable() == "/usr/bin/sleep" || actor.executable() == "/bin/sleep")) {
      break;
    }
    usleep(10'000);
  }
  ASSERT_FALSE(actor.partial());
  EXPECT_NE(actor.command_line().find("sleep 30"), std::string::npos) << actor.command_line();
  const auto before = attributor.stats();
  EXPECT_GE(before.stat_rereads, 1u) << "the first lookup kept the stat file open";
  EXPECT_EQ(attributor.AttributeProcess(pid).command_line(), actor.command_line());
  EXPECT_EQ(attributor.stats().hits, before.hits + 1);
  EXPECT_EQ(attributor.stats().stat_rereads, before.stat_rereads + 1);
  kill(child, SIGKILL);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const custos::v1::Actor after_exit = attributor.AttributeProcess(pid);
  EXPECT_EQ(attributor.stats().gone, before.gone + 1) << "the kept fd must not read a dead process";
  EXPECT_EQ(after_exit.command_line(), actor.command_line()) << "within gone_grace: cached facts";
  clock.Advance(std::chrono::seconds(10));
  EXPECT_TRUE(attributor.AttributeProcess(pid).partial());
}

TEST(ProcessAttributorTest, CacheIsBounded) {
  TempDir proc;
  ProcessAttributor attributor(
      {.proc_root = proc.path(), .cache_capacity = 2, .user_name_lookup = FakeUsers});
  for (uint32_t pid = 100; pid < 104; ++pid) {
    FakeProcess p;
    p.pid = pid;
    WriteFake(proc.path(), p);
    EXPECT_FALSE(attributor.Attribute(pid).partial());
  }
  EXPECT_FALSE(attributor.Attribute(103).partial());  // most recent: still cached
  EXPECT_EQ(attributor.stats().hits, 1u);
  EXPECT_FALSE(attributor.Attribute(100).partial());  // evicted: read again
  EXPECT_EQ(attributor.stats().misses, 5u);
}

TEST(Utf8Test, EscapesInvalidBytesAndBackslashOnly) {
  EXPECT_EQ(EscapeToUtf8("plain/path.txt"), "plain/path.txt");
  EXPECT_EQ(EscapeToUtf8("r\xc3\xa9sum\xc3\xa9\n\t"), "r\xc3\xa9sum\xc3\xa9\n\t");
  EXPECT_EQ(EscapeToUtf8("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeToUtf8("bad\xff\xfe"), "bad\\xff\\xfe");
  EXPECT_EQ(EscapeToUtf8("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(EscapeToUtf8("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate
  EXPECT_EQ(EscapeToUtf8("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
  EXPECT_EQ(EscapeToUtf8("\xe6\x97"), "\\xe6\\x97");                    // truncated
  EXPECT_EQ(EscapeToUtf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");      // emoji
  EXPECT_TRUE(IsValidUtf8(EscapeToUtf8(std::string("\x80\x00\xff", 3))));
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

// ---- process tracking (the On* calls ProcEventTracker makes) ---------------------------------

TEST(ProcessAttributorTrackingTest, ATrackedEntryNeedsNoProcfsReadUntilTheProcessExecs) {
  TempDir proc;
  const FakeProcess shell = Shell();
  WriteFake(proc.path(), shell);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  attributor.SetTracking(true);
  EXPECT_EQ(attributor.AttributeProcess(shell.pid).executable(), "/usr/bin/bash");
  // Its /proc changes, but no exec event came: the tracked entry is served as it is, unread.
  const FakeProcess execed = ExecedCp(shell);  // fork+exec keeps pid and start time, changes comm
  WriteFake(proc.path(), execed);
  EXPECT_EQ(attributor.AttributeProcess(shell.pid).executable(), "/usr/bin/bash");
  EXPECT_EQ(attributor.stats().tracked_hits, 1u);
  EXPECT_EQ(attributor.stats().misses, 1u);
  // The exec event: read now, served from then on.
  attributor.OnExec(shell.pid);
  EXPECT_EQ(attributor.stats().exec_reads, 1u);
  std::filesystem::remove_all(proc.path() + "/4242");
  const custos::v1::Actor actor = attributor.AttributeProcess(shell.pid);
  EXPECT_EQ(actor.executable(), "/usr/bin/cp");
  EXPECT_FALSE(actor.partial());
  EXPECT_EQ(attributor.stats().tracked_hits, 2u);
}

TEST(ProcessAttributorTrackingTest, AGoneProcessKeepsItsFactsUntilANewProcessGetsItsPid) {
  TempDir proc;
  FakeProcess p;
  WriteFake(proc.path(), p);
  FakeClock clock;
  ProcessAttributor attributor({.proc_root = proc.path(),
                                .gone_grace = std::chrono::milliseconds(5000),
                                .user_name_lookup = FakeUsers,
                                .clock = &clock});
  attributor.SetTracking(true);
  attributor.OnExec(p.pid);  // read at exec; nobody asked yet
  std::filesystem::remove_all(proc.path() + "/4242");
  clock.Advance(std::chrono::seconds(60));  // long past gone_grace: no exit event, no expiry
  const custos::v1::Actor gone = attributor.AttributeProcess(p.pid);
  EXPECT_EQ(gone.executable(), "/usr/bin/cp");
  EXPECT_EQ(gone.ppid(), 1u);        // from status: the exec read skips stat
  EXPECT_EQ(gone.login_user(), "");  // AttributeProcess: no user names
  EXPECT_EQ(gone.login_uid(), 1000u);
  EXPECT_FALSE(gone.partial());
  // A new process with that pid (its fork event): the old facts are gone with it.
  attributor.OnFork(p.pid, 1);
  const custos::v1::Actor reused = attributor.AttributeProcess(p.pid);
  EXPECT_TRUE(reused.partial());
  EXPECT_EQ(reused.executable(), "");
}

TEST(ProcessAttributorTrackingTest, AGapOrTrackingOffBringsBackTheStatCheck) {
  for (const bool gap : {true, false}) {
    TempDir proc;
    const FakeProcess shell = Shell();
    WriteFake(proc.path(), shell);
    ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
    attributor.SetTracking(true);
    EXPECT_EQ(attributor.AttributeProcess(shell.pid).executable(), "/usr/bin/bash");
    if (gap) {
      attributor.OnTrackingGap();  // an exec event may have been lost
      EXPECT_TRUE(attributor.tracking());
    } else {
      attributor.SetTracking(false);
    }
    const FakeProcess execed = ExecedCp(shell);  // fork+exec keeps pid and start time, changes comm
    WriteFake(proc.path(), execed);
    EXPECT_EQ(attributor.AttributeProcess(shell.pid).executable(), "/usr/bin/cp") << gap;
    EXPECT_EQ(attributor.stats().misses, 2u) << gap;
    EXPECT_EQ(attributor.stats().tracked_hits, 0u) << gap;
  }
}

TEST(ProcessAttributorTrackingTest, AForkedChildInheritsTrackedFactsOnly) {
  TempDir proc;
  FakeProcess parent;
  parent.pid = 100;
  parent.comm = "python3";
  parent.exe = "/usr/bin/python3";
  parent.cmdline = "python3\0sync.py\0"s;
  WriteFake(proc.path(), parent);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  attributor.SetTracking(true);
  ASSERT_FALSE(attributor.AttributeProcess(parent.pid).partial());
  attributor.OnFork(101, parent.pid);  // never in the fake /proc: it exits before anyone looks
  custos::v1::Actor child = attributor.Attribute(101);
  EXPECT_EQ(child.pid(), 101u);
  EXPECT_EQ(child.ppid(), 100u);
  EXPECT_EQ(child.executable(), "/usr/bin/python3");
  EXPECT_EQ(child.command_line(), "python3 sync.py");
  EXPECT_EQ(child.login_user(), "alice");
  EXPECT_FALSE(child.partial());
  EXPECT_EQ(attributor.stats().inherited, 1u);
  // The parent is not cached as tracked any more (a gap): a child inherits nothing.
  attributor.OnTrackingGap();
  attributor.OnFork(102, parent.pid);
  EXPECT_TRUE(attributor.AttributeProcess(102).partial());
  // A fork under a pid whose earlier process is still cached replaces that entry.
  attributor.OnFork(101, 999);
  EXPECT_TRUE(attributor.AttributeProcess(101).partial());
}

TEST(ProcessAttributorTrackingTest, AnExecOfAProcessAlreadyGoneDropsTheOldImagesFacts) {
  TempDir proc;
  const FakeProcess shell = Shell();
  WriteFake(proc.path(), shell);
  ProcessAttributor attributor({.proc_root = proc.path(), .user_name_lookup = FakeUsers});
  attributor.SetTracking(true);
  ASSERT_EQ(attributor.AttributeProcess(shell.pid).executable(), "/usr/bin/bash");
  std::filesystem::remove_all(proc.path() + "/4242");  // exec'd and exited before it was read
  attributor.OnExec(shell.pid);
  const custos::v1::Actor actor = attributor.AttributeProcess(shell.pid);
  EXPECT_TRUE(actor.partial());
  EXPECT_EQ(actor.executable(), "");  // never the shell's facts for what came after its exec
}

}  // namespace
}  // namespace custos::agent::pipeline
