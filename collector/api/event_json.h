// collector/api/event_json.h: the JSON view of a stored event that GET /api/v1/events returns
// (through views.h, which masks people in it). The `custos` CLI renders that JSON
// (collector/cli/event_table.h).
//
// Contract:
//  - Every function accepts hostile input (control characters, invalid UTF-8, megabyte-long
//    paths, payloads that do not parse) and never crashes or throws.
//  - JSON output is always valid UTF-8 JSON (invalid bytes in store columns become U+FFFD).
//  - Pure functions, no shared state: any thread may call them.
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "collector/store/store.h"
#include "common/text/terminal.h"
#include "custos/v1/event.pb.h"

namespace custos::collector::api {

// Decodes StoredEvent::payload; nullopt when the bytes are not a valid custos.v1.Event.
std::optional<v1::Event> DecodePayload(const store::StoredEvent& stored);

// {agent_id, hostname, epoch, seq, time, time_ns, type, user, event}, keys in that order. `event`
// is the decoded payload in the protobuf JSON mapping with proto field names; when the payload did
// not decode, "event" is null and "payload_error" and "payload_base64" say what was stored instead.
nlohmann::ordered_json EventToJson(const store::StoredEvent& stored, const v1::Event* event);

}  // namespace custos::collector::api
