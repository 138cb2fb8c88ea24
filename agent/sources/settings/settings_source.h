// agent/sources/settings/settings_source.h: security-relevant settings (front door).
//
// What it reports (custos.v1.Event with a SettingChange payload, via the EventSink):
//   - Watched config files and directories (one level deep), each with an area: a change to a
//     file's content, mode or owner gives area, key = the file's path, old/new value
//     "sha256:<hex>" (empty when the file did not exist) and a summary of removed ("- line") and
//     added ("+ line") lines, then "mode 0644 -> 0666" and "owner root:root -> alice:root" (names
//     from the host's passwd/group via getpwuid_r/getgrgid_r, numbers for ids without a name),
//     capped at max_summary_bytes. Creation and deletion are changes too.
//   - /etc/shadow (any watched file named "shadow" or "gshadow"): never content, hash or diff.
//     Values are "changed"/"created"/"deleted" and the summary names only the users whose
//     entries changed ("password hash changed for user alice"), plus mode and owner lines.
//   - Accounts, from /etc/passwd and /etc/group: area "account", key "user:<name>" (created,
//     deleted) and "group:<name>" for privileged groups (sudo, wheel, adm, root, docker) with
//     new_value "<user> added" / "<user> removed".
//   - Probes (area, key): ("firewall", "ruleset") the live ruleset from the first available
//     firewall command (counters ignored); ("lsm", "selinux"), ("lsm", "apparmor") the LSM
//     modes; ("audit", "auditd") whether a process named auditd runs; ("kernel", "modules")
//     loaded modules; ("packages", "dpkg") installed packages from the dpkg status file and
//     ("packages", "rpm") from rpm_command, both with summary lines "installed NAME VERSION",
//     "removed NAME VERSION", "upgraded NAME OLD -> NEW" (a package rpm holds in several versions,
//     like kernel, gives installed/removed lines per version unless exactly one replaced one);
//     ("agent", ...) the agent's own config file, binary (hash only) and spool directory.
//   Watch changes (inotify) have observed_by WATCH; probe rounds (at Start, every
//   probe_interval and on ProbeNow) observed_by PROBE and also re-check every watched file, so a
//   missed notification is found by the next round. Actors are empty with partial=true (inotify
//   and probes know no pid).
//
// Baseline: the last known state of every item is persisted in state_dir ("settings-state.v1",
// replaced atomically after each change). Start compares the disk with it, so changes made
// while the agent was down are reported (observed_by PROBE). Without a state file (first run)
// Start only records the baseline. Items the baseline does not know yet are recorded silently:
// a file's owner when the state file predates owner tracking (format: README.md), and the rpm
// listing until rpm has answered once (a missing or failing rpm is not "everything installed").
// Note: the state file holds watched files' lines (sudoers, sshd, ...) but for shadow only
// SHA-256 digests of each entry's fields; keep state_dir 0700.
//
// Errors: an unreadable or unparsable file, a failing command or a bad state file gives an
// AgentHealth event (component "source.settings", DEGRADED, naming the file and the error) once
// per distinct problem, and Health() is DEGRADED until it clears; the source keeps going. A
// missing tool (no nft, no iptables-save, no rpm) is an OK-level health note, sent once.
//
// Threading: Start runs the baseline round on the caller's thread, then one thread polls
// inotify and runs the periodic probes. ProbeNow may be called from any thread (serialised
// with the source's thread). The clock must outlive the source; the sink passed to Start must
// outlive Stop. Stop is idempotent and joins.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "agent/sources/source.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::agent::settings {

struct WatchedPath {
  std::string area;  // "sudoers", "sshd", "pam", "audit", "firewall", "selinux", ...
  std::string path;  // absolute; a file, or a directory whose entries are watched
};

// sudoers, sshd, pam, audit, firewall, selinux, apparmor, accounts, cron, systemd (see .cc).
std::vector<WatchedPath> DefaultWatchedPaths();

struct SettingsSourceOptions {
  std::vector<WatchedPath> watched = DefaultWatchedPaths();
  // The agent's own files (area "agent"); empty = not tracked.
  std::string agent_config_path;
  std::string agent_binary_path;
  std::string agent_spool_dir;
  std::chrono::seconds probe_interval{60};
  // Prepended to every absolute path the source reads (watched files, /proc, /sys, dpkg status
  // and the agent's own paths), so tests run on a temp tree. Not applied to state_dir or to
  // firewall and rpm commands.
  std::string root_prefix;
  // Where the baseline is persisted; empty = not persisted.
  std::string state_dir;
  // Firewall ruleset commands (argv, no shell); the first whose program exists is used. Empty =
  // firewall probe off.
  std::vector<std::vector<std::string>> firewall_commands = {{"/usr/sbin/nft", "list", "ruleset"},
                                                             {"/usr/sbin/iptables-save"}};
  // rpm package listing (argv, no shell, program an absolute path: no PATH search as root),
  // printing one "NAME VERSION" line per installed package; used when its program exists.
  // Empty = rpm probe off. Runs every probe round.
  std::vector<std::string> rpm_command = {"/usr/bin/rpm", "-qa", "--qf",
                                          "%{NAME} %{VERSION}-%{RELEASE}\n"};
  std::chrono::milliseconds command_timeout{5000};  // per firewall or rpm command
  size_t max_summary_bytes = 512;
  size_t max_file_bytes = 8u << 20;      // text files and command output beyond this: unparsed
  size_t max_binary_bytes = 256u << 20;  // the agent binary is hashed up to this size
};

class SettingsSource : public Source {
 public:
  static Result<std::unique_ptr<SettingsSource>> Create(SettingsSourceOptions options,
                                                        Clock* clock);
  ~SettingsSource() override;

  std::string name() const override { return "settings"; }
  Status Start(EventSink* sink) override;
  void Stop() override;
  SourceHealth Health() const override;

  // Runs one probe round now on the caller's thread (tests, benchmarks). Requires Start.
  void ProbeNow();

  class State;  // internal

 private:
  explicit SettingsSource(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

Result<std::unique_ptr<Source>> CreateSettingsSource(SettingsSourceOptions options, Clock* clock);

}  // namespace custos::agent::settings
