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
#include <string>
#include <string_view>

#include "common/status/status.h"
#include "custos/v1/event.pb.h"

namespace custos::agent {

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
