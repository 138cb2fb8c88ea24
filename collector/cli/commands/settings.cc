// custos settings [--pseudonymisation on|off]: show the collector's settings, or switch
// pseudonymisation (GET/PATCH /api/v1/settings; docs/cli.md#custos-settings).
#include <nlohmann/json.hpp>

#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using text::EscapeForTerminal;

constexpr const char* kSettingsUsage =
    "custos settings \xE2\x80\x94 show the collector's settings, or switch pseudonymisation.\n"
    "\n"
    "Usage:\n"
    "  custos settings [--format text|json]\n"
    "  custos settings --pseudonymisation on|off\n"
    "\n"
    "  --pseudonymisation on|off\n"
    "                   on (also the default: anything but an explicit off): people appear as\n"
    "                   pseudonyms (Anon-7F3A21C9AB) in the console and in every table of\n"
    "                   custos; a person's name is shown only after an approver approved a\n"
    "                   reveal ('custos reveal').\n"
    "                   off: names everywhere. The change is audited\n"
    "                   (settings.pseudonymisation, before and after). See docs/privacy.md.\n"
    "  --format F       text (default): one 'key: value' line per setting, switches as on/off.\n"
    "                   json: the API's settings object.\n"
    "\n"
    "Who may run it: reading, any role; changing, admins.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos settings\n"
    "  custos settings --pseudonymisation on\n";

void WriteSettings(const json& settings, std::ostream& out) {
  for (auto it = settings.begin(); it != settings.end(); ++it) {
    const json& v = it.value();
    std::string value = v.is_boolean()  ? (v.get<bool>() ? "on" : "off")
                        : v.is_string() ? v.get<std::string>()
                                        : Dump(v);
    out << EscapeForTerminal(it.key()) << ": " << EscapeForTerminal(value) << '\n';
  }
}

int Settings(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, "settings takes no arguments, got '" + c.args.positional()[1] + "'",
                      "settings");
  }
  std::string format;
  int rc = 0;
  if (!ExpectFormat(c, "settings", {"text", "json"}, &format, &rc)) return rc;
  std::optional<json> body;
  if (auto p = c.args.Get("pseudonymisation")) {
    const std::string v = ToLower(*p);
    if (v != "on" && v != "off") {
      return UsageError(c.err, "--pseudonymisation: expected on or off, got '" + *p + "'",
                        "settings");
    }
    ordered_json request = {{"pseudonymisation", v == "on"}};
    body = ObjectReply(c, "PATCH", "/api/v1/settings", &rc, Dump(request));
  } else {
    body = ObjectReply(c, "GET", "/api/v1/settings", &rc);
  }
  if (!body) return rc;
  if (format == "json") {
    c.out << Dump(*body) << '\n';
  } else {
    WriteSettings(*body, c.out);
  }
  return Finish(c);
}

}  // namespace

const Command& SettingsCommand() {
  static const Command kCommand{
      .name = "settings",
      .overview = {{"custos settings [--pseudonymisation on|off]",
                    "Show the settings, or switch pseudonymisation (admin)."}},
      .usage = kSettingsUsage,
      .options = {{"pseudonymisation"}, {"format"}},
      .run = &Settings,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
