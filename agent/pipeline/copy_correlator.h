// agent/pipeline/copy_correlator.h: copy-to-removable — which file was copied onto a USB stick
// (front door).
//
// CopyCorrelator is an EventSink placed between the sources and the spool writer. It passes every
// event through unchanged except two kinds:
//   FileEvent FILE_OP_READ (the file source's closes after read-only opens): remembered in a
//     recent-reads table keyed by (actor pid, base name of the path, size) and, unless
//     forward_reads, NOT passed on (reads are for correlation only, never stored by default).
//   FileEvent FILE_OP_COPY_TO_REMOVABLE (the USB source: a file closed after writing on a
//     removable volume, device_fingerprint set): linked to the source file when the SAME pid read
//     a file of the same base name and the same size within `window` before the copy (or up to
//     `hold` after it: `cp` closes the destination before the source, and the two events travel
//     through different sources). Linked: source_path = the read file's path and the read file's
//     classifications are added (first, without duplicates). Unlinked copies pass on as they are.
// A copy that matches no read yet waits up to `hold` for one; then it is released unlinked. At
// most max_held copies wait; beyond that a copy is released at once, unlinked. A read with pid 0
// (no actor) is never remembered, and a copy with pid 0 is released at once, unlinked.
//
// Memory: the reads table holds at most max_reads entries (LRU: a newer read of the same key
// replaces the older; the least recently read is evicted first) of about 200 bytes plus the
// path and labels. Reads older than `window` are never used (and dropped when met).
//
// Time: `window` compares the events' own time_ns (when the kernel readers saw them); `hold`
// runs on the injected clock's steady time.
//
// Threads: Push/PushWait are thread-safe and never block (one mutex, short critical sections);
// copy events are released to the downstream sink by the correlator's own thread (Start), which
// also fills user names (ProcessAttributor::ResolveUserNames may block in NSS: the USB source's
// kernel reader must not). Without Start (tests), ReleaseDue() does that work on the caller's
// thread. A copy released when the downstream sink refuses it is counted and reported as an
// EventsLost event (source "copy_correlator") once the sink accepts again; copies still held
// at Stop are released (unlinked if no read came). Copies held in memory are lost if the agent
// crashes within `hold`.
// Lifetimes: downstream, attributor (may be null) and clock must outlive the correlator.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/pipeline/attribution.h"
#include "agent/sources/source.h"
#include "common/time/clock.h"

namespace custos::agent::pipeline {

struct CopyCorrelatorOptions {
  std::chrono::milliseconds window{60'000};  // a read at most this long before the copy links
  std::chrono::milliseconds hold{2'000};     // an unmatched copy waits this long for its read
  size_t max_reads = 4096;                   // recent-reads table (LRU)
  size_t max_held = 1024;                    // copies waiting for their read
  bool forward_reads = false;                // also pass FILE_OP_READ events downstream
};

struct CopyCorrelatorStats {
  uint64_t reads = 0;          // FILE_OP_READ events seen
  uint64_t reads_evicted = 0;  // dropped from the table by the LRU bound
  uint64_t copies = 0;         // FILE_OP_COPY_TO_REMOVABLE events seen
  uint64_t linked = 0;         // copies released with a source_path
  uint64_t unlinked = 0;       // copies released without one
  uint64_t dropped = 0;        // released copies the downstream sink refused
};

class CopyCorrelator final : public EventSink {
 public:
  CopyCorrelator(EventSink* downstream, CopyCorrelatorOptions options,
                 ProcessAttributor* attributor, Clock* clock);
  ~CopyCorrelator() override;
  CopyCorrelator(const CopyCorrelator&) = delete;
  CopyCorrelator& operator=(const CopyCorrelator&) = delete;

  // Starts the releasing thread. Idempotent.
  void Start();
  // Releases every held copy (linked or not), then joins the thread. Idempotent. Sources pushing
  // into the correlator must be stopped first.
  void Stop();

  bool Push(custos::v1::Event&& event) override;
  bool PushWait(custos::v1::Event&& event, std::chrono::milliseconds timeout) override;
  // Forwarded to the downstream sink: events other than reads and copies pass straight on, so
  // its marks cover them (held copies are not covered until released). A listener is registered
  // downstream, so it gets both OnLogged and OnSynced from the sink that logs.
  uint64_t DurabilityMark() override { return downstream_->DurabilityMark(); }
  std::optional<SinkPosition> RecoveredPosition() override {
    return downstream_->RecoveredPosition();
  }
  void AddDurabilityListener(DurabilityListener* listener) override {
    downstream_->AddDurabilityListener(listener);
  }
  void RemoveDurabilityListener(DurabilityListener* listener) override {
    downstream_->RemoveDurabilityListener(listener);
  }

  // The replay twin of the thread: releases linked copies and those whose hold expired.
  void ReleaseDue();

  CopyCorrelatorStats stats() const;
  size_t reads_in_table() const;

 private:
  struct Read {
    std::string key;
    std::string path;
    std::vector<std::string> classifications;
    int64_t time_ns = 0;
  };
  struct Held {
    std::string key;
    custos::v1::Event event;
    std::chrono::steady_clock::time_point deadline;
    bool ready = false;  // linked, or never linkable: release at once
  };

  static std::string KeyOf(const custos::v1::Event& event);
  bool InWindow(int64_t read_ns, int64_t copy_ns) const;
  static void Link(const Read& read, custos::v1::Event* copy);
  void RememberRead(std::string key, const custos::v1::Event& event);  // mu_ held
  // Moves ready and expired (or, with all, every) held copies to *out. mu_ held.
  void TakeReleasable(bool all, std::vector<Held>* out);
  void Release(std::vector<Held>* batch);
  void Run();

  EventSink* const downstream_;
  const CopyCorrelatorOptions options_;
  ProcessAttributor* const attributor_;
  Clock* const clock_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<Read> reads_;  // guarded by mu_; most recent first
  std::unordered_map<std::string, std::list<Read>::iterator> reads_by_key_;  // guarded by mu_
  std::list<Held> held_;  // guarded by mu_; arrival order
  std::multimap<std::string, std::list<Held>::iterator> held_by_key_;  // guarded by mu_
  size_t ready_ = 0;           // guarded by mu_: held with ready
  CopyCorrelatorStats stats_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  bool running_ = false;       // guarded by mu_

  std::mutex release_mu_;            // serialises Release (thread, ReleaseDue, Stop)
  uint64_t refused_unreported_ = 0;  // guarded by release_mu_
  int64_t refused_since_ns_ = 0;     // guarded by release_mu_
  std::thread thread_;
};

}  // namespace custos::agent::pipeline
