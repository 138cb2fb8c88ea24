// custos whoami: who the token acts as, with which roles (GET /api/v1/session;
// docs/cli.md#custos-whoami).
#include <nlohmann/json.hpp>

#include "collector/cli/access_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using text::EscapeForTerminal;

constexpr const char* kWhoamiUsage =
    "custos whoami \xE2\x80\x94 who the token acts as: the account or service token, its kind and\n"
    "its roles.\n"
    "\n"
    "Usage:\n"
    "  custos whoami [--format text|json]\n"
    "\n"
    "  --format F       text (default): name, id, kind, roles. json: the API's principal object.\n"
    "\n"
    "Kinds: personal_token (an account's token from 'custos token create'), service_token (from\n"
    "'custos-collector api-token create' or init's admin.token), session (a console sign-in).\n"
    "Who may run it: anyone with a valid token. Use it to check a token before a script relies\n"
    "on it.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos whoami\n"
    "  CUSTOS_TOKEN=$(cat ~/.config/custos/token) custos whoami --format json | jq -r '.roles[]'\n";

int Whoami(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, "whoami takes no arguments, got '" + c.args.positional()[1] + "'",
                      "whoami");
  }
  std::string format;
  int rc = 0;
  if (!ExpectFormat(c, "whoami", {"text", "json"}, &format, &rc)) return rc;
  auto body = ObjectReply(c, "GET", "/api/v1/session", &rc);
  if (!body) return rc;
  const json principal = body->contains("principal") ? (*body)["principal"] : json();
  if (!principal.is_object()) {
    return Failure(c.err, "the API answered without a \"principal\" object");
  }
  if (format == "json") {
    c.out << Dump(principal) << '\n';
    return Finish(c);
  }
  const json roles = principal.contains("roles") ? principal["roles"] : json();
  c.out << "name:  " << EscapeForTerminal(StringOr(principal, "name", "-")) << '\n'
        << "id:    " << EscapeForTerminal(StringOr(principal, "id", "-")) << '\n'
        << "kind:  " << EscapeForTerminal(StringOr(principal, "kind", "-")) << '\n'
        << "roles: " << EscapeForTerminal(JoinRoles(roles)) << '\n';
  return Finish(c);
}

}  // namespace

const Command& WhoamiCommand() {
  static const Command kCommand{
      .name = "whoami",
      .overview = {{"custos whoami", "Who the token acts as, and its roles."}},
      .usage = kWhoamiUsage,
      .options = {{"format"}},
      .run = &Whoami,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
