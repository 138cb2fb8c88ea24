// SpoolWriter: the EventSink that sources push into. Push serialises the event on the caller's
// thread into a bounded ring of bytes (never blocks a kernel reader; a full ring drops and
// counts), and leaves the caller's event cleared with its allocations kept, so a producer that
// reuses one Event allocates nothing per event. One writer thread swaps the ring with its own
// buffer (no allocation or free per event on either side), appends the records to the spool and
// makes them durable with one Sync per group of up to max_group (group fsync: the busier the
// agent, the more events share an fsync), then tells the uplink.
// Durability marks (EventSink::DurabilityMark): the count of events accepted so far. Right after
// records are appended to the spool (before their fsync: an appended record survives kill -9,
// and RecoveredPosition — the spool's last seq when the writer was created — tells after power
// loss what survived) the listeners are told the mark and the spool position (epoch, last seq),
// on the writer thread. Records whose append failed are not reported. After each successful
// Sync they are told (OnSynced) the highest mark that Sync made durable: the mark of the last
// chunk appended, never ahead of what OnLogged told.
// Events dropped because the ring was full are reported as an EventsLost event once room
// returns. Events whose spool append failed (disk full, I/O error: the spool keeps nothing of a
// failed append) are counted in write_errors/dropped and reported likewise, with the next group
// of events the spool takes (e.g. once disk space returns). Priorities: security settings, USB,
// health and loss reports are kept longest when the spool is full; plain file activity goes first.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/sources/source.h"
#include "agent/spool/spool.h"
#include "common/time/clock.h"

namespace custos::agent::pipeline {

struct SpoolWriterOptions {
  size_t ring_capacity = 65536;            // events waiting for the writer
  size_t ring_capacity_bytes = 32u << 20;  // and their serialised bytes (one event always fits)
  size_t max_group = 8192;                 // events per append+sync
  // When fewer than max_group/8 events wait, gather this long before appending and syncing, so
  // a trickle of events shares one fsync (and one uplink batch) instead of paying one each.
  std::chrono::milliseconds gather_delay{50};
  std::string host;  // set on events that do not name one
  // An event that serialises larger than max_event_bytes has its string fields longer than
  // max_field_bytes shortened and Event.truncated set (counted in stats().truncated); one still
  // larger becomes an EventsLost record saying so. Well under the collector's own cap (1 MiB).
  size_t max_event_bytes = 256u << 10;
  size_t max_field_bytes = 16u << 10;
};

struct SpoolWriterStats {
  uint64_t accepted = 0;
  uint64_t dropped = 0;  // events: ring full, or their spool write failed
  uint64_t written = 0;
  uint64_t syncs = 0;
  uint64_t write_errors = 0;
  uint64_t truncated = 0;  // events kept with shortened fields
};

class SpoolWriter final : public EventSink {
 public:
  // on_durable runs on the writer thread after each successful Sync (e.g. UplinkClient::Notify).
  SpoolWriter(spool::Spool* spool, SpoolWriterOptions options, Clock* clock,
              std::function<void()> on_durable);
  ~SpoolWriter() override;
  void Start();
  // Drains what is queued, syncs, stops the thread. Idempotent.
  void Stop();
  // Both leave `event` cleared when they take it and untouched (but for a filled-in host) when
  // they refuse it.
  bool Push(custos::v1::Event&& event) override;
  // Blocks (up to `timeout`) until there is room, for producers that can wait (replay).
  bool PushWait(custos::v1::Event&& event, std::chrono::milliseconds timeout) override;
  SpoolWriterStats Stats() const;
  uint64_t DurabilityMark() override { return accepted_.load(); }
  std::optional<SinkPosition> RecoveredPosition() override { return recovered_; }
  void AddDurabilityListener(DurabilityListener* listener) override;
  void RemoveDurabilityListener(DurabilityListener* listener) override;

  static uint8_t PriorityOf(const custos::v1::Event& event);
  static uint8_t TypeOf(const custos::v1::Event& event);

 private:
  // Serialised events in arrival order: payload bytes back to back, one entry per event.
  struct Pending {
    uint32_t size;
    uint8_t type;
    uint8_t priority;
  };
  struct Buffer {
    std::string bytes;
    std::vector<Pending> records;
    void Append(std::string_view payload, uint8_t type, uint8_t priority);
    // Empties, keeping capacity while it is in use (a small group after a burst releases it).
    void Reset();
  };

  struct Kind {
    uint8_t type;
    uint8_t priority;
  };
  void Run();
  // Host filled in, serialised into `out` (replaced); returns what the record is. An event over
  // the spool's record limit becomes an EventsLost record saying so.
  Kind Serialize(custos::v1::Event& event, std::string* out) const;
  bool HasRoomLocked(size_t bytes) const;
  void EnqueueLocked(const std::string& payload, Kind kind);
  // Tells the listeners that every event accepted up to `mark` is in the spool.
  void NotifyLogged(uint64_t mark);
  // Tells the listeners that every event accepted up to `mark` is synced.
  void NotifySynced(uint64_t mark);
  // Appends `group` to the spool in chunks of max_group records, each followed by one Sync.
  // `mark_before`: DurabilityMark before its first event; `accepted`: how many of its records
  // are accepted events (the rest, at the end, is the writer's own loss report).
  // `spool_report`: index of the record reporting earlier append failures (SIZE_MAX: none),
  // reporting `spool_reported` events.
  void WriteGroup(const Buffer& group, uint64_t mark_before, size_t accepted, size_t spool_report,
                  uint64_t spool_reported);

  spool::Spool* spool_;
  SpoolWriterOptions options_;
  Clock* clock_;
  std::function<void()> on_durable_;
  mutable std::mutex mu_;
  std::condition_variable cv_;                  // writer waits for events
  std::condition_variable room_cv_;             // PushWait waits for room
  Buffer ring_;                                 // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  uint64_t dropped_since_report_ = 0;           // guarded by mu_
  int64_t first_drop_ns_ = 0;                   // guarded by mu_
  SinkPosition recovered_;                      // the spool's end when the writer was created
  std::mutex listeners_mu_;                     // held while listeners are called
  std::vector<DurabilityListener*> listeners_;  // guarded by listeners_mu_
  std::vector<spool::RecordIn> records_;        // writer thread only
  // Events lost to failed spool appends and not yet reported upstream; writer thread only.
  uint64_t append_losses_ = 0;
  int64_t first_append_loss_ns_ = 0;
  std::string append_loss_error_;
  std::atomic<uint64_t> accepted_{0}, dropped_{0}, written_{0}, syncs_{0}, write_errors_{0};
  mutable std::atomic<uint64_t> truncated_{0};  // counted in the const Serialize
  std::thread thread_;
};

}  // namespace custos::agent::pipeline
