// collector/api: the HTTPS transport of the collector's REST API (HTTP/1.1 over TLS).
//
// What it does:
//  - TLS 1.2 or 1.3 (1.3 preferred; 1.2 only with ECDHE + AEAD suites), no client certificates
//    (callers authenticate with bearer tokens), ALPN "http/1.1" (a client offering ALPN without
//    it is refused with no_application_protocol; a client without ALPN is served).
//  - HTTP/1.1 keep-alive; requests on one connection are answered in order, one at a time.
//    "Expect: 100-continue" is honoured.
//  - Malformed HTTP or request-target: 400 JSON error, then the connection is closed. Headers
//    over max_header_bytes: 431; a body over max_body_bytes: 413 (both then close). Before
//    closing after such an error the server reads and discards what the client still sends (at
//    most 4 MiB, for at most min(2 s, idle_timeout)) so that the error reaches the client
//    instead of being destroyed by a TCP reset.
//  - Beyond max_connections open connections a new one is accepted and closed at once.
//  - A handshake must finish within handshake_timeout; a connection waiting for (or sending) a
//    request, or receiving a response, longer than idle_timeout is closed.
//  - A handler that throws gets a 500 JSON error ("internal error"); the exception text is
//    logged with method and path, never the body, the query or the Authorization header.
//  - Every response carries Content-Length (except 204/304, which carry no body),
//    Cache-Control: no-store and X-Content-Type-Options: nosniff. A status outside 200..599 from
//    a handler becomes 500.
//  - One debug log line per request: method, path (no query), status, duration, remote address.
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
#include "common/status/status.h"

namespace custos::collector::api {

struct HttpsServerOptions {
  std::string listen_host = "127.0.0.1";  // IP address or resolvable name
  uint16_t port = 8443;                   // 0 = pick a free port (see HttpsServer::port())
  int io_threads = 1;
  // Handlers may block on DB queries: they run on this pool, never on I/O threads.
  int worker_threads = 2;
  size_t max_body_bytes = 32u << 20;
  size_t max_header_bytes = 16u << 10;
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds handshake_timeout{10000};
  uint32_t max_connections = 1000;
};

class HttpsServer {
 public:
  // Listens and starts serving before returning. cert_chain_pem: the server certificate first,
  // then any intermediates; key_pem: its private key (PEM, unencrypted). `handler` is called on
  // worker threads, concurrently; it must be thread-safe and stay valid until Stop returns.
  // Errors: InvalidArgument for bad options, certificate or key (or a key that does not match the
  // certificate); Unavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpsServer>> Start(const HttpsServerOptions& options,
                                                    std::string_view cert_chain_pem,
                                                    std::string_view key_pem, Handler handler);

  virtual ~HttpsServer();  // calls Stop()

  // The bound port (the picked one when options.port was 0).
  virtual uint16_t port() const = 0;

  // Stops accepting, closes every connection, waits for handlers already running to return (their
  // responses are dropped), and joins all threads. Idempotent. Must not be called from a handler.
  virtual void Stop() = 0;
};

}  // namespace custos::collector::api
