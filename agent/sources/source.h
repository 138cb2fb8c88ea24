// agent/sources: capture sources and the sink they push into.
//
// A source knows only its EventSink, never the spool or the uplink (DESIGN.md dependency rule).
// Kernel readers must never block on disk or network: EventSink::Push is non-blocking and may
// refuse (a bounded ring is full); the source then counts the loss and reports it as an
// EventsLost event when it can. One failing source degrades the agent, never kills it: sources
// report their state through Health().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status/status.h"
#include "custos/v1/event.pb.h"

namespace custos::agent {

// A place in a sink's log (the spool: stream epoch and sequence number).
struct SinkPosition {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  bool operator==(const SinkPosition&) const = default;
};

// Told by a sink when the events it accepted are in its log (see EventSink::DurabilityMark).
class DurabilityListener {
 public:
  virtual ~DurabilityListener() = default;
  // Every event whose mark is <= `mark` is written to the sink's log at or before `position`:
  // it survives a crash of this process; whether it survives power loss, the sink's
  // RecoveredPosition says at the next start. Called on the sink's thread, never while it holds
  // a lock its Push takes; must not block for long (it delays the sink).
  virtual void OnLogged(uint64_t mark, SinkPosition position) = 0;
  // Every event whose mark is <= `mark` is synced (fsync) to the sink's log: it survives power
  // loss too. Never ahead of OnLogged (a mark is told synced only once it was told logged).
  // Same thread and rules as OnLogged. A sink that calls OnLogged must call this too (after
  // each successful sync), or a listener that waits for it (SnapshotStore::Checkpoint) defers.
  virtual void OnSynced(uint64_t mark) { (void)mark; }
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Thread-safe and non-blocking. Takes the event (agent_id, stream_epoch, seq left empty;
  // time_ns and actor filled by the source). Returns false when the event was dropped. A sink
  // that takes the event may move from it or copy it and clear it; a refused event is left as
  // it was, so the producer may offer it again.
  virtual bool Push(custos::v1::Event&& event) = 0;
  // For producers that may wait (replay from a file, never a kernel reader): blocks up to
  // `timeout` for room. The default does not wait.
  virtual bool PushWait(custos::v1::Event&& event, std::chrono::milliseconds timeout) {
    return Push(std::move(event));
  }

  // Durability feedback, for a producer whose own persisted state must stay in step with what
  // reached the sink's log (the file source's snapshot journal: a restart after kill -9 must
  // report only what did not reach the spool). DurabilityMark(), called after a Push that
  // returned true, returns a mark that covers that event (and every event accepted before);
  // marks never decrease. A listener is told, as soon as events are written to the log, the
  // highest mark written and its position. RecoveredPosition(): how far the log survived when
  // the sink opened it (after power loss, unsynced records may be gone): what the producer
  // recorded against a later position must be treated as never reported. Once a sync makes
  // them survive power loss too, a listener is told the highest mark synced (OnSynced). The
  // defaults suit a
  // sink whose accepted events are as durable as they will ever be (tests, in-memory sinks):
  // every mark is 0 and 0 is logged at once, so no listener is ever called, and there is no log
  // (nullopt). A sink that forwards to another forwards these four (a forwarded listener gets
  // both notifications from the sink that logs). Thread-safe.
  // RemoveDurabilityListener waits for a call in progress; after it returns the listener is
  // never called again.
  virtual uint64_t DurabilityMark() { return 0; }
  virtual std::optional<SinkPosition> RecoveredPosition() { return std::nullopt; }
  virtual void AddDurabilityListener(DurabilityListener* listener) { (void)listener; }
  virtual void RemoveDurabilityListener(DurabilityListener* listener) { (void)listener; }
};

// The EventsLost event that reports `count` events lost by `source` ("file", "usb",
// "pipeline", ...) between the two times, and why; its time is the window's end.
inline custos::v1::Event MakeEventsLost(std::string_view source, uint64_t count,
                                        int64_t window_start_ns, int64_t window_end_ns,
                                        std::string reason) {
  custos::v1::Event event;
  event.set_time_ns(window_end_ns);
  auto* lost = event.mutable_events_lost();
  lost->set_source(std::string(source));
  lost->set_count(count);
  lost->set_window_start_ns(window_start_ns);
  lost->set_window_end_ns(window_end_ns);
  lost->set_reason(std::move(reason));
  return event;
}

struct SourceHealth {
  std::string mechanism;  // e.g. "fanotify", "inotify", "replay"
  custos::v1::HealthLevel level = custos::v1::HEALTH_LEVEL_OK;
  std::string message;  // why degraded/failed, naming the limit or error
  uint64_t events = 0;  // pushed
  uint64_t lost = 0;    // refused by the sink or lost by the kernel
};

class Source {
 public:
  virtual ~Source() = default;
  virtual std::string name() const = 0;  // "file", "usb", "settings", "replay"
  // Starts capturing on the source's own thread(s). Errors are clear (e.g. "file: fanotify_init:
  // Operation not permitted (needs CAP_SYS_ADMIN)").
  virtual Status Start(EventSink* sink) = 0;
  // Stops and joins; idempotent.
  virtual void Stop() = 0;
  virtual SourceHealth Health() const = 0;
};

}  // namespace custos::agent
