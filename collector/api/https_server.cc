#include "collector/api/https_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/crypto/crypto.h"
#include "common/log/log.h"
#include "common/net/asio.h"  // first: Beast includes Asio

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace custos::collector::api {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kAlpnHttp11 = "http/1.1";
// After an error response the client may still be sending the rest of its request; reading it
// (up to this much, for at most kDrainTime or the idle timeout) before closing keeps the kernel
// from answering with RST, which could destroy the response before the client reads it.
constexpr size_t kMaxDrainBytes = 4u << 20;
constexpr std::chrono::milliseconds kDrainTime{2000};
constexpr std::chrono::milliseconds kShutdownTime{1000};

std::string ToStd(beast::string_view s) { return std::string(s.data(), s.size()); }
beast::string_view ToBeast(std::string_view s) { return beast::string_view(s.data(), s.size()); }

bool IsHttpError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

bool IsHeaderToken(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool IsHeaderValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Picks "http/1.1" from the client's ALPN list, or refuses the handshake (RFC 7301 §3.2).
int SelectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  unsigned int i = 0;
  while (i < inlen) {
    const unsigned int len = in[i++];
    if (len == 0 || len > inlen - i) return SSL_TLSEXT_ERR_ALERT_FATAL;
    if (len == kAlpnHttp11.size() && std::memcmp(in + i, kAlpnHttp11.data(), len) == 0) {
      *out = in + i;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

Result<std::unique_ptr<ssl::context>> MakeServerContext(std::string_view cert_chain_pem,
                                                        std::string_view key_pem) {
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) {
    return InternalError("api: TLS server context: " + crypto::DrainOpenSslErrors());
  }
  // Owns raw from here on.
  auto ctx = std::make_unique<ssl::context>(raw);
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(raw, 0);
  // TLS 1.2: forward-secret AEAD suites only (TLS 1.3 suites are all of that kind).
  if (SSL_CTX_set_cipher_list(raw,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return InternalError("api: TLS server context: ciphers: " + crypto::DrainOpenSslErrors());
  }
  SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_alpn_select_cb(raw, &SelectAlpn, nullptr);

  error_code ec;
  ctx->use_certificate_chain(asio::buffer(cert_chain_pem.data(), cert_chain_pem.size()), ec);
  if (ec || cert_chain_pem.empty()) {
    crypto::DrainOpenSslErrors();
    return InvalidArgumentError("api: TLS certificate chain: " +
                                (ec ? ec.message() : std::string("empty")));
  }
  ctx->use_private_key(asio::buffer(key_pem.data(), key_pem.size()), ssl::context::pem, ec);
  if (ec || key_pem.empty()) {
    crypto::DrainOpenSslErrors();
    return InvalidArgumentError("api: TLS private key: " +
                                (ec ? ec.message() : std::string("empty")));
  }
  if (SSL_CTX_check_private_key(raw) != 1) {
    return InvalidArgumentError("api: TLS private key does not match the certificate: " +
                                crypto::DrainOpenSslErrors());
  }
  return ctx;
}

Status SocketError(const std::string& context, const error_code& ec) {
  return UnavailableError(context + ": " + ec.message());
}

class BeastHttpsServer;

// One client connection. All its I/O runs on its strand; the handler runs on the worker pool and
// posts the response back. Kept alive by the shared_ptr in its pending operations.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(BeastHttpsServer* server, tcp::socket socket, ssl::context& ctx);
  ~Connection();
  void Start();

 private:
  void OnHandshake(const error_code& ec);
  void ReadHeader();
  void OnHeader(const error_code& ec);
  void ReadBody();
  void OnBody(const error_code& ec);
  void OnReadError(const error_code& ec);
  void Dispatch();
  void Respond(HttpResponse response, bool close, const std::string& method,
               const std::string& path);
  void SendError(int status, std::string_view code, std::string_view message);
  void Drain();
  void Shutdown();
  void Close();

  BeastHttpsServer* server_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  std::string remote_address_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  http::response<http::string_body> response_;
  SteadyClock::time_point request_start_;
  bool drain_before_close_ = false;
  size_t drained_bytes_ = 0;
  SteadyClock::time_point drain_deadline_;
  std::array<char, 16384> drain_buffer_;
};

class BeastHttpsServer final : public HttpsServer {
 public:
  BeastHttpsServer(const HttpsServerOptions& options, std::unique_ptr<ssl::context> ctx,
                   Handler handler)
      : options_(options),
        handler_(std::move(handler)),
        ssl_ctx_(std::move(ctx)),
        io_(std::in_place, options.io_threads),
        acceptor_(std::in_place, asio::make_strand(*io_)) {}

  ~BeastHttpsServer() override { Stop(); }

  Status Listen() {
    const std::string context =
        "api: listen on " + options_.listen_host + ":" + std::to_string(options_.port);
    error_code ec;
    tcp::endpoint endpoint;
    const asio::ip::address address = asio::ip::make_address(options_.listen_host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, options_.port);
    } else {
      tcp::resolver resolver(*io_);
      const auto results =
          resolver.resolve(options_.listen_host, std::to_string(options_.port), ec);
      if (ec || results.empty()) {
        return InvalidArgumentError(context + ": " + (ec ? ec.message() : "no addresses"));
      }
      endpoint = results.begin()->endpoint();
    }
    net::OpenListener(*acceptor_, endpoint, ec);
    if (ec) return SocketError(context, ec);
    const tcp::endpoint local = acceptor_->local_endpoint(ec);
    if (ec) return SocketError(context, ec);
    port_ = local.port();
    return OkStatus();
  }

  Status Run() {
    Accept();
    try {
      workers_.emplace(static_cast<size_t>(options_.worker_threads));
      for (int i = 0; i < options_.io_threads; ++i) {
        io_threads_.emplace_back([this] { RunLoop(); });
      }
    } catch (const std::exception& e) {
      Stop();
      return InternalError(std::string("api: start server threads: ") + e.what());
    }
    return OkStatus();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    io_->stop();
    for (std::thread& t : io_threads_) {
      if (t.joinable()) t.join();
    }
    // Handlers already running finish (their responses are posted to the stopped io_context and
    // dropped); queued ones see stopping_ and return at once.
    if (workers_) workers_->join();
    workers_.reset();
    // Destroying the io_context destroys the pending operations and with them every Connection
    // (closing its socket); the acceptor must go first since it belongs to the io_context.
    retry_timer_.reset();
    acceptor_.reset();
    io_.reset();
  }

  // Called on a worker thread.
  HttpResponse Invoke(const HttpRequest& request) {
    try {
      return handler_(request);
    } catch (const std::exception& e) {
      logging::Error("api: handler failed",
                     {{"method", request.method}, {"path", request.path}, {"error", e.what()}});
    } catch (...) {
      logging::Error("api: handler failed",
                     {{"method", request.method}, {"path", request.path}, {"error", "unknown"}});
    }
    return JsonError(500, "internal", "internal error");
  }

  const HttpsServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  // Null once Stop has begun joining it.
  asio::thread_pool* workers() { return workers_ ? &*workers_ : nullptr; }
  void ConnectionClosed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  void RunLoop() {
    for (;;) {
      try {
        io_->run();
        return;
      } catch (const std::exception& e) {
        // All I/O uses error_code; this is allocation failure or a bug. Keep serving.
        logging::Error("api: I/O thread caught exception", {{"error", e.what()}});
      } catch (...) {
        logging::Error("api: I/O thread caught exception");
      }
    }
  }

  void Accept() {
    acceptor_->async_accept(
        asio::make_strand(*io_), [this](const error_code& ec, tcp::socket socket) {
          if (ec == asio::error::operation_aborted || stopping()) return;
          if (ec) {
            // Transient (EMFILE, ECONNABORTED): retry shortly rather than spin.
            logging::Warn("api: accept failed", {{"error", ec.message()}});
            retry_timer_.emplace(acceptor_->get_executor());
            retry_timer_->expires_after(std::chrono::milliseconds(100));
            retry_timer_->async_wait([this](const error_code& timer_ec) {
              if (!timer_ec) Accept();
            });
            return;
          }
          if (open_connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
            const uint64_t n = refused_.fetch_add(1, std::memory_order_relaxed);
            if (n % 1000 == 0) {
              logging::Warn("api: too many connections, refusing",
                            {{"max_connections", options_.max_connections}, {"refused", n + 1}});
            }
            error_code ignored;
            socket.shutdown(tcp::socket::shutdown_both, ignored);
            socket.close(ignored);
          } else {
            open_connections_.fetch_add(1, std::memory_order_relaxed);
            // Responses go out as a few TLS records; Nagle plus delayed ACK would add 40 ms.
            error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<Connection>(this, std::move(socket), *ssl_ctx_)->Start();
          }
          Accept();
        });
  }

  const HttpsServerOptions options_;
  const Handler handler_;
  std::unique_ptr<ssl::context> ssl_ctx_;
  // Declared before io_ so they outlive the Connections destroyed along with io_.
  std::atomic<uint32_t> open_connections_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<bool> stopping_{false};
  std::optional<asio::io_context> io_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> retry_timer_;  // only touched on the acceptor's strand
  std::optional<asio::thread_pool> workers_;
  std::vector<std::thread> io_threads_;
  uint16_t port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
};

Connection::Connection(BeastHttpsServer* server, tcp::socket socket, ssl::context& ctx)
    : server_(server), stream_(std::move(socket), ctx) {
  error_code ec;
  const tcp::endpoint remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
  if (!ec) remote_address_ = remote.address().to_string();
}

Connection::~Connection() { server_->ConnectionClosed(); }

void Connection::Start() {
  beast::get_lowest_layer(stream_).expires_after(server_->options().handshake_timeout);
  stream_.async_handshake(
      ssl::stream_base::server,
      [self = shared_from_this()](const error_code& ec) { self->OnHandshake(ec); });
}

void Connection::OnHandshake(const error_code& ec) {
  if (ec) {
    if (logging::Enabled(logging::Level::kDebug)) {
      logging::Debug("api: TLS handshake failed",
                     {{"remote", remote_address_}, {"error", ec.message()}});
    }
    Close();
    return;
  }
  ReadHeader();
}

void Connection::ReadHeader() {
  request_start_ = SteadyClock::now();  // replaced once the header is in; for early errors
  parser_.emplace();
  parser_->header_limit(
      static_cast<uint32_t>(std::min<size_t>(server_->options().max_header_bytes, UINT32_MAX)));
  parser_->body_limit(static_cast<uint64_t>(server_->options().max_body_bytes));
  beast::get_lowest_layer(stream_).expires_after(server_->options().idle_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](const error_code& ec, size_t) { self->OnHeader(ec); });
}

void Connection::OnHeader(const error_code& ec) {
  if (ec) {
    OnReadError(ec);
    return;
  }
  request_start_ = SteadyClock::now();
  const auto expect = parser_->get()[http::field::expect];
  if (!expect.empty()) {
    if (!IEquals(ToStd(expect), "100-continue")) {
      SendError(417, "expectation_failed", "only 'Expect: 100-continue' is supported");
      return;
    }
    if (!parser_->is_done()) {
      continue_ = http::response<http::empty_body>(http::status::continue_, 11);
      http::async_write(stream_, continue_,
                        [self = shared_from_this()](const error_code& write_ec, size_t) {
                          if (write_ec) {
                            self->Close();
                            return;
                          }
                          self->ReadBody();
                        });
      return;
    }
  }
  ReadBody();
}

void Connection::ReadBody() {
  beast::get_lowest_layer(stream_).expires_after(server_->options().idle_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](const error_code& ec, size_t) { self->OnBody(ec); });
}

void Connection::OnBody(const error_code& ec) {
  if (ec) {
    OnReadError(ec);
    return;
  }
  Dispatch();
}

void Connection::OnReadError(const error_code& ec) {
  if (ec == http::error::body_limit) {
    SendError(
        413, "payload_too_large",
        "request body exceeds " + std::to_string(server_->options().max_body_bytes) + " bytes");
  } else if (ec == http::error::header_limit) {
    SendError(
        431, "header_too_large",
        "request header exceeds " + std::to_string(server_->options().max_header_bytes) + " bytes");
  } else if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
    Shutdown();  // the client closed (between requests, or mid-request)
  } else if (IsHttpError(ec)) {
    SendError(400, "bad_request", "malformed HTTP request");
  } else {
    // Timeout, reset, TLS error, truncation: nothing useful can be sent.
    if (logging::Enabled(logging::Level::kDebug) && ec != beast::error::timeout) {
      logging::Debug("api: connection read failed",
                     {{"remote", remote_address_}, {"error", ec.message()}});
    }
    Close();
  }
}

void Connection::Dispatch() {
  http::request<http::string_body> message = parser_->release();
  parser_.reset();
  HttpRequest request;
  request.method = ToStd(message.method_string());
  request.authorization = ToStd(message[http::field::authorization]);
  request.content_type = ToStd(message[http::field::content_type]);
  request.remote_address = remote_address_;
  const Status parsed = ParseTarget(ToStd(message.target()), &request);
  if (!parsed.ok()) {
    SendError(400, "bad_request", parsed.message());
    return;
  }
  request.body = std::move(message.body());
  const bool keep_alive = message.keep_alive();

  asio::thread_pool* workers = server_->workers();
  if (workers == nullptr || server_->stopping()) {
    Close();
    return;
  }
  asio::post(*workers, [self = shared_from_this(), request = std::move(request), keep_alive]() {
    if (self->server_->stopping()) return;
    HttpResponse response = self->server_->Invoke(request);
    asio::post(self->stream_.get_executor(),
               [self, response = std::move(response), keep_alive, method = request.method,
                path = request.path]() mutable {
                 self->Respond(std::move(response), !keep_alive, method, path);
               });
  });
}

void Connection::SendError(int status, std::string_view code, std::string_view message) {
  if (parser_ && parser_->is_header_done()) {
    // Best effort for the log line; the target may be what was malformed.
    HttpRequest partial;
    (void)ParseTarget(ToStd(parser_->get().target()), &partial);
    const std::string method = ToStd(parser_->get().method_string());
    parser_.reset();
    drain_before_close_ = true;
    Respond(JsonError(status, code, message), /*close=*/true, method, partial.path);
    return;
  }
  parser_.reset();
  drain_before_close_ = true;
  Respond(JsonError(status, code, message), /*close=*/true, "-", "-");
}

void Connection::Respond(HttpResponse response, bool close, const std::string& method,
                         const std::string& path) {
  if (response.status < 200 || response.status > 599) {
    logging::Error("api: handler returned an invalid status",
                   {{"method", method}, {"path", path}, {"status", response.status}});
    response = JsonError(500, "internal", "internal error");
  }
  response_ = http::response<http::string_body>();
  response_.version(11);
  response_.result(static_cast<unsigned>(response.status));
  response_.reason(ToBeast(StatusReason(response.status)));
  for (const auto& [name, value] : response.headers) {
    if (!IsHeaderToken(name) || !IsHeaderValue(value)) {
      logging::Error("api: handler returned an invalid header",
                     {{"method", method}, {"path", path}, {"header", name}});
      continue;
    }
    if (IEquals(name, "Content-Length") || IEquals(name, "Transfer-Encoding") ||
        IEquals(name, "Connection")) {
      continue;
    }
    response_.insert(ToBeast(name), ToBeast(value));
  }
  response_.set(http::field::cache_control, "no-store");
  response_.set("X-Content-Type-Options", "nosniff");
  const bool bodyless = response.status == 204 || response.status == 304;
  if (!bodyless) {
    if (!response.content_type.empty() && IsHeaderValue(response.content_type)) {
      response_.set(http::field::content_type, ToBeast(response.content_type));
    }
    response_.body() = std::move(response.body);
    response_.content_length(response_.body().size());
    // HEAD: the same headers, no body (else the client would read it as the next response).
    if (method == "HEAD") response_.body().clear();
  }
  response_.keep_alive(!close);

  if (logging::Enabled(logging::Level::kDebug)) {
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - request_start_);
    logging::Debug("api: request", {{"method", method},
                                    {"path", path},
                                    {"status", response.status},
                                    {"ms", static_cast<double>(elapsed.count()) / 1000.0},
                                    {"remote", remote_address_}});
  }

  beast::get_lowest_layer(stream_).expires_after(server_->options().idle_timeout);
  http::async_write(
      stream_, response_, [self = shared_from_this(), close](const error_code& ec, size_t) {
        if (ec) {
          self->Close();
        } else if (!close) {
          self->ReadHeader();
        } else if (self->drain_before_close_) {
          self->drain_deadline_ =
              SteadyClock::now() +
              std::min<SteadyClock::duration>(kDrainTime, self->server_->options().idle_timeout);
          self->Drain();
        } else {
          self->Shutdown();
        }
      });
}

void Connection::Drain() {
  beast::get_lowest_layer(stream_).expires_at(drain_deadline_);
  stream_.async_read_some(asio::buffer(drain_buffer_),
                          [self = shared_from_this()](const error_code& ec, size_t n) {
                            self->drained_bytes_ += n;
                            if (ec) {
                              // The client closed (or timed out): nothing left to protect.
                              self->Close();
                            } else if (self->drained_bytes_ > kMaxDrainBytes) {
                              self->Close();
                            } else {
                              self->Drain();
                            }
                          });
}

void Connection::Shutdown() {
  beast::get_lowest_layer(stream_).expires_after(kShutdownTime);
  stream_.async_shutdown([self = shared_from_this()](const error_code&) { self->Close(); });
}

void Connection::Close() {
  error_code ignored;
  auto& socket = beast::get_lowest_layer(stream_).socket();
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace

HttpsServer::~HttpsServer() = default;

Result<std::unique_ptr<HttpsServer>> HttpsServer::Start(const HttpsServerOptions& options,
                                                        std::string_view cert_chain_pem,
                                                        std::string_view key_pem, Handler handler) {
  if (options.io_threads < 1 || options.worker_threads < 1) {
    return InvalidArgumentError("api: io_threads and worker_threads must be at least 1");
  }
  if (options.max_connections < 1 || options.max_body_bytes < 1 || options.max_header_bytes < 256) {
    return InvalidArgumentError(
        "api: max_connections and max_body_bytes must be positive, max_header_bytes >= 256");
  }
  if (options.idle_timeout.count() <= 0 || options.handshake_timeout.count() <= 0) {
    return InvalidArgumentError("api: timeouts must be positive");
  }
  if (!handler) return InvalidArgumentError("api: no handler");
  CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<ssl::context> ctx,
                          MakeServerContext(cert_chain_pem, key_pem));
  auto server = std::make_unique<BeastHttpsServer>(options, std::move(ctx), std::move(handler));
  CUSTOS_RETURN_IF_ERROR(server->Listen());
  CUSTOS_RETURN_IF_ERROR(server->Run());
  logging::Info("api: listening", {{"host", options.listen_host}, {"port", server->port()}});
  return std::unique_ptr<HttpsServer>(std::move(server));
}

}  // namespace custos::collector::api
