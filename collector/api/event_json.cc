#include "collector/api/event_json.h"
#include "common/text/utf8.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "common/time/clock.h"

namespace custos::collector::api {
namespace {

using store::StoredEvent;

constexpr char32_t kInvalid = text::kInvalidCodePoint;

using text::NextCodePoint;

// Replaces invalid UTF-8 with U+FFFD so the text can go into JSON.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    if (NextCodePoint(text, i) == kInvalid) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(text.substr(start, i - start));
    }
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                 static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string UndecodableSummary(const StoredEvent& stored) {
  return "(undecodable payload, " + std::to_string(stored.payload.size()) + " bytes)";
}

}  // namespace

std::optional<v1::Event> DecodePayload(const StoredEvent& stored) {
  v1::Event event;
  if (stored.payload.size() > static_cast<size_t>(INT32_MAX) ||
      !event.ParseFromArray(stored.payload.data(), static_cast<int>(stored.payload.size()))) {
    return std::nullopt;
  }
  return event;
}

nlohmann::ordered_json EventToJson(const StoredEvent& stored, const v1::Event* event) {
  nlohmann::ordered_json j = {
      {"agent_id", ValidUtf8(stored.agent_id)},
      {"hostname", ValidUtf8(stored.hostname)},
      {"epoch", stored.epoch},
      {"seq", stored.seq},
      {"time", FormatUnixNs(stored.time_ns)},
      {"time_ns", stored.time_ns},
      {"type", std::string(store::EventTypeName(stored.type))},
      {"user", stored.user.empty() ? nlohmann::ordered_json(nullptr)
                                   : nlohmann::ordered_json(ValidUtf8(stored.user))},
  };
  std::string error;
  if (event != nullptr) {
    std::string text;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    auto status = google::protobuf::util::MessageToJsonString(*event, &text, options);
    if (status.ok()) {
      auto parsed = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) {
        j["event"] = std::move(parsed);
        return j;
      }
      error = "payload does not convert to JSON";
    } else {
      error = "payload does not convert to JSON: " + ValidUtf8(status.ToString());
    }
  } else {
    error = UndecodableSummary(stored);
    error = error.substr(1, error.size() - 2);  // without the parentheses the table shows
  }
  j["event"] = nullptr;
  j["payload_error"] = error;
  j["payload_base64"] = Base64(stored.payload);
  return j;
}

}  // namespace custos::collector::api
