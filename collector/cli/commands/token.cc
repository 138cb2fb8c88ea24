// custos token create|list|revoke: personal API tokens (POST/GET /api/v1/tokens,
// DELETE /api/v1/tokens/{id}; docs/cli.md#custos-token).
#include <set>

#include <nlohmann/json.hpp>

#include "collector/cli/access_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::ordered_json;
using text::EscapeForTerminal;

constexpr const char* kTokenUsage =
    "custos token \xE2\x80\x94 personal API tokens: a token that acts as you, with your\n"
    "roles, for scripts and for custos itself.\n"
    "\n"
    "Usage:\n"
    "  custos token create --name NAME [--expires-in-days N] [--owner USERNAME]\n"
    "  custos token list [--all] [--format table|json]\n"
    "  custos token revoke ID\n"
    "\n"
    "  --name NAME          What the token is for ('laptop', 'nightly report').\n"
    "  --expires-in-days N  1..365 (default: the token does not expire).\n"
    "  --owner USERNAME     Create it for another account (admins only).\n"
    "  --all                List every account's tokens (admins only); default: your own.\n"
    "  --format F           list: table (default) or json (the API's token objects).\n"
    "\n"
    "create prints only the token on standard output, so it can go straight to a file; it is\n"
    "shown this once (the collector keeps a hash). The token acts with its owner's roles and\n"
    "stops working when it expires, is revoked, or its owner is disabled.\n"
    "\n"
    "Who may run it: any account, for its own tokens; admins for anyone's (--owner, --all). A\n"
    "service token (such as init's admin.token) owns no tokens: it needs --owner and the admin\n"
    "role.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  (umask 077; custos token create --name laptop --expires-in-days 90 > ~/custos.token)\n"
    "  custos --token-file ~/custos.token whoami\n"
    "  custos token list --all\n"
    "  custos token revoke ptk_3f2a9c1b7d4e\n";

constexpr const char* kCommand = "token";

std::set<std::string> SubOptions(const std::string& sub) {
  if (sub == "create") return {"name", "expires-in-days", "owner"};
  if (sub == "list") return {"all", "format"};
  return {};
}

int Create(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() > 2) {
    return UsageError(c.err, "token create takes no arguments, got '" + pos[2] + "'", kCommand);
  }
  auto name = c.args.Get("name");
  if (!name || name->empty()) {
    return UsageError(c.err, "token create needs --name NAME (what the token is for)", kCommand);
  }
  ordered_json request = {{"name", *name}};
  if (c.args.Has("expires-in-days")) {
    auto days = c.args.GetInt("expires-in-days", 0, 1, 365);
    if (!days.ok()) return UsageError(c.err, days.status().message(), kCommand);
    request["expires_in_days"] = *days;
  }
  if (auto owner = c.args.Get("owner")) request["owner"] = *owner;
  int rc = 0;
  auto body = ObjectReply(c, "POST", "/api/v1/tokens", &rc, Dump(request));
  if (!body) return rc;
  const std::string secret = StringOr(*body, "token", "");
  if (secret.empty()) return Failure(c.err, "the API created a token but sent no secret");
  c.out << EscapeForTerminal(secret) << '\n';
  if (int finished = Finish(c); finished != 0) return finished;
  c.err << "custos: token " << EscapeForTerminal(StringOr(*body, "id", "?")) << " created"
        << (StringOr(*body, "expires_at", "").empty()
                ? std::string(", never expires")
                : ", expires " + EscapeForTerminal(StringOr(*body, "expires_at", "")))
        << "; it is shown only this once: store it now\n";
  return 0;
}

int Revoke(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() != 3 || pos[2].empty()) {
    return UsageError(c.err, "token revoke needs one token ID (see 'custos token list')", kCommand);
  }
  auto reply = c.api.Send("DELETE", "/api/v1/tokens/" + PercentEncode(pos[2]));
  if (!reply) return c.api.exit_code();
  if (reply->status < 200 || reply->status > 299) return c.api.ReportError(*reply);
  c.out << "revoked token " << EscapeForTerminal(pos[2]) << '\n';
  return Finish(c);
}

int Token(Context& c) {
  const auto& pos = c.args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  if (sub == "create") return Create(c);
  if (sub == "revoke") return Revoke(c);
  if (sub == "list") {
    if (pos.size() > 2) {
      return UsageError(c.err, "token list takes no arguments, got '" + pos[2] + "'", kCommand);
    }
    return ShowList(c, kCommand, c.args.Has("all") ? "/api/v1/tokens?all=true" : "/api/v1/tokens",
                    "tokens", &WriteTokenTable);
  }
  return UsageError(c.err,
                    (sub.empty() ? std::string("token needs a sub-command")
                                 : "token: unknown sub-command '" + sub + "'") +
                        " (create, list or revoke)",
                    kCommand);
}

}  // namespace

const Command& TokenCommand() {
  static const Command kToken{
      .name = "token",
      .overview = {{"custos token create|list|revoke ...",
                    "Personal API tokens: create (shown once), list, revoke."}},
      .usage = kTokenUsage,
      .options = {{"name"}, {"expires-in-days"}, {"owner"}, {"all", false}, {"format"}},
      .sub_options = &SubOptions,
      .run = &Token,
  };
  return kToken;
}

}  // namespace custos::collector::cli
