#include "collector/cli/api_client.h"

#include <chrono>

#include "common/text/terminal.h"

namespace custos::collector::cli {

using nlohmann::json;
using text::EscapeForTerminal;

std::optional<Reply> ApiCaller::Send(std::string_view method, const std::string& target,
                                     std::string_view body, std::string_view content_type) {
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

int ApiCaller::ReportError(const Reply& reply) {
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
         << "; check it, or create one with 'custos token create' (a service token: "
            "'custos-collector api-token create')\n";
  }
  return 1;
}

bool ApiCaller::Connect() {
  auto connection = ResolveConnection(args_, env_, takes_config_);
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

std::string ApiCaller::Hint(const Status& s) const {
  const std::string& url = connection_.endpoint.url;
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return "custos: is custos-collector running, with its API on " + EscapeForTerminal(url) +
             "? Pass --api https://HOST:PORT or set CUSTOS_API to where it listens.\n";
    case StatusCode::kPermissionDenied:
      return "custos: the certificate of " + EscapeForTerminal(url) + " was checked against --ca " +
             EscapeForTerminal(connection_.ca_path) +
             "; pass the collector's DATA_DIR/pki/ca.crt.\n";
    default:
      return "";
  }
}

}  // namespace custos::collector::cli
