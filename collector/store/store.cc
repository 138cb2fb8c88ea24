#include "collector/store/store.h"

namespace custos::collector::store {

namespace {
constexpr std::string_view kTypeNames[] = {"unknown", "file", "usb", "setting",
                                           "evidence", "health", "events_lost", "gap",
                                           "process",  "network"};
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

}  // namespace custos::collector::store
