// custos audit: list and filter the audit log (GET /api/v1/audit; docs/cli.md#custos-audit).
// Flags become a request target (AuditTarget); entries become a table, JSON or CSV
// (collector/cli/access_format.h).
#include <nlohmann/json.hpp>

#include "collector/cli/access_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"
#include "common/time/clock.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using text::EscapeForTerminal;

constexpr int64_t kDefaultLimit = 100;
constexpr int64_t kMaxLimit = 1000;  // GET /api/v1/audit: limit 1..1000

constexpr const char* kAuditUsage =
    "custos audit \xE2\x80\x94 list the audit log: who did what to which object, when and\n"
    "from where; newest first.\n"
    "\n"
    "Usage:\n"
    "  custos audit [--actor A] [--action X] [--object O] [--since T] [--until T]\n"
    "               [--limit N] [--before SEQ] [--format table|json|csv]\n"
    "\n"
    "Filters (all optional; together they narrow the result):\n"
    "  --actor A        Exactly this actor, e.g. user:dana, token:ci, local-admin:root.\n"
    "  --action X       Exactly this action (alert.status), or every action under a prefix\n"
    "                   ending in '.' (alert., account., reveal.). Actions: docs/audit.md.\n"
    "  --object O       Exactly this object, e.g. alert:42, account:usr_5c1f0a9e.\n"
    "  --since T        Entries at or after T.\n"
    "  --until T        Entries before T.\n"
    "                   T is an RFC 3339 time (2026-11-21T10:00:00Z, 2026-11-21T11:00:00+01:00),\n"
    "                   a date (2026-11-21, midnight UTC) or relative to now (-15m, -2h, -7d).\n"
    "  --limit N        At most N entries (default 100, max 1000).\n"
    "  --before SEQ     Entries older than SEQ: the next page. The table's footer says which SEQ\n"
    "                   to pass when --limit was reached.\n"
    "Output:\n"
    "  --format F       table (default): SEQ, TIME, ACTOR, ACTION, OBJECT, SOURCE, SUMMARY, cut\n"
    "                   to the terminal width; the footer goes to standard error.\n"
    "                   json: the API's entries as one array (with each entry's chain hash).\n"
    "                   csv: RFC 4180 with a header row (seq,time,actor,action,object,summary,\n"
    "                   source,hash) and CRLF line ends. Values are escaped like the table\n"
    "                   (a control character becomes \\n, \\x1b, ...; json has the exact\n"
    "                   text), quoted when they hold a comma, quote, CR or LF, and a value\n"
    "                   starting with =, +, -, @, TAB or CR gets a leading ' so a spreadsheet\n"
    "                   shows it as text instead of running it as a formula.\n"
    "\n"
    "People named in entries appear as the API shows them (pseudonymised while pseudonymisation\n"
    "is on). Who may run it: auditors and admins. Checking the log's integrity is\n"
    "'custos-collector audit verify', on the collector host.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos audit --since -7d --action account.\n"
    "  custos audit --actor user:dana --format csv > dana-audit.csv\n"
    "  custos audit --object alert:42 --format json | jq -r '.[].summary'\n";

int Run(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, "audit takes no arguments, got '" + c.args.positional()[1] + "'",
                      "audit");
  }
  int64_t limit = 0;
  auto target = AuditTarget(c.args, RealClock()->NowUnixNs(), &limit);
  if (!target.ok()) return UsageError(c.err, target.status().message(), "audit");
  std::string format;
  int rc = 0;
  if (!ExpectFormat(c, "audit", {"table", "json", "csv"}, &format, &rc)) return rc;
  auto body = ObjectReply(c, "GET", *target, &rc);
  if (!body) return rc;
  const json entries = body->contains("entries") ? (*body)["entries"] : json();
  if (!entries.is_array()) {
    return Failure(c.err, "the API answered without an \"entries\" array");
  }
  if (format == "json") {
    WriteJsonArray(entries, c.out);
  } else if (format == "csv") {
    WriteAuditCsv(entries, c.out);
  } else {
    WriteAuditTable(entries, c.env.line_width, c.out);
  }
  if (int finished = Finish(c); finished != 0) return finished;
  if (format == "table") {
    const size_t n = entries.size();
    c.err << n << (n == 1 ? " entry" : " entries") << " shown (newest first; --limit " << limit;
    const json next = body->contains("next_before") ? (*body)["next_before"] : json();
    if (static_cast<int64_t>(n) >= limit && next.is_number_integer()) {
      c.err << " reached; older: --before " << next.get<int64_t>();
    }
    c.err << ")\n";
  }
  return 0;
}

}  // namespace

Result<std::string> AuditTarget(const Invocation& args, int64_t now_ns, int64_t* limit) {
  CUSTOS_ASSIGN_OR_RETURN(TimeWindow window, ParseTimeWindow(args, now_ns));
  std::string query;
  auto add = [&](const char* key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + PercentEncode(value);
  };
  for (const char* key : {"actor", "action", "object"}) {
    if (auto v = args.Get(key)) {
      if (v->empty()) return InvalidArgumentError("--" + std::string(key) + " is empty");
      add(key, *v);
    }
  }
  if (window.since_ns) add("since", Rfc3339Nanos(*window.since_ns));
  if (window.until_ns) add("until", Rfc3339Nanos(*window.until_ns));
  if (args.Has("before")) {
    CUSTOS_ASSIGN_OR_RETURN(int64_t before, args.GetInt("before", 0, 1, INT64_MAX));
    add("before", std::to_string(before));
  }
  CUSTOS_ASSIGN_OR_RETURN(*limit, args.GetInt("limit", kDefaultLimit, 1, kMaxLimit));
  add("limit", std::to_string(*limit));
  return "/api/v1/audit" + query;
}

const Command& AuditCommand() {
  static const Command kCommand{
      .name = "audit",
      .overview = {{"custos audit [filters]",
                    "List the audit log as a table, JSON or CSV (auditor, admin)."}},
      .usage = kAuditUsage,
      .options = {{"actor"},
                  {"action"},
                  {"object"},
                  {"since"},
                  {"until"},
                  {"limit"},
                  {"before"},
                  {"format"}},
      .run = &Run,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
