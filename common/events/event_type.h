// The event types of custos.v1.Event (its payload oneof) as one small enum, shared by the agent
// (spool record type) and the collector (store column, CLI filter), with stable numbers and
// names. Numbers are stored on disk: never renumber; append new types.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "custos/v1/event.pb.h"

namespace custos::events {

enum class EventType : uint8_t {
  kUnknown = 0,
  kFile = 1,
  kUsb = 2,
  kSetting = 3,
  kEvidence = 4,
  kHealth = 5,
  kEventsLost = 6,
  kGap = 7,
  kProcess = 8,
  kNetwork = 9,
};

EventType TypeOf(const custos::v1::Event& event);
std::string_view EventTypeName(EventType type);
std::optional<EventType> ParseEventType(std::string_view name);

}  // namespace custos::events
