// collector/cli: what a `custos` command is, and what every command shares. The front door of the
// CLI; collector/cli/README.md says how to add a command.
//
// A Command is a row of the command table (collector/cli/commands/commands.h): its name, the
// lines it adds to `custos --help`, its --help text, its own options and a run function. Parsing
// (collector/cli/command_line.h) turns argv into an Invocation for one command, having refused
// unknown and misplaced flags; `run` then checks the values and arguments, and only then talks to
// the collector's API through Context::api (collector/cli/api_client.h).
//
// Contract:
//  - Exit codes: 0 ok; 1 runtime failure (cannot connect, TLS, an API error such as
//    "custos: unknown or revoked token (HTTP 401)", an unreadable file, a CSV the collector
//    rejected); 2 usage or configuration error, printed as "custos: <message>" then
//    "Run 'custos COMMAND --help' for usage.".
//  - Results go to Context::out, messages to Context::err; everything that came from the API or
//    the user is escaped for the terminal before it is printed. The token is never printed.
//  - Nothing here throws; single-threaded, like the rest of the CLI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status/status.h"

namespace custos::collector::cli {

class ApiCaller;
struct Environment;

// The command line of one command after parsing: its words and its flags' values.
class Invocation {
 public:
  Invocation() = default;
  // `positional[0]` is the command's name; `values` maps flag names (without dashes) to their
  // values ("true" for a switch).
  Invocation(std::vector<std::string> positional, std::map<std::string, std::string> values)
      : positional_(std::move(positional)), values_(std::move(values)) {}

  // The command's name, then its arguments: {"alert", "show", "42"}.
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  // `fallback` when absent; InvalidArgument "--NAME: expected an integer between MIN and MAX,
  // got 'V'" otherwise unless the value is such an integer.
  Result<int64_t> GetInt(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
};

// Everything a command's run function needs.
struct Context {
  const Invocation& args;
  const Environment& env;
  ApiCaller& api;
  std::ostream& out;
  std::ostream& err;
};

struct OptionSpec {
  std::string name;  // without dashes
  bool takes_value = true;
};

struct Command {
  // One line of `custos --help`: "custos alerts [filters]" and what it does.
  struct HelpLine {
    const char* synopsis;
    const char* summary;
  };

  std::string name;                 // "external-alert"
  std::vector<HelpLine> overview;   // its lines in `custos --help`
  const char* usage = "";           // `custos NAME --help`, ending in a newline
  std::vector<OptionSpec> options;  // its own; the connection options are added to every command
  // For commands with sub-commands whose flags differ (alert show vs alert confirm): the flags
  // `sub` (positional()[1]) takes; others are refused as "--X does not apply to 'custos alert
  // show'". Null: every option applies whatever the words.
  std::set<std::string> (*sub_options)(const std::string& sub) = nullptr;
  int (*run)(Context& c) = nullptr;
};

// ---- helpers every command uses ----

// "custos: MESSAGE\nRun 'custos COMMAND --help' for usage.\n" on `err`; returns 2.
int UsageError(std::ostream& err, const std::string& message, const std::string& command);
// "custos: MESSAGE\n" on `err`; returns 1.
int Failure(std::ostream& err, const std::string& message);
// Flushes `out`; 0, or 1 with a message when standard output could not be written.
int Finish(Context& c);

// --format's value when it is one of `allowed` (the first is the default); otherwise a usage
// error is printed, *exit_code set, and false returned.
bool ExpectFormat(const Context& c, const std::string& command,
                  std::initializer_list<std::string_view> allowed, std::string* format,
                  int* exit_code);
// A 2xx reply whose body is a JSON object, or nullopt with the error already reported (exit code
// in *exit_code).
std::optional<nlohmann::json> ObjectReply(Context& c, std::string_view method,
                                          const std::string& target, int* exit_code,
                                          std::string_view body = "",
                                          std::string_view content_type = "application/json");

// A list command (policies, templates): no arguments, --format table|json, GET `target`, then
// the array `key` of the reply as a table (`write_table`) or JSON.
int ListCommand(Context& c, const std::string& command, const char* target, const char* key,
                void (*write_table)(const nlohmann::json&, size_t, std::ostream&));
// ListCommand after the arguments were checked, for sub-commands such as `custos user list`:
// --format table|json (usage errors name `command`), GET `target`, then the array `key`.
int ShowList(Context& c, const std::string& command, const std::string& target, const char* key,
             void (*write_table)(const nlohmann::json&, size_t, std::ostream&));

// Compact JSON; invalid UTF-8 is replaced, never thrown about.
template <typename Json>
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}
// j[key] when it is a string, else `fallback` (json::value would throw on another type).
std::string StringOr(const nlohmann::json& j, const char* key, const std::string& fallback);
// A JSON array with one element per line ("[]" when not an array or empty).
void WriteJsonArray(const nlohmann::json& list, std::ostream& out);
std::string ToLower(std::string s);
// RFC 3986 percent-encoding of everything but unreserved characters.
std::string PercentEncode(std::string_view text);
// --since and --until as `events` and `audit` take them: an RFC 3339 time
// (2026-11-21T10:00:00Z, 2026-11-21T11:00:00+01:00), a date (midnight UTC) or relative to `now_ns`
// (-15m, -2h, -7d); each nullopt when absent. InvalidArgument (a usage error) for a bad value, a
// year outside 1678..2261, or --since not before --until.
struct TimeWindow {
  std::optional<int64_t> since_ns;
  std::optional<int64_t> until_ns;
};
Result<TimeWindow> ParseTimeWindow(const Invocation& args, int64_t now_ns);
// RFC 3339 UTC with nanoseconds ("2026-11-21T10:00:00.000000000Z"), so the API sees exactly the
// time the CLI resolved (relative times against this machine's clock).
std::string Rfc3339Nanos(int64_t unix_ns);

// The whole file, or standard input for "-"; ResourceExhausted beyond `max_bytes`. Errors name
// the file.
Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes);

}  // namespace custos::collector::cli
