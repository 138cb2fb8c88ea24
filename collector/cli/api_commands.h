// collector/cli: the `custos` commands that work through the collector's HTTPS REST API
// (collector/api/api.cc; docs/cli.md): alerts, alert show/confirm/dismiss/resolve/reopen,
// import hr/directory, policies, policy create/delete, templates, trigger, external-alert.
//
// Flow: custos_main.cc parses the command line once with AllFlagSpecs(), then hands commands
// for which IsApiCommand() holds to RunApiCommand. RunApiCommand checks the flags that belong to
// the command, resolves the connection (ResolveConnection), sends one request with
// api::HttpsClient and prints the answer (collector/cli/alert_format.h).
//
// Contract:
//  - Exit codes: 0 ok; 1 runtime failure (cannot connect, TLS, an API error such as
//    "custos: unknown or revoked token (HTTP 401)", an unreadable CA or token file, a CSV the
//    collector rejected); 2 usage error (unknown or misplaced flag, bad value, missing argument).
//  - The bearer token is never printed, logged or put in a message.
//  - Everything the API returns is escaped for the terminal before it is printed.
// Threading: single-threaded, like the rest of the CLI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/flags/flags.h"
#include "common/status/status.h"

namespace custos::collector::cli {

inline constexpr const char* kDefaultApiUrl = "https://127.0.0.1:8443";

// What the process environment says, read once by main and injected here so tests need not set
// variables: CUSTOS_API, CUSTOS_CA, CUSTOS_TOKEN, and the width of table lines.
struct Environment {
  std::optional<std::string> api;    // CUSTOS_API: like --api
  std::optional<std::string> ca;     // CUSTOS_CA: like --ca
  std::optional<std::string> token;  // CUSTOS_TOKEN: the token itself
  size_t line_width = 160;
};
Environment EnvironmentFromProcess(size_t line_width);

// Every flag any `custos` command takes (events' included), for flags::Args::Parse. A flag takes a
// value in every command or in none, so one parse finds the command word; RunApiCommand then
// refuses flags that do not belong to the command.
std::vector<flags::FlagSpec> AllFlagSpecs();

// alerts, alert, import, policies, policy, templates, trigger, external-alert.
bool IsApiCommand(std::string_view command);
// The --help text of an API command (e.g. "alert" covers show, confirm, dismiss, ...).
const char* ApiCommandUsage(std::string_view command);

// Runs the API command named by args.positional()[0]; `out` gets results, `err` messages.
int RunApiCommand(const flags::Args& args, const Environment& env, std::ostream& out,
                  std::ostream& err);

// ---- building blocks, exposed for tests ----

struct ApiEndpoint {
  std::string host;  // without brackets for IPv6
  uint16_t port = 8443;
  std::string url;  // as the user gave it, for messages
};
// "https://HOST[:PORT][/]" (port 8443 when absent; IPv6 as [::1]); "HOST:PORT" is accepted as
// https too. InvalidArgument for http://, paths, user info or a bad port.
Result<ApiEndpoint> ParseApiUrl(std::string_view url);

struct Connection {
  ApiEndpoint endpoint;
  std::string ca_path;
  std::string token;         // never print
  std::string token_source;  // "CUSTOS_TOKEN" or the file it was read from, for messages
};
// Precedence: --api, else CUSTOS_API, else kDefaultApiUrl; --ca, else CUSTOS_CA, else
// DATA_DIR/pki/ca.crt; --token-file, else CUSTOS_TOKEN, else DATA_DIR/admin.token (DATA_DIR:
// --data-dir, else /var/lib/custos/collector). Reads the token (first line, trimmed).
// InvalidArgument for a bad URL (a usage error); other errors name the file and say what to do.
Result<Connection> ResolveConnection(const flags::Args& args, const Environment& env);

// "/api/v1/alerts?status=...&..." from the alerts filters; InvalidArgument for a bad value.
Result<std::string> AlertsTarget(const flags::Args& args);
// {"template":T,"name":N} with the keys of `set_json` (a JSON object) merged over it.
Result<std::string> PolicyCreateBody(const std::string& template_id, const std::string& name,
                                     const std::optional<std::string>& set_json);
// RFC 3986 percent-encoding of everything but unreserved characters.
std::string PercentEncode(std::string_view text);

}  // namespace custos::collector::cli
