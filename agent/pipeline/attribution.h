// agent/pipeline/attribution.h: who did it — turning a pid into a custos.v1.Actor.
//
// ProcessAttributor reads /proc/PID/{stat,exe,cmdline,status,loginuid} and fills an Actor:
//   pid, ppid (stat field 4), executable (readlink of exe), command_line (cmdline with NULs as
//   spaces, at most command_line_max_bytes raw bytes), uid (the *effective* uid from status) and
//   user_name, login_uid (/proc/PID/loginuid; 4294967295 = no login session) and login_user, so
//   `sudo cp` run by alice reads uid=0 user=root login_uid=1000 login_user=alice.
// All strings are made valid UTF-8 with pipeline::EscapeToUtf8 (invalid bytes as \xNN, a
// backslash as \\). A user name that does not resolve stays empty (the uid is still set).
//
// partial=true when the process was gone before every fact could be read, when a fact was
// unreadable (e.g. exe of a zombie), or when the pid was reused while its facts were being read.
// A pid that is gone and not (recently) cached yields {pid, partial=true} and nothing else.
//
// Cache: one entry per pid, keyed by (pid, start time = stat field 22, comm). Every lookup
// re-reads /proc/PID/stat (one small procfs read), so a reused pid (different start time) or
// an exec (different comm) is detected and re-read; an exec that keeps the comm is not. On a
// real procfs the stat files of the most recently seen pids (kHotStatFds) stay open and are
// re-read with one pread: a procfs fd is bound to its process, so once that process is gone the
// read fails (ESRCH) even if the pid was reused, and the path is opened afresh.
// Cached facts of a pid that has since exited are used for `gone_grace` after the entry was last
// confirmed (short-lived processes such as `cp` are usually gone when their last event is
// handled); afterwards the pid is reported partial. The cache is an LRU of `cache_capacity`
// entries (~1 KiB each with a full command line). User names are cached per uid (bounded).
//
// Process tracking (ProcEventTracker, proc_events.h, feeds the On* calls from the kernel's
// process events): while it runs, facts are read when a process execs or changes uid, and a
// forked child inherits its parent's cached facts (replacing whatever was cached under its pid).
// An entry cached while tracking runs is *tracked*: its facts stay right until one of those
// events, so a lookup returns it with no procfs read at all, and a short-lived `cp` keeps its
// facts when its events are read after it exited. The kernel queues a process's fork and exec
// before it can cause a file event, but on another queue: a kernel reader calls SyncEvents
// before attributing a batch, so those are applied first whatever the tracker thread's lag.
// Reads carry tickets (taken when a read begins): a slower, older read never replaces a newer
// entry. Exits need no event: until a new process gets the pid (a fork event), a gone process's
// facts are still its own, and the LRU bounds how many are kept. When the tracker reports lost
// events (OnTrackingGap) every entry becomes untracked and is checked against /proc/PID/stat as
// above; so is every entry when tracking is off. Not seen: a child created with CLONE_PARENT
// inherits its grandparent's facts until it execs (the fork event names the real parent).
//
// Threads: all methods are thread-safe. AttributeProcess reads only procfs (never disk or
// network) and is safe on kernel reader threads; ResolveUserNames may block in NSS (LDAP, sssd)
// on the first lookup of a uid and belongs on a worker thread. Attribute does both.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/time/clock.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::pipeline {

// Value of /proc/PID/loginuid for a process outside any login session.
inline constexpr uint32_t kUnsetLoginUid = 4294967295u;

struct ProcessAttributorOptions {
  std::string proc_root = "/proc";  // tests point this at a fake tree
  size_t cache_capacity = 4096;     // processes
  size_t command_line_max_bytes = 1024;
  std::chrono::milliseconds gone_grace{5000};
  // uid -> user name, nullopt when the uid has no entry. Default: getpwuid_r.
  std::function<std::optional<std::string>(uint32_t uid)> user_name_lookup;
  Clock* clock = nullptr;  // default RealClock(); used only for gone_grace
};

class ProcessAttributor {
 public:
  explicit ProcessAttributor(ProcessAttributorOptions options = {});
  ~ProcessAttributor();
  ProcessAttributor(const ProcessAttributor&) = delete;
  ProcessAttributor& operator=(const ProcessAttributor&) = delete;

  // Process facts and user names.
  custos::v1::Actor Attribute(uint32_t pid);
  // Process facts only (procfs reads; user_name/login_user left empty).
  custos::v1::Actor AttributeProcess(uint32_t pid);
  // Fills user_name from uid and login_user from login_uid (unless unset). Idempotent. An actor
  // reduced to its pid (process gone: no ppid, no executable) is left alone: its uid 0 means
  // "unknown", not root.
  void ResolveUserNames(custos::v1::Actor* actor);

  // Process tracking (see above). Thread-safe; the tracker calls them from its own thread.
  // SetTracking(true): entries cached from now on are tracked. SetTracking(false) untracks all.
  void SetTracking(bool on);
  bool tracking() const;
  // A kernel reader calls SyncEvents before attributing a batch: the tracker then applies every
  // process event queued so far (the exec before a file event is applied before it), on the
  // caller's thread. No-op without a tracker. SetEventSync(nullptr) waits for a call in progress.
  void SetEventSync(std::function<void()> sync);
  void SyncEvents();
  // The process (tgid) replaced its image or changed uid: its facts are read now (it may be
  // gone soon) and replace the cached ones; if /proc/PID is already gone its entry is dropped.
  void OnExec(uint32_t pid);
  // A new process (not a thread): it inherits its parent's tracked facts, if cached; any entry
  // left under its pid by an earlier process is dropped.
  void OnFork(uint32_t child, uint32_t parent);
  // Process events were lost: no entry can be trusted without the stat check any more.
  void OnTrackingGap();

  struct Stats {
    uint64_t hits = 0;          // facts served from the cache after the stat check
    uint64_t misses = 0;        // facts read from procfs
    uint64_t gone = 0;          // pid no longer present
    uint64_t stat_rereads = 0;  // stat checks served by an open fd (one pread)
    uint64_t tracked_hits = 0;  // facts served from a tracked entry (no procfs read)
    uint64_t exec_reads = 0;    // facts read because the process exec'd or changed uid
    uint64_t inherited = 0;     // facts a forked child inherited from its parent
  };
  // Open /proc/PID/stat files kept for the most recently seen pids (real procfs only).
  static constexpr size_t kHotStatFds = 16;
  Stats stats() const;

 private:
  struct StatFacts {
    std::string comm;
    uint32_t ppid = 0;
    uint64_t start_time = 0;  // clock ticks since boot
  };
  struct Entry {
    uint32_t pid = 0;
    StatFacts stat;
    custos::v1::Actor actor;
    std::chrono::steady_clock::time_point confirmed;
    uint64_t seq = 0;      // ticket taken when its read began: an older read never replaces it
    bool tracked = false;  // facts kept right by process events (no stat check needed)
  };

  std::optional<StatFacts> ReadStat(uint32_t pid, bool keep_fd);
  // The text of /proc/PID/stat, through a kept fd when there is one (and keep_fd: kept after).
  std::optional<std::string> ReadStatText(uint32_t pid, bool keep_fd);
  // Reads the facts after `stat`, then (verify) stat again: a reused pid or an exec in between
  // makes the read unstable (partial, not cached). Without verify the read counts as stable: the
  // tracker's next event (another exec, a fork under the pid) corrects it in order.
  struct Read {
    std::optional<StatFacts> stat;
    custos::v1::Actor actor;
    bool stable = false;
  };
  Read ReadProcess(uint32_t pid, StatFacts stat, bool keep_fd, bool verify);
  // Inserts under mu_ with the read's ticket, unless the entry there comes from a read that
  // began later (a higher ticket).
  void InsertLocked(uint32_t pid, const StatFacts& stat, const custos::v1::Actor& actor,
                    std::chrono::steady_clock::time_point now, bool tracked, uint64_t ticket);
  void EraseLocked(uint32_t pid);
  custos::v1::Actor ReadFacts(uint32_t pid, const StatFacts& stat) const;
  std::optional<std::string> LookupUserName(uint32_t uid);

  const ProcessAttributorOptions options_;
  Clock* const clock_;

  mutable std::mutex mu_;
  std::list<Entry> lru_;  // guarded by mu_; most recently used first
  std::unordered_map<uint32_t, std::list<Entry>::iterator> by_pid_;  // guarded by mu_
  Stats stats_;                                                      // guarded by mu_
  bool tracking_ = false;                                            // guarded by mu_
  uint64_t gaps_ = 0;      // OnTrackingGap and SetTracking calls; guarded by mu_
  uint64_t next_seq_ = 1;  // the next read's ticket; guarded by mu_

  std::mutex sync_mu_;
  std::function<void()> sync_;  // guarded by sync_mu_ (held while it runs)

  // pid -> open stat fd, most recently used first; at most kHotStatFds. Only on a real procfs.
  const bool hot_fds_;
  std::mutex fds_mu_;
  std::list<std::pair<uint32_t, int>> hot_stat_fds_;  // guarded by fds_mu_

  std::mutex names_mu_;
  std::unordered_map<uint32_t, std::optional<std::string>> names_;  // guarded by names_mu_
};

}  // namespace custos::agent::pipeline
