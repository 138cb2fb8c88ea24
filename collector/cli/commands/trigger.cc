// custos trigger PERSON: start scoring a person now (POST /api/v1/triggers;
// docs/cli.md#custos-trigger).

#include <nlohmann/json.hpp>

#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::ordered_json;
using text::EscapeForTerminal;

constexpr const char* kTriggerUsage =
    "custos trigger \xE2\x80\x94 start scoring a person now, for N days.\n"
    "\n"
    "Usage:\n"
    "  custos trigger PERSON --days N --reason TEXT\n"
    "\n"
    "  PERSON           An e-mail address from the directory (or an unmapped login name).\n"
    "  --days N         How long to score the person (1..365).\n"
    "  --reason TEXT    Why; shown in the explanation of any alert this starts.\n"
    "\n"
    "Policies that list the 'manual' trigger score the person from now on. Needs an admin or\n"
    "analyst token.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Example:\n"
    "  custos trigger alice@example.com --days 30 --reason 'manager report, ticket 4711'\n";

int Trigger(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() != 2 || pos[1].empty()) {
    return UsageError(c.err, "trigger needs one PERSON", "trigger");
  }
  if (!c.args.Has("days")) return UsageError(c.err, "trigger needs --days N", "trigger");
  auto days = c.args.GetInt("days", 0, 1, 365);
  if (!days.ok()) return UsageError(c.err, days.status().message(), "trigger");
  auto reason = c.args.Get("reason");
  if (!reason || reason->empty()) {
    return UsageError(c.err, "trigger needs --reason TEXT (shown in the explanation)", "trigger");
  }
  ordered_json request = {{"person", pos[1]}, {"days", *days}, {"reason", *reason}};
  int rc = 0;
  auto body = ObjectReply(c, "POST", "/api/v1/triggers", &rc, Dump(request));
  if (!body) return rc;
  c.out << "scoring " << EscapeForTerminal(StringOr(*body, "person", pos[1])) << " from "
        << EscapeForTerminal(StringOr(*body, "from", "?")) << " until "
        << EscapeForTerminal(StringOr(*body, "until", "?")) << " (manual trigger)\n";
  return Finish(c);
}

}  // namespace

const Command& TriggerCommand() {
  static const Command kCommand{
      .name = "trigger",
      .overview = {{"custos trigger PERSON --days N --reason TEXT",
                    "Start scoring a person now, for N days."}},
      .usage = kTriggerUsage,
      .options = {{"days"}, {"reason"}},
      .run = &Trigger,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
