// collector/api: a small blocking HTTPS client for the collector's REST API, used by the
// `custos` CLI and by tests.
//
// Each Request opens a new TLS connection (Connection: close), verifies the server certificate
// against the pinned CA and the host name (DNS name or IP address SAN; SNI is sent for names),
// sends one request and reads the whole response. TLS 1.2 or 1.3, ALPN "http/1.1".
// The whole request, from connecting to the last response byte, must finish within
// Options::timeout.
//
// Errors (messages name the host and port):
//  - Unavailable: cannot resolve, connect, complete TLS or read a response
//    ("api: connect 127.0.0.1:8443: Connection refused").
//  - PermissionDenied: the server certificate does not chain to the configured CA or does not
//    match the host.
//  - DeadlineExceeded: timeout; ResourceExhausted: response body over max_response_bytes.
//  - InvalidArgument: a bad CA PEM, method, target or header value.
// An HTTP error status (4xx, 5xx) is not an error here: it comes back as the HttpResponse.
// Thread-safe: Request is const and keeps no state between calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collector/api/http.h"
#include "common/status/status.h"

namespace custos::collector::api {

class HttpsClient {
 public:
  struct Options {
    std::string host;  // DNS name or IP address; also what the certificate must match
    uint16_t port = 8443;
    std::string ca_pem;  // the server certificate must chain to this CA
    std::chrono::milliseconds timeout{30000};
    size_t max_response_bytes = 256u << 20;
  };

  explicit HttpsClient(Options options);

  // `target` is an origin-form request-target ("/api/v1/alerts?state=open"). A non-empty
  // bearer_token is sent as "Authorization: Bearer <token>"; content_type is sent only with a
  // non-empty body; `headers` are sent as given (e.g. Cookie, X-CSRF-Token). HttpResponse::headers
  // holds every response header as received.
  Result<HttpResponse> Request(
      std::string_view method, std::string_view target, std::string_view body = "",
      std::string_view bearer_token = "", std::string_view content_type = "application/json",
      const std::vector<std::pair<std::string, std::string>>& headers = {}) const;

 private:
  Options options_;
};

}  // namespace custos::collector::api
