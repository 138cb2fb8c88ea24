// custos policy create|delete: create a policy from a template, or delete one
// (POST /api/v1/policies, DELETE /api/v1/policies/{id}; docs/cli.md#custos-policy-create--delete).
#include <set>

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

constexpr const char* kPolicyUsage =
    "custos policy \xE2\x80\x94 create a policy from a template, or delete one.\n"
    "\n"
    "Usage:\n"
    "  custos policy create --template T --name NAME [--set JSON]\n"
    "  custos policy delete ID\n"
    "\n"
    "  --template T     A template id (see 'custos templates').\n"
    "  --name NAME      A unique name for the policy.\n"
    "  --set JSON       A JSON object of fields to change from the template's defaults, merged\n"
    "                   over {\"template\": T, \"name\": NAME}, e.g. '{\"historic_days\": 60}'\n"
    "                   (fields: 'custos policies --format json').\n"
    "\n"
    "create prints the new policy's id; the collector rescans with it at once. Needs an admin\n"
    "token.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos policy create --template data_theft_departing --name 'Departing users'\n"
    "  custos policy create --template data_theft_departing --name Strict \\\n"
    "      --set '{\"historic_days\": 60, \"alert_threshold\": 30}'\n"
    "  custos policy delete pol_3f2a9c1b7d4e\n";

// Only create takes options.
std::set<std::string> SubOptions(const std::string& sub) {
  return sub == "create" ? std::set<std::string>{"template", "name", "set"}
                         : std::set<std::string>{};
}

int Policy(Context& c) {
  const auto& pos = c.args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  int rc = 0;
  if (sub == "create") {
    if (pos.size() > 2) {
      return UsageError(c.err, "policy create takes no arguments, got '" + pos[2] + "'", "policy");
    }
    auto tmpl = c.args.Get("template");
    auto name = c.args.Get("name");
    if (!tmpl || tmpl->empty() || !name || name->empty()) {
      return UsageError(c.err, "policy create needs --template T and --name NAME", "policy");
    }
    auto request = PolicyCreateBody(*tmpl, *name, c.args.Get("set"));
    if (!request.ok()) return UsageError(c.err, request.status().message(), "policy");
    auto body = ObjectReply(c, "POST", "/api/v1/policies", &rc, *request);
    if (!body) return rc;
    c.out << EscapeForTerminal(StringOr(*body, "id", "?")) << '\n';
    return Finish(c);
  }
  if (sub == "delete") {
    if (pos.size() != 3 || pos[2].empty()) {
      return UsageError(c.err, "policy delete needs one policy ID", "policy");
    }
    auto reply = c.api.Send("DELETE", "/api/v1/policies/" + PercentEncode(pos[2]));
    if (!reply) return c.api.exit_code();
    if (reply->status < 200 || reply->status > 299) return c.api.ReportError(*reply);
    c.out << "deleted policy " << EscapeForTerminal(pos[2]) << '\n';
    return Finish(c);
  }
  return UsageError(c.err,
                    sub.empty() ? "policy needs a sub-command: create or delete"
                                : "policy: unknown sub-command '" + sub + "' (create or delete)",
                    "policy");
}

}  // namespace

Result<std::string> PolicyCreateBody(const std::string& template_id, const std::string& name,
                                     const std::optional<std::string>& set_json) {
  ordered_json body = {{"template", template_id}, {"name", name}};
  if (set_json) {
    ordered_json set = ordered_json::parse(*set_json, nullptr, /*allow_exceptions=*/false);
    if (set.is_discarded() || !set.is_object()) {
      return InvalidArgumentError(
          "--set: expected a JSON object such as '{\"historic_days\": 60}'");
    }
    for (auto it = set.begin(); it != set.end(); ++it) body[it.key()] = it.value();
  }
  return body.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

const Command& PolicyCommand() {
  static const Command kCommand{
      .name = "policy",
      .overview = {{"custos policy create|delete ...",
                    "Create a policy from a template, or delete one."}},
      .usage = kPolicyUsage,
      .options = {{"template"}, {"name"}, {"set"}},
      .sub_options = &SubOptions,
      .run = &Policy,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
