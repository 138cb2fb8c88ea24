#include "collector/api/https_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/crypto/crypto.h"
#include "common/log/log.h"
#include "common/net/admission.h"
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

// RFC 9112 §6.1: a request body's framing is Content-Length or a final "chunked". Any other
// coding (or a list, or several headers) is refused: Beast 1.74 accepts some of them ("gzip,
// chunked", "identity"), and a front end that reads them differently could smuggle a request.
bool IsAcceptableTransferEncoding(const http::request_parser<http::string_body>::value_type& m);

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool IsAcceptableTransferEncoding(const http::request_parser<http::string_body>::value_type& m) {
  const auto [begin, end] = m.equal_range(http::field::transfer_encoding);
  if (begin == end) return true;
  if (std::next(begin) != end) return false;
  std::string_view value(begin->value().data(), begin->value().size());
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return IEquals(value, "chunked");
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
  CUSTOS_RETURN_IF_ERROR(crypto::RestrictTlsGroups(raw));
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
  // `address` is the peer's address; `slot` its place under the server's connection caps, given
  // back when the connection is destroyed.
  Connection(BeastHttpsServer* server, tcp::socket socket, ssl::context& ctx, std::string address,
             net::AddressSlots::Slot slot);
  ~Connection();
  void Start();

 private:
  void OnHandshake(const error_code& ec);
  void ReadHeader();
  void OnHeader(const error_code& ec);
  void OnAdmission(Admission admission);
  void ContinueAndReadBody();
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
  net::AddressSlots::Slot slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;    // the request being read: its header fields once the header is in
  size_t body_limit_ = 0;  // admitted for request_
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
                   Handler handler, Admitter admitter)
      : options_(options),
        handler_(std::move(handler)),
        admitter_(std::move(admitter)),
        ssl_ctx_(std::move(ctx)),
        registry_(options.metrics != nullptr ? options.metrics : &own_registry_),
        rejected_max_connections_(Rejected("max_connections")),
        rejected_per_address_(Rejected("per_address_limit")),
        rejected_handshake_timeout_(Rejected("handshake_timeout")),
        rejected_handshake_failed_(Rejected("handshake_failed")),
        connection_slots_(options.max_connections_per_address, options.max_connections),
        io_(std::in_place, options.io_threads),
        acceptor_(std::in_place, asio::make_strand(*io_)) {
    auto prefix = crypto::RandomBytes(4);
    request_id_prefix_ = prefix.ok() ? crypto::HexEncode(*prefix) : "00000000";
  }

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
    return Guarded(request, "api: handler failed", [&] { return handler_(request); });
  }

  // Called on a worker thread with the request's header (no body).
  Admission Admit(const HttpRequest& request) {
    if (!admitter_) {
      Admission all;
      all.max_body_bytes = options_.max_body_bytes;
      return all;
    }
    Admission admission;
    admission.refusal =
        Guarded(request, "api: admission failed", [&]() -> std::optional<HttpResponse> {
          admission = admitter_(request);
          return admission.refusal;
        });
    return admission;
  }

  // "1a2b3c4d-17": unique per server run and readable over the phone.
  std::string NextRequestId() {
    return request_id_prefix_ + "-" +
           std::to_string(next_request_.fetch_add(1, std::memory_order_relaxed) + 1);
  }

  const HttpsServerOptions& options() const { return options_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  // Null once Stop has begun joining it.
  asio::thread_pool* workers() { return workers_ ? &*workers_ : nullptr; }
  void HandshakeFailed(bool timed_out) {
    (timed_out ? rejected_handshake_timeout_ : rejected_handshake_failed_)->Inc();
  }

 private:
  metrics::Counter* Rejected(const char* reason) {
    return registry_->GetCounter("custos_api_connections_rejected_total",
                                 "API connections closed before a request: refused at accept or a "
                                 "TLS handshake that failed or timed out",
                                 {{"reason", reason}});
  }

  // Runs fn; an exception becomes a logged 500 carrying the request id.
  template <typename Fn>
  auto Guarded(const HttpRequest& request, const char* what, Fn fn) -> decltype(fn()) {
    const char* error = "unknown";
    std::string text;
    try {
      return fn();
    } catch (const std::exception& e) {
      text = e.what();
      error = text.c_str();
    } catch (...) {
    }
    logging::Error(what, {{"request_id", request.request_id},
                          {"method", request.method},
                          {"path", request.path},
                          {"error", error}});
    return JsonError(500, "internal", "internal error", request.request_id);
  }

  void Refuse(tcp::socket& socket, metrics::Counter* counter, const char* what) {
    counter->Inc();
    const uint64_t n = refused_.fetch_add(1, std::memory_order_relaxed);
    if (n % 1000 == 0) {
      logging::Warn(what, {{"max_connections", options_.max_connections},
                           {"max_connections_per_address", options_.max_connections_per_address},
                           {"refused", n + 1}});
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

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
          const std::string key = net::PeerAddressKey(socket);
          net::AddressSlots::Refusal why = net::AddressSlots::Refusal::kNone;
          net::AddressSlots::Slot slot = connection_slots_.TryAcquire(key, &why);
          if (why == net::AddressSlots::Refusal::kTotal) {
            Refuse(socket, rejected_max_connections_, "api: too many connections, refusing");
          } else if (!slot) {
            Refuse(socket, rejected_per_address_,
                   "api: too many connections from one address, refusing");
          } else {
            // Responses go out as a few TLS records; Nagle plus delayed ACK would add 40 ms.
            error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<Connection>(this, std::move(socket), *ssl_ctx_, key, std::move(slot))
                ->Start();
          }
          Accept();
        });
  }

  const HttpsServerOptions options_;
  const Handler handler_;
  const Admitter admitter_;
  std::unique_ptr<ssl::context> ssl_ctx_;
  // Declared before io_ so they outlive the Connections destroyed along with io_.
  metrics::Registry own_registry_;
  metrics::Registry* registry_;
  metrics::Counter* rejected_max_connections_;
  metrics::Counter* rejected_per_address_;
  metrics::Counter* rejected_handshake_timeout_;
  metrics::Counter* rejected_handshake_failed_;
  std::string request_id_prefix_;
  std::atomic<uint64_t> next_request_{0};
  // Declared before io_: Connections hold slots of it.
  net::AddressSlots connection_slots_;
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

Connection::Connection(BeastHttpsServer* server, tcp::socket socket, ssl::context& ctx,
                       std::string address, net::AddressSlots::Slot slot)
    : server_(server),
      stream_(std::move(socket), ctx),
      remote_address_(std::move(address)),
      slot_(std::move(slot)) {}

Connection::~Connection() = default;

void Connection::Start() {
  beast::get_lowest_layer(stream_).expires_after(server_->options().handshake_timeout);
  stream_.async_handshake(
      ssl::stream_base::server,
      [self = shared_from_this()](const error_code& ec) { self->OnHandshake(ec); });
}

void Connection::OnHandshake(const error_code& ec) {
  if (ec) {
    server_->HandshakeFailed(ec == beast::error::timeout);
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
  request_ = HttpRequest();
  body_limit_ = 0;
  parser_->header_limit(
      static_cast<uint32_t>(std::min<size_t>(server_->options().max_header_bytes, UINT32_MAX)));
  // The body's size is judged after admission (OnAdmission), so that an unauthenticated client
  // learns nothing from it; no body byte is read before then.
  parser_->body_limit(std::numeric_limits<uint64_t>::max());
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
  const auto& message = parser_->get();
  request_.request_id = server_->NextRequestId();
  request_.method = ToStd(message.method_string());
  request_.authorization = ToStd(message[http::field::authorization]);
  request_.cookie = ToStd(message[http::field::cookie]);
  request_.csrf_token = ToStd(message["X-CSRF-Token"]);
  request_.content_type = ToStd(message[http::field::content_type]);
  request_.remote_address = remote_address_;
  if (!IsAcceptableTransferEncoding(message)) {
    SendError(400, "bad_request", "Transfer-Encoding: only 'chunked' is supported");
    return;
  }
  const auto expect = message[http::field::expect];
  if (!expect.empty() && !IEquals(ToStd(expect), "100-continue")) {
    SendError(417, "expectation_failed", "only 'Expect: 100-continue' is supported");
    return;
  }
  const Status parsed = ParseTarget(ToStd(message.target()), &request_);
  if (!parsed.ok()) {
    SendError(400, "bad_request", parsed.message());
    return;
  }
  asio::thread_pool* workers = server_->workers();
  if (workers == nullptr || server_->stopping()) {
    Close();
    return;
  }
  // The Admitter may block (a token lookup): it runs on the worker pool, like handlers.
  asio::post(*workers, [self = shared_from_this(), head = request_]() {
    if (self->server_->stopping()) return;
    Admission admission = self->server_->Admit(head);
    asio::post(self->stream_.get_executor(), [self, admission = std::move(admission)]() mutable {
      self->OnAdmission(std::move(admission));
    });
  });
}

void Connection::OnAdmission(Admission admission) {
  if (admission.refusal) {
    // The body (if any) is never read: closing after the response is the only safe framing.
    parser_.reset();
    drain_before_close_ = true;
    HttpResponse refusal = std::move(*admission.refusal);
    Respond(std::move(refusal), /*close=*/true, request_.method, request_.path);
    return;
  }
  body_limit_ = std::min(admission.max_body_bytes, server_->options().max_body_bytes);
  const auto length = parser_->content_length();
  if (length && *length > body_limit_) {
    SendError(413, "payload_too_large",
              "request body exceeds " + std::to_string(body_limit_) + " bytes");
    return;
  }
  parser_->body_limit(static_cast<uint64_t>(body_limit_));  // what chunks may still bring
  ContinueAndReadBody();
}

void Connection::ContinueAndReadBody() {
  if (!parser_->get()[http::field::expect].empty() && !parser_->is_done()) {
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
    SendError(413, "payload_too_large",
              "request body exceeds " + std::to_string(body_limit_) + " bytes");
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
  HttpRequest request = std::move(request_);
  request_ = HttpRequest();
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
                path = request.path, id = request.request_id]() mutable {
                 self->request_.request_id = id;
                 self->Respond(std::move(response), !keep_alive, method, path);
               });
  });
}

void Connection::SendError(int status, std::string_view code, std::string_view message) {
  std::string method = "-";
  std::string path = "-";
  if (!request_.method.empty()) {
    method = request_.method;
    path = request_.path.empty() ? "-" : request_.path;
  } else if (parser_ && parser_->is_header_done()) {
    method = ToStd(parser_->get().method_string());
  }
  parser_.reset();
  drain_before_close_ = true;
  Respond(JsonError(status, code, message, request_.request_id), /*close=*/true, method, path);
}

void Connection::Respond(HttpResponse response, bool close, const std::string& method,
                         const std::string& path) {
  if (response.status < 200 || response.status > 599) {
    logging::Error("api: handler returned an invalid status", {{"request_id", request_.request_id},
                                                               {"method", method},
                                                               {"path", path},
                                                               {"status", response.status}});
    response = JsonError(500, "internal", "internal error", request_.request_id);
  }
  response_ = http::response<http::string_body>();
  response_.version(11);
  response_.result(static_cast<unsigned>(response.status));
  response_.reason(ToBeast(StatusReason(response.status)));
  for (const auto& [name, value] : response.headers) {
    if (!IsHeaderToken(name) || !IsHeaderValue(value)) {
      logging::Error("api: handler returned an invalid header",
                     {{"request_id", request_.request_id},
                      {"method", method},
                      {"path", path},
                      {"header", name}});
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
  // A handler that names the request itself (a proxy's id) keeps its name.
  if (!request_.request_id.empty() && response_.find("X-Request-Id") == response_.end()) {
    response_.set("X-Request-Id", ToBeast(request_.request_id));
  }
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
    logging::Debug("api: request", {{"request_id", request_.request_id},
                                    {"method", method},
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
                                                        std::string_view key_pem, Handler handler,
                                                        Admitter admitter) {
  if (options.io_threads < 1 || options.worker_threads < 1) {
    return InvalidArgumentError("api: io_threads and worker_threads must be at least 1");
  }
  if (options.max_connections < 1 || options.max_connections_per_address < 1 ||
      options.max_body_bytes < 1 || options.max_header_bytes < 256) {
    return InvalidArgumentError(
        "api: max_connections, max_connections_per_address and max_body_bytes must be positive, "
        "max_header_bytes >= 256");
  }
  if (options.idle_timeout.count() <= 0 || options.handshake_timeout.count() <= 0) {
    return InvalidArgumentError("api: timeouts must be positive");
  }
  if (!handler) return InvalidArgumentError("api: no handler");
  CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<ssl::context> ctx,
                          MakeServerContext(cert_chain_pem, key_pem));
  auto server = std::make_unique<BeastHttpsServer>(options, std::move(ctx), std::move(handler),
                                                   std::move(admitter));
  CUSTOS_RETURN_IF_ERROR(server->Listen());
  CUSTOS_RETURN_IF_ERROR(server->Run());
  logging::Info("api: listening", {{"host", options.listen_host}, {"port", server->port()}});
  return std::unique_ptr<HttpsServer>(std::move(server));
}

}  // namespace custos::collector::api
