// collector/cli: how a `custos` command talks to the collector's REST API: one request at a time
// over api::HttpsClient (collector/api/https_client.h), with the connection resolved from the
// command's options (collector/cli/connection.h) on the first request — so a command checks its
// own arguments first and a usage error is reported as one even when the connection settings are
// wrong too.
//
// Contract: messages go to the `err` stream given at construction, each with a hint saying what
// to check (the API's address, the CA, where the token came from); the token is never printed.
// Single-threaded. Send is virtual so the commands' tests can answer requests with a fake
// (collector/cli/commands/commands_test.cc); nothing else derives from ApiCaller.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "collector/api/https_client.h"
#include "collector/cli/command.h"
#include "collector/cli/connection.h"

namespace custos::collector::cli {

struct Reply {
  int status = 0;
  std::string body;
  nlohmann::json json_body;  // discarded when the body is not JSON
};

class ApiCaller {
 public:
  // `command` names the command in usage hints; `takes_config`: see ResolveConnection.
  ApiCaller(const Invocation& args, const Environment& env, std::string command, bool takes_config,
            std::ostream& err)
      : args_(args),
        env_(env),
        command_(std::move(command)),
        takes_config_(takes_config),
        err_(err) {}
  virtual ~ApiCaller() = default;

  // The reply (any HTTP status); nullopt, with a message and a hint on `err`, when no HTTP answer
  // arrived — exit_code() then says how to exit (2 for a bad --api or --config, else 1).
  virtual std::optional<Reply> Send(std::string_view method, const std::string& target,
                                    std::string_view body = "",
                                    std::string_view content_type = "application/json");

  // Prints an API error reply ("custos: <message> (HTTP 4xx)") and returns exit code 1. For an
  // import the collector rejected, every problem comes first; for 401, where the token came from.
  int ReportError(const Reply& reply);

  int exit_code() const { return exit_code_; }

 private:
  bool Connect();
  std::string Hint(const Status& s) const;

  const Invocation& args_;
  const Environment& env_;
  std::string command_;
  bool takes_config_;
  std::ostream& err_;
  Connection connection_;
  std::optional<api::HttpsClient> client_;
  int exit_code_ = 1;
};

}  // namespace custos::collector::cli
