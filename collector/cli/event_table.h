// collector/cli: how `custos events` shows events, as a terminal table or as JSON. Input is what
// GET /api/v1/events returns (docs/api.md): an array of event objects {agent_id, hostname, epoch,
// seq, time, time_ns, type, user, event}, where "event" is the custos.v1.Event in the protobuf
// JSON mapping, or null with "payload_error" and "payload_base64" when the collector could not
// convert the stored bytes. Nothing here talks to the network or a store.
//
// Contract:
//  - Every function accepts any JSON value and hostile content (control characters, terminal
//    escape sequences, bidi overrides, megabyte-long paths, events that do not parse) and never
//    crashes or throws. Table output is always one line per event, with no raw control byte and
//    at most TableOptions::line_width columns; what does not fit is cut with "…" (JSON has it
//    all).
//  - JSON output is the API's objects as received, one array or one object per line.
//  - Pure functions, no shared state: any thread may call them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

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

// One line about what happened, unescaped (it may hold whatever the agent sent), e.g.
//   file:    "modify /home/alice/x.xlsx (1.2 MB) by /usr/bin/cp [pid 4242]"
//   usb:     "added SanDisk Ultra 0781:5581 serial X (mass storage)"
//   setting: "sshd /etc/ssh/sshd_config: old -> new (watch)"
std::string Summarize(const v1::Event& event);

// A table row; every field is already escaped for a terminal but not yet fitted to a width.
struct TableRow {
  std::string time;  // RFC 3339 UTC with milliseconds
  std::string host;  // hostname, else agent_id
  std::string user;  // "-" when the event names no user
  std::string type;
  std::string summary;  // "(undecodable payload, N bytes)" when the stored bytes do not decode
};
// The row of one API event object.
TableRow MakeTableRow(const nlohmann::ordered_json& event);

// Writes `events` (the API's "events" array) in `format`: the table with its header (nothing
// when there are no events), the JSON array ("[]" when empty), or JSON lines.
void WriteEvents(const nlohmann::ordered_json& events, OutputFormat format,
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
