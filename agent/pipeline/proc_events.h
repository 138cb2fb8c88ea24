// agent/pipeline/proc_events.h: the kernel's process events (the proc connector: netlink
// NETLINK_CONNECTOR, CN_IDX_PROC) keeping ProcessAttributor's cache right without a procfs read
// per file event.
//
// What it buys: the fanotify reader no longer has to read each event the moment it is queued
// (and check /proc/PID/stat) to catch a short-lived `cp` before it exits. The tracker reads a
// process's facts when it execs, so its events can be read in batches and still carry them.
//
// Subscribes to fork, exec and uid change (a kernel-side filter on Linux 6.6+; older kernels
// send every kind, exits included, and the others are ignored: no exit event is needed, see
// attribution.h). Exec or uid change -> ProcessAttributor::OnExec (facts read now), a new
// process -> OnFork; new threads are ignored. Events are applied in the kernel's order by one
// drainer at a time: the thread, or a kernel reader through Sync (ProcessAttributor::SyncEvents)
// before it attributes a batch. A socket overflow (ENOBUFS) or an unparseable datagram ->
// OnTrackingGap, again once what was still queued is applied: cached entries are re-checked
// against procfs as without tracking. An exec storm pauses tracking for a while
// (pause_above_events_per_second): the socket is closed, so it costs nothing meanwhile.
//
// Needs CAP_NET_ADMIN in the initial user namespace and an agent in the initial pid namespace
// (the kernel ignores requests from any other: Start waits for the kernel's acknowledgement and
// fails clearly without it). Runs one thread ("proc-events") that sleeps in poll(2) between
// events: no timer wake-ups.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "agent/pipeline/attribution.h"
#include "common/status/status.h"

namespace custos::agent::pipeline {

struct ProcEvent {
  enum class Kind { kAck, kFork, kExec, kUid, kExit, kOther };
  Kind kind = Kind::kOther;
  uint32_t pid = 0;      // the process (thread group id); fork: the child's
  uint32_t tid = 0;      // the thread; fork: the child thread
  uint32_t parent = 0;   // fork: the parent's thread group id
  uint32_t ack_err = 0;  // ack: the errno of a subscription request, 0 = accepted
  uint32_t seq = 0;      // cn_msg seq and ack (an ack's ack is the request's + 1; its seq is
                         // the kernel's own on 6.18, so only ack identifies it)
  uint32_t ack = 0;
  uint64_t time_ns = 0;  // when the kernel sent it: CLOCK_MONOTONIC (steady_clock here)
  // A whole process (its main thread), not one thread of it.
  bool IsProcess() const { return pid == tid; }
};

// Parses one datagram from the proc connector socket: netlink messages, each carrying a cn_msg
// from (CN_IDX_PROC, CN_VAL_PROC) with one proc_event. Kernel bytes, so bounds-checked: events
// up to the first malformed message are appended to *out and the error says what was wrong.
// Messages of other connector ids and NLMSG_NOOP are skipped; a netlink error message is an
// error.
Status ParseProcEvents(std::string_view datagram, std::vector<ProcEvent>* out);

struct ProcEventTrackerOptions {
  // How long Start waits for the kernel to acknowledge the subscription.
  std::chrono::milliseconds subscribe_timeout{1000};
  int receive_buffer_bytes = 4 << 20;
  // An exec storm (more process events than this within one second: every kind received, i.e.
  // forks including new threads, which the kernel cannot filter out, execs and uid changes, and
  // before Linux 6.6 exits and the rest too) pauses tracking for
  // pause_for with the socket closed. A fork costs a wake-up, an exec a wake-up and a procfs read:
  // ~0.2 ms of CPU per fork + exec on the paravirtualised test VM (docs/performance.md), so 400
  // events/s is ~4% of a core and a build's thousands per second would cost more than per-event
  // checks do. Meanwhile attribution falls back to the /proc check per event, and the fanotify
  // reader reads at once.
  uint32_t pause_above_events_per_second = 400;  // 0: never pause
  std::chrono::milliseconds pause_for{30'000};
};

class ProcEventTracker {
 public:
  // Subscribes, turns tracking on in `attributor` and starts the thread. Fails (tracking stays
  // off) without CAP_NET_ADMIN, outside the initial pid/user namespaces, or on a kernel without
  // CONFIG_PROC_EVENTS; the message says which.
  static Result<std::unique_ptr<ProcEventTracker>> Start(ProcessAttributor* attributor,
                                                         ProcEventTrackerOptions options = {});
  ~ProcEventTracker();  // Stop()
  ProcEventTracker(const ProcEventTracker&) = delete;
  ProcEventTracker& operator=(const ProcEventTracker&) = delete;

  // Turns tracking off in the attributor and joins the thread. Idempotent.
  void Stop();

  // Applies the events the kernel sent before this call, on the caller's thread (the attributor's
  // SyncEvents calls it: a file event read before this has its process's fork and exec applied
  // before it is attributed, whatever the tracker thread's lag). Blocks while the thread drains.
  // Returns at once while paused, in a storm (tracking is then already off) or after a failure.
  void Sync();

  struct Stats {
    uint64_t execs = 0;      // exec and uid-change events (facts read at once)
    uint64_t forks = 0;      // new processes
    uint64_t gaps = 0;       // socket overflows and unparseable datagrams (events lost)
    uint64_t malformed = 0;  // datagrams that did not parse or did not come from the kernel
    uint64_t pauses = 0;     // exec storms that paused tracking
    bool paused = false;     // paused now (resumes by itself)
    bool running = false;    // false after Stop(), a socket error or a failed resubscription
  };
  Stats stats() const;

 private:
  ProcEventTracker(ProcessAttributor* attributor, ProcEventTrackerOptions options, int fd,
                   int wake_fd);
  void Loop();
  void Drain(uint64_t until_ns);  // under drain_mu_
  void Apply(const ProcEvent& event);
  void Wake();

  ProcessAttributor* const attributor_;
  const ProcEventTrackerOptions options_;
  const int wake_fd_;  // eventfd: Stop(), a storm or a failure wakes the poll
  std::thread thread_;
  std::atomic<bool> stopped_{false}, storm_{false}, failed_{false};

  // Draining: the thread's or a Sync caller's, one at a time and in order.
  std::mutex drain_mu_;
  // Guarded by drain_mu_ for Sync callers; written by the thread (and Stop() after the join);
  // -1 while paused, after a failed resubscription and after Stop().
  int fd_;
  std::vector<char> buf_ = std::vector<char>(64 * 1024);  // guarded by drain_mu_
  std::vector<ProcEvent> events_;                         // guarded by drain_mu_
  std::chrono::steady_clock::time_point window_start_{};  // guarded by drain_mu_
  uint32_t window_events_ = 0;                            // guarded by drain_mu_

  std::atomic<uint64_t> execs_{0}, forks_{0}, gaps_{0}, malformed_{0}, pauses_{0};
  std::atomic<bool> paused_{false}, running_{false};
};

}  // namespace custos::agent::pipeline
