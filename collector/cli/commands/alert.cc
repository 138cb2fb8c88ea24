// custos alert show|confirm|dismiss|resolve|reopen: one alert, or a change of its status
// (GET /api/v1/alerts/{id}, POST /api/v1/alerts/{id}/status; docs/cli.md#custos-alert-show).
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "collector/cli/alert_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using text::EscapeForTerminal;

constexpr const char* kAlertUsage =
    "custos alert \xE2\x80\x94 show one alert with its explanation, or change its status.\n"
    "\n"
    "Usage:\n"
    "  custos alert show ID [--format text|json]\n"
    "  custos alert confirm ID [--reason TEXT]   it is a real incident\n"
    "  custos alert dismiss ID --reason TEXT     a false positive (a reason is required)\n"
    "  custos alert resolve ID [--reason TEXT]   handled and closed\n"
    "  custos alert reopen ID [--reason TEXT]    back to needs_review\n"
    "\n"
    "  ID is the number in the ID column of 'custos alerts'.\n"
    "  --format F       text (default): the alert's fields, then why it scored what it did:\n"
    "                   triggers, each indicator (tier, points, counts, busiest day, sample\n"
    "                   events), boosters, sequences, cumulative exfiltration and the formula\n"
    "                   with its numbers. json: the API's alert object as received.\n"
    "  --reason TEXT    Why (kept with the alert; at most 4096 bytes).\n"
    "\n"
    "Status changes need an admin or analyst token; the new status is printed.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos alert show 42\n"
    "  custos alert dismiss 42 --reason 'approved backup to an encrypted drive'\n";

// show takes --format, the status changes --reason.
std::set<std::string> SubOptions(const std::string& sub) {
  if (sub == "show") return {"format"};
  return {"reason"};
}

bool ValidAlertId(const std::string& id) {
  if (id.empty() || id.size() > 18) return false;
  for (char ch : id) {
    if (ch < '0' || ch > '9') return false;
  }
  return true;
}

int Alert(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() < 2) {
    return UsageError(c.err, "alert needs a sub-command: show, confirm, dismiss, resolve or reopen",
                      "alert");
  }
  const std::string& sub = pos[1];
  static const std::map<std::string, std::string> kNewStatus = {{"confirm", "confirmed"},
                                                                {"dismiss", "dismissed"},
                                                                {"resolve", "resolved"},
                                                                {"reopen", "needs_review"}};
  if (sub != "show" && !kNewStatus.count(sub)) {
    return UsageError(
        c.err,
        "alert: unknown sub-command '" + sub + "' (show, confirm, dismiss, resolve or reopen)",
        "alert");
  }
  if (pos.size() < 3) return UsageError(c.err, "alert " + sub + " needs an alert ID", "alert");
  if (pos.size() > 3) {
    return UsageError(c.err, "alert " + sub + " takes one alert ID, got '" + pos[3] + "' too",
                      "alert");
  }
  const std::string& id = pos[2];
  if (!ValidAlertId(id)) {
    return UsageError(
        c.err, "alert ID must be a number (the ID column of 'custos alerts'), got '" + id + "'",
        "alert");
  }
  int rc = 0;
  if (sub == "show") {
    std::string format;
    if (!ExpectFormat(c, "alert", {"text", "json"}, &format, &rc)) return rc;
    auto reply = c.api.Send("GET", "/api/v1/alerts/" + id);
    if (!reply) return c.api.exit_code();
    if (reply->status != 200) return c.api.ReportError(*reply);
    if (format == "json") {
      c.out << reply->body << (reply->body.ends_with('\n') ? "" : "\n");
    } else {
      WriteAlertText(reply->json_body, c.env.line_width, c.out);
    }
    return Finish(c);
  }
  ordered_json request = {{"status", kNewStatus.at(sub)}};
  auto reason = c.args.Get("reason");
  if (sub == "dismiss" && reason.value_or("").empty()) {
    return UsageError(c.err, "alert dismiss needs --reason TEXT (why it is a false positive)",
                      "alert");
  }
  if (reason) request["reason"] = *reason;
  auto body = ObjectReply(c, "POST", "/api/v1/alerts/" + id + "/status", &rc, Dump(request));
  if (!body) return rc;
  c.out << "alert " << id << " is now " << EscapeForTerminal(StringOr(*body, "status", "?"))
        << '\n';
  return Finish(c);
}

}  // namespace

const Command& AlertCommand() {
  static const Command kCommand{
      .name = "alert",
      .overview = {{"custos alert show ID", "One alert with its explanation."},
                   {"custos alert confirm|dismiss|resolve|reopen ID [--reason TEXT]",
                    "Change an alert's status."}},
      .usage = kAlertUsage,
      .options = {{"format"}, {"reason"}},
      .sub_options = &SubOptions,
      .run = &Alert,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
