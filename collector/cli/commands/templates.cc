// custos templates: list policy templates (GET /api/v1/templates; docs/cli.md#custos-templates).

#include "collector/cli/alert_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"

namespace custos::collector::cli {
namespace {

constexpr const char* kTemplatesUsage =
    "custos templates \xE2\x80\x94 list the policy templates policies are created from.\n"
    "\n"
    "Usage:\n"
    "  custos templates [--format table|json]\n"
    "\n"
    "  --format F       table (default): ID, NAME, DESCRIPTION. json: every template with its\n"
    "                   defaults as one array.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP;

int Templates(Context& c) {
  return ListCommand(c, "templates", "/api/v1/templates", "templates", &WriteTemplateTable);
}

}  // namespace

const Command& TemplatesCommand() {
  static const Command kCommand{
      .name = "templates",
      .overview = {{"custos templates", "List policy templates."}},
      .usage = kTemplatesUsage,
      .options = {{"format"}},
      .run = &Templates,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
