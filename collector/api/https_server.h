// collector/api: the HTTPS transport of the collector's REST API (HTTP/1.1 over TLS).
//
// What it does:
//  - TLS 1.2 or 1.3 (1.3 preferred; 1.2 only with ECDHE + AEAD suites), no client certificates
//    (callers authenticate with bearer tokens), ALPN "http/1.1" (a client offering ALPN without
//    it is refused with no_application_protocol; a client without ALPN is served).
//  - HTTP/1.1 keep-alive; requests on one connection are answered in order, one at a time.
//    "Expect: 100-continue" is honoured.
//  - Admission: once a request's header is in, the Admitter (on a worker thread) decides whether
//    its body may be read and how large it may be. Only then is "100 Continue" sent and the body
//    read; a refusal (e.g. 401) is sent without reading the body. Without an Admitter every
//    request is admitted with max_body_bytes.
//  - Malformed HTTP or request-target, or a Transfer-Encoding other than exactly "chunked" (one
//    header, no other coding): 400 JSON error, then the connection is closed. Headers over
//    max_header_bytes: 431; a body over the admitted limit (at most max_body_bytes): 413 (both
//    then close). Before closing after such an error or a refusal the server reads and discards
//    what the client still sends (at most 4 MiB into a fixed 16 KiB buffer, for at most
//    min(2 s, idle_timeout)) so that the response reaches the client instead of being destroyed
//    by a TCP reset.
//  - Beyond max_connections open connections, or max_connections_per_address from one source
//    address, a new one is accepted and closed at once.
//  - A handshake must finish within handshake_timeout (counting from the accept, so a client
//    that never sends a ClientHello is covered); a connection waiting for (or sending) a request,
//    or receiving a response, longer than idle_timeout is closed.
//  - Refused connections and failed handshakes are counted in
//    custos_api_connections_rejected_total{reason}: max_connections, per_address_limit,
//    handshake_timeout, handshake_failed.
//  - Every request gets a request id (HttpRequest::request_id), sent back as X-Request-Id and in
//    the server's own error bodies, and logged with every line about the request.
//  - A handler that throws gets a 500 JSON error ("internal error" and the request id); the
//    exception text is logged with the request id, method and path, never the body, the query or
//    the Authorization header.
//  - Every response carries Content-Length (except 204/304, which carry no body),
//    Cache-Control: no-store, X-Content-Type-Options: nosniff and X-Request-Id. A status outside
//    200..599 from a handler becomes 500.
//  - One debug log line per request: request id, method, path (no query), status, duration,
//    remote address.
//
// Threading: io_threads run all socket I/O; handlers run on worker_threads (they may block on
// the database), never on an I/O thread, and may run concurrently with each other. Start and
// Stop may be called from any thread except a handler's.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "collector/api/http.h"
#include "common/metrics/metrics.h"
#include "common/status/status.h"

namespace custos::collector::api {

struct HttpsServerOptions {
  std::string listen_host = "127.0.0.1";  // IP address or resolvable name
  uint16_t port = 8443;                   // 0 = pick a free port (see HttpsServer::port())
  int io_threads = 1;
  // Handlers may block on DB queries: they run on this pool, never on I/O threads.
  int worker_threads = 2;
  // The ceiling on any request's body; the Admitter sets each request's own limit below it.
  size_t max_body_bytes = 32u << 20;
  size_t max_header_bytes = 16u << 10;
  std::chrono::milliseconds idle_timeout{30000};
  // Short: a slot held by a client that never finishes its handshake is a slot denied to others.
  std::chrono::milliseconds handshake_timeout{5000};
  uint32_t max_connections = 1000;
  // Open connections from one source address (IPv4-mapped IPv6 counts as IPv4).
  uint32_t max_connections_per_address = 64;
  // Where custos_api_connections_rejected_total goes; null: a registry of the server's own.
  // Must outlive the server.
  metrics::Registry* metrics = nullptr;
};

class HttpsServer {
 public:
  // Listens and starts serving before returning. cert_chain_pem: the server certificate first,
  // then any intermediates; key_pem: its private key (PEM, unencrypted). `handler` and `admitter`
  // (optional) are called on worker threads, concurrently; they must be thread-safe and stay
  // valid until Stop returns.
  // Errors: InvalidArgument for bad options, certificate or key (or a key that does not match the
  // certificate); Unavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpsServer>> Start(const HttpsServerOptions& options,
                                                    std::string_view cert_chain_pem,
                                                    std::string_view key_pem, Handler handler,
                                                    Admitter admitter = nullptr);

  virtual ~HttpsServer();  // calls Stop()

  // The bound port (the picked one when options.port was 0).
  virtual uint16_t port() const = 0;

  // Stops accepting, closes every connection, waits for handlers already running to return (their
  // responses are dropped), and joins all threads. Idempotent. Must not be called from a handler.
  virtual void Stop() = 0;
};

}  // namespace custos::collector::api
