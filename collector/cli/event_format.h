// collector/cli: how `custos events` shows stored events, as a terminal table or as JSON.
//
// Knows only store::StoredEvent and custos.v1.Event, never where events come from: the CLI reads
// the SQLite store today and the HTTPS API later, and this module stays as it is.
//
// Contract:
//  - Every function accepts hostile input (control characters, terminal escape sequences, bidi
//    overrides, invalid UTF-8, megabyte-long paths, payloads that do not parse) and never crashes
//    or throws. Table output is always one line per event, with no raw control byte and at most
//    TableOptions::line_width columns; what does not fit is cut with "…" (JSON has it all).
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

namespace custos::collector::cli {

enum class OutputFormat {
  kTable,      // aligned columns for a terminal; a footer is the caller's business
  kJson,       // one JSON array
  kJsonLines,  // one JSON object per line
};
// "table", "json", "jsonl"; nullopt for anything else.
std::optional<OutputFormat> ParseOutputFormat(std::string_view name);

struct TableOptions {
  // Widest line the table may print, in terminal columns. SUMMARY gets what the other columns
  // leave, but never fewer than kMinSummaryWidth.
  size_t line_width = 160;
};
inline constexpr size_t kMinSummaryWidth = 30;

// Decodes StoredEvent::payload; nullopt when the bytes are not a valid custos.v1.Event.
std::optional<v1::Event> DecodePayload(const store::StoredEvent& stored);

// One line about what happened, unescaped (it may hold whatever the agent sent), e.g.
//   file:    "modify /home/alice/x.xlsx (1.2 MB) by /usr/bin/cp [pid 4242]"
//   usb:     "added SanDisk Ultra 0781:5581 serial X (mass storage)"
//   setting: "sshd /etc/ssh/sshd_config: old -> new (watch)"
std::string Summarize(const v1::Event& event);

// A table row; every field is already escaped for a terminal but not yet fitted to a width.
struct TableRow {
  std::string time;  // RFC 3339 UTC with milliseconds
  std::string host;
  std::string user;  // "-" when the event names no user
  std::string type;
  std::string summary;  // "(undecodable payload, N bytes)" when `event` is null
};
// `event` is the decoded payload, or null when it did not decode.
TableRow MakeTableRow(const store::StoredEvent& stored, const v1::Event* event);

// {agent_id, hostname, epoch, seq, time, time_ns, type, user, event}, keys in that order. `event`
// is the decoded payload in the protobuf JSON mapping with proto field names; when the payload did
// not decode, "event" is null and "payload_error" and "payload_base64" say what was stored instead.
nlohmann::ordered_json EventToJson(const store::StoredEvent& stored, const v1::Event* event);

// Writes `events` in `format`: the table with its header (nothing when there are no events),
// the JSON array ("[]" when empty), or JSON lines.
void WriteEvents(std::span<const store::StoredEvent> events, OutputFormat format,
                 const TableOptions& options, std::ostream& out);

// ---- building blocks, exposed for tests ----

// The terminal escaper and width helpers live in common/text/terminal.h; the CLI uses them
// unqualified.
using text::DisplayWidth;
using text::EscapeForTerminal;
using text::FitToWidth;
// "512 B", "1.2 kB", "1.2 MB", "3.4 GB" (decimal units).
std::string HumanBytes(uint64_t bytes);

}  // namespace custos::collector::cli
