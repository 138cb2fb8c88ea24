// collector/cli: where the collector's API is and how `custos` authenticates to it — the
// connection options every command takes, in one place.
//
//   --api URL          $CUSTOS_API, else https://127.0.0.1:8443
//   --ca FILE          $CUSTOS_CA, else DATA_DIR/pki/ca.crt
//   --token-file FILE  $CUSTOS_TOKEN (the token itself), else DATA_DIR/admin.token
//   --data-dir DIR     DATA_DIR, for the defaults above: /var/lib/custos/collector
//   --config FILE      (commands that take it: events) the collector's configuration, whose
//                      data_dir is DATA_DIR when --data-dir is not given
//
// A flag wins over the environment, which wins over the default. Nothing here prints; the token
// is never put in a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/cli/command.h"
#include "common/status/status.h"

namespace custos::collector::cli {

inline constexpr const char* kDefaultApiUrl = "https://127.0.0.1:8443";
// The collector's defaults (collector/app/collector_config.h; connection_test checks they agree).
inline constexpr const char* kDefaultDataDir = "/var/lib/custos/collector";
inline constexpr const char* kDefaultConfigPath = "/etc/custos/collector.yaml";

// What the process environment says, read once by main and injected so tests need not set
// variables: CUSTOS_API, CUSTOS_CA, CUSTOS_TOKEN, and the width of table lines.
struct Environment {
  std::optional<std::string> api;    // CUSTOS_API: like --api
  std::optional<std::string> ca;     // CUSTOS_CA: like --ca
  std::optional<std::string> token;  // CUSTOS_TOKEN: the token itself
  size_t line_width = 160;
  // Standard input is a terminal: `custos user add` may then ask for a password (echo off)
  // instead of refusing to run without --password-file.
  bool stdin_is_terminal = false;
};
// Empty variables count as unset. `line_width`: see TableWidth. `stdin_is_terminal`: isatty(0).
Environment EnvironmentFromProcess(size_t line_width);
// The terminal's width when stdout is a terminal; else $COLUMNS when set (40..100000, so
// `COLUMNS=250 custos events | less -S` shows more); else 160, so piped output does not depend on
// who runs it.
size_t TableWidth();

// The options every command takes (api, ca, token-file, data-dir).
const std::vector<OptionSpec>& ConnectionOptions();
// The "Connection" section of every command's --help, ending with the exit codes.
#define CUSTOS_CLI_CONNECTION_HELP                                                                \
  "Connection (every command):\n"                                                                 \
  "  --api URL          The collector's API, https://HOST:PORT (default $CUSTOS_API, else\n"      \
  "                     https://127.0.0.1:8443).\n"                                               \
  "  --ca FILE          CA certificate the server must chain to (default $CUSTOS_CA, else\n"      \
  "                     DATA_DIR/pki/ca.crt).\n"                                                  \
  "  --token-file FILE  File holding the bearer token (default: $CUSTOS_TOKEN, which holds the\n" \
  "                     token itself, else DATA_DIR/admin.token). Create your own with\n"         \
  "                     'custos token create'.\n"                                                 \
  "  --data-dir DIR     The collector's state directory for the defaults above (default\n"        \
  "                     /var/lib/custos/collector).\n"                                            \
  "\n"                                                                                            \
  "Exit codes: 0 ok, 1 runtime failure (cannot connect, API error), 2 usage error.\n"

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
// Applies the precedence above and reads the token (first line, trimmed). DATA_DIR is needed only
// for a default; then it is --data-dir, else data_dir of --config, else (for a command that takes
// --config) data_dir of /etc/custos/collector.yaml when that file exists, else
// /var/lib/custos/collector. An explicit --config is always read.
// Errors: InvalidArgument for a bad URL or configuration file (a usage error); others name the
// file and say what to do.
Result<Connection> ResolveConnection(const Invocation& args, const Environment& env,
                                     bool takes_config);

// data_dir of the collector configuration at `path` (the built-in default when it has none); the
// rest of the file is the collector's business. InvalidArgument naming the file otherwise.
Result<std::string> DataDirFromConfig(const std::string& path);

}  // namespace custos::collector::cli
