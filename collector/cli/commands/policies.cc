// custos policies: list scoring policies (GET /api/v1/policies; docs/cli.md#custos-policies).

#include "collector/cli/alert_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"

namespace custos::collector::cli {
namespace {

constexpr const char* kPoliciesUsage =
    "custos policies \xE2\x80\x94 list scoring policies.\n"
    "\n"
    "Usage:\n"
    "  custos policies [--format table|json]\n"
    "\n"
    "  --format F       table (default): ID, NAME, TEMPLATE, ENABLED, INDICATORS (how many).\n"
    "                   json: the full policies as one array.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Example:\n"
    "  custos policies --format json | jq '.[] | {id, historic_days}'\n";

int Policies(Context& c) {
  return ListCommand(c, "policies", "/api/v1/policies", "policies", &WritePolicyTable);
}

}  // namespace

const Command& PoliciesCommand() {
  static const Command kCommand{
      .name = "policies",
      .overview = {{"custos policies", "List scoring policies."}},
      .usage = kPoliciesUsage,
      .options = {{"format"}},
      .run = &Policies,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
