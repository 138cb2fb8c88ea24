// custos alerts: list alerts through GET /api/v1/alerts (docs/cli.md#custos-alerts).
#include <set>

#include <nlohmann/json.hpp>

#include "collector/cli/alert_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;

constexpr const char* kAlertsUsage =
    "custos alerts \xE2\x80\x94 list alerts, newest first.\n"
    "\n"
    "Usage:\n"
    "  custos alerts [--status S] [--severity SEV] [--person P] [--policy ID] [--min-score N]\n"
    "                [--limit N] [--format table|json] [connection options]\n"
    "\n"
    "Filters (all optional; together they narrow the result):\n"
    "  --status S       open (needs_review or confirmed), needs_review, confirmed, dismissed or\n"
    "                   resolved.\n"
    "  --severity SEV   low, medium or high.\n"
    "  --person P       Alerts about this person (an e-mail address from the directory, or an\n"
    "                   unmapped login name).\n"
    "  --policy ID      Alerts raised by this policy (pol_..., see 'custos policies').\n"
    "  --min-score N    Score at least N (0..100).\n"
    "  --limit N        At most N alerts (default 100, max 1000).\n"
    "Output:\n"
    "  --format F       table (default): ID, SEVERITY, SCORE, STATUS, PERSON, POLICY,\n"
    "                   LAST ACTIVITY, UPDATED; a footer goes to stderr. json: the API's alert\n"
    "                   objects as one array.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos alerts --status open --severity high\n"
    "  custos alerts --person alice@example.com --format json | jq '.[].score'\n";

int Alerts(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, "alerts takes no arguments, got '" + c.args.positional()[1] + "'",
                      "alerts");
  }
  std::string format;
  int rc = 0;
  if (!ExpectFormat(c, "alerts", {"table", "json"}, &format, &rc)) return rc;
  auto target = AlertsTarget(c.args);
  if (!target.ok()) return UsageError(c.err, target.status().message(), "alerts");
  auto body = ObjectReply(c, "GET", *target, &rc);
  if (!body) return rc;
  const json& alerts = (*body)["alerts"];
  if (format == "json") {
    WriteJsonArray(alerts, c.out);
    return Finish(c);
  }
  WriteAlertTable(alerts, c.env.line_width, c.out);
  const size_t n = alerts.is_array() ? alerts.size() : 0;
  const int64_t limit = c.args.GetInt("limit", 100, 1, 1000).value_or(100);
  c.err << n << " alert" << (n == 1 ? "" : "s") << " shown (newest first; --limit " << limit
        << (static_cast<int64_t>(n) >= limit ? " reached, more may match" : "") << ")\n";
  return Finish(c);
}

}  // namespace

Result<std::string> AlertsTarget(const Invocation& args) {
  std::string query;
  auto add = [&](const char* key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + PercentEncode(value);
  };
  if (auto v = args.Get("status")) {
    static const std::set<std::string> kStatuses = {"open", "needs_review", "confirmed",
                                                    "dismissed", "resolved"};
    if (!kStatuses.count(*v)) {
      return InvalidArgumentError(
          "--status: expected open, needs_review, confirmed, dismissed or resolved, got '" + *v +
          "'");
    }
    add("status", *v);
  }
  if (auto v = args.Get("severity")) {
    if (*v != "low" && *v != "medium" && *v != "high") {
      return InvalidArgumentError("--severity: expected low, medium or high, got '" + *v + "'");
    }
    add("severity", *v);
  }
  if (auto v = args.Get("person")) add("person", *v);
  if (auto v = args.Get("policy")) add("policy", *v);
  if (args.Has("min-score")) {
    CUSTOS_ASSIGN_OR_RETURN(int64_t n, args.GetInt("min-score", 0, 0, 100));
    add("min_score", std::to_string(n));
  }
  CUSTOS_ASSIGN_OR_RETURN(int64_t limit, args.GetInt("limit", 100, 1, 1000));
  add("limit", std::to_string(limit));
  return "/api/v1/alerts" + query;
}

const Command& AlertsCommand() {
  static const Command kCommand{
      .name = "alerts",
      .overview = {{"custos alerts [filters]", "List alerts."}},
      .usage = kAlertsUsage,
      .options =
          {{"status"}, {"severity"}, {"person"}, {"policy"}, {"min-score"}, {"limit"}, {"format"}},
      .run = &Alerts,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
