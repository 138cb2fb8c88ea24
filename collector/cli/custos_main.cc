// custos: the Custos command-line tool. See `custos --help` and collector/cli/README.md.
//
// `custos events` reads the collector's store; every other command works through the collector's
// HTTPS API (collector/cli/api_commands.h). Events take three steps, kept apart so the data source
// can change without touching the rest: flags become a store::EventQuery (EventQueryFromArgs), the
// query becomes events (FetchEvents: the collector's SQLite store opened read-only), and events
// become output (collector/cli/event_format.h).
#include <sys/ioctl.h>
#include <unistd.h>

#include <google/protobuf/stubs/logging.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <set>
#include <string_view>

#include "collector/app/collector_config.h"
#include "collector/cli/api_commands.h"
#include "collector/cli/event_format.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/flags/flags.h"
#include "common/time/clock.h"

namespace custos::collector::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage =
    R"(custos — the Custos command-line tool: look at what the collector stored, triage alerts,
feed it HR and directory data, manage scoring policies.

Usage:
  custos events [options]             List stored events (newest first) as a table or JSON.
  custos alerts [filters]             List alerts.
  custos alert show ID                One alert with its explanation.
  custos alert confirm|dismiss|resolve|reopen ID [--reason TEXT]
                                      Change an alert's status.
  custos import hr|directory FILE     Import an HR or directory CSV file.
  custos policies                     List scoring policies.
  custos policy create|delete ...     Create a policy from a template, or delete one.
  custos templates                    List policy templates.
  custos trigger PERSON --days N --reason TEXT
                                      Start scoring a person now, for N days.
  custos external-alert --person P --source S --title T
                                      Report another system's alert about a person.
  custos --version
  custos COMMAND --help               Options of COMMAND.

'events' reads the collector's store (DATA_DIR/custos.db) directly. The other commands use the
collector's HTTPS API: --api https://HOST:PORT (default https://127.0.0.1:8443), with the token
in DATA_DIR/admin.token, --token-file FILE or $CUSTOS_TOKEN; see any of their --help.

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
)";

constexpr const char* kEventsUsage = R"(custos events — list stored events, newest first.

Usage:
  custos events [--since T] [--until T] [--agent ID] [--user NAME] [--type TYPE]
                [--limit N] [--oldest-first] [--format table|json|jsonl]
                [--data-dir DIR] [--config FILE]

Filters (all optional; together they narrow the result):
  --since T        Events at or after T.
  --until T        Events before T.
                   T is an RFC 3339 time (2026-11-21T10:00:00Z, 2026-11-21T11:00:00+01:00),
                   a date (2026-11-21, midnight UTC) or relative to now (-15m, -2h, -7d).
  --agent ID       Events from this agent only.
  --user NAME      Events by this login user only.
  --type TYPE      file, usb, setting, evidence, health, events_lost, gap, process or network.
  --limit N        At most N events (default 50, max 100000).
  --oldest-first   The oldest N matching events, oldest first.
Output:
  --format F       table (default): one line per event; long or hostile text is escaped and cut
                   to the terminal width. json: one array. jsonl: one object per line. JSON
                   carries every field of the event.
Store:
  --config FILE    Collector configuration, for its data_dir (default
                   /etc/custos/collector.yaml if it exists and --data-dir is not given).
  --data-dir DIR   Collector state directory (default /var/lib/custos/collector); events are
                   read from DIR/custos.db, read-only.

Examples:
  custos events --since -2h --user alice
  custos events --type usb --since 2026-11-21 --format jsonl | jq .event.usb.serial

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
)";

constexpr int64_t kDefaultLimit = 50;
constexpr int64_t kMaxLimit = 100'000;

int UsageError(const std::string& msg, const char* help_hint = "custos events --help") {
  std::fprintf(stderr, "custos: %s\nRun '%s' for usage.\n", msg.c_str(), help_hint);
  return 2;
}

int Failure(const std::string& msg) {
  std::fprintf(stderr, "custos: %s\n", msg.c_str());
  return 1;
}

std::string ValidTypeList() {
  std::string out;
  for (auto t :
       {store::EventType::kFile, store::EventType::kUsb, store::EventType::kSetting,
        store::EventType::kEvidence, store::EventType::kHealth, store::EventType::kEventsLost,
        store::EventType::kGap, store::EventType::kProcess, store::EventType::kNetwork}) {
    out += (out.empty() ? "" : ", ") + std::string(store::EventTypeName(t));
  }
  return out;
}

// ParseTimeSpec works in int64 nanoseconds without overflow checks: years outside 1678..2261
// and relative spans of centuries overflow (undefined behaviour). Refuse those before calling it.
std::optional<std::string> OutOfNanosecondRange(std::string_view text) {
  if (text.starts_with('-')) {
    uint64_t n = 0;
    size_t i = 1;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      n = n * 10 + static_cast<uint64_t>(text[i] - '0');
      if (n > 1'000'000'000'000) return "is more than 100 years ago";
    }
    uint64_t unit = 1;
    if (i + 1 == text.size()) {
      unit = text[i] == 'd' ? 86'400 : text[i] == 'h' ? 3'600 : text[i] == 'm' ? 60 : 1;
    }
    if (n * unit > 100ull * 366 * 86'400) return "is more than 100 years ago";
    return std::nullopt;
  }
  int year = 0;
  if (text.size() >= 4 &&
      std::from_chars(text.data(), text.data() + 4, year).ptr == text.data() + 4 &&
      (year < 1678 || year > 2261)) {
    return "is outside the years 1678 to 2261";
  }
  return std::nullopt;
}

Status ParseTimeFlag(const flags::Args& args, const std::string& name, int64_t now_ns,
                     std::optional<int64_t>* out) {
  auto text = args.Get(name);
  if (!text) return OkStatus();
  if (auto problem = OutOfNanosecondRange(*text)) {
    return InvalidArgumentError("--" + name + ": '" + *text + "' " + *problem);
  }
  int64_t ns = 0;
  if (!ParseTimeSpec(*text, now_ns, &ns)) {
    return InvalidArgumentError("--" + name +
                                ": expected RFC 3339 time like 2026-11-21T10:00:00Z, a date, or "
                                "-15m/-2h/-7d (got '" +
                                *text + "')");
  }
  *out = ns;
  return OkStatus();
}

// Flags to query. Every error is InvalidArgument (a usage error).
Result<store::EventQuery> EventQueryFromArgs(const flags::Args& args, int64_t now_ns) {
  store::EventQuery q;
  CUSTOS_RETURN_IF_ERROR(ParseTimeFlag(args, "since", now_ns, &q.since_ns));
  CUSTOS_RETURN_IF_ERROR(ParseTimeFlag(args, "until", now_ns, &q.until_ns));
  if (q.since_ns && q.until_ns && *q.since_ns >= *q.until_ns) {
    return InvalidArgumentError("--since " + *args.Get("since") + " is not before --until " +
                                *args.Get("until"));
  }
  if (auto agent = args.Get("agent")) q.agent_id = *agent;
  if (auto user = args.Get("user")) q.user = *user;
  if (auto type = args.Get("type")) {
    q.type = store::ParseEventType(*type);
    if (!q.type) {
      return InvalidArgumentError("--type: unknown event type '" + *type +
                                  "' (valid: " + ValidTypeList() + ")");
    }
  }
  CUSTOS_ASSIGN_OR_RETURN(int64_t limit, args.GetInt("limit", kDefaultLimit, 1, kMaxLimit));
  q.limit = static_cast<uint32_t>(limit);
  q.newest_first = !args.Has("oldest-first");
  return q;
}

// The config file only matters for data_dir. An explicit --config must load; the default file
// is read only when --data-dir does not already answer the question, so an analyst who cannot
// read the collector's (root-only) configuration can still pass --data-dir.
Result<CollectorConfig> LoadConfig(const flags::Args& args) {
  std::string path = args.GetOr("config", "");
  if (path.empty() && !args.Has("data-dir") && ::access(kDefaultCollectorConfigPath, F_OK) == 0) {
    path = kDefaultCollectorConfigPath;
  }
  CUSTOS_ASSIGN_OR_RETURN(CollectorConfig c, LoadCollectorConfig(path));
  if (auto d = args.Get("data-dir")) c.data_dir = *d;
  return c;
}

// Where events come from: the collector's SQLite store, opened read-only (never migrated or
// written, safe while the collector runs). The HTTPS API will replace this function alone.
// Errors: NotFound for a missing store, others as the store reports them.
Result<std::vector<store::StoredEvent>> FetchEvents(const CollectorConfig& config,
                                                    const store::EventQuery& query) {
  const std::string path = config.db_path();
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return NotFoundError("no store at " + path +
                         ": run 'custos-collector init' or pass --data-dir");
  }
  auto opened = store::OpenSqliteStore({.path = path, .read_only = true});
  if (!opened.ok()) {
    // Not every store error names the file; the reader needs to know which one it was.
    Status s = opened.status();
    if (s.message().find(path) == std::string::npos) s = s.WithContext(path);
    if (s.code() == StatusCode::kPermissionDenied) {
      return PermissionDeniedError(s.message() +
                                   " (run as a user that can read the collector's data "
                                   "directory, e.g. with sudo)");
    }
    return s;
  }
  return (*opened)->QueryEvents(query);
}

// The terminal's width when stdout is a terminal; else $COLUMNS when set (so
// `COLUMNS=250 custos events | less -S` shows more); else a fixed width, so piped output does not
// depend on who runs it.
size_t TableWidth() {
  struct winsize ws {};
  if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  if (const char* columns = std::getenv("COLUMNS")) {
    size_t n = 0;
    auto [end, ec] = std::from_chars(columns, columns + std::strlen(columns), n);
    if (ec == std::errc() && *end == '\0' && n >= 40 && n <= 100'000) return n;
  }
  return TableOptions{}.line_width;
}

int Events(const flags::Args& args) {
  for (const auto& spec : AllFlagSpecs()) {
    static const std::set<std::string> kEventFlags = {
        "since",        "until",  "agent",    "user",   "type", "limit",
        "oldest-first", "format", "data-dir", "config", "help"};
    if (args.Has(spec.name) && !kEventFlags.count(spec.name)) {
      return UsageError("--" + spec.name + " does not apply to 'custos events'");
    }
  }
  if (args.positional().size() > 1) {
    return UsageError("events takes no arguments, got '" + args.positional()[1] + "'");
  }
  auto query = EventQueryFromArgs(args, RealClock()->NowUnixNs());
  if (!query.ok()) return UsageError(query.status().message());
  std::string format_name = args.GetOr("format", "table");
  std::optional<OutputFormat> format = ParseOutputFormat(format_name);
  if (!format) {
    return UsageError("--format: expected table, json or jsonl, got '" + format_name + "'");
  }
  auto config = LoadConfig(args);
  if (!config.ok()) {
    std::fprintf(stderr, "custos: %s\n", config.status().message().c_str());
    return 2;
  }

  auto events = FetchEvents(*config, *query);
  if (!events.ok()) return Failure(events.status().message());

  WriteEvents(*events, *format, TableOptions{.line_width = TableWidth()}, std::cout);
  std::cout.flush();
  if (!std::cout) return Failure("write to standard output failed");
  if (*format == OutputFormat::kTable) {
    std::fprintf(stderr, "%zu event%s shown (%s; --limit %u%s)\n", events->size(),
                 events->size() == 1 ? "" : "s",
                 query->newest_first ? "newest first" : "oldest first", query->limit,
                 events->size() >= query->limit ? " reached, more may match" : "");
  }
  return 0;
}

int Main(int argc, char** argv) {
  // A payload with invalid UTF-8 would make libprotobuf log to stderr for every row; the table
  // already says "(undecodable payload, N bytes)".
  google::protobuf::SetLogHandler(nullptr);
  auto args = flags::Args::Parse(argc, argv, AllFlagSpecs());
  if (!args.ok()) {
    std::string hint = "custos --help";
    for (int i = 1; i < argc; ++i) {
      const std::string_view word = argv[i];
      if (word == "events" || IsApiCommand(word)) {
        hint = "custos " + std::string(word) + " --help";
        break;
      }
    }
    return UsageError(args.status().message(), hint.c_str());
  }
  const bool has_command = !args->positional().empty();
  if (args->Has("version")) {
    std::printf("custos %s\n", kVersion);
    return 0;
  }
  if (!has_command) {
    if (args->Has("help")) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string& command = args->positional()[0];
  if (command == "events") {
    if (args->Has("help")) {
      std::fputs(kEventsUsage, stdout);
      return 0;
    }
    return Events(*args);
  }
  if (IsApiCommand(command)) {
    if (args->Has("help")) {
      std::fputs(ApiCommandUsage(command), stdout);
      return 0;
    }
    return RunApiCommand(*args, EnvironmentFromProcess(TableWidth()), std::cout, std::cerr);
  }
  return UsageError("unknown command '" + command + "'", "custos --help");
}

}  // namespace
}  // namespace custos::collector::cli

int main(int argc, char** argv) {
  // Nothing below is expected to throw (nlohmann::json and protobuf are used in their no-throw
  // forms); this only turns std::bad_alloc and the like into a message and exit code 1.
  try {
    return custos::collector::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custos: internal error: %s\n", e.what());
    return 1;
  }
}
