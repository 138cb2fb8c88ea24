// custos events: list stored events through GET /api/v1/events (docs/cli.md#custos-events).
// Flags become a request target (EventsTarget), the API's answer becomes output
// (collector/cli/event_table.h).
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/event_table.h"
#include "common/events/event_type.h"
#include "common/time/clock.h"

namespace custos::collector::cli {
namespace {

constexpr int64_t kDefaultLimit = 50;
// The API returns at most this many events a request (GET /api/v1/events, limit 1..10000).
constexpr int64_t kMaxLimit = 10'000;

constexpr const char* kEventsUsage = R"(custos events — list stored events, newest first.

Usage:
  custos events [--since T] [--until T] [--agent ID] [--user NAME] [--type TYPE]
                [--limit N] [--oldest-first] [--format table|json|jsonl]
                [--config FILE] [connection options]

Filters (all optional; together they narrow the result):
  --since T        Events at or after T.
  --until T        Events before T.
                   T is an RFC 3339 time (2026-11-21T10:00:00Z, 2026-11-21T11:00:00+01:00),
                   a date (2026-11-21, midnight UTC) or relative to now (-15m, -2h, -7d).
  --agent ID       Events from this agent only.
  --user NAME      Events by this login user only.
  --type TYPE      file, usb, setting, evidence, health, events_lost, gap, process or network.
  --limit N        At most N events (default 50, max 10000: what the API returns at once;
                   narrow with --since/--until for more).
  --oldest-first   The oldest N matching events, oldest first.
Output:
  --format F       table (default): one line per event; long or hostile text is escaped and cut
                   to the terminal width. json: one array. jsonl: one object per line. JSON
                   carries every field of the event, as the API returns it.
Configuration:
  --config FILE    Collector configuration, for its data_dir, which is DATA_DIR below (default
                   /etc/custos/collector.yaml if it exists and --data-dir is not given).

Events come from the collector's HTTPS API (GET /api/v1/events): they need the investigator
role, every read is recorded in the audit log, and people are pseudonyms unless revealed.

)" CUSTOS_CLI_CONNECTION_HELP R"(
Examples:
  custos events --since -2h --user alice
  custos events --type usb --since 2026-11-21 --format jsonl | jq .event.usb.serial
)";

std::string ValidTypeList() {
  std::string out;
  for (auto t :
       {events::EventType::kFile, events::EventType::kUsb, events::EventType::kSetting,
        events::EventType::kEvidence, events::EventType::kHealth, events::EventType::kEventsLost,
        events::EventType::kGap, events::EventType::kProcess, events::EventType::kNetwork}) {
    out += (out.empty() ? "" : ", ") + std::string(events::EventTypeName(t));
  }
  return out;
}

int Run(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, "events takes no arguments, got '" + c.args.positional()[1] + "'",
                      "events");
  }
  int64_t limit = 0;
  bool newest_first = true;
  auto target = EventsTarget(c.args, RealClock()->NowUnixNs(), &limit, &newest_first);
  if (!target.ok()) return UsageError(c.err, target.status().message(), "events");
  std::string format_name = c.args.GetOr("format", "table");
  std::optional<OutputFormat> format = ParseOutputFormat(format_name);
  if (!format) {
    return UsageError(c.err, "--format: expected table, json or jsonl, got '" + format_name + "'",
                      "events");
  }

  auto reply = c.api.Send("GET", *target);
  if (!reply) return c.api.exit_code();
  if (reply->status != 200) return c.api.ReportError(*reply);
  // Ordered, so JSON output keeps the API's key order.
  nlohmann::ordered_json body =
      nlohmann::ordered_json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("events") || !body["events"].is_array()) {
    return Failure(c.err, "the API answered HTTP 200 without an \"events\" array");
  }
  const nlohmann::ordered_json& events = body["events"];
  WriteEvents(events, *format, TableOptions{.line_width = c.env.line_width}, c.out);
  if (int rc = Finish(c); rc != 0) return rc;
  if (*format == OutputFormat::kTable) {
    const size_t n = events.size();
    c.err << n << " event" << (n == 1 ? "" : "s") << " shown ("
          << (newest_first ? "newest first" : "oldest first") << "; --limit " << limit
          << (static_cast<int64_t>(n) >= limit ? " reached, more may match" : "") << ")\n";
  }
  return 0;
}

}  // namespace

Result<std::string> EventsTarget(const Invocation& args, int64_t now_ns, int64_t* limit,
                                 bool* newest_first) {
  CUSTOS_ASSIGN_OR_RETURN(TimeWindow window, ParseTimeWindow(args, now_ns));
  std::string query;
  auto add = [&](const char* key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + PercentEncode(value);
  };
  if (window.since_ns) add("since", Rfc3339Nanos(*window.since_ns));
  if (window.until_ns) add("until", Rfc3339Nanos(*window.until_ns));
  if (auto agent = args.Get("agent")) add("agent", *agent);
  if (auto user = args.Get("user")) add("user", *user);
  if (auto type = args.Get("type")) {
    if (!events::ParseEventType(*type)) {
      return InvalidArgumentError("--type: unknown event type '" + *type +
                                  "' (valid: " + ValidTypeList() + ")");
    }
    add("type", *type);
  }
  auto n = args.GetInt("limit", kDefaultLimit, 1, kMaxLimit);
  if (!n.ok()) {
    return InvalidArgumentError(n.status().message() +
                                " (the API returns at most 10000 events at once; narrow with "
                                "--since/--until)");
  }
  *limit = *n;
  add("limit", std::to_string(*n));
  *newest_first = !args.Has("oldest-first");
  add("order", *newest_first ? "newest" : "oldest");
  return "/api/v1/events" + query;
}

const Command& EventsCommand() {
  static const Command kCommand{
      .name = "events",
      .overview = {{"custos events [options]",
                    "List stored events (newest first) as a table or JSON."}},
      .usage = kEventsUsage,
      .options = {{"since"},
                  {"until"},
                  {"agent"},
                  {"user"},
                  {"type"},
                  {"limit"},
                  {"oldest-first", false},
                  {"format"},
                  {"config"}},
      .run = &Run,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
