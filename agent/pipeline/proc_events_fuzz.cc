// Fuzzes the proc connector parser (proc_events.h): any bytes give events and OK or an error
// with a message, never a crash; every event has a known kind, and there are never more events
// than the datagram has room for headers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "agent/pipeline/proc_events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using custos::agent::pipeline::ProcEvent;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<ProcEvent> events;
  const custos::Status s = custos::agent::pipeline::ParseProcEvents(input, &events);
  if (!s.ok() && s.message().empty()) std::abort();
  // Each event needs at least a netlink header, a connector header and a proc_event header.
  if (events.size() * (16 + 20 + 16) > size) std::abort();
  for (const ProcEvent& e : events) {
    switch (e.kind) {
      case ProcEvent::Kind::kAck:
      case ProcEvent::Kind::kFork:
      case ProcEvent::Kind::kExec:
      case ProcEvent::Kind::kUid:
      case ProcEvent::Kind::kExit:
      case ProcEvent::Kind::kOther:
        break;
      default:
        std::abort();
    }
  }
  return 0;
}
