#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "collector/ingest/batch_decoder.h"
#include "collector/ingest/committer.h"
#include "collector/ingest/enrollment.h"
#include "collector/ingest/ingest.h"
#include "common/crypto/crypto.h"
#include "common/log/log.h"
#include "common/net/admission.h"
#include "common/net/asio.h"
#include "common/wire/wire.h"
#include "custos/v1/session.pb.h"

namespace custos::collector::ingest {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
namespace v1 = custos::v1;

class Server;

// Why a session ended; the label of custos_ingest_rejected_total for protocol failures.
struct CloseReason {
  v1::ErrorCode code;
  std::string label;    // metric label, stable
  std::string message;  // human, logged and sent in the ERROR frame
  bool retryable = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server* server, tcp::socket socket, ssl::context& ctx, std::string address,
          net::AddressSlots::Slot preauth_slot);
  void Start();
  // Thread-safe: posts onto the session's strand.
  void CloseFromOutside(const CloseReason& reason);
  const std::string& peer() const { return peer_; }

 private:
  enum class State { kHandshake, kEnrollOnly, kAwaitHello, kStreaming, kClosed };

  void OnHandshake(const error_code& ec);
  void ReadHeader();
  void OnHeader(const error_code& ec, size_t n);
  void HandleFrame(uint8_t type);
  // A frame this session may not send, or not this large: refused from its header, before
  // its body is read or memory is allocated for it.
  std::optional<CloseReason> RefuseAtHeader(uint8_t type, uint32_t body_bytes) const;
  void HandleEnroll();
  void OnEnrolled(Result<v1::EnrollAck> ack, const std::string& hostname);
  void HandleHello();
  void HandleBatch();
  void HandleRenew();
  void OnCommitted(const Status& status, uint64_t last_seq, size_t events);
  void Send(v1::FrameType type, const google::protobuf::Message& msg);
  void DoWrite();
  // Sends ERROR (when code != UNSPECIFIED), then closes once it is written.
  void Fail(CloseReason reason);
  void CloseNow();
  void Linger();
  void Drain();
  void ArmTimer(std::chrono::milliseconds d);

  Server* server_;
  ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  std::string peer_;
  std::string address_;  // the peer's IP address: the key of per-address budgets
  // Held from accept until the client is authenticated (or the session ends).
  net::AddressSlots::Slot preauth_slot_;
  State state_ = State::kHandshake;
  bool enrolling_ = false;
  bool renewed_ = false;     // one RENEW per session
  std::string cert_serial_;  // of the client certificate this session was opened with
  uint8_t header_[wire::kFrameHeaderBytes];
  std::string body_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  bool close_after_write_ = false;
  // Streaming state.
  store::AgentRecord agent_;
  uint64_t epoch_ = 0;
  uint64_t next_seq_ = 0;
  uint32_t in_flight_ = 0;
  bool registered_ = false;
};

class Server final : public IngestServer {
 public:
  Server(const IngestOptions& options, const Pki& pki, store::Store* store,
         metrics::Registry* registry, Clock* clock)
      : options_(options),
        pki_(pki),
        store_(store),
        clock_(clock),
        ssl_ctx_(ssl::context::tls_server),
        acceptor_(io_),
        committer_(store, registry, options.max_events_per_commit, options.max_queued_events,
                   options.max_queued_bytes, options.max_commit_delay, options.on_committed),
        enroller_(pki_, store, clock, options.agent_certificate_validity,
                  options.renew_when_remaining_fraction),
        sessions_gauge_(registry->GetGauge("custos_ingest_connected_agents",
                                           "Agents with an active streaming session")),
        connections_gauge_(
            registry->GetGauge("custos_ingest_connections", "Open TCP connections, any state")),
        events_total_(
            registry->GetCounter("custos_ingest_events_total", "Events committed to the store")),
        batches_total_(
            registry->GetCounter("custos_ingest_batches_total", "Batches committed to the store")),
        bytes_total_(registry->GetCounter("custos_ingest_bytes_received_total",
                                          "Frame bytes received from agents")),
        events_rate_(registry->GetGauge("custos_ingest_events_per_second",
                                        "Events committed per second over the last second")),
        registry_(registry),
        preauth_slots_(options.max_preauth_per_address, options.max_preauth_sessions),
        enroll_limiter_(clock, options.enroll_failures_per_minute, options.enroll_failures_burst),
        renew_limiter_(clock, options.renewals_per_day / (24.0 * 60.0), 2),
        agent_quota_(clock, static_cast<double>(options.agent_quota_bytes_per_minute),
                     options.agent_quota_burst_bytes),
        quota_refusals_(registry->GetCounter(
            "custos_ingest_quota_refusals_total",
            "Batches refused because their agent was over its ingest quota (retried later)")) {}

  Status Init(std::unique_ptr<crypto::TlsContext> tls) {
    tls_ = std::move(tls);
    // Hand the configured SSL_CTX to Asio: swap its native handle in.
    ::SSL_CTX_up_ref(tls_->native());
    ssl_ctx_ = ssl::context(tls_->native());
    error_code ec;
    auto addr = asio::ip::make_address(options_.listen_host, ec);
    if (ec)
      return InvalidArgumentError("ingest: listen address '" + options_.listen_host +
                                  "': " + ec.message());
    tcp::endpoint ep(addr, options_.port);
    net::OpenListener(acceptor_, ep, ec);
    if (ec) {
      return UnavailableError("ingest: listen on " + options_.listen_host + ":" +
                              std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    rate_timer_ = std::make_unique<asio::steady_timer>(io_);
    TickRate();
    revocation_thread_ = std::thread([this] { WatchRevocations(); });
    int n = options_.io_threads > 0
                ? options_.io_threads
                : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { io_.run(); });
    return OkStatus();
  }

  ~Server() override { Stop(); }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    asio::post(io_, [this] {
      error_code ec;
      acceptor_.close(ec);
      if (rate_timer_) rate_timer_->cancel();
    });
    {
      std::lock_guard<std::mutex> l(revocation_mu_);
      revocation_stop_ = true;
    }
    revocation_cv_.notify_all();
    if (revocation_thread_.joinable()) revocation_thread_.join();
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto& [key, weak] : by_agent_) {
        if (auto s = weak.lock())
          s->CloseFromOutside(
              {v1::ERROR_CODE_UNSPECIFIED, "shutdown", "collector shutting down", true});
      }
    }
    committer_.Stop();
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // ---- used by sessions ----
  const IngestOptions& options() const { return options_; }
  store::Store* store() { return store_; }
  Clock* clock() { return clock_; }
  GroupCommitter& committer() { return committer_; }
  Enroller& enroller() { return enroller_; }
  net::RateLimiter& enroll_limiter() { return enroll_limiter_; }
  net::RateLimiter& renew_limiter() { return renew_limiter_; }
  // Charges an agent's quota for a decoded batch; false (and counted) when over it.
  bool ChargeQuota(const std::string& agent_id, uint64_t bytes) {
    if (agent_quota_.Allow(agent_id, static_cast<double>(bytes))) return true;
    quota_refusals_->Inc();
    return false;
  }
  bool stopped() const { return stopped_; }

  void CountRejected(const std::string& reason) {
    registry_
        ->GetCounter("custos_ingest_rejected_total",
                     "Sessions closed or requests refused, by reason", {{"reason", reason}})
        ->Inc();
  }
  void CountEnrollment(const std::string& result) {
    registry_
        ->GetCounter("custos_ingest_enrollments_total", "Enrollment attempts by result",
                     {{"result", result}})
        ->Inc();
  }
  void CountCommitted(size_t events) {
    events_total_->Inc(events);
    batches_total_->Inc();
  }
  void CountBytes(size_t n) { bytes_total_->Inc(n); }
  void CountRefusedEvents(uint32_t n) {
    registry_
        ->GetCounter("custos_ingest_refused_events_total",
                     "Events stored as an events_lost refusal instead of as sent, by reason",
                     {{"reason", "too_large"}})
        ->Inc(n);
  }
  void ConnectionOpened() { connections_gauge_->Add(1); }
  void ConnectionClosed() { connections_gauge_->Add(-1); }

  // Makes `s` the agent's only streaming session; an older one is told it is superseded.
  void RegisterStreaming(int64_t agent_key, const std::shared_ptr<Session>& s) {
    std::shared_ptr<Session> old;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto& slot = by_agent_[agent_key];
      old = slot.lock();
      slot = s;
    }
    sessions_gauge_->Add(1);
    if (old && old != s) {
      old->CloseFromOutside({v1::ERROR_CODE_SUPERSEDED, "superseded",
                             "a newer session of this agent took over", true});
    }
  }
  void UnregisterStreaming(int64_t agent_key, const Session* s) {
    sessions_gauge_->Add(-1);
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_agent_.find(agent_key);
    if (it != by_agent_.end()) {
      auto cur = it->second.lock();
      if (!cur || cur.get() == s) by_agent_.erase(it);
    }
  }

 private:
  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_),
                           [this](const error_code& ec, tcp::socket socket) {
                             if (ec) {
                               if (ec == asio::error::operation_aborted || stopped_) return;
                               logging::Warn("ingest: accept failed", {{"error", ec.message()}});
                             } else {
                               Admit(std::move(socket));
                             }
                             if (!stopped_) Accept();
                           });
  }

  // A connection is served only while the collector has room for it in all and, as nobody is
  // authenticated yet, while its address has a pre-authentication slot.
  void Admit(tcp::socket socket) {
    error_code ec;
    std::string address = net::PeerAddressKey(socket);
    net::AddressSlots::Refusal why = net::AddressSlots::Refusal::kNone;
    net::AddressSlots::Slot slot;
    if (connections_gauge_->value() >= static_cast<int64_t>(options_.max_sessions)) {
      CountRejected("too_many_connections");
    } else if (!(slot = preauth_slots_.TryAcquire(address, &why))) {
      CountRejected(why == net::AddressSlots::Refusal::kPerAddress ? "preauth_per_address"
                                                                   : "preauth_total");
    } else {
      std::make_shared<Session>(this, std::move(socket), ssl_ctx_, std::move(address),
                                std::move(slot))
          ->Start();
      return;
    }
    socket.close(ec);
  }

  // `agent revoke` runs in another process: look for revocations and end those agents'
  // sessions, so a revoked agent is cut off within one interval. A thread of its own, so no I/O
  // thread ever waits for the store's read lock on its behalf.
  void WatchRevocations() {
    std::unique_lock<std::mutex> l(revocation_mu_);
    while (!revocation_cv_.wait_for(l, options_.revocation_check_interval,
                                    [this] { return revocation_stop_; })) {
      l.unlock();
      CloseRevokedSessions();
      l.lock();
    }
  }

  void CloseRevokedSessions() {
    {
      std::vector<std::shared_ptr<Session>> revoked;
      auto keys = store_->RevokedAgentKeys();
      if (!keys.ok()) {
        logging::Warn("ingest: revocation check failed", {{"error", keys.status().ToString()}});
      } else {
        std::lock_guard<std::mutex> l(mu_);
        for (int64_t key : *keys) {
          auto it = by_agent_.find(key);
          if (it == by_agent_.end()) continue;
          if (auto sess = it->second.lock()) revoked.push_back(std::move(sess));
        }
      }
      for (auto& sess : revoked) {
        sess->CloseFromOutside(
            {v1::ERROR_CODE_REVOKED, "revoked", "agent revoked while connected", false});
      }
    }
  }

  void TickRate() {
    rate_timer_->expires_after(std::chrono::seconds(1));
    rate_timer_->async_wait([this](const error_code& ec) {
      if (ec) return;
      uint64_t now = events_total_->value();
      events_rate_->Set(static_cast<int64_t>(now - last_events_));
      last_events_ = now;
      TickRate();
    });
  }

  IngestOptions options_;
  Pki pki_;
  store::Store* store_;
  Clock* clock_;
  asio::io_context io_;
  std::unique_ptr<crypto::TlsContext> tls_;
  ssl::context ssl_ctx_;
  tcp::acceptor acceptor_;
  GroupCommitter committer_;
  Enroller enroller_;
  metrics::Gauge* sessions_gauge_;
  metrics::Gauge* connections_gauge_;
  metrics::Counter* events_total_;
  metrics::Counter* batches_total_;
  metrics::Counter* bytes_total_;
  metrics::Gauge* events_rate_;
  metrics::Registry* registry_;
  std::unique_ptr<asio::steady_timer> rate_timer_;
  std::thread revocation_thread_;
  std::mutex revocation_mu_;
  std::condition_variable revocation_cv_;
  bool revocation_stop_ = false;  // guarded by revocation_mu_
  net::AddressSlots preauth_slots_;
  net::RateLimiter enroll_limiter_;
  net::RateLimiter renew_limiter_;
  net::RateLimiter agent_quota_;
  metrics::Counter* quota_refusals_;
  uint64_t last_events_ = 0;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::unordered_map<int64_t, std::weak_ptr<Session>> by_agent_;  // guarded by mu_
};

// Per-thread zstd decompression context: sessions on the same I/O thread share it.
wire::ZstdDecompressor* ThreadDecompressor() {
  thread_local auto d = wire::ZstdDecompressor::Create();
  return d.ok() ? &*d : nullptr;
}

Session::Session(Server* server, tcp::socket socket, ssl::context& ctx, std::string address,
                 net::AddressSlots::Slot preauth_slot)
    : server_(server),
      stream_(std::move(socket), ctx),
      timer_(stream_.get_executor()),
      address_(std::move(address)),
      preauth_slot_(std::move(preauth_slot)) {
  error_code ec;
  auto ep = stream_.lowest_layer().remote_endpoint(ec);
  peer_ = ec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
  server_->ConnectionOpened();
}

void Session::Start() {
  error_code ec;
  stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
  ArmTimer(server_->options().handshake_timeout);
  stream_.async_handshake(
      ssl::stream_base::server,
      [self = shared_from_this()](const error_code& e) { self->OnHandshake(e); });
}

void Session::ArmTimer(std::chrono::milliseconds d) {
  timer_.expires_after(d);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->state_ == State::kClosed) return;
    if (self->close_after_write_) {
      // Already refused and counted; the peer just never read the ERROR frame.
      self->CloseNow();
      return;
    }
    const char* phase = self->state_ == State::kHandshake    ? "handshake"
                        : self->state_ == State::kEnrollOnly ? "preauth"
                                                             : "idle";
    self->server_->CountRejected(std::string(phase) + "_timeout");
    logging::Info("ingest: session timed out", {{"peer", self->peer_}, {"phase", phase}});
    self->CloseNow();
  });
}

void Session::OnHandshake(const error_code& ec) {
  if (state_ == State::kClosed) return;
  if (ec) {
    server_->CountRejected("tls_handshake");
    logging::Info("ingest: TLS handshake refused", {{"peer", peer_}, {"error", ec.message()}});
    CloseNow();
    return;
  }
  auto peer = crypto::InspectPeer(stream_.native_handle());
  if (!peer.ok()) {
    server_->CountRejected("bad_certificate");
    logging::Info("ingest: unusable peer certificate",
                  {{"peer", peer_}, {"error", peer.status().ToString()}});
    CloseNow();
    return;
  }
  if (!peer->has_certificate) {
    state_ = State::kEnrollOnly;
  } else {
    // The TLS handshake is complete: a refusal below reaches the agent as an ERROR frame.
    state_ = State::kAwaitHello;
    const std::string& agent_id = peer->certificate.agent_id;
    auto agent = agent_id.empty()
                     ? Result<store::AgentRecord>(NotFoundError("certificate names no agent"))
                     : server_->store()->FindAgent(agent_id);
    if (!agent.ok()) {
      logging::Warn("ingest: certificate of an unknown agent refused",
                    {{"peer", peer_}, {"agent", agent_id}, {"error", agent.status().ToString()}});
      Fail({v1::ERROR_CODE_UNAUTHENTICATED, "unknown_agent", "agent not enrolled here", false});
      return;
    }
    if (agent->revoked_at_ns) {
      logging::Warn("ingest: revoked agent refused",
                    {{"peer", peer_}, {"agent", agent_id}, {"reason", agent->revoke_reason}});
      Fail({v1::ERROR_CODE_REVOKED, "revoked", "agent revoked: " + agent->revoke_reason, false});
      return;
    }
    // Only the agent's current certificate opens sessions, and the one a renewal replaced
    // until the new one is first used (the RENEW_ACK may have been lost on its way).
    cert_serial_ = peer->certificate.serial_hex;
    const bool current = cert_serial_ == agent->cert_serial;
    if (!current && (agent->prev_cert_serial.empty() || cert_serial_ != agent->prev_cert_serial)) {
      logging::Warn("ingest: replaced certificate refused",
                    {{"peer", peer_}, {"agent", agent_id}, {"serial", cert_serial_}});
      Fail({v1::ERROR_CODE_UNAUTHENTICATED, "replaced_certificate",
            "this certificate was replaced by a renewal", false});
      return;
    }
    if (current && !agent->prev_cert_serial.empty()) {
      server_->committer().RunOnWriter([store = server_->store(), key = agent->key] {
        (void)store->ForgetPreviousCertificate(key);
      });
    }
    agent_ = std::move(*agent);
    preauth_slot_.Release();
  }
  ArmTimer(state_ == State::kEnrollOnly ? server_->options().preauth_timeout
                                        : server_->options().idle_timeout);
  ReadHeader();
}

void Session::ReadHeader() {
  asio::async_read(
      stream_, asio::buffer(header_, sizeof header_),
      [self = shared_from_this()](const error_code& ec, size_t n) { self->OnHeader(ec, n); });
}

void Session::OnHeader(const error_code& ec, size_t) {
  if (state_ == State::kClosed) return;
  if (ec) {
    if (ec != asio::error::eof && ec != ssl::error::stream_truncated) {
      logging::Debug("ingest: read failed", {{"peer", peer_}, {"error", ec.message()}});
    }
    CloseNow();
    return;
  }
  auto header = wire::ParseFrameHeader(header_, server_->options().max_frame_bytes);
  if (!header.ok()) {
    bool too_large = header.status().code() == StatusCode::kResourceExhausted;
    Fail({too_large ? v1::ERROR_CODE_FRAME_TOO_LARGE : v1::ERROR_CODE_PROTOCOL,
          too_large ? "frame_too_large" : "bad_frame", header.status().message(), false});
    return;
  }
  if (auto refusal = RefuseAtHeader(header->type, header->body_bytes)) {
    Fail(std::move(*refusal));
    return;
  }
  body_.resize(header->body_bytes);
  uint8_t type = header->type;
  asio::async_read(stream_, asio::buffer(body_),
                   [self = shared_from_this(), type](const error_code& e, size_t n) {
                     if (self->state_ == State::kClosed) return;
                     if (e) {
                       self->server_->CountRejected("truncated_frame");
                       logging::Info("ingest: connection ended inside a frame",
                                     {{"peer", self->peer_}, {"error", e.message()}});
                       self->CloseNow();
                       return;
                     }
                     self->server_->CountBytes(n + wire::kFrameHeaderBytes);
                     if (self->state_ != State::kEnrollOnly) {
                       self->ArmTimer(self->server_->options().idle_timeout);
                     }
                     self->HandleFrame(type);
                   });
}

std::optional<CloseReason> Session::RefuseAtHeader(uint8_t type, uint32_t body_bytes) const {
  auto t = static_cast<v1::FrameType>(type);
  const IngestOptions& o = server_->options();
  if (state_ == State::kEnrollOnly) {
    if (t != v1::FRAME_TYPE_ENROLL || enrolling_) {
      return CloseReason{v1::ERROR_CODE_UNAUTHENTICATED, "no_certificate",
                         "a session without a client certificate may only ENROLL, once", false};
    }
  } else if (t == v1::FRAME_TYPE_BATCH && state_ != State::kStreaming) {
    return CloseReason{v1::ERROR_CODE_PROTOCOL, "before_hello", "BATCH before HELLO", false};
  }
  if (t != v1::FRAME_TYPE_BATCH && body_bytes > o.max_control_frame_bytes) {
    return CloseReason{v1::ERROR_CODE_FRAME_TOO_LARGE, "frame_too_large",
                       "frame type " + std::to_string(type) + " of " + std::to_string(body_bytes) +
                           " bytes exceeds the maximum of " +
                           std::to_string(o.max_control_frame_bytes) + " for anything but BATCH",
                       false};
  }
  return std::nullopt;
}

void Session::HandleFrame(uint8_t type) {
  auto t = static_cast<v1::FrameType>(type);
  if (state_ == State::kEnrollOnly) {
    HandleEnroll();  // RefuseAtHeader let nothing else through
    return;
  }
  switch (t) {
    case v1::FRAME_TYPE_HELLO:
      if (state_ != State::kAwaitHello) {
        Fail({v1::ERROR_CODE_PROTOCOL, "unexpected_frame", "HELLO sent twice", false});
        return;
      }
      HandleHello();
      return;
    case v1::FRAME_TYPE_BATCH:
      HandleBatch();  // RefuseAtHeader refused it before HELLO
      return;
    case v1::FRAME_TYPE_PING: {
      v1::Ping ping;
      if (!ping.ParseFromString(body_)) {
        Fail({v1::ERROR_CODE_PROTOCOL, "bad_protobuf", "PING: invalid protobuf", false});
        return;
      }
      v1::Pong pong;
      pong.set_time_ns(ping.time_ns());
      Send(v1::FRAME_TYPE_PONG, pong);
      ReadHeader();
      return;
    }
    case v1::FRAME_TYPE_RENEW:
      HandleRenew();
      return;
    case v1::FRAME_TYPE_ENROLL:
      Fail({v1::ERROR_CODE_PROTOCOL, "unexpected_frame",
            "already enrolled: ENROLL needs a session without a certificate", false});
      return;
    default:
      Fail({v1::ERROR_CODE_PROTOCOL, "unexpected_frame",
            "frame type " + std::to_string(type) + " is not accepted from agents", false});
      return;
  }
}

void Session::HandleEnroll() {
  v1::Enroll req;
  if (!req.ParseFromString(body_)) {
    server_->CountEnrollment("bad_request");
    Fail({v1::ERROR_CODE_PROTOCOL, "bad_protobuf", "ENROLL: invalid protobuf", false});
    return;
  }
  if (!server_->enroll_limiter().HasToken(address_)) {
    server_->CountEnrollment("rate_limited");
    Fail({v1::ERROR_CODE_OVERLOADED, "enroll_rate_limited",
          "too many failed enrollment attempts from this address; retry later", true});
    return;
  }
  // Checking the token and recording the agent write to the store, whose write lock may be
  // held for a while: that happens on the committer thread, never on an I/O thread.
  enrolling_ = true;
  std::string hostname = req.host().hostname().substr(0, 255);
  server_->committer().RunOnWriter(
      [self = shared_from_this(), req = std::move(req), hostname]() mutable {
        auto ack = self->server_->enroller().Enroll(req);
        asio::post(self->stream_.get_executor(),
                   [self, ack = std::move(ack), hostname = std::move(hostname)]() mutable {
                     self->OnEnrolled(std::move(ack), hostname);
                   });
      });
}

void Session::OnEnrolled(Result<v1::EnrollAck> ack, const std::string& hostname) {
  if (!ack.ok()) {
    server_->CountEnrollment("refused");
    (void)server_->enroll_limiter().Allow(address_);  // charge the failure
    // The token itself is a secret: log the refusal reason and the host, never the token.
    logging::Warn("ingest: enrollment refused",
                  {{"peer", peer_}, {"hostname", hostname}, {"reason", ack.status().message()}});
    Fail({v1::ERROR_CODE_ENROLLMENT_REFUSED, "enroll_refused", ack.status().message(), false});
    return;
  }
  server_->CountEnrollment("ok");
  logging::Info("ingest: agent enrolled",
                {{"peer", peer_}, {"agent", ack->agent_id()}, {"hostname", hostname}});
  if (state_ == State::kClosed) return;  // timed out meanwhile: the agent retries with a token
  Send(v1::FRAME_TYPE_ENROLL_ACK, *ack);
  close_after_write_ = true;
  ArmTimer(std::chrono::milliseconds(2000));
}

void Session::HandleHello() {
  v1::Hello hello;
  if (!hello.ParseFromString(body_)) {
    Fail({v1::ERROR_CODE_PROTOCOL, "bad_protobuf", "HELLO: invalid protobuf", false});
    return;
  }
  epoch_ = hello.stream_epoch();
  auto last = server_->store()->LastCommittedSeq(agent_.key, epoch_);
  if (!last.ok()) {
    logging::Error("ingest: read stream cursor",
                   {{"agent", agent_.agent_id}, {"error", last.status().ToString()}});
    Fail({v1::ERROR_CODE_INTERNAL, "store_error", "collector storage unavailable", true});
    return;
  }
  next_seq_ = *last + 1;
  if (hello.oldest_unacked_seq() > next_seq_) {
    // The agent no longer has records the collector never received (its spool lost them).
    server_->CountRejected("seq_gap");
    logging::Warn("ingest: agent resumes past a gap",
                  {{"agent", agent_.agent_id},
                   {"epoch", epoch_},
                   {"last_committed", *last},
                   {"oldest_unacked", hello.oldest_unacked_seq()}});
    next_seq_ = hello.oldest_unacked_seq();
  }
  state_ = State::kStreaming;
  registered_ = true;
  server_->RegisterStreaming(agent_.key, shared_from_this());
  // The write lock may be held by a group commit: never wait for it on an I/O thread.
  server_->committer().RunOnWriter(
      [store = server_->store(), key = agent_.key, now = server_->clock()->NowUnixNs()] {
        (void)store->TouchAgent(key, now);
      });
  v1::HelloAck ack;
  ack.set_last_committed_seq(*last);
  ack.set_window_batches(server_->options().window_batches);
  ack.set_server_time_ns(server_->clock()->NowUnixNs());
  ack.set_max_frame_bytes(server_->options().max_frame_bytes);
  ack.set_max_batch_events(server_->options().max_batch_events);
  ack.set_max_batch_uncompressed_bytes(server_->options().max_batch_uncompressed_bytes);
  ack.set_agent_id(agent_.agent_id);
  logging::Info("ingest: agent connected", {{"peer", peer_},
                                            {"agent", agent_.agent_id},
                                            {"hostname", agent_.hostname},
                                            {"epoch", epoch_},
                                            {"resume_from", next_seq_}});
  Send(v1::FRAME_TYPE_HELLO_ACK, ack);
  ReadHeader();
}

void Session::HandleBatch() {
  if (in_flight_ >= server_->options().window_batches) {
    Fail({v1::ERROR_CODE_PROTOCOL, "window_exceeded",
          "more than " + std::to_string(server_->options().window_batches) + " batches unacked",
          false});
    return;
  }
  auto batch = std::make_unique<store::BatchWrite>();
  BatchLimits limits{.max_events = server_->options().max_batch_events,
                     .max_uncompressed_bytes = server_->options().max_batch_uncompressed_bytes,
                     .max_event_bytes = server_->options().max_event_bytes};
  wire::ZstdDecompressor* dz = ThreadDecompressor();
  uint32_t refused = 0;
  Status s = dz ? DecodeBatch(body_, limits, dz, batch.get(), &refused)
                : ResourceExhaustedError("zstd: no decompression context");
  if (!s.ok()) {
    bool too_big = s.code() == StatusCode::kResourceExhausted;
    Fail({too_big ? v1::ERROR_CODE_BATCH_TOO_LARGE : v1::ERROR_CODE_PROTOCOL,
          too_big ? "batch_too_large" : "bad_batch", s.message(), too_big});
    return;
  }
  if (batch->first_seq != next_seq_) {
    Fail({v1::ERROR_CODE_PROTOCOL, "out_of_order",
          "batch starts at seq " + std::to_string(batch->first_seq) + ", expected " +
              std::to_string(next_seq_),
          false});
    return;
  }
  if (!server_->ChargeQuota(agent_.agent_id, batch->bytes())) {
    Fail({v1::ERROR_CODE_OVERLOADED, "agent_quota",
          "this agent is over its ingest quota; retry later", true});
    return;
  }
  if (refused > 0) {
    server_->CountRefusedEvents(refused);
    logging::Warn("ingest: events over the size cap stored as refusals",
                  {{"agent", agent_.agent_id}, {"events", refused}});
  }
  batch->agent_key = agent_.key;
  batch->epoch = epoch_;
  uint64_t last_seq = batch->last_seq();
  size_t events = batch->rows.size();
  next_seq_ = last_seq + 1;
  ++in_flight_;
  body_.clear();
  body_.shrink_to_fit();
  auto self = shared_from_this();
  server_->committer().Submit(std::move(batch), [self, last_seq, events](const Status& st) {
    asio::post(self->stream_.get_executor(),
               [self, st, last_seq, events] { self->OnCommitted(st, last_seq, events); });
  });
  bool room = server_->committer().HasRoomOrNotify([self] {
    asio::post(self->stream_.get_executor(), [self] {
      if (self->state_ != State::kClosed && !self->close_after_write_) self->ReadHeader();
    });
  });
  if (room) ReadHeader();
}

void Session::OnCommitted(const Status& status, uint64_t last_seq, size_t events) {
  --in_flight_;
  if (status.ok()) server_->CountCommitted(events);
  if (state_ == State::kClosed) return;
  if (!status.ok()) {
    Fail({v1::ERROR_CODE_INTERNAL, "store_error", "collector could not store the batch; retry",
          true});
    return;
  }
  v1::Ack ack;
  ack.set_committed_seq(last_seq);
  Send(v1::FRAME_TYPE_ACK, ack);
}

void Session::HandleRenew() {
  v1::Renew req;
  if (!req.ParseFromString(body_)) {
    Fail({v1::ERROR_CODE_PROTOCOL, "bad_protobuf", "RENEW: invalid protobuf", false});
    return;
  }
  if (renewed_ || !server_->renew_limiter().Allow(agent_.agent_id)) {
    logging::Warn("ingest: certificate renewal refused",
                  {{"agent", agent_.agent_id}, {"reason", "too many renewals"}});
    Fail({v1::ERROR_CODE_ENROLLMENT_REFUSED, "renew_rate_limited",
          "too many certificate renewals; retry later", true});
    return;
  }
  renewed_ = true;
  // Signing and recording the certificate write to the store: on the committer thread.
  server_->committer().RunOnWriter([self = shared_from_this(), req = std::move(req)] {
    auto ack = self->server_->enroller().Renew(self->agent_.agent_id, self->cert_serial_, req);
    asio::post(self->stream_.get_executor(), [self, ack = std::move(ack)] {
      if (self->state_ == State::kClosed) return;
      if (!ack.ok()) {
        logging::Warn("ingest: certificate renewal refused",
                      {{"agent", self->agent_.agent_id}, {"reason", ack.status().message()}});
        bool early = ack.status().code() == StatusCode::kFailedPrecondition;
        self->Fail({v1::ERROR_CODE_ENROLLMENT_REFUSED, early ? "renew_too_early" : "renew_refused",
                    ack.status().message(), early});
        return;
      }
      logging::Info("ingest: agent certificate renewed", {{"agent", self->agent_.agent_id}});
      self->Send(v1::FRAME_TYPE_RENEW_ACK, *ack);
    });
  });
  ReadHeader();
}

void Session::Send(v1::FrameType type, const google::protobuf::Message& msg) {
  std::string frame;
  std::string body = msg.SerializeAsString();
  wire::AppendFrame(static_cast<uint8_t>(type), body, &frame);
  write_queue_.push_back(std::move(frame));
  if (!writing_) DoWrite();
}

void Session::DoWrite() {
  if (write_queue_.empty()) {
    writing_ = false;
    if (close_after_write_) Linger();
    return;
  }
  writing_ = true;
  asio::async_write(stream_, asio::buffer(write_queue_.front()),
                    [self = shared_from_this()](const error_code& ec, size_t) {
                      if (self->state_ == State::kClosed) return;
                      if (ec) {
                        self->CloseNow();
                        return;
                      }
                      self->write_queue_.pop_front();
                      self->DoWrite();
                    });
}

void Session::Fail(CloseReason reason) {
  if (state_ == State::kClosed || close_after_write_) return;
  if (reason.label != "shutdown" && reason.label != "superseded") {
    server_->CountRejected(reason.label);
  }
  logging::Log(reason.label == "superseded" || reason.label == "shutdown" ? logging::Level::kInfo
                                                                          : logging::Level::kWarn,
               "ingest: session closed",
               {{"peer", peer_},
                {"agent", agent_.agent_id},
                {"reason", reason.label},
                {"detail", reason.message}});
  if (reason.code != v1::ERROR_CODE_UNSPECIFIED && state_ != State::kHandshake) {
    v1::Error err;
    err.set_code(reason.code);
    err.set_message(reason.message);
    err.set_retryable(reason.retryable);
    err.set_reenroll(reason.code == v1::ERROR_CODE_REVOKED ||
                     reason.code == v1::ERROR_CODE_UNAUTHENTICATED);
    Send(v1::FRAME_TYPE_ERROR, err);
    close_after_write_ = true;
    // Do not wait forever for a peer that does not read.
    ArmTimer(std::chrono::milliseconds(2000));
    return;
  }
  CloseNow();
}

void Session::Linger() {
  // Closing a socket with unread input makes the kernel send a reset, which can destroy the
  // last frame before the peer reads it. Stop sending, drain what the peer still sends until it
  // closes (or the 2 s timer armed by Fail fires), then close.
  error_code ec;
  stream_.lowest_layer().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    CloseNow();
    return;
  }
  Drain();
}

void Session::Drain() {
  stream_.next_layer().async_read_some(asio::buffer(header_, sizeof header_),
                                       [self = shared_from_this()](const error_code& e, size_t) {
                                         if (self->state_ == State::kClosed) return;
                                         if (e) {
                                           self->CloseNow();
                                           return;
                                         }
                                         self->Drain();
                                       });
}

void Session::CloseFromOutside(const CloseReason& reason) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), reason] { self->Fail(reason); });
}

void Session::CloseNow() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  preauth_slot_.Release();
  if (registered_) server_->UnregisterStreaming(agent_.key, this);
  error_code ec;
  timer_.cancel();
  stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
  stream_.lowest_layer().close(ec);
  server_->ConnectionClosed();
}

}  // namespace

Result<std::unique_ptr<IngestServer>> IngestServer::Start(const IngestOptions& options,
                                                          const Pki& pki, store::Store* store,
                                                          metrics::Registry* registry,
                                                          Clock* clock) {
  crypto::TlsServerOptions tls;
  tls.ca_pem = pki.ca_cert_pem;
  tls.cert_pem = pki.server_cert_pem;
  tls.key_pem = pki.server_key_pem;
  tls.allow_clients_without_certificate = true;
  CUSTOS_ASSIGN_OR_RETURN(crypto::TlsContext ctx, crypto::TlsContext::ForServer(tls));
  auto server = std::make_unique<Server>(options, pki, store, registry, clock);
  CUSTOS_RETURN_IF_ERROR(server->Init(std::make_unique<crypto::TlsContext>(std::move(ctx))));
  return std::unique_ptr<IngestServer>(std::move(server));
}

}  // namespace custos::collector::ingest
