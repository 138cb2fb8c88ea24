#include "common/events/event_type.h"

#include <iterator>

namespace custos::events {
namespace {
constexpr std::string_view kTypeNames[] = {"unknown", "file",        "usb", "setting", "evidence",
                                           "health",  "events_lost", "gap", "process", "network"};
}  // namespace

EventType TypeOf(const custos::v1::Event& e) {
  switch (e.payload_case()) {
    case custos::v1::Event::kFile:
      return EventType::kFile;
    case custos::v1::Event::kUsb:
      return EventType::kUsb;
    case custos::v1::Event::kSetting:
      return EventType::kSetting;
    case custos::v1::Event::kEvidence:
      return EventType::kEvidence;
    case custos::v1::Event::kHealth:
      return EventType::kHealth;
    case custos::v1::Event::kEventsLost:
      return EventType::kEventsLost;
    case custos::v1::Event::kGap:
      return EventType::kGap;
    case custos::v1::Event::kProcess:
      return EventType::kProcess;
    case custos::v1::Event::kNetwork:
      return EventType::kNetwork;
    case custos::v1::Event::PAYLOAD_NOT_SET:
      return EventType::kUnknown;
  }
  return EventType::kUnknown;
}

std::string_view EventTypeName(EventType type) {
  auto i = static_cast<size_t>(type);
  return i < std::size(kTypeNames) ? kTypeNames[i] : "unknown";
}

std::optional<EventType> ParseEventType(std::string_view name) {
  for (size_t i = 1; i < std::size(kTypeNames); ++i) {
    if (kTypeNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

}  // namespace custos::events
