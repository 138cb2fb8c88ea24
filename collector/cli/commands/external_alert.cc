// custos external-alert: report another system's alert about a person
// (POST /api/v1/external-alerts; docs/cli.md#custos-external-alert).

#include <nlohmann/json.hpp>

#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::ordered_json;
using text::EscapeForTerminal;

constexpr const char* kExternalAlertUsage =
    "custos external-alert \xE2\x80\x94 report an alert from another system (a DLP, an EDR) about\n"
    "a person; policies that list the 'external_alert' trigger start scoring them.\n"
    "\n"
    "Usage:\n"
    "  custos external-alert --person P --source S --title T [--id X] [--time T]\n"
    "\n"
    "  --person P       The person (e-mail address or login name).\n"
    "  --source S       The system that raised it, e.g. purview-dlp.\n"
    "  --title T        What it says.\n"
    "  --id X           Its id in that system; the same source and id twice count once.\n"
    "  --time T         When it happened: 2026-11-21T10:00:00Z, 2026-11-21 or -2h (default\n"
    "                   now).\n"
    "\n"
    "Needs an admin or analyst token.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Example:\n"
    "  custos external-alert --person alice@example.com --source purview-dlp \\\n"
    "      --title 'Sensitive file shared externally' --id DLP-2291\n";

int ExternalAlert(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err,
                      "external-alert takes no arguments, got '" + c.args.positional()[1] + "'",
                      "external-alert");
  }
  ordered_json request;
  for (const char* key : {"person", "source", "title"}) {
    auto v = c.args.Get(key);
    if (!v || v->empty()) {
      return UsageError(c.err, std::string("external-alert needs --") + key, "external-alert");
    }
    request[key] = *v;
  }
  if (auto id = c.args.Get("id")) request["id"] = *id;
  if (auto time = c.args.Get("time")) request["time"] = *time;
  auto reply = c.api.Send("POST", "/api/v1/external-alerts", Dump(request));
  if (!reply) return c.api.exit_code();
  if (reply->status != 200 && reply->status != 201) return c.api.ReportError(*reply);
  const std::string person = EscapeForTerminal(ToLower(request["person"].get<std::string>()));
  if (reply->status == 201) {
    c.out << "external alert accepted for " << person << '\n';
  } else {
    c.out << "external alert already received (same --source and --id); nothing changed\n";
  }
  return Finish(c);
}

}  // namespace

const Command& ExternalAlertCommand() {
  static const Command kCommand{
      .name = "external-alert",
      .overview = {{"custos external-alert --person P --source S --title T",
                    "Report another system's alert about a person."}},
      .usage = kExternalAlertUsage,
      .options = {{"person"}, {"source"}, {"title"}, {"id"}, {"time"}},
      .run = &ExternalAlert,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
