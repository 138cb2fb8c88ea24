#include "collector/api/https_client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <utility>
#include <vector>

#include "common/crypto/crypto.h"
#include "common/net/asio.h"  // first: Beast includes Asio

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace custos::collector::api {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr uint32_t kMaxResponseHeaderBytes = 64u << 10;

std::string ToStd(beast::string_view s) { return std::string(s.data(), s.size()); }
beast::string_view ToBeast(std::string_view s) { return beast::string_view(s.data(), s.size()); }

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool HasControl(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// Runs one asynchronous operation to completion or until `deadline`; on timeout closes the
// socket (which aborts the operation) and sets *timed_out. Returns the operation's error.
template <typename Initiate>
error_code RunUntil(asio::io_context& io, SteadyClock::time_point deadline, tcp::socket& socket,
                    bool* timed_out, Initiate initiate) {
  error_code result = asio::error::would_block;
  bool done = false;
  initiate([&result, &done](const error_code& ec, auto&&...) {
    result = ec;
    done = true;
  });
  io.restart();
  io.run_until(deadline);
  if (!done) {
    *timed_out = true;
    error_code ignored;
    socket.close(ignored);
    io.restart();
    io.run();
  }
  return result;
}

Status VerifyFailure(std::string_view where, std::string_view host, long verify) {
  const std::string reason = X509_verify_cert_error_string(verify);
  std::string message = "api: TLS handshake with " + std::string(where) + ": ";
  switch (verify) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      message += "server certificate (issued by the configured CA) is not valid for '" +
                 std::string(host) + "' (" + reason + ")";
      break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      message += "server certificate does not chain to the configured CA (" + reason + ")";
      break;
    default:
      message +=
          "server certificate rejected when verified against the configured CA (" + reason + ")";
      break;
  }
  return PermissionDeniedError(std::move(message));
}

}  // namespace

HttpsClient::HttpsClient(Options options) : options_(std::move(options)) {}

Result<HttpResponse> HttpsClient::Request(
    std::string_view method, std::string_view target, std::string_view body,
    std::string_view bearer_token, std::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) const {
  const std::string& host = options_.host;
  const bool is_v6 = host.find(':') != std::string::npos;
  const std::string where = (is_v6 ? "[" + host + "]" : host) + ":" + std::to_string(options_.port);
  if (!IsToken(method)) return InvalidArgumentError("api: request: invalid method");
  if (target.empty() || target.front() != '/' || HasControl(target) ||
      target.find(' ') != std::string_view::npos) {
    return InvalidArgumentError("api: request: target must be a path starting with '/'");
  }
  for (const auto& [name, value] : headers) {
    if (!IsToken(name) || HasControl(value)) {
      return InvalidArgumentError("api: request: invalid header " + name.substr(0, 64));
    }
  }
  if (HasControl(bearer_token) || HasControl(content_type)) {
    return InvalidArgumentError("api: request: control character in a header value");
  }
  const std::string what =
      std::string(method) + " " + std::string(target.substr(0, target.find('?'))) + " to " + where;

  crypto::TlsClientOptions tls_options;
  tls_options.ca_pem = options_.ca_pem;
  tls_options.server_name = host;
  tls_options.allow_tls12 = true;
  tls_options.alpn = "http/1.1";
  Result<crypto::TlsContext> tls = crypto::TlsContext::ForClient(tls_options);
  if (!tls.ok()) return tls.status().WithContext("api");
  ::SSL_CTX_up_ref(tls->native());
  ssl::context ctx(tls->native());  // takes the reference just added

  asio::io_context io(1);
  ssl::stream<tcp::socket> stream(io, ctx);
  CUSTOS_RETURN_IF_ERROR(
      crypto::ConfigureClientSsl(stream.native_handle(), host).WithContext("api"));
  tcp::socket& socket = stream.next_layer();
  const SteadyClock::time_point deadline = SteadyClock::now() + options_.timeout;
  const auto timeout_error = [&] {
    return DeadlineExceededError("api: " + what + ": timed out after " +
                                 std::to_string(options_.timeout.count()) + " ms");
  };
  bool timed_out = false;

  error_code ec;
  std::vector<tcp::endpoint> endpoints;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoints.emplace_back(address, options_.port);
  } else {
    tcp::resolver resolver(io);
    const auto results = resolver.resolve(host, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return UnavailableError("api: resolve " + host + ": " +
                              (ec ? ec.message() : std::string("no addresses")));
    }
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }

  ec = RunUntil(io, deadline, socket, &timed_out,
                [&](auto handler) { asio::async_connect(socket, endpoints, std::move(handler)); });
  if (timed_out) return timeout_error();
  if (ec) return UnavailableError("api: connect " + where + ": " + ec.message());
  socket.set_option(tcp::no_delay(true), ec);  // best effort: avoids Nagle + delayed-ACK stalls

  ec = RunUntil(io, deadline, socket, &timed_out, [&](auto handler) {
    stream.async_handshake(ssl::stream_base::client, std::move(handler));
  });
  if (timed_out) return timeout_error();
  if (ec) {
    const long verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK) return VerifyFailure(where, host, verify);
    crypto::DrainOpenSslErrors();
    return UnavailableError("api: TLS handshake with " + where + ": " + ec.message());
  }

  http::request<http::string_body> request;
  request.version(11);
  request.method_string(ToBeast(method));
  request.target(ToBeast(target));
  request.set(http::field::host, ToBeast(where));
  request.set(http::field::user_agent, "custos");
  request.set(http::field::accept, "application/json");
  for (const auto& [name, value] : headers) request.set(ToBeast(name), ToBeast(value));
  if (!bearer_token.empty()) {
    request.set(http::field::authorization, "Bearer " + std::string(bearer_token));
  }
  if (!body.empty()) {
    if (!content_type.empty()) request.set(http::field::content_type, ToBeast(content_type));
    request.body() = std::string(body);
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request.content_length(body.size());
  }
  request.keep_alive(false);

  const error_code write_ec = RunUntil(io, deadline, socket, &timed_out, [&](auto handler) {
    http::async_write(stream, request, std::move(handler));
  });
  if (timed_out) return timeout_error();
  // On a write error still try to read: the server may have answered early (413) and closed.

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxResponseHeaderBytes);
  parser.body_limit(static_cast<uint64_t>(options_.max_response_bytes));
  ec = RunUntil(io, deadline, socket, &timed_out, [&](auto handler) {
    http::async_read(stream, buffer, parser, std::move(handler));
  });
  if (timed_out) return timeout_error();
  if (ec == http::error::body_limit) {
    return ResourceExhaustedError("api: " + what + ": response body exceeds " +
                                  std::to_string(options_.max_response_bytes) + " bytes");
  }
  if (ec) {
    if (write_ec) return UnavailableError("api: " + what + ": send request: " + write_ec.message());
    return UnavailableError("api: " + what + ": read response: " + ec.message());
  }
  error_code ignored;
  socket.close(ignored);  // Connection: close; no TLS close_notify exchange needed

  http::response<http::string_body>& message = parser.get();
  HttpResponse response;
  response.status = static_cast<int>(message.result_int());
  response.content_type = ToStd(message[http::field::content_type]);
  for (const auto& field : message) {
    response.headers.emplace_back(ToStd(field.name_string()), ToStd(field.value()));
  }
  response.body = std::move(message.body());
  return response;
}

}  // namespace custos::collector::api
