#include "collector/cli/api_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "collector/api/https_client.h"
#include "collector/app/collector_config.h"
#include "collector/cli/alert_format.h"
#include "collector/cli/event_format.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// ---- help ----

#define CUSTOS_CONNECTION_HELP                                                                    \
  "Connection (every API command):\n"                                                             \
  "  --api URL          The collector's API, https://HOST:PORT (default $CUSTOS_API, else\n"      \
  "                     https://127.0.0.1:8443).\n"                                               \
  "  --ca FILE          CA certificate the server must chain to (default $CUSTOS_CA, else\n"      \
  "                     DATA_DIR/pki/ca.crt).\n"                                                  \
  "  --token-file FILE  File holding the bearer token (default: $CUSTOS_TOKEN, which holds the\n" \
  "                     token itself, else DATA_DIR/admin.token). Create tokens for analysts\n"   \
  "                     with 'custos-collector api-token create'.\n"                              \
  "  --data-dir DIR     The collector's state directory for the defaults above (default\n"        \
  "                     /var/lib/custos/collector).\n"                                            \
  "\n"                                                                                            \
  "Exit codes: 0 ok, 1 runtime failure (cannot connect, API error), 2 usage error.\n"

constexpr const char* kAlertsUsage =
    "custos alerts \xE2\x80\x94 list alerts, newest first.\n"
    "\n"
    "Usage:\n"
    "  custos alerts [--status S] [--severity SEV] [--person P] [--policy ID] [--min-score N]\n"
    "                [--limit N] [--format table|json] [connection options]\n"
    "\n"
    "Filters (all optional; together they narrow the result):\n"
    "  --status S       open (needs_review or confirmed), needs_review, confirmed, dismissed or\n"
    "                   resolved.\n"
    "  --severity SEV   low, medium or high.\n"
    "  --person P       Alerts about this person (an e-mail address from the directory, or an\n"
    "                   unmapped login name).\n"
    "  --policy ID      Alerts raised by this policy (pol_..., see 'custos policies').\n"
    "  --min-score N    Score at least N (0..100).\n"
    "  --limit N        At most N alerts (default 100, max 1000).\n"
    "Output:\n"
    "  --format F       table (default): ID, SEVERITY, SCORE, STATUS, PERSON, POLICY,\n"
    "                   LAST ACTIVITY, UPDATED; a footer goes to stderr. json: the API's alert\n"
    "                   objects as one array.\n"
    "\n" CUSTOS_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos alerts --status open --severity high\n"
    "  custos alerts --person alice@example.com --format json | jq '.[].score'\n";

constexpr const char* kAlertUsage =
    "custos alert \xE2\x80\x94 show one alert with its explanation, or change its status.\n"
    "\n"
    "Usage:\n"
    "  custos alert show ID [--format text|json]\n"
    "  custos alert confirm ID [--reason TEXT]   it is a real incident\n"
    "  custos alert dismiss ID --reason TEXT     a false positive (a reason is required)\n"
    "  custos alert resolve ID [--reason TEXT]   handled and closed\n"
    "  custos alert reopen ID [--reason TEXT]    back to needs_review\n"
    "\n"
    "  ID is the number in the ID column of 'custos alerts'.\n"
    "  --format F       text (default): the alert's fields, then why it scored what it did:\n"
    "                   triggers, each indicator (tier, points, counts, busiest day, sample\n"
    "                   events), boosters, sequences, cumulative exfiltration and the formula\n"
    "                   with its numbers. json: the API's alert object as received.\n"
    "  --reason TEXT    Why (kept with the alert; at most 4096 bytes).\n"
    "\n"
    "Status changes need an admin or analyst token; the new status is printed.\n"
    "\n" CUSTOS_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos alert show 42\n"
    "  custos alert dismiss 42 --reason 'approved backup to an encrypted drive'\n";

constexpr const char* kImportUsage =
    "custos import \xE2\x80\x94 import HR records or the login directory from a CSV file.\n"
    "\n"
    "Usage:\n"
    "  custos import directory FILE\n"
    "  custos import hr FILE [--scenario S]\n"
    "\n"
    "  FILE             A CSV file as specified in docs/imports.md, or - for standard input.\n"
    "  --scenario S     HR files only: resignation, job_level_change, performance_review or\n"
    "                   performance_improvement_plan, for files without an HRScenario column\n"
    "                   whose columns do not tell.\n"
    "\n"
    "The collector checks the whole file first. If any row has a problem, every problem is\n"
    "printed to stderr as 'line N: Column: message' and nothing is imported (exit 1). Import the\n"
    "directory before HR files: HR rows must name people of the directory. Needs an admin token.\n"
    "\n" CUSTOS_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos import directory people.csv\n"
    "  custos import hr reviews.csv --scenario performance_review\n";

constexpr const char* kPoliciesUsage =
    "custos policies \xE2\x80\x94 list scoring policies.\n"
    "\n"
    "Usage:\n"
    "  custos policies [--format table|json]\n"
    "\n"
    "  --format F       table (default): ID, NAME, TEMPLATE, ENABLED, INDICATORS (how many).\n"
    "                   json: the full policies as one array.\n"
    "\n" CUSTOS_CONNECTION_HELP
    "\n"
    "Example:\n"
    "  custos policies --format json | jq '.[] | {id, historic_days}'\n";

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
    "\n" CUSTOS_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos policy create --template data_theft_departing --name 'Departing users'\n"
    "  custos policy create --template data_theft_departing --name Strict \\\n"
    "      --set '{\"historic_days\": 60, \"alert_threshold\": 30}'\n"
    "  custos policy delete pol_3f2a9c1b7d4e\n";

constexpr const char* kTemplatesUsage =
    "custos templates \xE2\x80\x94 list the policy templates policies are created from.\n"
    "\n"
    "Usage:\n"
    "  custos templates [--format table|json]\n"
    "\n"
    "  --format F       table (default): ID, NAME, DESCRIPTION. json: every template with its\n"
    "                   defaults as one array.\n"
    "\n" CUSTOS_CONNECTION_HELP;

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
    "\n" CUSTOS_CONNECTION_HELP
    "\n"
    "Example:\n"
    "  custos trigger alice@example.com --days 30 --reason 'manager report, ticket 4711'\n";

constexpr const char* kExternalAlertUsage =
    "custos external-alert \xE2\x80\x94 report an alert from another system (a DLP, an EDR) about\n"
    "a person; policies that list the 'external_alert' trigger start scoring them.\n"
    "\n"
    "Usage:\n"
    "  custos external-alert --person P --source S --title T [--id X] [--time T]\n"
    "\n"
    "  --person P       The person (e-mail address or login name).\n"
    "  --source S       The system that raised it, e.g. purview-dlp.\n"
    "  --title T        What it says.\n"
    "  --id X           Its id in that system; the same source and id twice count once.\n"
    "  --time T         When it happened: 2026-11-21T10:00:00Z, 2026-11-21 or -2h (default\n"
    "                   now).\n"
    "\n"
    "Needs an admin or analyst token.\n"
    "\n" CUSTOS_CONNECTION_HELP
    "\n"
    "Example:\n"
    "  custos external-alert --person alice@example.com --source purview-dlp \\\n"
    "      --title 'Sensitive file shared externally' --id DLP-2291\n";

#undef CUSTOS_CONNECTION_HELP

// ---- flags ----

const std::set<std::string>& ConnectionFlags() {
  static const std::set<std::string> kFlags = {"api", "ca", "token-file", "data-dir", "help"};
  return kFlags;
}

// The command's own flags; positional()[1] selects the sub-command where there is one.
std::set<std::string> CommandFlags(const std::string& command, const std::string& sub) {
  if (command == "alerts") {
    return {"status", "severity", "person", "policy", "min-score", "limit", "format"};
  }
  if (command == "alert") {
    if (sub == "show") return {"format"};
    return {"reason"};
  }
  if (command == "import") {
    return sub == "hr" ? std::set<std::string>{"scenario"} : std::set<std::string>{};
  }
  if (command == "policies" || command == "templates") return {"format"};
  if (command == "policy") {
    return sub == "create" ? std::set<std::string>{"template", "name", "set"}
                           : std::set<std::string>{};
  }
  if (command == "trigger") return {"days", "reason"};
  if (command == "external-alert") return {"person", "source", "title", "id", "time"};
  return {};
}

// ---- output helpers ----

int UsageError(std::ostream& err, const std::string& message, const std::string& command) {
  err << "custos: " << EscapeForTerminal(message) << "\nRun 'custos " << command
      << " --help' for usage.\n";
  return 2;
}

int Failure(std::ostream& err, const std::string& message) {
  err << "custos: " << EscapeForTerminal(message) << '\n';
  return 1;
}

template <typename Json>
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// j[key] when it is a string, else `fallback` (json::value would throw on another type).
std::string StringOr(const json& j, const char* key, const std::string& fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// A JSON array as the events command writes one: one element per line.
void WriteJsonArray(const json& list, std::ostream& out) {
  if (!list.is_array() || list.empty()) {
    out << "[]\n";
    return;
  }
  out << "[\n";
  for (size_t i = 0; i < list.size(); ++i) {
    out << Dump(list[i]) << (i + 1 < list.size() ? ",\n" : "\n");
  }
  out << "]\n";
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// ---- files ----

Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  const bool stdin_input = path == "-";
  int fd = stdin_input ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, errno);
  std::string data;
  char buf[65536];
  Status status = OkStatus();
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoError(stdin_input ? "standard input" : path, errno);
      break;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      status = ResourceExhaustedError((stdin_input ? std::string("standard input") : path) +
                                      ": larger than " + std::to_string(max_bytes >> 20) + " MiB");
      break;
    }
  }
  if (!stdin_input) ::close(fd);
  if (!status.ok()) return status;
  return data;
}

// ---- talking to the API ----

struct Reply {
  int status = 0;
  std::string body;
  json json_body;  // discarded when the body is not JSON
};

// Resolves the connection (flags, environment, token and CA files) on the first Send, so
// commands check their own arguments first: a usage error is reported as one even when the
// connection settings are wrong too.
class ApiCaller {
 public:
  ApiCaller(const flags::Args& args, const Environment& env, std::string command, std::ostream& err)
      : args_(args), env_(env), command_(std::move(command)), err_(err) {}

  // The reply; nullopt (and a message, with a hint, on `err`) when no HTTP answer arrived;
  // exit_code() then says how to exit.
  std::optional<Reply> Send(std::string_view method, const std::string& target,
                            std::string_view body = "",
                            std::string_view content_type = "application/json") {
    if (!client_ && !Connect()) return std::nullopt;
    auto r = client_->Request(method, target, body, connection_.token, content_type);
    if (!r.ok()) {
      exit_code_ = Failure(err_, r.status().message());
      err_ << Hint(r.status());
      return std::nullopt;
    }
    Reply reply;
    reply.status = r->status;
    reply.body = std::move(r->body);
    reply.json_body = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
    return reply;
  }

  // Prints an API error reply ("custos: <message> (HTTP 4xx)") and returns exit code 1. For an
  // import the collector rejected, every problem comes first.
  int ReportError(const Reply& reply) {
    const json& j = reply.json_body;
    if (j.is_object() && j.contains("problems") && j["problems"].is_array()) {
      for (const auto& p : j["problems"]) {
        if (p.is_object() && p.contains("text") && p["text"].is_string()) {
          err_ << EscapeForTerminal(p["text"].get<std::string>()) << '\n';
        }
      }
    }
    std::string message;
    if (j.is_object() && j.contains("error") && j["error"].is_object() &&
        j["error"].contains("message") && j["error"]["message"].is_string()) {
      message = j["error"]["message"].get<std::string>();
    } else {
      message = std::string(api::StatusReason(reply.status));
    }
    Failure(err_, message + " (HTTP " + std::to_string(reply.status) + ")");
    if (reply.status == 401) {
      err_ << "custos: the token came from " << EscapeForTerminal(connection_.token_source)
           << "; check it, or create one with 'custos-collector api-token create'\n";
    }
    return 1;
  }

  int exit_code() const { return exit_code_; }

 private:
  bool Connect() {
    auto connection = ResolveConnection(args_, env_);
    if (!connection.ok()) {
      exit_code_ = connection.status().code() == StatusCode::kInvalidArgument
                       ? UsageError(err_, connection.status().message(), command_)
                       : Failure(err_, connection.status().message());
      return false;
    }
    connection_ = std::move(*connection);
    auto ca_pem = ReadWholeFile(connection_.ca_path, 1 << 20);
    if (!ca_pem.ok()) {
      exit_code_ = Failure(err_, ca_pem.status().WithContext("read CA certificate").message() +
                                     " (pass --ca FILE or set CUSTOS_CA; 'custos-collector init' "
                                     "writes DATA_DIR/pki/ca.crt)");
      return false;
    }
    client_.emplace(api::HttpsClient::Options{.host = connection_.endpoint.host,
                                              .port = connection_.endpoint.port,
                                              .ca_pem = std::move(*ca_pem),
                                              .timeout = std::chrono::seconds(120)});
    return true;
  }

  std::string Hint(const Status& s) const {
    const std::string& url = connection_.endpoint.url;
    switch (s.code()) {
      case StatusCode::kUnavailable:
      case StatusCode::kDeadlineExceeded:
        return "custos: is custos-collector running, with its API on " + EscapeForTerminal(url) +
               "? Pass --api https://HOST:PORT or set CUSTOS_API to where it listens.\n";
      case StatusCode::kPermissionDenied:
        return "custos: the certificate of " + EscapeForTerminal(url) +
               " was checked against --ca " + EscapeForTerminal(connection_.ca_path) +
               "; pass the collector's DATA_DIR/pki/ca.crt.\n";
      default:
        return "";
    }
  }

  const flags::Args& args_;
  const Environment& env_;
  std::string command_;
  std::ostream& err_;
  Connection connection_;
  std::optional<api::HttpsClient> client_;
  int exit_code_ = 1;
};

// Everything a command needs: the parsed flags, the caller, the streams.
struct Context {
  const flags::Args& args;
  const Environment& env;
  ApiCaller& api;
  std::ostream& out;
  std::ostream& err;
};

bool ExpectFormat(const Context& c, const std::string& command,
                  std::initializer_list<std::string_view> allowed, std::string* format,
                  int* exit_code) {
  *format = c.args.GetOr("format", std::string(*allowed.begin()));
  for (auto a : allowed) {
    if (*format == a) return true;
  }
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : " or ") + std::string(a);
  *exit_code = UsageError(c.err, "--format: expected " + list + ", got '" + *format + "'", command);
  return false;
}

// A 2xx reply whose body is a JSON object, or an error already reported (exit code in *rc).
std::optional<json> ObjectReply(Context& c, std::string_view method, const std::string& target,
                                int* rc, std::string_view body = "",
                                std::string_view content_type = "application/json") {
  auto reply = c.api.Send(method, target, body, content_type);
  if (!reply) {
    *rc = c.api.exit_code();
    return std::nullopt;
  }
  if (reply->status < 200 || reply->status > 299) {
    *rc = c.api.ReportError(*reply);
    return std::nullopt;
  }
  if (!reply->json_body.is_object()) {
    *rc = Failure(
        c.err, "the API answered HTTP " + std::to_string(reply->status) + " without a JSON object");
    return std::nullopt;
  }
  return reply->json_body;
}

int Finish(Context& c) {
  c.out.flush();
  if (!c.out) return Failure(c.err, "write to standard output failed");
  return 0;
}

// ---- commands ----

int Alerts(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, "alerts takes no arguments, got '" + c.args.positional()[1] + "'",
                      "alerts");
  }
  std::string format;
  int rc = 0;
  if (!ExpectFormat(c, "alerts", {"table", "json"}, &format, &rc)) return rc;
  auto target = AlertsTarget(c.args);
  if (!target.ok()) return UsageError(c.err, target.status().message(), "alerts");
  auto body = ObjectReply(c, "GET", *target, &rc);
  if (!body) return rc;
  const json& alerts = (*body)["alerts"];
  if (format == "json") {
    WriteJsonArray(alerts, c.out);
    return Finish(c);
  }
  WriteAlertTable(alerts, c.env.line_width, c.out);
  const size_t n = alerts.is_array() ? alerts.size() : 0;
  const int64_t limit = c.args.GetInt("limit", 100, 1, 1000).value_or(100);
  c.err << n << " alert" << (n == 1 ? "" : "s") << " shown (newest first; --limit " << limit
        << (static_cast<int64_t>(n) >= limit ? " reached, more may match" : "") << ")\n";
  return Finish(c);
}

bool ValidAlertId(const std::string& id) {
  if (id.empty() || id.size() > 18) return false;
  for (char ch : id) {
    if (ch < '0' || ch > '9') return false;
  }
  return true;
}

int Alert(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() < 2) {
    return UsageError(c.err, "alert needs a sub-command: show, confirm, dismiss, resolve or reopen",
                      "alert");
  }
  const std::string& sub = pos[1];
  static const std::map<std::string, std::string> kNewStatus = {{"confirm", "confirmed"},
                                                                {"dismiss", "dismissed"},
                                                                {"resolve", "resolved"},
                                                                {"reopen", "needs_review"}};
  if (sub != "show" && !kNewStatus.count(sub)) {
    return UsageError(
        c.err,
        "alert: unknown sub-command '" + sub + "' (show, confirm, dismiss, resolve or reopen)",
        "alert");
  }
  if (pos.size() < 3) return UsageError(c.err, "alert " + sub + " needs an alert ID", "alert");
  if (pos.size() > 3) {
    return UsageError(c.err, "alert " + sub + " takes one alert ID, got '" + pos[3] + "' too",
                      "alert");
  }
  const std::string& id = pos[2];
  if (!ValidAlertId(id)) {
    return UsageError(
        c.err, "alert ID must be a number (the ID column of 'custos alerts'), got '" + id + "'",
        "alert");
  }
  int rc = 0;
  if (sub == "show") {
    std::string format;
    if (!ExpectFormat(c, "alert", {"text", "json"}, &format, &rc)) return rc;
    auto reply = c.api.Send("GET", "/api/v1/alerts/" + id);
    if (!reply) return c.api.exit_code();
    if (reply->status != 200) return c.api.ReportError(*reply);
    if (format == "json") {
      c.out << reply->body << (reply->body.ends_with('\n') ? "" : "\n");
    } else {
      WriteAlertText(reply->json_body, c.env.line_width, c.out);
    }
    return Finish(c);
  }
  ordered_json request = {{"status", kNewStatus.at(sub)}};
  auto reason = c.args.Get("reason");
  if (sub == "dismiss" && reason.value_or("").empty()) {
    return UsageError(c.err, "alert dismiss needs --reason TEXT (why it is a false positive)",
                      "alert");
  }
  if (reason) request["reason"] = *reason;
  auto body = ObjectReply(c, "POST", "/api/v1/alerts/" + id + "/status", &rc, Dump(request));
  if (!body) return rc;
  c.out << "alert " << id << " is now " << EscapeForTerminal(StringOr(*body, "status", "?"))
        << '\n';
  return Finish(c);
}

int Import(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() < 2 || (pos[1] != "hr" && pos[1] != "directory")) {
    return UsageError(c.err,
                      pos.size() < 2 ? "import needs what to import: hr or directory"
                                     : "import: unknown kind '" + pos[1] + "' (hr or directory)",
                      "import");
  }
  const std::string& kind = pos[1];
  if (pos.size() != 3) {
    return UsageError(c.err, "import " + kind + " needs one FILE (or - for standard input)",
                      "import");
  }
  std::string target = kind == "hr" ? "/api/v1/hr/import" : "/api/v1/directory/import";
  if (auto scenario = c.args.Get("scenario")) {
    static const std::set<std::string> kScenarios = {
        "resignation", "job_level_change", "performance_review", "performance_improvement_plan"};
    if (!kScenarios.count(*scenario)) {
      return UsageError(c.err,
                        "--scenario: expected resignation, job_level_change, performance_review "
                        "or performance_improvement_plan, got '" +
                            *scenario + "'",
                        "import");
    }
    target += "?scenario=" + *scenario;
  }
  auto data = ReadWholeFile(pos[2], 32u << 20);
  if (!data.ok()) return Failure(c.err, "import " + kind + ": " + data.status().message());
  int rc = 0;
  auto body = ObjectReply(c, "POST", target, &rc, *data, "text/csv");
  if (!body) return rc;
  auto count = [&](const char* key) {
    return (*body)[key].is_number_unsigned() ? (*body)[key].get<uint64_t>() : 0;
  };
  if (kind == "hr") {
    c.out << "imported " << count("rows") << " HR row" << (count("rows") == 1 ? "" : "s") << ": "
          << count("new") << " new, " << count("already_imported") << " already imported\n";
  } else {
    c.out << "imported the directory: " << count("people") << " people, " << count("logins")
          << " logins (it replaces the previous directory)\n";
  }
  return Finish(c);
}

int ListCommand(Context& c, const std::string& command, const char* target, const char* key,
                void (*write_table)(const json&, size_t, std::ostream&)) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, command + " takes no arguments, got '" + c.args.positional()[1] + "'",
                      command);
  }
  std::string format;
  int rc = 0;
  if (!ExpectFormat(c, command, {"table", "json"}, &format, &rc)) return rc;
  auto body = ObjectReply(c, "GET", target, &rc);
  if (!body) return rc;
  if (format == "json") {
    WriteJsonArray((*body)[key], c.out);
  } else {
    write_table((*body)[key], c.env.line_width, c.out);
  }
  return Finish(c);
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

int ExternalAlert(Context& c) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err,
                      "external-alert takes no arguments, got '" + c.args.positional()[1] + "'",
                      "external-alert");
  }
  ordered_json request;
  for (const char* key : {"person", "source", "title"}) {
    auto v = c.args.Get(key);
    if (!v || v->empty()) {
      return UsageError(c.err, std::string("external-alert needs --") + key, "external-alert");
    }
    request[key] = *v;
  }
  if (auto id = c.args.Get("id")) request["id"] = *id;
  if (auto time = c.args.Get("time")) request["time"] = *time;
  auto reply = c.api.Send("POST", "/api/v1/external-alerts", Dump(request));
  if (!reply) return c.api.exit_code();
  if (reply->status != 200 && reply->status != 201) return c.api.ReportError(*reply);
  const std::string person = EscapeForTerminal(ToLower(request["person"].get<std::string>()));
  if (reply->status == 201) {
    c.out << "external alert accepted for " << person << '\n';
  } else {
    c.out << "external alert already received (same --source and --id); nothing changed\n";
  }
  return Finish(c);
}

}  // namespace

Environment EnvironmentFromProcess(size_t line_width) {
  Environment env;
  auto get = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  env.api = get("CUSTOS_API");
  env.ca = get("CUSTOS_CA");
  env.token = get("CUSTOS_TOKEN");
  env.line_width = line_width;
  return env;
}

std::vector<flags::FlagSpec> AllFlagSpecs() {
  return {// events
          {"since"},
          {"until"},
          {"agent"},
          {"user"},
          {"type"},
          {"limit"},
          {"oldest-first", false},
          {"format"},
          {"data-dir"},
          {"config"},
          // API connection
          {"api"},
          {"ca"},
          {"token-file"},
          // API commands
          {"status"},
          {"severity"},
          {"person"},
          {"policy"},
          {"min-score"},
          {"reason"},
          {"scenario"},
          {"template"},
          {"name"},
          {"set"},
          {"days"},
          {"source"},
          {"title"},
          {"id"},
          {"time"},
          // everywhere
          {"help", false},
          {"version", false}};
}

bool IsApiCommand(std::string_view command) { return ApiCommandUsage(command) != nullptr; }

const char* ApiCommandUsage(std::string_view command) {
  if (command == "alerts") return kAlertsUsage;
  if (command == "alert") return kAlertUsage;
  if (command == "import") return kImportUsage;
  if (command == "policies") return kPoliciesUsage;
  if (command == "policy") return kPolicyUsage;
  if (command == "templates") return kTemplatesUsage;
  if (command == "trigger") return kTriggerUsage;
  if (command == "external-alert") return kExternalAlertUsage;
  return nullptr;
}

Result<ApiEndpoint> ParseApiUrl(std::string_view url) {
  ApiEndpoint e;
  e.url = std::string(url);
  std::string_view rest = url;
  const std::string lower = ToLower(std::string(url.substr(0, 8)));
  if (lower.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (lower.starts_with("http://")) {
    return InvalidArgumentError("--api: the API is HTTPS only; use https://" +
                                std::string(url.substr(7)));
  } else if (rest.find("://") != std::string_view::npos) {
    return InvalidArgumentError("--api: expected https://HOST:PORT, got '" + e.url + "'");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty()) return InvalidArgumentError("--api: no host in '" + e.url + "'");
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return InvalidArgumentError("--api: expected https://HOST:PORT without a path or user, got '" +
                                e.url + "'");
  }
  // A port is present when the text after the last ':' follows a host (not inside [v6]).
  std::string hostport(rest);
  const size_t colon = hostport.rfind(':');
  const size_t bracket = hostport.rfind(']');
  const bool has_port =
      colon != std::string::npos &&
      (bracket == std::string::npos ? hostport.find(':') == colon : colon > bracket);
  if (!has_port) {
    if (bracket == std::string::npos && hostport.find(':') != std::string::npos) {
      return InvalidArgumentError("--api: write an IPv6 address in brackets: https://[" + hostport +
                                  "]:8443");
    }
    hostport += ":8443";
  }
  if (Status s = flags::ParseHostPort(hostport, &e.host, &e.port); !s.ok()) {
    return InvalidArgumentError("--api: " + s.message() + " in '" + e.url + "'");
  }
  if (e.host.empty() || e.port == 0) {
    return InvalidArgumentError(
        "--api: expected https://HOST:PORT with a port from 1 to 65535, "
        "got '" +
        e.url + "'");
  }
  return e;
}

Result<Connection> ResolveConnection(const flags::Args& args, const Environment& env) {
  Connection c;
  const std::string data_dir = args.GetOr("data-dir", kDefaultCollectorDataDir);
  CollectorConfig dirs;
  dirs.data_dir = data_dir;
  std::optional<std::string> api = args.Get("api");
  if (!api) api = env.api;
  CUSTOS_ASSIGN_OR_RETURN(c.endpoint, ParseApiUrl(api.value_or(kDefaultApiUrl)));
  if (auto ca = args.Get("ca")) {
    c.ca_path = *ca;
  } else {
    c.ca_path = env.ca.value_or(dirs.pki_dir() + "/ca.crt");
  }
  std::string token;
  if (auto file = args.Get("token-file")) {
    c.token_source = *file;
  } else if (env.token) {
    c.token_source = "CUSTOS_TOKEN";
    token = *env.token;
  } else {
    c.token_source = dirs.admin_token_path();
  }
  if (c.token_source != "CUSTOS_TOKEN") {
    auto text = ReadWholeFile(c.token_source, 64 << 10);
    if (!text.ok()) {
      Status s = text.status().WithContext("read token file");
      std::string hint =
          s.code() == StatusCode::kPermissionDenied
              ? " (run as a user that may read it, e.g. with sudo, or set CUSTOS_TOKEN)"
              : " (pass --token-file FILE or set CUSTOS_TOKEN)";
      return Status(s.code(), s.message() + hint);
    }
    token = std::move(*text);
  }
  // The first line, without surrounding white space: files end in a newline.
  token = token.substr(0, token.find_first_of("\r\n"));
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.erase(0, 1);
  if (token.empty()) {
    return FailedPreconditionError("the token from " + c.token_source + " is empty");
  }
  for (unsigned char ch : token) {
    if (ch < 0x21 || ch == 0x7F) {
      return FailedPreconditionError("the token from " + c.token_source +
                                     " contains a space or control character");
    }
  }
  c.token = std::move(token);
  return c;
}

Result<std::string> AlertsTarget(const flags::Args& args) {
  std::string query;
  auto add = [&](const char* key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + PercentEncode(value);
  };
  if (auto v = args.Get("status")) {
    static const std::set<std::string> kStatuses = {"open", "needs_review", "confirmed",
                                                    "dismissed", "resolved"};
    if (!kStatuses.count(*v)) {
      return InvalidArgumentError(
          "--status: expected open, needs_review, confirmed, dismissed or resolved, got '" + *v +
          "'");
    }
    add("status", *v);
  }
  if (auto v = args.Get("severity")) {
    if (*v != "low" && *v != "medium" && *v != "high") {
      return InvalidArgumentError("--severity: expected low, medium or high, got '" + *v + "'");
    }
    add("severity", *v);
  }
  if (auto v = args.Get("person")) add("person", *v);
  if (auto v = args.Get("policy")) add("policy", *v);
  if (args.Has("min-score")) {
    CUSTOS_ASSIGN_OR_RETURN(int64_t n, args.GetInt("min-score", 0, 0, 100));
    add("min_score", std::to_string(n));
  }
  CUSTOS_ASSIGN_OR_RETURN(int64_t limit, args.GetInt("limit", 100, 1, 1000));
  add("limit", std::to_string(limit));
  return "/api/v1/alerts" + query;
}

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

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 0xF];
    }
  }
  return out;
}

int RunApiCommand(const flags::Args& args, const Environment& env, std::ostream& out,
                  std::ostream& err) {
  const std::string& command = args.positional().at(0);
  const std::string sub = args.positional().size() > 1 ? args.positional()[1] : "";
  const std::set<std::string> own = CommandFlags(command, sub);
  const std::string where =
      (command == "alert" || command == "import" || command == "policy") && !sub.empty()
          ? command + " " + sub
          : command;
  for (const auto& spec : AllFlagSpecs()) {
    if (args.Has(spec.name) && !own.count(spec.name) && !ConnectionFlags().count(spec.name)) {
      std::string message = "--";
      message.append(spec.name).append(" does not apply to 'custos ").append(where).append("'");
      return UsageError(err, message, command);
    }
  }
  ApiCaller api(args, env, command, err);
  Context c{args, env, api, out, err};
  if (command == "alerts") return Alerts(c);
  if (command == "alert") return Alert(c);
  if (command == "import") return Import(c);
  if (command == "policies") {
    return ListCommand(c, "policies", "/api/v1/policies", "policies", &WritePolicyTable);
  }
  if (command == "templates") {
    return ListCommand(c, "templates", "/api/v1/templates", "templates", &WriteTemplateTable);
  }
  if (command == "policy") return Policy(c);
  if (command == "trigger") return Trigger(c);
  if (command == "external-alert") return ExternalAlert(c);
  err << "custos: unknown command '" << EscapeForTerminal(command) << "'\n";
  return 2;
}

}  // namespace custos::collector::cli
