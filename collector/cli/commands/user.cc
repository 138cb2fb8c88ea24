// custos user list|add|disable|enable|roles|password: sign-in accounts (GET/POST
// /api/v1/accounts, PATCH /api/v1/accounts/{username}; docs/cli.md#custos-user). Passwords come
// from a file, standard input or a hidden terminal prompt, never from the command line.
#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "collector/cli/access_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "collector/cli/password_prompt.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using text::EscapeForTerminal;

constexpr const char* kUserUsage =
    "custos user \xE2\x80\x94 manage the accounts that sign in to the console and the API.\n"
    "\n"
    "Usage:\n"
    "  custos user list [--format table|json]\n"
    "  custos user add USERNAME --roles R1,R2 [--name 'DISPLAY NAME'] [--email ADDRESS]\n"
    "                  [--password-file FILE|- | --ldap]\n"
    "  custos user disable USERNAME\n"
    "  custos user enable USERNAME\n"
    "  custos user roles USERNAME R1,R2\n"
    "  custos user password USERNAME [--password-file FILE|-]\n"
    "\n"
    "  disable ends the account's sessions and refuses its sign-ins and personal tokens until\n"
    "  enable. roles replaces all of its roles, from its next request on. password sets a local\n"
    "  password (an LDAP account gains one) and ends its sessions.\n"
    "\n"
    "  --roles R1,R2       Comma-separated roles: admin, analyst, investigator, viewer, auditor,\n"
    "                      approver (the collector checks them).\n"
    "  --name TEXT         Display name (default: the username).\n"
    "  --email ADDRESS     Contact address.\n"
    "  --password-file F   The password is the first line of F; '-' reads it from standard input\n"
    "                      (asked with echo off when that is a terminal).\n"
    "                      Without it, on a terminal, custos asks twice with echo off. A password\n"
    "                      is never taken on the command line (it would show in ps and in shell\n"
    "                      history).\n"
    "  --ldap              The account has no local password: it signs in against the directory\n"
    "                      (docs/accounts.md).\n"
    "  --format F          list: table (default) or json (the API's account objects).\n"
    "\n"
    "Who may run it: admins (an admin token or an admin's personal token). Every change is in the\n"
    "audit log (custos audit).\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos user add dana --roles analyst,viewer --name 'Dana Scully' --email dana@example.com\n"
    "  custos user add ci-bot --roles viewer --password-file /run/secrets/ci-bot.password\n"
    "  custos user password dana            (asks twice, echo off)\n"
    "  custos user add mulder --roles investigator --ldap\n"
    "  custos user roles dana analyst,investigator\n"
    "  custos user disable dana\n";

constexpr const char* kCommand = "user";

std::set<std::string> SubOptions(const std::string& sub) {
  if (sub == "list") return {"format"};
  if (sub == "add") return {"roles", "name", "email", "password-file", "ldap"};
  if (sub == "password") return {"password-file"};
  return {};
}

std::string AccountPath(const std::string& username) {
  return "/api/v1/accounts/" + PercentEncode(username);
}

// The first line of --password-file, without its line end.
std::optional<std::string> PasswordFromFile(Context& c, const std::string& path, int* rc) {
  auto data = ReadWholeFile(path, 1 << 20);
  if (!data.ok()) {
    *rc = Failure(c.err, "--password-file: " + data.status().message());
    return std::nullopt;
  }
  std::string line = data->substr(0, data->find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    *rc = UsageError(c.err, "--password-file " + path + ": the first line (the password) is empty",
                     kCommand);
    return std::nullopt;
  }
  return line;
}

// Asked twice on the terminal, echo off.
std::optional<std::string> PasswordFromTerminal(Context& c, const std::string& username, int* rc) {
  auto first =
      ReadHiddenLine(STDIN_FILENO, c.err, "New password for " + EscapeForTerminal(username) + ": ");
  if (!first.ok()) {
    *rc = Failure(c.err, first.status().message());
    return std::nullopt;
  }
  if (first->empty()) {
    *rc = Failure(c.err, "the password is empty; nothing was changed");
    return std::nullopt;
  }
  auto again = ReadHiddenLine(STDIN_FILENO, c.err, "Again: ");
  if (!again.ok()) {
    *rc = Failure(c.err, again.status().message());
    return std::nullopt;
  }
  if (*again != *first) {
    *rc = Failure(c.err, "the passwords do not match; nothing was changed");
    return std::nullopt;
  }
  return std::move(*first);
}

// The password for `user add` and `user password`: --password-file, else the terminal; a usage
// error when neither is possible.
std::optional<std::string> NewPassword(Context& c, const std::string& sub,
                                       const std::string& username, int* rc) {
  if (auto path = c.args.Get("password-file")) {
    // "-" on a terminal would echo what is typed: ask with echo off instead.
    if (*path == "-" && c.env.stdin_is_terminal) return PasswordFromTerminal(c, username, rc);
    return PasswordFromFile(c, *path, rc);
  }
  if (c.env.stdin_is_terminal) return PasswordFromTerminal(c, username, rc);
  *rc = UsageError(c.err,
                   "user " + sub + " needs --password-file FILE (or - for standard input)" +
                       (sub == "add" ? " or --ldap" : "") +
                       ": standard input is not a terminal to ask on, and a password is never "
                       "taken on the command line",
                   kCommand);
  return std::nullopt;
}

// "account dana (usr_1): roles analyst,viewer, enabled" from an account object.
std::string Describe(const json& account, const std::string& username) {
  std::string line = "account " + EscapeForTerminal(StringOr(account, "username", username));
  const std::string id = StringOr(account, "id", "");
  if (!id.empty()) line += " (" + EscapeForTerminal(id) + ")";
  line += ": roles " + EscapeForTerminal(JoinRoles(account.is_object() && account.contains("roles")
                                                       ? account["roles"]
                                                       : json()));
  if (account.is_object() && account.contains("disabled") && account["disabled"].is_boolean()) {
    line += account["disabled"].get<bool>() ? ", disabled" : ", enabled";
  }
  return line;
}

int Add(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() != 3 || pos[2].empty()) {
    // The extra word is not repeated: it may be a password typed where none is taken.
    return UsageError(c.err,
                      pos.size() > 3 ? "user add needs one USERNAME, got more words (a password is "
                                       "never an argument: use --password-file)"
                                     : "user add needs one USERNAME",
                      kCommand);
  }
  const std::string& username = pos[2];
  auto roles = c.args.Get("roles");
  if (!roles || roles->empty()) {
    return UsageError(c.err, "user add needs --roles R1,R2 (e.g. --roles analyst)", kCommand);
  }
  const bool ldap = c.args.Has("ldap");
  if (ldap && c.args.Has("password-file")) {
    return UsageError(c.err,
                      "--ldap and --password-file exclude each other (an LDAP account has no "
                      "local password)",
                      kCommand);
  }
  int rc = 0;
  ordered_json request = {{"username", username}};
  if (auto name = c.args.Get("name")) request["display_name"] = *name;
  if (auto email = c.args.Get("email")) request["email"] = *email;
  request["roles"] = *roles;
  if (!ldap) {
    auto password = NewPassword(c, "add", username, &rc);
    if (!password) return rc;
    request["password"] = std::move(*password);
  }
  auto body = ObjectReply(c, "POST", "/api/v1/accounts", &rc, Dump(request));
  if (!body) return rc;
  c.out << "created " << Describe(*body, username)
        << (ldap ? "; signs in with the directory password\n" : "\n");
  return Finish(c);
}

// disable, enable, roles, password: PATCH /api/v1/accounts/{username}.
int Change(Context& c, const std::string& sub) {
  const auto& pos = c.args.positional();
  const size_t want = sub == "roles" ? 4 : 3;
  if (pos.size() != want || pos[2].empty()) {
    return UsageError(c.err,
                      sub == "roles" ? "user roles needs USERNAME and R1,R2 (the new roles)"
                                     : "user " + sub + " needs one USERNAME",
                      kCommand);
  }
  const std::string& username = pos[2];
  int rc = 0;
  ordered_json request = json::object();
  if (sub == "disable" || sub == "enable") request["disabled"] = sub == "disable";
  if (sub == "roles") request["roles"] = pos[3];
  if (sub == "password") {
    auto password = NewPassword(c, "password", username, &rc);
    if (!password) return rc;
    request["password"] = std::move(*password);
  }
  auto body = ObjectReply(c, "PATCH", AccountPath(username), &rc, Dump(request));
  if (!body) return rc;
  if (sub == "password") {
    c.out << "password of " << EscapeForTerminal(StringOr(*body, "username", username))
          << " changed\n";
  } else {
    c.out << Describe(*body, username) << '\n';
  }
  return Finish(c);
}

int User(Context& c) {
  const auto& pos = c.args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  if (sub == "list") {
    if (pos.size() > 2) {
      return UsageError(c.err, "user list takes no arguments, got '" + pos[2] + "'", kCommand);
    }
    return ShowList(c, kCommand, "/api/v1/accounts", "accounts", &WriteAccountTable);
  }
  if (sub == "add") return Add(c);
  if (sub == "disable" || sub == "enable" || sub == "roles" || sub == "password") {
    return Change(c, sub);
  }
  return UsageError(c.err,
                    (sub.empty() ? std::string("user needs a sub-command")
                                 : "user: unknown sub-command '" + sub + "'") +
                        " (list, add, disable, enable, roles or password)",
                    kCommand);
}

}  // namespace

const Command& UserCommand() {
  static const Command kUser{
      .name = "user",
      .overview = {{"custos user list|add|disable|enable|roles|password ...",
                    "Manage sign-in accounts and their roles (admin)."}},
      .usage = kUserUsage,
      .options = {{"format"}, {"roles"}, {"name"}, {"email"}, {"password-file"}, {"ldap", false}},
      .sub_options = &SubOptions,
      .run = &User,
  };
  return kUser;
}

}  // namespace custos::collector::cli
