// Tests of the agent's uplink on its own: a real UplinkClient (and EnrollAgent) over real TLS 1.3
// with mutual authentication on 127.0.0.1, against a collector played by the test thread with
// testing::RawServer (common/testing/tls_server.h). Nothing from collector/ is linked: the peer
// speaks custos/1 frame by frame, so every exchange of docs/wire-protocol.md — and every way a
// collector can get it wrong — is scripted here, and each test reads what the uplink sent.
//
// The records come from a real Spool in a temp dir through SpoolStreamSource (the agent's own
// path), wrapped in a source that reports its calls; certificates come from common/crypto.
// The uplink has no Clock seam: its backoff and timers are real but set to milliseconds, and
// every wait is a read or a condition wait with a deadline, never a sleep.
#include "agent/uplink/uplink.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/spool/spool.h"
#include "agent/uplink/spool_stream_source.h"
#include "common/crypto/crypto.h"
#include "common/fs/file_system.h"
#include "common/metrics/metrics.h"
#include "common/testing/testing.h"
#include "common/testing/tls_server.h"
#include "common/time/clock.h"
#include "common/wire/wire.h"
#include "custos/v1/event.pb.h"
#include "custos/v1/session.pb.h"

namespace custos::agent::uplink {
namespace {

namespace v1 = custos::v1;
using std::chrono::hours;
using std::chrono::milliseconds;
using SystemClock = std::chrono::system_clock;
using testing::RawServer;
using testing::RawServerSession;

#define UPLINK_TEST_CONCAT_INNER(a, b) a##b
#define UPLINK_TEST_CONCAT(a, b) UPLINK_TEST_CONCAT_INNER(a, b)
#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    const ::custos::Status& uplink_test_status = (expr);                   \
    ASSERT_TRUE(uplink_test_status.ok()) << uplink_test_status.ToString(); \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(UPLINK_TEST_CONCAT(uplink_test_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)   \
  auto tmp = (expr);                                \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

constexpr char kServerName[] = "localhost";
constexpr char kAgentId[] = "0123456789abcdef0123456789abcdef";
constexpr milliseconds kWait{5000};
// How long the peer listens to be sure the uplink sends nothing more (a window that is full,
// a client that stopped). Long enough for a wrong uplink to have sent it many times over.
constexpr milliseconds kQuiet{300};

std::string EventPath(uint64_t seq) { return "/home/alice/doc-" + std::to_string(seq) + ".txt"; }

// ---- The agent's side: spool, source, client ------------------------------------------------

// Wraps the real source and reports what the uplink asked of it, so tests can wait for an ACK to
// reach the spool (condition wait with a deadline) and check what was never asked.
class ObservedSource final : public StreamSource {
 public:
  explicit ObservedSource(StreamSource* inner) : inner_(inner) {}
  uint64_t Epoch() override { return inner_->Epoch(); }
  uint64_t OldestUnackedSeq() override { return inner_->OldestUnackedSeq(); }
  std::optional<OutgoingBatch> NextBatch(uint64_t from_seq, uint32_t max_events,
                                         uint64_t max_uncompressed_bytes) override {
    std::lock_guard<std::mutex> l(mu_);
    ++calls_;
    last_max_events_ = max_events;
    return inner_->NextBatch(from_seq, max_events, max_uncompressed_bytes);
  }
  void OnAcked(uint64_t committed_seq) override {
    inner_->OnAcked(committed_seq);
    std::lock_guard<std::mutex> l(mu_);
    ++calls_;
    acks_.push_back(committed_seq);
    cv_.notify_all();
  }

  // True when OnAcked(seq) (or a later seq) came within the timeout.
  bool WaitForAck(uint64_t seq, milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] {
      return std::any_of(acks_.begin(), acks_.end(), [&](uint64_t a) { return a >= seq; });
    });
  }
  std::vector<uint64_t> acks() const {
    std::lock_guard<std::mutex> l(mu_);
    return acks_;
  }
  uint64_t calls() const {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  uint32_t last_max_events() const {
    std::lock_guard<std::mutex> l(mu_);
    return last_max_events_;
  }

 private:
  StreamSource* inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> acks_;
  uint64_t calls_ = 0;
  uint32_t last_max_events_ = 0;
};

// Serves the given [first, last] ranges of seqs of one epoch, as a spool would after losing the
// records between them.
class ScriptedSource final : public StreamSource {
 public:
  ScriptedSource(uint64_t epoch, std::vector<std::pair<uint64_t, uint64_t>> held)
      : epoch_(epoch), held_(std::move(held)) {}
  uint64_t Epoch() override { return epoch_; }
  // Like a spool whose hole is inside a segment, it cannot tell which seqs the hole swallowed:
  // only NextBatch finds out.
  uint64_t OldestUnackedSeq() override {
    std::lock_guard<std::mutex> l(mu_);
    for (auto [first, last] : held_) {
      if (last > acked_) return acked_ + 1;
    }
    return 0;
  }
  std::optional<OutgoingBatch> NextBatch(uint64_t from_seq, uint32_t max_events,
                                         uint64_t) override {
    std::lock_guard<std::mutex> l(mu_);
    for (auto [first, last] : held_) {
      if (last < from_seq) continue;
      uint64_t start = std::max(first, from_seq);
      uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(max_events, last - start + 1));
      return OutgoingBatch{start, n, BatchBody(start, n)};
    }
    return std::nullopt;
  }
  void OnAcked(uint64_t committed_seq) override {
    std::lock_guard<std::mutex> l(mu_);
    acked_ = std::max(acked_, committed_seq);
  }

  static std::string BatchBody(uint64_t first_seq, uint32_t count) {
    v1::EventBatch events;
    for (uint32_t i = 0; i < count; ++i)
      events.add_events()->mutable_file()->set_path(EventPath(first_seq + i));
    v1::Batch b;
    b.set_first_seq(first_seq);
    b.set_count(count);
    b.set_codec(v1::CODEC_NONE);
    b.set_records(events.SerializeAsString());
    b.set_uncompressed_size(b.records().size());
    return b.SerializeAsString();
  }

 private:
  uint64_t epoch_;
  std::vector<std::pair<uint64_t, uint64_t>> held_;
  std::mutex mu_;
  uint64_t acked_ = 0;
};

// ---- The collector's side: what the peer reads and answers -----------------------------------

struct ReceivedBatch {
  uint64_t first_seq = 0;
  uint32_t count = 0;
  v1::Codec codec = v1::CODEC_UNSPECIFIED;
  std::vector<std::string> paths;  // of the decoded events, in order
};

// Reads the next frame and checks it is `type`; PINGs are answered and skipped.
Result<wire::Frame> ReadFrameOfType(RawServerSession& s, v1::FrameType type,
                                    milliseconds timeout = kWait) {
  while (true) {
    auto f = s.ReadFrame(timeout);
    if (!f.ok()) return f.status().WithContext("waiting for " + v1::FrameType_Name(type));
    if (f->type == v1::FRAME_TYPE_PING && type != v1::FRAME_TYPE_PING) {
      v1::Ping ping;
      (void)ping.ParseFromString(f->body);
      v1::Pong pong;
      pong.set_time_ns(ping.time_ns());
      s.SendMessage(v1::FRAME_TYPE_PONG, pong);
      continue;
    }
    if (f->type != type) {
      return FailedPreconditionError("expected " + v1::FrameType_Name(type) + ", got frame type " +
                                     std::to_string(f->type));
    }
    return f;
  }
}

Result<v1::Hello> ReadHello(RawServerSession& s) {
  auto f = ReadFrameOfType(s, v1::FRAME_TYPE_HELLO);
  if (!f.ok()) return f.status();
  v1::Hello hello;
  if (!hello.ParseFromString(f->body)) return InvalidArgumentError("HELLO: invalid protobuf");
  return hello;
}

// Reads one BATCH and decodes it the way a collector must: zstd frame of the declared size,
// exactly `count` events.
Result<ReceivedBatch> ReadBatch(RawServerSession& s, milliseconds timeout = kWait) {
  auto f = ReadFrameOfType(s, v1::FRAME_TYPE_BATCH, timeout);
  if (!f.ok()) return f.status();
  v1::Batch b;
  if (!b.ParseFromString(f->body)) return InvalidArgumentError("BATCH: invalid protobuf");
  std::string raw;
  if (b.codec() == v1::CODEC_ZSTD) {
    auto zd = wire::ZstdDecompressor::Create();
    if (!zd.ok()) return zd.status();
    Status st = zd->Decompress(b.records(), b.uncompressed_size(), 64u << 20, &raw);
    if (!st.ok()) return st.WithContext("BATCH records");
  } else {
    raw = b.records();
  }
  v1::EventBatch events;
  if (!events.ParseFromString(raw)) return InvalidArgumentError("BATCH: records do not parse");
  if (events.events_size() != static_cast<int>(b.count())) {
    return InvalidArgumentError("BATCH: count " + std::to_string(b.count()) + " but " +
                                std::to_string(events.events_size()) + " events");
  }
  ReceivedBatch out{b.first_seq(), b.count(), b.codec(), {}};
  for (const auto& e : events.events()) out.paths.push_back(e.file().path());
  return out;
}

struct HelloAckFields {
  uint64_t last_committed_seq = 0;
  uint32_t window = 4;
  uint32_t max_batch_events = 0;
};

bool SendHelloAck(RawServerSession& s, const HelloAckFields& f) {
  v1::HelloAck ack;
  ack.set_last_committed_seq(f.last_committed_seq);
  ack.set_window_batches(f.window);
  ack.set_max_batch_events(f.max_batch_events);
  ack.set_agent_id(kAgentId);
  ack.set_server_time_ns(SystemClock::now().time_since_epoch().count());
  return s.SendMessage(v1::FRAME_TYPE_HELLO_ACK, ack);
}

bool SendAck(RawServerSession& s, uint64_t committed_seq) {
  v1::Ack ack;
  ack.set_committed_seq(committed_seq);
  return s.SendMessage(v1::FRAME_TYPE_ACK, ack);
}

bool SendError(RawServerSession& s, v1::ErrorCode code, const std::string& message, bool retryable,
               bool reenroll = false) {
  v1::Error e;
  e.set_code(code);
  e.set_message(message);
  e.set_retryable(retryable);
  e.set_reenroll(reenroll);
  return s.SendMessage(v1::FRAME_TYPE_ERROR, e);
}

// Nothing arrives for kQuiet: the uplink is holding back (window full, stopped, refused).
::testing::AssertionResult Silent(RawServerSession& s) {
  auto f = s.ReadFrame(kQuiet);
  if (f.ok()) {
    return ::testing::AssertionFailure() << "got a frame of type " << static_cast<int>(f->type);
  }
  if (f.status().code() != StatusCode::kDeadlineExceeded) {
    return ::testing::AssertionFailure() << "the session ended: " << f.status().ToString();
  }
  return ::testing::AssertionSuccess();
}

std::string HeaderOnly(uint8_t type, uint32_t body_bytes) {
  uint8_t header[wire::kFrameHeaderBytes];
  wire::EncodeFrameHeader(type, body_bytes, header);
  return std::string(reinterpret_cast<const char*>(header), sizeof header);
}

// ---- Fixture ----------------------------------------------------------------------------------

class UplinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The peer writes to sessions the uplink may have closed: fail the write, not the test.
    std::signal(SIGPIPE, SIG_IGN);
  }

  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, crypto::CreateCa("Custos Test CA", hours(24 * 365)));
    ASSERT_OK_AND_ASSIGN(
        server_cert_,
        crypto::IssueServerCertificate(ca_, "collector", {kServerName}, {"127.0.0.1"}, hours(24)));
    ASSERT_OK_AND_ASSIGN(crypto::KeyPair key, crypto::GenerateEcKey());
    ASSERT_OK_AND_ASSIGN(std::string csr, crypto::CreateCsr(key.private_key_pem, kAgentId));
    ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate agent_cert,
                         crypto::SignAgentCsr(ca_, csr, kAgentId, hours(24 * 30)));
    creds_ = {kAgentId, ca_.cert_pem, agent_cert.cert_pem, key.private_key_pem};
    ASSERT_OK_AND_ASSIGN(peer_, RawServer::Listen(ServerOptions(ca_, server_cert_)));

    spool::SpoolOptions so;
    so.dir = dir_.Sub("spool");
    ASSERT_OK_AND_ASSIGN(spool_, spool::Spool::Open(fs::Posix(), so, &clock_));
    spool_source_ = std::make_unique<SpoolStreamSource>(spool_.get());
    source_ = std::make_unique<ObservedSource>(spool_source_.get());
    runtime_ = UplinkRuntime::Create(1);
  }

  void TearDown() override {
    if (client_) client_->Stop();
    client_.reset();
    if (runtime_) runtime_->Shutdown();
  }

  static crypto::TlsServerOptions ServerOptions(const crypto::CaMaterial& ca,
                                                const crypto::IssuedCertificate& cert) {
    crypto::TlsServerOptions o;
    o.ca_pem = ca.cert_pem;
    o.cert_pem = cert.cert_pem;
    o.key_pem = cert.key_pem;
    o.allow_clients_without_certificate = false;
    return o;
  }

  // Appends `n` file events to the spool and makes them durable (what the agent offers).
  void Append(uint32_t n) {
    std::vector<std::string> payloads;
    uint64_t next = spool_->Stats().next_seq;
    for (uint32_t i = 0; i < n; ++i) {
      v1::Event e;
      e.set_host("laptop-1");
      e.mutable_file()->set_op(v1::FILE_OP_CREATE);
      e.mutable_file()->set_path(EventPath(next + i));
      payloads.push_back(e.SerializeAsString());
    }
    std::vector<spool::RecordIn> records;
    for (const auto& p : payloads) records.push_back({1, 0, p});
    auto first = spool_->Append(records);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    ASSERT_OK(spool_->Sync());
  }

  UplinkOptions Options() const {
    UplinkOptions o;
    o.endpoint = {"127.0.0.1", peer_->port(), kServerName};
    o.credentials = creds_;
    o.agent_version = "9.8.7-test";
    o.hostname = "laptop-1";
    o.backoff_initial = milliseconds(20);
    o.backoff_max = milliseconds(100);
    o.connect_timeout = milliseconds(2000);
    o.ping_interval = milliseconds(3'600'000);  // tests that want PINGs ask for them
    o.poll_interval = milliseconds(20);
    return o;
  }

  void Start(UplinkOptions o) {
    client_ = UplinkClient::Start(runtime_.get(), std::move(o), source_.get());
  }
  void Start() { Start(Options()); }

  // Accepts the uplink's next session and checks its TLS side.
  Result<std::unique_ptr<RawServerSession>> Accept() {
    auto s = peer_->Accept(kWait);
    if (!s.ok()) return s.status();
    if (!(*s)->handshake().ok()) return (*s)->handshake();
    return s;
  }

  // Accepts a session, reads its HELLO and answers HELLO_ACK.
  Result<std::unique_ptr<RawServerSession>> Open(const HelloAckFields& ack,
                                                 v1::Hello* hello_out = nullptr) {
    auto s = Accept();
    if (!s.ok()) return s.status();
    auto hello = ReadHello(**s);
    if (!hello.ok()) return hello.status();
    if (hello_out != nullptr) *hello_out = *hello;
    if (!SendHelloAck(**s, ack)) return UnavailableError("send HELLO_ACK failed");
    return s;
  }

  uint64_t SpoolAcked() const { return spool_->Stats().acked_seq; }

  testing::TempDir dir_;
  FakeClock clock_;
  crypto::CaMaterial ca_;
  crypto::IssuedCertificate server_cert_;
  Credentials creds_;
  std::unique_ptr<RawServer> peer_;
  std::unique_ptr<spool::Spool> spool_;
  std::unique_ptr<SpoolStreamSource> spool_source_;
  std::unique_ptr<ObservedSource> source_;
  std::unique_ptr<ScriptedSource> scripted_;  // for tests that need a source with holes
  std::unique_ptr<UplinkRuntime> runtime_;
  std::unique_ptr<UplinkClient> client_;
};

// ---- 1. HELLO and resume ---------------------------------------------------------------------

TEST_F(UplinkTest, HelloCarriesAgentIdentityEpochAndOldestUnackedSeq) {
  Append(30);
  ASSERT_OK(spool_->Ack(10));  // acknowledged in an earlier session
  Start();
  ASSERT_OK_AND_ASSIGN(auto s, Accept());
  // The agent id travels in the verified client certificate, never in a field the agent fills.
  EXPECT_TRUE(s->peer().has_certificate);
  EXPECT_EQ(s->peer().certificate.agent_id, kAgentId);
  EXPECT_EQ(s->peer().alpn, crypto::kAlpnCustos1);
  EXPECT_EQ(s->peer().version, "TLSv1.3");
  ASSERT_OK_AND_ASSIGN(v1::Hello hello, ReadHello(*s));
  EXPECT_EQ(hello.stream_epoch(), spool_->Stats().epoch);
  EXPECT_NE(hello.stream_epoch(), 0u);
  EXPECT_EQ(hello.oldest_unacked_seq(), 11u);
  EXPECT_EQ(hello.agent_version(), "9.8.7-test");
  EXPECT_EQ(hello.hostname(), "laptop-1");
}

TEST_F(UplinkTest, HelloSaysZeroWhenEverythingIsAcknowledged) {
  Append(5);
  ASSERT_OK(spool_->Ack(5));
  Start();
  ASSERT_OK_AND_ASSIGN(auto s, Accept());
  ASSERT_OK_AND_ASSIGN(v1::Hello hello, ReadHello(*s));
  EXPECT_EQ(hello.oldest_unacked_seq(), 0u);
}

TEST_F(UplinkTest, ResumesAfterTheLastCommittedSeqAndNeverResendsWhatThePeerHas) {
  Append(30);
  Start();
  // The collector committed 1..17 (its ACK never arrived): the agent may free them and resumes
  // at 18, even inside what would have been a batch.
  ASSERT_OK_AND_ASSIGN(auto s,
                       Open({.last_committed_seq = 17, .window = 8, .max_batch_events = 5}));
  EXPECT_TRUE(source_->WaitForAck(17));
  EXPECT_EQ(SpoolAcked(), 17u);
  uint64_t expected = 18;
  while (expected <= 30) {
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    ASSERT_EQ(b.first_seq, expected);
    expected += b.count;
  }
  EXPECT_TRUE(Silent(*s));
}

TEST_F(UplinkTest, ResumesAtItsOwnOldestUnackedWhenThePeerIsBehind) {
  // The collector says 4, the spool has everything up to 12 acked (e.g. the collector's store
  // was restored from a backup): the agent no longer holds 5..12 and starts at 13.
  Append(20);
  ASSERT_OK(spool_->Ack(12));
  Start();
  ASSERT_OK_AND_ASSIGN(auto s,
                       Open({.last_committed_seq = 4, .window = 8, .max_batch_events = 100}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  EXPECT_EQ(b.first_seq, 13u);
  EXPECT_EQ(b.count, 8u);
  EXPECT_EQ(SpoolAcked(), 12u);  // an old last_committed_seq never moves the cursor back
}

// ---- 2. Batches, window and acknowledgements ---------------------------------------------------

TEST_F(UplinkTest, SendsZstdBatchesInOrderWithinTheWindowAndAdvancesTheSpoolOnlyOnAck) {
  Append(40);
  Start();
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 2, .max_batch_events = 5}));

  // The window is full after two batches: nothing more until an ACK.
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b1, ReadBatch(*s));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b2, ReadBatch(*s));
  EXPECT_EQ(b1.codec, v1::CODEC_ZSTD);
  EXPECT_EQ(b1.first_seq, 1u);
  EXPECT_EQ(b1.count, 5u);  // HELLO_ACK's max_batch_events lowers the configured 2000
  EXPECT_EQ(source_->last_max_events(), 5u);
  EXPECT_EQ(b1.paths, (std::vector<std::string>{EventPath(1), EventPath(2), EventPath(3),
                                                EventPath(4), EventPath(5)}));
  EXPECT_EQ(b2.first_seq, 6u);
  EXPECT_TRUE(Silent(*s)) << "a third batch beyond the window of 2";
  // Sent is not stored: the spool still holds everything.
  EXPECT_TRUE(source_->acks().empty());
  EXPECT_EQ(SpoolAcked(), 0u);
  EXPECT_EQ(spool_->OldestUnacked(), 1u);

  // One ACK frees one slot.
  ASSERT_TRUE(SendAck(*s, 5));
  ASSERT_TRUE(source_->WaitForAck(5));
  EXPECT_EQ(SpoolAcked(), 5u);
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b3, ReadBatch(*s));
  EXPECT_EQ(b3.first_seq, 11u);
  EXPECT_TRUE(Silent(*s));

  // A cumulative ACK covering two batches frees both slots.
  ASSERT_TRUE(SendAck(*s, 15));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b4, ReadBatch(*s));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b5, ReadBatch(*s));
  EXPECT_EQ(b4.first_seq, 16u);
  EXPECT_EQ(b5.first_seq, 21u);
  EXPECT_TRUE(Silent(*s));
  EXPECT_EQ(SpoolAcked(), 15u);

  // An ACK inside a batch moves the cursor that far and no further, and frees no slot.
  ASSERT_TRUE(SendAck(*s, 18));
  ASSERT_TRUE(source_->WaitForAck(18));
  EXPECT_EQ(SpoolAcked(), 18u);
  EXPECT_TRUE(Silent(*s));

  uint64_t next = 26;
  ASSERT_TRUE(SendAck(*s, 25));
  while (next <= 40) {
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    ASSERT_EQ(b.first_seq, next);
    next += b.count;
    ASSERT_TRUE(SendAck(*s, next - 1));
  }
  ASSERT_TRUE(source_->WaitForAck(40));
  EXPECT_EQ(SpoolAcked(), 40u);
  EXPECT_EQ(spool_->OldestUnacked(), 0u);
  client_->Stop();  // runs after every handler before it: the figures are settled
  UplinkStats stats = client_->Stats();
  EXPECT_EQ(stats.acked_seq, 40u);
  EXPECT_EQ(stats.batches_sent, 8u);
  EXPECT_EQ(stats.connects, 1u);
  EXPECT_EQ(stats.disconnects, 0u);
}

TEST_F(UplinkTest, ObservesTheTimeFromEachBatchToItsAck) {
  metrics::Histogram latency(metrics::LatencyBounds());
  Append(10);
  UplinkOptions o = Options();
  o.ack_latency = &latency;
  Start(o);
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4, .max_batch_events = 5}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b1, ReadBatch(*s));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b2, ReadBatch(*s));
  ASSERT_TRUE(SendAck(*s, 10));  // one cumulative ACK for both
  ASSERT_TRUE(source_->WaitForAck(10));
  EXPECT_EQ(latency.count(), 2u);
}

TEST_F(UplinkTest, NotifySendsNewRecordsWithoutWaitingForThePoll) {
  UplinkOptions o = Options();
  o.poll_interval = milliseconds(60'000);
  Start(o);
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
  ASSERT_TRUE(Silent(*s));  // nothing to send; the next poll is a minute away
  Append(3);
  client_->Notify();
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s, milliseconds(2000)));
  EXPECT_EQ(b.first_seq, 1u);
  EXPECT_EQ(b.count, 3u);
}

TEST_F(UplinkTest, PingsWhileIdle) {
  UplinkOptions o = Options();
  o.ping_interval = milliseconds(50);
  Start(o);
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(wire::Frame f,
                         ReadFrameOfType(*s, v1::FRAME_TYPE_PING, milliseconds(2000)));
    v1::Ping ping;
    ASSERT_TRUE(ping.ParseFromString(f.body));
    EXPECT_GT(ping.time_ns(), 0);
    v1::Pong pong;
    pong.set_time_ns(ping.time_ns());
    ASSERT_TRUE(s->SendMessage(v1::FRAME_TYPE_PONG, pong));
  }
  EXPECT_TRUE(client_->Stats().connected);
}

TEST_F(UplinkTest, KeepsItsOwnBatchLimitWhenTheCollectorAllowsMore) {
  Append(10);
  UplinkOptions o = Options();
  o.max_batch_events = 3;
  Start(o);
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 1, .max_batch_events = 100}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  EXPECT_EQ(b.first_seq, 1u);
  EXPECT_EQ(b.count, 3u);
}

TEST_F(UplinkTest, ClientsSharingOneRuntimeStreamIndependently) {
  // A second agent with its own spool, on the same runtime; one peer serves both in turn.
  testing::TempDir other_dir;
  spool::SpoolOptions so;
  so.dir = other_dir.Sub("spool");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<spool::Spool> other_spool,
                       spool::Spool::Open(fs::Posix(), so, &clock_));
  SpoolStreamSource other_source(other_spool.get());
  {
    v1::Event e;
    e.mutable_file()->set_path("/other");
    std::string p = e.SerializeAsString();
    std::vector<spool::RecordIn> r(4, spool::RecordIn{1, 0, p});
    ASSERT_TRUE(other_spool->Append(r).ok());
    ASSERT_OK(other_spool->Sync());
  }
  Append(2);
  Start();
  auto other = UplinkClient::Start(runtime_.get(), Options(), &other_source);
  // Whichever connects first: each session gets its own stream.
  std::vector<uint32_t> counts;
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    counts.push_back(b.count);
    ASSERT_TRUE(SendAck(*s, b.count));
    if (b.count == 2) {
      ASSERT_TRUE(source_->WaitForAck(2));
    }
    // Keep the session open until the ACK is through: a graceful close after the frame.
    s->Close();
  }
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<uint32_t>{2, 4}));
  other->Stop();
  EXPECT_EQ(SpoolAcked(), 2u);
}

// ---- 3. Drops, reconnects and at-least-once ----------------------------------------------------

TEST_F(UplinkTest, ResendsEverythingUnackedAfterTheConnectionDropsMidBatch) {
  Append(20);
  Start();
  {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4, .max_batch_events = 5}));
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b1, ReadBatch(*s));
    ASSERT_TRUE(SendAck(*s, 5));
    ASSERT_TRUE(source_->WaitForAck(5));
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b2, ReadBatch(*s));
    EXPECT_EQ(b2.first_seq, 6u);
    // The line is cut in the middle of the next BATCH frame: header and a few body bytes.
    ASSERT_OK_AND_ASSIGN(std::string partial, s->ReadBytes(wire::kFrameHeaderBytes + 3));
    EXPECT_EQ(static_cast<uint8_t>(partial[4]), v1::FRAME_TYPE_BATCH);
    s->Abort();
  }
  // The uplink comes back on its own (backoff of at most 100 ms here) and announces what it
  // still holds; the collector committed only what it acked.
  v1::Hello hello;
  ASSERT_OK_AND_ASSIGN(auto s,
                       Open({.last_committed_seq = 5, .window = 4, .max_batch_events = 5}, &hello));
  EXPECT_EQ(hello.oldest_unacked_seq(), 6u);
  std::vector<std::string> paths;
  uint64_t next = 6;
  while (next <= 20) {
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    ASSERT_EQ(b.first_seq, next) << "batches after a reconnect start at the resume point";
    next += b.count;
    paths.insert(paths.end(), b.paths.begin(), b.paths.end());
  }
  ASSERT_EQ(paths.size(), 15u);
  for (uint64_t seq = 6; seq <= 20; ++seq) EXPECT_EQ(paths[seq - 6], EventPath(seq));
  EXPECT_EQ(SpoolAcked(), 5u);  // the cut acknowledged nothing
  ASSERT_TRUE(SendAck(*s, 20));
  ASSERT_TRUE(source_->WaitForAck(20));
  UplinkStats stats = client_->Stats();
  EXPECT_EQ(stats.connects, 2u);
  EXPECT_EQ(stats.disconnects, 1u);
  EXPECT_FALSE(stats.fatal);
}

TEST_F(UplinkTest, ReconnectsWhileThePeerRefusesWithinTheBackoffCap) {
  // Every attempt is cut right after accept. The full-jitter delay grows from 10 ms but is
  // capped at backoff_max (100 ms): without the cap, attempt 10 would wait up to 10 s.
  UplinkOptions o = Options();
  o.backoff_initial = milliseconds(10);
  o.backoff_max = milliseconds(100);
  Start(o);
  constexpr int kAttempts = 12;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kAttempts; ++i) {
    ASSERT_OK_AND_ASSIGN(int fd, peer_->AcceptTcpOnly(kWait));
    ::close(fd);
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, milliseconds(kAttempts * 100 + 2000));
  UplinkStats stats = client_->Stats();
  EXPECT_FALSE(stats.connected);
  EXPECT_FALSE(stats.fatal);
  EXPECT_FALSE(stats.last_error.empty());
  // Then the collector is back: the stream starts as if nothing happened.
  Append(3);
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  EXPECT_EQ(b.first_seq, 1u);
}

TEST_F(UplinkTest, GivesUpAConnectionWhoseHandshakeNeverCompletes) {
  UplinkOptions o = Options();
  o.connect_timeout = milliseconds(200);
  Start(o);
  ASSERT_OK_AND_ASSIGN(int silent_fd, peer_->AcceptTcpOnly(kWait));  // TCP up, no TLS ever
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));                 // the next attempt
  ::close(silent_fd);
  UplinkStats stats = client_->Stats();
  EXPECT_NE(stats.last_error.find("connect timed out"), std::string::npos) << stats.last_error;
}

TEST_F(UplinkTest, AnnouncesTheFirstSeqItStillHoldsAfterLosingRecordsLocally) {
  // The source holds 1..5 and 11..15: 6..10 were lost on the agent (spool corruption).
  scripted_ = std::make_unique<ScriptedSource>(
      /*epoch=*/9, std::vector<std::pair<uint64_t, uint64_t>>{{1, 5}, {11, 15}});
  client_ = UplinkClient::Start(runtime_.get(), Options(), scripted_.get());
  {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4, .max_batch_events = 5}));
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b1, ReadBatch(*s));
    EXPECT_EQ(b1.first_seq, 1u);
    // 1..5 are not acknowledged yet: the session must stay up until they are (a new session
    // would announce 11 and lose them if the collector had not stored them).
    EXPECT_TRUE(Silent(*s));
    ASSERT_TRUE(SendAck(*s, 5));
    // A session's batches are consecutive, so the uplink starts a new one after the hole.
    ASSERT_OK(s->WaitForClose());
  }
  v1::Hello hello;
  ASSERT_OK_AND_ASSIGN(auto s,
                       Open({.last_committed_seq = 5, .window = 4, .max_batch_events = 5}, &hello));
  EXPECT_EQ(hello.stream_epoch(), 9u);
  EXPECT_EQ(hello.oldest_unacked_seq(), 11u);  // the collector records 6..10 as a gap
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  EXPECT_EQ(b.first_seq, 11u);
  EXPECT_EQ(b.count, 5u);
}

TEST_F(UplinkTest, StopClosesTheSessionAndStopsReconnecting) {
  Append(5);
  Start();
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  client_->Stop();
  uint64_t calls = source_->calls();
  ASSERT_OK(s->WaitForClose());
  auto again = peer_->Accept(kQuiet);
  EXPECT_EQ(again.status().code(), StatusCode::kDeadlineExceeded) << "reconnected after Stop";
  EXPECT_EQ(source_->calls(), calls) << "the source was called after Stop returned";
  EXPECT_FALSE(client_->Stats().connected);
  client_->Stop();  // idempotent
}

// ---- 4. ERROR from the collector ----------------------------------------------------------------

struct ErrorCase {
  const char* name;
  v1::ErrorCode code;
  bool retryable;
  bool reenroll;
  bool stops;  // true: the agent stops for good (an admin must act)
};

class UplinkErrorTest : public UplinkTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(UplinkErrorTest, ReconnectsOrStopsAsTheErrorTableSays) {
  const ErrorCase& c = GetParam();
  Append(10);
  Start();
  {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 1, .max_batch_events = 5}));
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    ASSERT_TRUE(SendError(*s, c.code, std::string("the collector says ") + c.name, c.retryable,
                          c.reenroll));
    ASSERT_OK(s->WaitForClose());
  }
  auto next = peer_->Accept(c.stops ? kQuiet : kWait);
  // Settled: a reconnect (or Stop, which runs after every pending handler) follows the record
  // of why the session ended.
  if (c.stops) client_->Stop();
  UplinkStats stats = client_->Stats();
  EXPECT_NE(stats.last_error.find(std::string("the collector says ") + c.name), std::string::npos)
      << stats.last_error;
  EXPECT_EQ(SpoolAcked(), 0u);  // an ERROR acknowledges nothing
  if (c.stops) {
    EXPECT_EQ(next.status().code(), StatusCode::kDeadlineExceeded) << "it tried again";
    EXPECT_TRUE(stats.fatal);
    EXPECT_FALSE(stats.connected);
    return;
  }
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_OK((*next)->handshake());
  ASSERT_OK_AND_ASSIGN(v1::Hello hello, ReadHello(**next));
  EXPECT_EQ(hello.oldest_unacked_seq(), 1u);
  ASSERT_TRUE(SendHelloAck(**next, {.window = 1, .max_batch_events = 5}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch again, ReadBatch(**next));
  EXPECT_EQ(again.first_seq, 1u);  // the refused batch is sent again
  EXPECT_FALSE(client_->Stats().fatal);
}

INSTANTIATE_TEST_SUITE_P(
    Codes, UplinkErrorTest,
    ::testing::Values(
        ErrorCase{"OVERLOADED", v1::ERROR_CODE_OVERLOADED, true, false, false},
        ErrorCase{"INTERNAL", v1::ERROR_CODE_INTERNAL, true, false, false},
        ErrorCase{"SUPERSEDED", v1::ERROR_CODE_SUPERSEDED, true, false, false},
        // Not retryable as sent, yet the table says: reconnect and resume from HELLO_ACK.
        ErrorCase{"PROTOCOL", v1::ERROR_CODE_PROTOCOL, false, false, false},
        ErrorCase{"FRAME_TOO_LARGE", v1::ERROR_CODE_FRAME_TOO_LARGE, false, false, false},
        ErrorCase{"REVOKED", v1::ERROR_CODE_REVOKED, false, true, true},
        ErrorCase{"UNAUTHENTICATED", v1::ERROR_CODE_UNAUTHENTICATED, false, true, true}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

TEST_F(UplinkTest, HalvesTheBatchSizeWhenTheCollectorSaysBatchTooLarge) {
  Append(20);
  Start();
  {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 1, .max_batch_events = 8}));
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    EXPECT_EQ(b.count, 8u);
    ASSERT_TRUE(SendError(*s, v1::ERROR_CODE_BATCH_TOO_LARGE, "batch over the limit", true));
    ASSERT_OK(s->WaitForClose());
  }
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 1, .max_batch_events = 8}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  EXPECT_EQ(b.first_seq, 1u);
  EXPECT_EQ(b.count, 4u);
}

// ---- 5. Malformed frames from the peer ---------------------------------------------------------

struct MalformedCase {
  const char* name;
  std::function<std::string()> bytes;  // sent after HELLO_ACK (or instead of it)
  bool instead_of_hello_ack;
  const char* reason;  // in UplinkStats::last_error
};

std::string FrameOf(v1::FrameType type, std::string_view body) {
  std::string out;
  wire::AppendFrame(static_cast<uint8_t>(type), body, &out);
  return out;
}

const std::string kInvalidProtobuf(
    "\x0a\x05"
    "ab",
    4);

class UplinkMalformedTest : public UplinkTest,
                            public ::testing::WithParamInterface<MalformedCase> {};

TEST_P(UplinkMalformedTest, ClosesTheSessionWithAReasonAndReconnects) {
  const MalformedCase& c = GetParam();
  Append(5);
  Start();
  {
    ASSERT_OK_AND_ASSIGN(auto s, Accept());
    ASSERT_OK_AND_ASSIGN(v1::Hello hello, ReadHello(*s));
    if (!c.instead_of_hello_ack) {
      ASSERT_TRUE(SendHelloAck(*s, {.window = 1, .max_batch_events = 5}));
      ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    }
    ASSERT_TRUE(s->SendBytes(c.bytes()));
    ASSERT_OK(s->WaitForClose());
  }
  // The agent is unharmed: the next session streams from the start.
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 1, .max_batch_events = 5}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  EXPECT_EQ(b.first_seq, 1u);
  // Why the last session ended (recorded before the reconnect began).
  UplinkStats stats = client_->Stats();
  EXPECT_NE(stats.last_error.find(c.reason), std::string::npos) << stats.last_error;
  EXPECT_FALSE(stats.fatal);
  EXPECT_EQ(SpoolAcked(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Frames, UplinkMalformedTest,
    ::testing::Values(
        MalformedCase{"UnknownFrameType", [] { return HeaderOnly(200, 0); }, false,
                      "bad frame from collector"},
        MalformedCase{"FrameTypeZero", [] { return HeaderOnly(0, 2) + "ab"; }, false,
                      "bad frame from collector"},
        // Refused from the header: the 1 GiB body is never read or allocated.
        MalformedCase{"FrameOverTheMaximumSize",
                      [] { return HeaderOnly(v1::FRAME_TYPE_ACK, 1u << 30); }, false,
                      "bad frame from collector"},
        MalformedCase{"HelloAckThatDoesNotParse",
                      [] { return FrameOf(v1::FRAME_TYPE_HELLO_ACK, kInvalidProtobuf); }, true,
                      "unexpected HELLO_ACK"},
        MalformedCase{"AckBeforeHelloAck",
                      [] {
                        v1::Ack a;
                        a.set_committed_seq(5);
                        return FrameOf(v1::FRAME_TYPE_ACK, a.SerializeAsString());
                      },
                      true, "unexpected ACK"},
        MalformedCase{"AckThatDoesNotParse",
                      [] { return FrameOf(v1::FRAME_TYPE_ACK, kInvalidProtobuf); }, false,
                      "unexpected ACK"},
        MalformedCase{
            "SecondHelloAck",
            [] { return FrameOf(v1::FRAME_TYPE_HELLO_ACK, v1::HelloAck().SerializeAsString()); },
            false, "unexpected HELLO_ACK"},
        MalformedCase{"FrameOnlyAnAgentSends",
                      [] { return FrameOf(v1::FRAME_TYPE_BATCH, v1::Batch().SerializeAsString()); },
                      false, "unexpected frame type 3"},
        MalformedCase{
            "RenewAckNobodyAskedFor",
            [] { return FrameOf(v1::FRAME_TYPE_RENEW_ACK, v1::RenewAck().SerializeAsString()); },
            false, "unexpected RENEW_ACK"},
        // Beyond what this session sent: acking it would free records never delivered.
        MalformedCase{"AckBeyondTheLastSentSeq",
                      [] {
                        v1::Ack a;
                        a.set_committed_seq(1000);
                        return FrameOf(v1::FRAME_TYPE_ACK, a.SerializeAsString());
                      },
                      false, "beyond"}),
    [](const ::testing::TestParamInfo<MalformedCase>& info) {
      return std::string(info.param.name);
    });

TEST_F(UplinkTest, AFrameCutShortByTheCollectorClosingEndsTheSessionAndReconnects) {
  Append(5);
  Start();
  {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 1}));
    ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
    ASSERT_TRUE(s->SendBytes(HeaderOnly(v1::FRAME_TYPE_ACK, 100) + "\x08"));
    s->Close();
  }
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 1}));
  ASSERT_OK_AND_ASSIGN(ReceivedBatch b, ReadBatch(*s));
  EXPECT_EQ(b.first_seq, 1u);
  EXPECT_EQ(SpoolAcked(), 0u);
}

// ---- 6. The collector's identity
// ------------------------------------------------------------------

TEST_F(UplinkTest, RefusesAServerCertificateNotSignedByThePinnedCa) {
  ASSERT_OK_AND_ASSIGN(crypto::CaMaterial other_ca, crypto::CreateCa("Impostor CA", hours(24)));
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate impostor,
                       crypto::IssueServerCertificate(other_ca, "collector", {kServerName},
                                                      {"127.0.0.1"}, hours(24)));
  // The impostor trusts the agent's CA, so only the agent's check can stop the session.
  crypto::TlsServerOptions so = ServerOptions(ca_, impostor);
  so.ca_pem = ca_.cert_pem;
  ASSERT_OK_AND_ASSIGN(auto impostor_peer, RawServer::Listen(so));
  Append(5);
  UplinkOptions o = Options();
  o.endpoint.port = impostor_peer->port();
  Start(o);
  for (int attempt = 0; attempt < 2; ++attempt) {
    ASSERT_OK_AND_ASSIGN(auto s, impostor_peer->Accept(kWait));
    EXPECT_FALSE(s->handshake().ok()) << "the agent completed a handshake with an impostor";
    EXPECT_FALSE(s->ReadFrame(milliseconds(200)).ok());
  }
  UplinkStats stats = client_->Stats();
  EXPECT_FALSE(stats.connected);
  EXPECT_EQ(stats.connects, 0u);
  EXPECT_NE(stats.last_error.find("TLS handshake"), std::string::npos) << stats.last_error;
  EXPECT_FALSE(stats.fatal);  // a network problem, not a verdict on this agent
}

TEST_F(UplinkTest, RefusesAServerCertificateForAnotherName) {
  ASSERT_OK_AND_ASSIGN(
      crypto::IssuedCertificate other_name,
      crypto::IssueServerCertificate(ca_, "elsewhere", {"elsewhere.example"}, {}, hours(24)));
  ASSERT_OK_AND_ASSIGN(auto wrong_peer, RawServer::Listen(ServerOptions(ca_, other_name)));
  UplinkOptions o = Options();
  o.endpoint.port = wrong_peer->port();
  Start(o);
  ASSERT_OK_AND_ASSIGN(auto s, wrong_peer->Accept(kWait));
  EXPECT_FALSE(s->handshake().ok());
  EXPECT_EQ(client_->Stats().connects, 0u);
}

// ---- 7. Certificate renewal ---------------------------------------------------------------------

// A certificate for the agent's key with `left` of its 24 h validity remaining.
Result<crypto::IssuedCertificate> WornCertificate(const crypto::CaMaterial& ca,
                                                  const Credentials& creds, hours left) {
  auto csr = crypto::CreateCsr(creds.key_pem, creds.agent_id);
  if (!csr.ok()) return csr.status();
  auto now = SystemClock::now();
  return crypto::SignAgentCsr(ca, *csr, creds.agent_id, hours(24), now - (hours(24) - left),
                              now + left);
}

TEST_F(UplinkTest, RenewsACertificateWithLessThanAThirdLeftAndUsesItFromTheNextSession) {
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate worn, WornCertificate(ca_, creds_, hours(4)));
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Credentials> renewed;
  UplinkOptions o = Options();
  o.credentials.cert_pem = worn.cert_pem;
  o.on_renewed = [&](const Credentials& c) {
    std::lock_guard<std::mutex> l(mu);
    renewed = c;
    cv.notify_all();
  };
  Start(o);
  crypto::IssuedCertificate fresh;
  {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
    ASSERT_OK_AND_ASSIGN(wire::Frame f, ReadFrameOfType(*s, v1::FRAME_TYPE_RENEW));
    v1::Renew renew;
    ASSERT_TRUE(renew.ParseFromString(f.body));
    ASSERT_OK(crypto::CheckCsr(renew.csr_pem()));
    ASSERT_OK_AND_ASSIGN(fresh,
                         crypto::SignAgentCsr(ca_, renew.csr_pem(), kAgentId, hours(24 * 30)));
    v1::RenewAck ack;
    ack.set_certificate_pem(fresh.cert_pem);
    ASSERT_TRUE(s->SendMessage(v1::FRAME_TYPE_RENEW_ACK, ack));
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, kWait, [&] { return renewed.has_value(); }));
    EXPECT_EQ(renewed->agent_id, kAgentId);
    EXPECT_EQ(renewed->cert_pem, fresh.cert_pem);
    EXPECT_NE(renewed->key_pem, creds_.key_pem);  // a new key, made on the agent
    EXPECT_EQ(renewed->ca_pem, ca_.cert_pem);
    // The session goes on with the old certificate: no second RENEW, no disconnect.
    l.unlock();
    EXPECT_TRUE(Silent(*s));
    s->Abort();
  }
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
  EXPECT_EQ(s->peer().certificate.serial_hex, fresh.info.serial_hex);
  EXPECT_TRUE(Silent(*s)) << "renewed again although the new certificate is fresh";
}

TEST_F(UplinkTest, DoesNotRenewWhileMoreThanAThirdIsLeft) {
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate half, WornCertificate(ca_, creds_, hours(12)));
  UplinkOptions o = Options();
  o.credentials.cert_pem = half.cert_pem;
  Start(o);
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
  EXPECT_TRUE(Silent(*s));
}

TEST_F(UplinkTest, RefusesARenewedCertificateThatDoesNotMatchItsNewKey) {
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate worn, WornCertificate(ca_, creds_, hours(4)));
  std::mutex mu;
  int renewals = 0;
  UplinkOptions o = Options();
  o.credentials.cert_pem = worn.cert_pem;
  o.on_renewed = [&](const Credentials&) {
    std::lock_guard<std::mutex> l(mu);
    ++renewals;
  };
  Start(o);
  {
    ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
    ASSERT_OK_AND_ASSIGN(wire::Frame f, ReadFrameOfType(*s, v1::FRAME_TYPE_RENEW));
    // A certificate for someone else's key (a confused or hostile collector).
    ASSERT_OK_AND_ASSIGN(crypto::KeyPair stranger, crypto::GenerateEcKey());
    ASSERT_OK_AND_ASSIGN(std::string csr, crypto::CreateCsr(stranger.private_key_pem, kAgentId));
    ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate wrong,
                         crypto::SignAgentCsr(ca_, csr, kAgentId, hours(24 * 30)));
    v1::RenewAck ack;
    ack.set_certificate_pem(wrong.cert_pem);
    ASSERT_TRUE(s->SendMessage(v1::FRAME_TYPE_RENEW_ACK, ack));
    ASSERT_OK(s->WaitForClose());
  }
  // The agent keeps its working identity and comes back with it.
  ASSERT_OK_AND_ASSIGN(auto s, Open({.window = 4}));
  EXPECT_EQ(s->peer().certificate.serial_hex, worn.info.serial_hex);
  std::lock_guard<std::mutex> l(mu);
  EXPECT_EQ(renewals, 0) << "unusable credentials were handed out to be persisted";
  UplinkStats stats = client_->Stats();
  EXPECT_NE(stats.last_error.find("renewed certificate refused"), std::string::npos)
      << stats.last_error;
  EXPECT_FALSE(stats.fatal);
}

// ---- 8. Enrollment
// --------------------------------------------------------------------------------

class EnrollTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, crypto::CreateCa("Custos Test CA", hours(24 * 365)));
    ASSERT_OK_AND_ASSIGN(
        server_cert_,
        crypto::IssueServerCertificate(ca_, "collector", {kServerName}, {"127.0.0.1"}, hours(24)));
    crypto::TlsServerOptions o;
    o.ca_pem = ca_.cert_pem;
    o.cert_pem = server_cert_.cert_pem;
    o.key_pem = server_cert_.key_pem;
    o.allow_clients_without_certificate = true;  // enrollment sessions have none
    ASSERT_OK_AND_ASSIGN(peer_, RawServer::Listen(o));
  }

  EnrollRequest Request() const {
    EnrollRequest r;
    r.endpoint = {"127.0.0.1", peer_->port(), kServerName};
    r.ca_pem = ca_.cert_pem;
    r.token = "tok-123";
    r.host.set_hostname("laptop-1");
    r.host.set_os("linux");
    r.timeout = kWait;
    return r;
  }

  // Runs EnrollAgent on its own thread while the test thread plays the collector with `answer`,
  // which gets the session and the ENROLL it read.
  Result<Credentials> EnrollAgainst(
      const std::function<void(RawServerSession&, const v1::Enroll&)>& answer,
      EnrollRequest request) {
    std::optional<Result<Credentials>> result;
    std::thread agent([&] { result.emplace(EnrollAgent(request)); });
    auto s = peer_->Accept(kWait);
    if (s.ok() && (*s)->handshake().ok()) {
      auto f = ReadFrameOfType(**s, v1::FRAME_TYPE_ENROLL);
      v1::Enroll enroll;
      if (f.ok() && enroll.ParseFromString(f->body)) {
        session_had_certificate_ = (*s)->peer().has_certificate;
        answer(**s, enroll);
      } else {
        ADD_FAILURE() << "no ENROLL: " << f.status().ToString();
      }
      (*s)->Close();
    }
    agent.join();
    return std::move(*result);
  }

  crypto::CaMaterial ca_;
  crypto::IssuedCertificate server_cert_;
  std::unique_ptr<RawServer> peer_;
  bool session_had_certificate_ = true;
};

TEST_F(EnrollTest, SendsTokenCsrAndHostFactsAndReturnsTheSignedIdentity) {
  std::string issued_serial;
  auto creds = EnrollAgainst(
      [&](RawServerSession& s, const v1::Enroll& e) {
        EXPECT_EQ(e.token(), "tok-123");
        EXPECT_EQ(e.host().hostname(), "laptop-1");
        EXPECT_EQ(e.host().os(), "linux");
        ASSERT_OK(crypto::CheckCsr(e.csr_pem()));
        auto cert = crypto::SignAgentCsr(ca_, e.csr_pem(), kAgentId, hours(24 * 30));
        ASSERT_TRUE(cert.ok()) << cert.status().ToString();
        issued_serial = cert->info.serial_hex;
        v1::EnrollAck ack;
        ack.set_agent_id(kAgentId);
        ack.set_certificate_pem(cert->cert_pem);
        ack.set_ca_chain_pem(ca_.cert_pem);
        s.SendMessage(v1::FRAME_TYPE_ENROLL_ACK, ack);
      },
      Request());
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_FALSE(session_had_certificate_);
  EXPECT_EQ(creds->agent_id, kAgentId);
  EXPECT_EQ(creds->ca_pem, ca_.cert_pem);  // the pinned CA, not the chain the network sent
  ASSERT_OK_AND_ASSIGN(crypto::CertificateInfo info, crypto::ParseCertificate(creds->cert_pem));
  EXPECT_EQ(info.serial_hex, issued_serial);
  // The key stayed on the host and is the one the certificate was issued for.
  crypto::TlsClientOptions check;
  check.ca_pem = ca_.cert_pem;
  check.cert_pem = creds->cert_pem;
  check.key_pem = creds->key_pem;
  EXPECT_TRUE(crypto::TlsContext::ForClient(check).ok());
}

TEST_F(EnrollTest, ARefusalIsPermissionDeniedWithTheCollectorsReason) {
  auto creds = EnrollAgainst(
      [&](RawServerSession& s, const v1::Enroll&) {
        SendError(s, v1::ERROR_CODE_ENROLLMENT_REFUSED, "token used up", false);
      },
      Request());
  EXPECT_EQ(creds.status().code(), StatusCode::kPermissionDenied) << creds.status().ToString();
  EXPECT_NE(creds.status().message().find("token used up"), std::string::npos);
}

TEST_F(EnrollTest, RefusesACertificateThatNamesAnotherAgent) {
  auto creds = EnrollAgainst(
      [&](RawServerSession& s, const v1::Enroll& e) {
        auto cert = crypto::SignAgentCsr(ca_, e.csr_pem(), "someone-else", hours(24));
        ASSERT_TRUE(cert.ok());
        v1::EnrollAck ack;
        ack.set_agent_id(kAgentId);
        ack.set_certificate_pem(cert->cert_pem);
        s.SendMessage(v1::FRAME_TYPE_ENROLL_ACK, ack);
      },
      Request());
  EXPECT_EQ(creds.status().code(), StatusCode::kInvalidArgument) << creds.status().ToString();
}

TEST_F(EnrollTest, RefusesACertificateNotIssuedByThePinnedCa) {
  auto creds = EnrollAgainst(
      [&](RawServerSession& s, const v1::Enroll& e) {
        auto other = crypto::CreateCa("Other CA", hours(24));
        ASSERT_TRUE(other.ok());
        auto cert = crypto::SignAgentCsr(*other, e.csr_pem(), kAgentId, hours(24));
        ASSERT_TRUE(cert.ok());
        v1::EnrollAck ack;
        ack.set_agent_id(kAgentId);
        ack.set_certificate_pem(cert->cert_pem);
        s.SendMessage(v1::FRAME_TYPE_ENROLL_ACK, ack);
      },
      Request());
  EXPECT_FALSE(creds.ok());
}

TEST_F(EnrollTest, AnAnswerThatIsNotEnrollAckIsAnError) {
  auto creds = EnrollAgainst(
      [&](RawServerSession& s, const v1::Enroll&) {
        s.SendFrame(v1::FRAME_TYPE_ENROLL_ACK, kInvalidProtobuf);
      },
      Request());
  EXPECT_EQ(creds.status().code(), StatusCode::kInvalidArgument) << creds.status().ToString();
}

TEST_F(EnrollTest, RefusesAServerNotSignedByThePinnedCa) {
  EnrollRequest r = Request();
  ASSERT_OK_AND_ASSIGN(crypto::CaMaterial other, crypto::CreateCa("Other CA", hours(24)));
  r.ca_pem = other.cert_pem;
  std::optional<Result<Credentials>> result;
  std::thread agent([&] { result.emplace(EnrollAgent(r)); });
  auto s = peer_->Accept(kWait);
  agent.join();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE((*s)->handshake().ok());
  EXPECT_EQ(result->status().code(), StatusCode::kUnavailable) << result->status().ToString();
  EXPECT_NE(result->status().message().find("TLS handshake"), std::string::npos);
}

TEST_F(EnrollTest, ACollectorThatCannotBeReachedIsUnavailable) {
  EnrollRequest r = Request();
  peer_.reset();  // nothing listens on the port any more
  auto creds = EnrollAgent(r);
  EXPECT_EQ(creds.status().code(), StatusCode::kUnavailable) << creds.status().ToString();
}

TEST_F(EnrollTest, ACaThatDoesNotParseIsInvalidArgument) {
  EnrollRequest r = Request();
  r.ca_pem = "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
  auto creds = EnrollAgent(r);
  EXPECT_EQ(creds.status().code(), StatusCode::kInvalidArgument) << creds.status().ToString();
}

TEST_F(EnrollTest, ACollectorThatNeverAnswersRunsIntoTheTimeout) {
  EnrollRequest r = Request();
  r.timeout = milliseconds(300);
  // The collector holds the session open, silent, until the agent gives up and closes it.
  auto creds = EnrollAgainst(
      [&](RawServerSession& s, const v1::Enroll&) { EXPECT_TRUE(s.WaitForClose(kWait).ok()); }, r);
  EXPECT_EQ(creds.status().code(), StatusCode::kDeadlineExceeded) << creds.status().ToString();
}

}  // namespace
}  // namespace custos::agent::uplink
