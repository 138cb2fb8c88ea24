#include "agent/uplink/uplink.h"

#include <openssl/ssl.h>
#include <pthread.h>

#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "common/crypto/crypto.h"
#include "common/log/log.h"
#include "common/net/asio.h"
#include "common/wire/wire.h"

namespace custos::agent::uplink {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
namespace v1 = custos::v1;
using Clock = std::chrono::steady_clock;

std::string ServerName(const Endpoint& e) { return e.server_name.empty() ? e.host : e.server_name; }

Result<ssl::context> MakeSslContext(const std::string& ca, const std::string& cert,
                                    const std::string& key, const Endpoint& endpoint) {
  crypto::TlsClientOptions o;
  o.ca_pem = ca;
  o.cert_pem = cert;
  o.key_pem = key;
  o.server_name = ServerName(endpoint);
  CUSTOS_ASSIGN_OR_RETURN(crypto::TlsContext ctx, crypto::TlsContext::ForClient(o));
  ::SSL_CTX_up_ref(ctx.native());
  return ssl::context(ctx.native());
}

std::string Frame(v1::FrameType type, const google::protobuf::Message& m) {
  std::string out;
  wire::AppendFrame(static_cast<uint8_t>(type), m.SerializeAsString(), &out);
  return out;
}

}  // namespace

// ---- Enrollment ---------------------------------------------------------------------------

Result<Credentials> EnrollAgent(const EnrollRequest& req) {
  CUSTOS_ASSIGN_OR_RETURN(crypto::KeyPair key, crypto::GenerateEcKey());
  CUSTOS_ASSIGN_OR_RETURN(std::string csr,
                          crypto::CreateCsr(key.private_key_pem, req.host.hostname()));
  CUSTOS_ASSIGN_OR_RETURN(ssl::context ctx, MakeSslContext(req.ca_pem, "", "", req.endpoint));
  asio::io_context io;
  ssl::stream<tcp::socket> stream(io, ctx);
  Status result = DeadlineExceededError("enroll: no answer from " + req.endpoint.host + ":" +
                                        std::to_string(req.endpoint.port) + " within the timeout");
  Credentials creds;
  uint8_t header[wire::kFrameHeaderBytes];
  std::string body;
  std::string request;
  {
    v1::Enroll e;
    e.set_token(req.token);
    e.set_csr_pem(csr);
    *e.mutable_host() = req.host;
    request = Frame(v1::FRAME_TYPE_ENROLL, e);
  }
  tcp::resolver resolver(io);
  auto fail = [&](Status s) {
    result = std::move(s);
    error_code ec;
    stream.lowest_layer().close(ec);
  };
  resolver.async_resolve(
      req.endpoint.host, std::to_string(req.endpoint.port),
      [&](const error_code& ec, const tcp::resolver::results_type& eps) {
        if (ec)
          return fail(
              UnavailableError("enroll: resolve " + req.endpoint.host + ": " + ec.message()));
        asio::async_connect(
            stream.lowest_layer(), eps, [&](const error_code& ec2, const tcp::endpoint&) {
              if (ec2)
                return fail(UnavailableError("enroll: connect " + req.endpoint.host + ":" +
                                             std::to_string(req.endpoint.port) + ": " +
                                             ec2.message()));
              if (Status s =
                      crypto::ConfigureClientSsl(stream.native_handle(), ServerName(req.endpoint));
                  !s.ok()) {
                return fail(s);
              }
              stream.async_handshake(ssl::stream_base::client, [&](const error_code& ec3) {
                if (ec3)
                  return fail(UnavailableError("enroll: TLS handshake with " + req.endpoint.host +
                                               ": " + ec3.message() + " (is the CA right?)"));
                asio::async_write(
                    stream, asio::buffer(request), [&](const error_code& ec4, size_t) {
                      if (ec4) return fail(UnavailableError("enroll: send: " + ec4.message()));
                      asio::async_read(
                          stream, asio::buffer(header), [&](const error_code& ec5, size_t) {
                            if (ec5)
                              return fail(UnavailableError(
                                  "enroll: collector closed the connection: " + ec5.message()));
                            auto h = wire::ParseFrameHeader(header, 1 << 20);
                            if (!h.ok()) return fail(h.status().WithContext("enroll"));
                            body.resize(h->body_bytes);
                            uint8_t type = h->type;
                            asio::async_read(
                                stream, asio::buffer(body),
                                [&, type](const error_code& ec6, size_t) {
                                  if (ec6)
                                    return fail(
                                        UnavailableError("enroll: read answer: " + ec6.message()));
                                  if (type == v1::FRAME_TYPE_ERROR) {
                                    v1::Error err;
                                    err.ParseFromString(body);
                                    return fail(PermissionDeniedError(
                                        "enroll: collector refused: " + err.message()));
                                  }
                                  v1::EnrollAck ack;
                                  if (type != v1::FRAME_TYPE_ENROLL_ACK ||
                                      !ack.ParseFromString(body)) {
                                    return fail(InvalidArgumentError(
                                        "enroll: unexpected answer from the collector"));
                                  }
                                  creds.agent_id = ack.agent_id();
                                  creds.ca_pem = req.ca_pem;
                                  creds.cert_pem = ack.certificate_pem();
                                  creds.key_pem = key.private_key_pem;
                                  result = OkStatus();
                                  error_code ignored;
                                  stream.lowest_layer().close(ignored);
                                });
                          });
                    });
              });
            });
      });
  io.run_for(req.timeout);
  if (!result.ok()) return result;
  // The certificate must chain to the pinned CA and name us as the agent it says.
  auto info = crypto::ParseCertificate(creds.cert_pem);
  if (!info.ok()) return info.status().WithContext("enroll: certificate from collector");
  if (info->agent_id != creds.agent_id) {
    return InvalidArgumentError("enroll: certificate names agent '" + info->agent_id + "', not '" +
                                creds.agent_id + "'");
  }
  CUSTOS_RETURN_IF_ERROR(
      crypto::VerifyCertificate(creds.cert_pem, req.ca_pem, std::chrono::system_clock::now()));
  return creds;
}

// ---- Runtime ------------------------------------------------------------------------------

class AsioRuntime final : public UplinkRuntime {
 public:
  explicit AsioRuntime(int threads) : work_(asio::make_work_guard(io_)) {
    for (int i = 0; i < std::max(1, threads); ++i)
      threads_.emplace_back([this] {
        pthread_setname_np(pthread_self(), "uplink");
        io_.run();
      });
  }
  ~AsioRuntime() override { Shutdown(); }
  void Shutdown() override {
    std::lock_guard<std::mutex> l(mu_);
    if (threads_.empty()) return;
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

std::unique_ptr<UplinkRuntime> UplinkRuntime::Create(int threads) {
  return std::make_unique<AsioRuntime>(threads);
}

// ---- Client -------------------------------------------------------------------------------

class ClientCore : public std::enable_shared_from_this<ClientCore> {
 public:
  ClientCore(asio::io_context& io, UplinkOptions options, StreamSource* source)
      : strand_(asio::make_strand(io)),
        options_(std::move(options)),
        source_(source),
        timer_(strand_),
        poll_timer_(strand_),
        ping_timer_(strand_),
        rng_(std::random_device{}()) {
    max_events_ = options_.max_batch_events;
  }

  void Start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->Connect(); });
  }

  void Notify() {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->state_ == State::kStreaming) self->Pump();
    });
  }

  void Stop() {
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(strand_, [self = shared_from_this(), &done] {
      self->stopped_ = true;
      self->Teardown();
      self->SetStat([](UplinkStats& s) { s.connected = false; });
      self->timer_.cancel();
      self->poll_timer_.cancel();
      self->ping_timer_.cancel();
      done.set_value();
    });
    if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      logging::Warn("uplink: stop did not complete in time");
    }
  }

  UplinkStats Stats() const {
    std::lock_guard<std::mutex> l(stats_mu_);
    return stats_;
  }

 private:
  enum class State { kIdle, kConnecting, kAwaitHelloAck, kStreaming };

  void SetStat(const std::function<void(UplinkStats&)>& f) {
    std::lock_guard<std::mutex> l(stats_mu_);
    f(stats_);
  }

  void Connect() {
    if (stopped_) return;
    auto ctx = MakeSslContext(options_.credentials.ca_pem, options_.credentials.cert_pem,
                              options_.credentials.key_pem, options_.endpoint);
    if (!ctx.ok()) {
      Fatal(ctx.status().message());
      return;
    }
    ssl_ctx_ = std::make_unique<ssl::context>(std::move(*ctx));
    stream_ = std::make_unique<ssl::stream<tcp::socket>>(strand_, *ssl_ctx_);
    state_ = State::kConnecting;
    ++generation_;
    uint64_t gen = generation_;
    timer_.expires_after(options_.connect_timeout);
    timer_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
      if (ec || gen != self->generation_ || self->state_ != State::kConnecting) return;
      self->Disconnect("connect timed out");
    });
    resolver_ = std::make_unique<tcp::resolver>(strand_);
    resolver_->async_resolve(options_.endpoint.host, std::to_string(options_.endpoint.port),
                             [self = shared_from_this(), gen](
                                 const error_code& ec, const tcp::resolver::results_type& eps) {
                               if (gen != self->generation_ || self->stopped_) return;
                               if (ec) return self->Disconnect("resolve: " + ec.message());
                               asio::async_connect(
                                   self->stream_->lowest_layer(), eps,
                                   [self, gen](const error_code& ec2, const tcp::endpoint&) {
                                     if (gen != self->generation_ || self->stopped_) return;
                                     if (ec2) return self->Disconnect("connect: " + ec2.message());
                                     self->Handshake(gen);
                                   });
                             });
  }

  void Handshake(uint64_t gen) {
    error_code ec;
    stream_->lowest_layer().set_option(tcp::no_delay(true), ec);
    if (Status s =
            crypto::ConfigureClientSsl(stream_->native_handle(), ServerName(options_.endpoint));
        !s.ok()) {
      return Fatal(s.message());
    }
    stream_->async_handshake(
        ssl::stream_base::client, [self = shared_from_this(), gen](const error_code& e) {
          if (gen != self->generation_ || self->stopped_) return;
          if (e) return self->Disconnect("TLS handshake: " + e.message());
          self->timer_.cancel();
          self->state_ = State::kAwaitHelloAck;
          v1::Hello hello;
          hello.set_agent_version(self->options_.agent_version);
          hello.set_stream_epoch(self->source_->Epoch());
          hello.set_oldest_unacked_seq(
              std::max(self->source_->OldestUnackedSeq(), self->resume_floor_));
          hello.set_hostname(self->options_.hostname);
          self->Send(Frame(v1::FRAME_TYPE_HELLO, hello));
          self->ReadHeader(gen);
        });
  }

  void ReadHeader(uint64_t gen) {
    asio::async_read(
        *stream_, asio::buffer(header_),
        [self = shared_from_this(), gen](const error_code& ec, size_t) {
          if (gen != self->generation_ || self->stopped_) return;
          if (ec) return self->Disconnect("read: " + ec.message());
          auto h = wire::ParseFrameHeader(self->header_, 16u << 20);
          if (!h.ok()) return self->Disconnect("bad frame from collector: " + h.status().message());
          self->body_.resize(h->body_bytes);
          uint8_t type = h->type;
          asio::async_read(*self->stream_, asio::buffer(self->body_),
                           [self, gen, type](const error_code& ec2, size_t) {
                             if (gen != self->generation_ || self->stopped_) return;
                             if (ec2) return self->Disconnect("read: " + ec2.message());
                             // Handling a frame may end the session (Pump can disconnect
                             // when the source has lost records): then read no further.
                             if (self->HandleFrame(type) && gen == self->generation_) {
                               self->ReadHeader(gen);
                             }
                           });
        });
  }

  // Returns false when the session ended.
  bool HandleFrame(uint8_t type) {
    switch (static_cast<v1::FrameType>(type)) {
      case v1::FRAME_TYPE_HELLO_ACK: {
        v1::HelloAck ack;
        if (state_ != State::kAwaitHelloAck || !ack.ParseFromString(body_)) {
          Disconnect("unexpected HELLO_ACK");
          return false;
        }
        state_ = State::kStreaming;
        attempt_ = 0;
        window_ = std::max<uint32_t>(1, ack.window_batches());
        if (ack.max_batch_events() > 0) max_events_ = std::min(max_events_, ack.max_batch_events());
        max_bytes_ = ack.max_batch_uncompressed_bytes() > 0 ? ack.max_batch_uncompressed_bytes() / 2
                                                            : (8u << 20);
        if (ack.max_frame_bytes() > 0)
          max_bytes_ = std::min<uint64_t>(max_bytes_, ack.max_frame_bytes());
        uint64_t oldest = std::max(source_->OldestUnackedSeq(), resume_floor_);
        next_seq_ = ack.last_committed_seq() + 1;
        if (oldest > next_seq_) next_seq_ = oldest;
        if (ack.last_committed_seq() > 0) source_->OnAcked(ack.last_committed_seq());
        in_flight_.clear();
        SetStat([&](UplinkStats& s) {
          s.connected = true;
          ++s.connects;
          s.acked_seq = std::max(s.acked_seq, ack.last_committed_seq());
        });
        MaybeRenew();
        SchedulePing();
        Pump();
        return true;
      }
      case v1::FRAME_TYPE_ACK: {
        v1::Ack ack;
        if (state_ != State::kStreaming || !ack.ParseFromString(body_)) {
          Disconnect("unexpected ACK");
          return false;
        }
        if (ack.committed_seq() >= next_seq_) {
          // Passing it on would let the source free records this session never sent.
          Disconnect("ACK for seq " + std::to_string(ack.committed_seq()) +
                     " beyond the last seq sent (" + std::to_string(next_seq_ - 1) + ")");
          return false;
        }
        auto now = Clock::now();
        while (!in_flight_.empty() && in_flight_.front().last_seq <= ack.committed_seq()) {
          if (options_.ack_latency) {
            options_.ack_latency->Observe(
                std::chrono::duration<double>(now - in_flight_.front().sent).count());
          }
          in_flight_.pop_front();
        }
        source_->OnAcked(ack.committed_seq());
        SetStat([&](UplinkStats& s) { s.acked_seq = std::max(s.acked_seq, ack.committed_seq()); });
        Pump();
        return true;
      }
      case v1::FRAME_TYPE_PONG:
        return true;
      case v1::FRAME_TYPE_RENEW_ACK: {
        v1::RenewAck ack;
        if (!ack.ParseFromString(body_) || pending_key_.empty()) {
          Disconnect("unexpected RENEW_ACK");
          return false;
        }
        // Credentials that could not open the next session must never replace working ones
        // (on_renewed persists them).
        if (Status s = CheckRenewedCertificate(ack.certificate_pem(), pending_key_); !s.ok()) {
          Disconnect("renewed certificate refused: " + s.message());
          return false;
        }
        options_.credentials.cert_pem = ack.certificate_pem();
        options_.credentials.key_pem = pending_key_;
        pending_key_.clear();
        logging::Info("uplink: certificate renewed", {{"agent", options_.credentials.agent_id}});
        if (options_.on_renewed) options_.on_renewed(options_.credentials);
        return true;
      }
      case v1::FRAME_TYPE_ERROR: {
        v1::Error err;
        err.ParseFromString(body_);
        if (err.code() == v1::ERROR_CODE_BATCH_TOO_LARGE) {
          max_events_ = std::max<uint32_t>(1, max_events_ / 2);
          max_bytes_ = std::max<uint64_t>(4096, max_bytes_ / 2);
        }
        if (err.code() == v1::ERROR_CODE_REVOKED || err.code() == v1::ERROR_CODE_UNAUTHENTICATED) {
          Fatal("collector refused this agent: " + err.message());
          return false;
        }
        Disconnect("collector error: " + err.message());
        return false;
      }
      default:
        Disconnect("unexpected frame type " + std::to_string(type));
        return false;
    }
  }

  void Pump() {
    if (state_ != State::kStreaming || stopped_) return;
    while (in_flight_.size() < window_) {
      auto batch = source_->NextBatch(next_seq_, max_events_, max_bytes_);
      if (!batch) {
        // Ask again later unless a poll is already pending (re-arming after every ack would
        // cost a timer syscall each; Notify() asks at once when records become durable).
        if (!poll_armed_) {
          poll_armed_ = true;
          poll_timer_.expires_after(options_.poll_interval);
          poll_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
            self->poll_armed_ = false;
            if (!ec) self->Pump();  // Pump checks that a session is streaming
          });
        }
        return;
      }
      if (batch->count > 0 && batch->first_seq > next_seq_) {
        // The source lost records (e.g. spool corruption). A session's batches must be
        // consecutive, so once what was sent is acknowledged (every ACK pumps again), start a
        // new session that announces the first seq still held; the collector records the gap.
        if (!in_flight_.empty()) return;
        resume_floor_ = batch->first_seq;
        Disconnect("records " + std::to_string(next_seq_) + ".." +
                   std::to_string(batch->first_seq - 1) + " are lost locally; resuming after them");
        return;
      }
      if (batch->count == 0 || batch->first_seq != next_seq_) {
        Disconnect("stream source returned a batch at seq " + std::to_string(batch->first_seq) +
                   ", expected " + std::to_string(next_seq_));
        return;
      }
      uint64_t last = batch->first_seq + batch->count - 1;
      in_flight_.push_back({last, Clock::now()});
      next_seq_ = last + 1;
      std::string frame;
      wire::AppendFrame(v1::FRAME_TYPE_BATCH, batch->body, &frame);
      SetStat([&](UplinkStats& s) {
        ++s.batches_sent;
        s.bytes_sent += frame.size();
      });
      Send(std::move(frame));
    }
  }

  // The certificate names this agent, chains to the pinned CA, is valid now and is for `key_pem`.
  Status CheckRenewedCertificate(const std::string& cert_pem, const std::string& key_pem) const {
    CUSTOS_ASSIGN_OR_RETURN(crypto::CertificateInfo info, crypto::ParseCertificate(cert_pem));
    if (info.agent_id != options_.credentials.agent_id) {
      return InvalidArgumentError("it names agent '" + info.agent_id + "'");
    }
    CUSTOS_RETURN_IF_ERROR(crypto::VerifyCertificate(cert_pem, options_.credentials.ca_pem,
                                                     std::chrono::system_clock::now()));
    crypto::TlsClientOptions o;  // loading checks that the key matches the certificate
    o.ca_pem = options_.credentials.ca_pem;
    o.cert_pem = cert_pem;
    o.key_pem = key_pem;
    return crypto::TlsContext::ForClient(o).status();
  }

  void MaybeRenew() {
    auto info = crypto::ParseCertificate(options_.credentials.cert_pem);
    if (!info.ok() || !pending_key_.empty()) return;
    auto total = info->not_after - info->not_before;
    auto left = info->not_after - std::chrono::system_clock::now();
    if (left > total * options_.renew_when_remaining_fraction) return;
    auto key = crypto::GenerateEcKey();
    if (!key.ok()) return;
    auto csr = crypto::CreateCsr(key->private_key_pem, options_.credentials.agent_id);
    if (!csr.ok()) return;
    pending_key_ = key->private_key_pem;
    v1::Renew r;
    r.set_csr_pem(*csr);
    logging::Info("uplink: renewing certificate", {{"agent", options_.credentials.agent_id}});
    Send(Frame(v1::FRAME_TYPE_RENEW, r));
  }

  void SchedulePing() {
    ping_timer_.expires_after(options_.ping_interval);
    ping_timer_.async_wait([self = shared_from_this(), gen = generation_](const error_code& ec) {
      if (ec || gen != self->generation_ || self->state_ != State::kStreaming) return;
      v1::Ping p;
      p.set_time_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count());
      self->Send(Frame(v1::FRAME_TYPE_PING, p));
      self->SchedulePing();
    });
  }

  void Send(std::string frame) {
    write_queue_.push_back(std::move(frame));
    if (!writing_) DoWrite();
  }

  void DoWrite() {
    if (write_queue_.empty() || !stream_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    asio::async_write(*stream_, asio::buffer(write_queue_.front()),
                      [self = shared_from_this(), gen = generation_](const error_code& ec, size_t) {
                        if (gen != self->generation_) return;
                        if (ec) {
                          self->writing_ = false;
                          return self->Disconnect("write: " + ec.message());
                        }
                        self->write_queue_.pop_front();
                        self->DoWrite();
                      });
  }

  void Teardown() {
    ++generation_;  // every pending handler of the old connection becomes a no-op
    state_ = State::kIdle;
    write_queue_.clear();
    writing_ = false;
    in_flight_.clear();
    pending_key_.clear();
    if (stream_) {
      error_code ec;
      stream_->lowest_layer().close(ec);
    }
    // Sockets are destroyed on the next connect, after their handlers have run.
    if (stream_) old_streams_.push_back(std::move(stream_));
    if (old_streams_.size() > 4) old_streams_.pop_front();
  }

  void Disconnect(const std::string& why) {
    if (stopped_) return;
    bool was_connected = state_ == State::kStreaming;
    Teardown();
    SetStat([&](UplinkStats& s) {
      s.connected = false;
      s.last_error = why;
      if (was_connected) ++s.disconnects;
    });
    logging::Log(
        attempt_ < 3 ? logging::Level::kInfo : logging::Level::kWarn, "uplink: disconnected",
        {{"agent", options_.credentials.agent_id}, {"reason", why}, {"attempt", attempt_}});
    // Full jitter: a random delay up to the exponentially growing cap.
    auto cap =
        std::min<int64_t>(options_.backoff_max.count(), options_.backoff_initial.count()
                                                            << std::min<uint32_t>(attempt_, 20));
    ++attempt_;
    std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(1, cap));
    timer_.expires_after(std::chrono::milliseconds(dist(rng_)));
    timer_.async_wait([self = shared_from_this(), gen = generation_](const error_code& ec) {
      if (!ec && gen == self->generation_) self->Connect();
    });
  }

  void Fatal(const std::string& why) {
    Teardown();
    stopped_ = true;
    SetStat([&](UplinkStats& s) {
      s.connected = false;
      s.last_error = why;
      s.fatal = true;
    });
    logging::Error("uplink: stopped", {{"agent", options_.credentials.agent_id}, {"reason", why}});
  }

  struct InFlight {
    uint64_t last_seq;
    Clock::time_point sent;
  };

  asio::strand<asio::io_context::executor_type> strand_;
  UplinkOptions options_;
  StreamSource* source_;
  asio::steady_timer timer_;       // connect timeout, reconnect backoff
  asio::steady_timer poll_timer_;  // asks the source again while streaming
  bool poll_armed_ = false;
  asio::steady_timer ping_timer_;
  std::unique_ptr<ssl::context> ssl_ctx_;
  std::unique_ptr<ssl::stream<tcp::socket>> stream_;
  std::deque<std::unique_ptr<ssl::stream<tcp::socket>>> old_streams_;
  std::unique_ptr<tcp::resolver> resolver_;
  State state_ = State::kIdle;
  uint64_t generation_ = 0;
  bool stopped_ = false;
  uint8_t header_[wire::kFrameHeaderBytes];
  std::string body_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  std::deque<InFlight> in_flight_;
  uint32_t window_ = 1;
  uint32_t max_events_;
  uint64_t max_bytes_ = 8u << 20;
  uint64_t next_seq_ = 1;
  uint32_t attempt_ = 0;
  uint64_t resume_floor_ = 0;  // first seq still held after the source reported a hole
  std::string pending_key_;
  std::mt19937_64 rng_;
  mutable std::mutex stats_mu_;
  UplinkStats stats_;
};

class AsioUplinkClient final : public UplinkClient {
 public:
  explicit AsioUplinkClient(std::shared_ptr<ClientCore> core) : core_(std::move(core)) {}
  ~AsioUplinkClient() override { Stop(); }
  void Notify() override { core_->Notify(); }
  void Stop() override {
    if (!stopped_.exchange(true)) core_->Stop();
  }
  UplinkStats Stats() const override { return core_->Stats(); }

 private:
  std::shared_ptr<ClientCore> core_;
  std::atomic<bool> stopped_{false};
};

std::unique_ptr<UplinkClient> UplinkClient::Start(UplinkRuntime* runtime, UplinkOptions options,
                                                  StreamSource* source) {
  auto* rt = static_cast<AsioRuntime*>(runtime);
  auto core = std::make_shared<ClientCore>(rt->io(), std::move(options), source);
  core->Start();
  return std::make_unique<AsioUplinkClient>(std::move(core));
}

}  // namespace custos::agent::uplink
