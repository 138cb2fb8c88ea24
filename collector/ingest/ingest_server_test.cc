// Integration tests of the ingest server: a real IngestServer on 127.0.0.1 (port 0) over a real
// SqliteStore in a temp dir, driven by the agent's uplink library and by a small raw TLS client
// that can misbehave at byte level. Every refusal is checked three ways: what the peer sees,
// custos_ingest_rejected_total{reason}, and that the store holds nothing of it; and a
// well-behaved agent with a session open the whole time must still get its batches acked.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "agent/uplink/uplink.h"
#include "collector/ingest/enrollment.h"
#include "collector/ingest/ingest.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/testing/gated_store.h"
#include "common/crypto/crypto.h"
#include "common/metrics/metrics.h"
#include "common/testing/testing.h"
#include "common/testing/tls_client.h"
#include "common/time/clock.h"
#include "common/wire/wire.h"
#include "custos/v1/event.pb.h"
#include "custos/v1/session.pb.h"

namespace custos::collector::ingest {
namespace {

namespace v1 = custos::v1;
namespace uplink = custos::agent::uplink;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SystemClock = std::chrono::system_clock;

#define INGEST_TEST_CONCAT_INNER(a, b) a##b
#define INGEST_TEST_CONCAT(a, b) INGEST_TEST_CONCAT_INNER(a, b)
#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    const ::custos::Status& ingest_test_status = (expr);                   \
    ASSERT_TRUE(ingest_test_status.ok()) << ingest_test_status.ToString(); \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(INGEST_TEST_CONCAT(ingest_test_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)   \
  auto tmp = (expr);                                \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

constexpr uint32_t kWindow = 4;
constexpr uint32_t kMaxFrameBytes = 1u << 20;
constexpr milliseconds kWait{5000};
constexpr char kServerName[] = "localhost";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SystemClock::now().time_since_epoch())
      .count();
}

// ---- Test data ------------------------------------------------------------------------------

std::string EventPath(uint64_t seq) { return "/home/alice/doc-" + std::to_string(seq) + ".txt"; }

// A serialized EventBatch of `count` file events; event i stands for seq first_seq + i.
std::string EventBatchBytes(uint64_t first_seq, uint32_t count) {
  v1::EventBatch batch;
  for (uint32_t i = 0; i < count; ++i) {
    v1::Event* e = batch.add_events();
    e->set_time_ns(1'700'000'000'000'000'000 + static_cast<int64_t>(first_seq + i));
    e->set_host("laptop");
    e->mutable_actor()->set_login_user("alice");
    e->mutable_actor()->set_pid(4242);
    e->mutable_file()->set_op(v1::FILE_OP_CREATE);
    e->mutable_file()->set_path(EventPath(first_seq + i));
  }
  return batch.SerializeAsString();
}

// A serialized custos.v1.Batch body (zstd) of `count` events starting at first_seq.
std::string BatchBody(uint64_t first_seq, uint32_t count) {
  std::string raw = EventBatchBytes(first_seq, count);
  auto zc = wire::ZstdCompressor::Create(3);
  CUSTOS_CHECK(zc.ok()) << zc.status().ToString();
  v1::Batch b;
  b.set_first_seq(first_seq);
  b.set_count(count);
  b.set_codec(v1::CODEC_ZSTD);
  b.set_uncompressed_size(raw.size());
  Status s = zc->Compress(raw, b.mutable_records());
  CUSTOS_CHECK(s.ok()) << s.ToString();
  return b.SerializeAsString();
}

// One zstd frame that declares and holds 64 MiB of zeros: a few KiB on the wire.
const std::string& ZstdBombOf64MiB() {
  static const std::string* bomb = [] {
    auto zc = wire::ZstdCompressor::Create(1);
    CUSTOS_CHECK(zc.ok());
    auto* out = new std::string();
    Status s = zc->Compress(std::string(64u << 20, '\0'), out);
    CUSTOS_CHECK(s.ok()) << s.ToString();
    return out;
  }();
  return *bomb;
}

// A protobuf whose field 1 announces 5 bytes and carries 2: no parser accepts it.
const std::string kInvalidProtobuf(
    "\x0a\x05"
    "ab",
    4);

v1::Enroll EnrollMessage(const std::string& token, const std::string& hostname) {
  auto key = crypto::GenerateEcKey();
  CUSTOS_CHECK(key.ok());
  auto csr = crypto::CreateCsr(key->private_key_pem, hostname);
  CUSTOS_CHECK(csr.ok());
  v1::Enroll e;
  e.set_token(token);
  e.set_csr_pem(*csr);
  e.mutable_host()->set_hostname(hostname);
  e.mutable_host()->set_os("linux");
  return e;
}

using store::testing::GatedStore;

using testing::RawClient;

// Reads frames until an ERROR arrives (skipping ACKs); an error status when the session ends
// (or goes silent) first.
Result<v1::Error> ReadError(RawClient& c) {
  while (true) {
    auto f = c.ReadFrame();
    if (!f.ok()) return f.status();
    if (f->type == v1::FRAME_TYPE_ACK || f->type == v1::FRAME_TYPE_PONG) continue;
    if (f->type != v1::FRAME_TYPE_ERROR) {
      return FailedPreconditionError("expected ERROR, got frame type " + std::to_string(f->type));
    }
    v1::Error err;
    if (!err.ParseFromString(f->body)) return InvalidArgumentError("ERROR: invalid protobuf");
    return err;
  }
}

// True when the server ended the session (as opposed to going silent), with no frame before.
::testing::AssertionResult EndedByServer(RawClient& c) {
  auto f = c.ReadFrame();
  if (f.ok()) {
    return ::testing::AssertionFailure()
           << "got a frame of type " << static_cast<int>(f->type) << " instead of the end";
  }
  if (f.status().code() == StatusCode::kDeadlineExceeded) {
    return ::testing::AssertionFailure() << "the session stayed open: " << f.status().ToString();
  }
  return ::testing::AssertionSuccess() << f.status().ToString();
}

Result<v1::HelloAck> SendHello(RawClient& c, uint64_t epoch, uint64_t oldest_unacked = 0) {
  v1::Hello h;
  h.set_agent_version("0.1.0-test");
  h.set_stream_epoch(epoch);
  h.set_oldest_unacked_seq(oldest_unacked);
  h.set_hostname("laptop");
  if (!c.SendMessage(v1::FRAME_TYPE_HELLO, h)) return UnavailableError("send HELLO failed");
  auto f = c.ReadFrame();
  if (!f.ok()) return f.status();
  if (f->type == v1::FRAME_TYPE_ERROR) {
    v1::Error err;
    (void)err.ParseFromString(f->body);
    return PermissionDeniedError("HELLO answered with ERROR " + v1::ErrorCode_Name(err.code()) +
                                 ": " + err.message());
  }
  v1::HelloAck ack;
  if (f->type != v1::FRAME_TYPE_HELLO_ACK || !ack.ParseFromString(f->body)) {
    return FailedPreconditionError("expected HELLO_ACK, got type " + std::to_string(f->type));
  }
  return ack;
}

Result<v1::Ack> ReadAck(RawClient& c) {
  auto f = c.ReadFrame();
  if (!f.ok()) return f.status();
  v1::Ack ack;
  if (f->type != v1::FRAME_TYPE_ACK || !ack.ParseFromString(f->body)) {
    std::string detail;
    if (f->type == v1::FRAME_TYPE_ERROR) {
      v1::Error err;
      (void)err.ParseFromString(f->body);
      detail = ": " + err.message();
    }
    return FailedPreconditionError("expected ACK, got type " + std::to_string(f->type) + detail);
  }
  return ack;
}

// ---- The agent side of the uplink library ---------------------------------------------------

// Serves `total` events from seq 1 of one epoch, in batches of at most max_events.
class FakeSource final : public uplink::StreamSource {
 public:
  FakeSource(uint64_t epoch, uint64_t total) : epoch_(epoch), total_(total) {}
  uint64_t Epoch() override { return epoch_; }
  uint64_t OldestUnackedSeq() override {
    uint64_t a = acked_.load();
    return a >= total_ ? 0 : a + 1;
  }
  std::optional<uplink::OutgoingBatch> NextBatch(uint64_t from_seq, uint32_t max_events,
                                                 uint64_t) override {
    if (from_seq > total_) return std::nullopt;
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(max_events, total_ - from_seq + 1));
    n = std::min<uint32_t>(n, 7);  // several batches, so the window matters
    return uplink::OutgoingBatch{from_seq, n, BatchBody(from_seq, n)};
  }
  void OnAcked(uint64_t committed_seq) override {
    uint64_t cur = acked_.load();
    while (committed_seq > cur && !acked_.compare_exchange_weak(cur, committed_seq)) {
    }
  }
  uint64_t acked() const { return acked_.load(); }

 private:
  uint64_t epoch_;
  uint64_t total_;
  std::atomic<uint64_t> acked_{0};
};

// ---- Fixture --------------------------------------------------------------------------------

class IngestServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A refused session may be closed under a write; that must fail the write, not the test.
    std::signal(SIGPIPE, SIG_IGN);
  }

  void SetUp() override {
    auto ca = crypto::CreateCa("Custos Test CA", hours(24 * 365));
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    ca_ = *ca;
    auto server_cert =
        crypto::IssueServerCertificate(ca_, "collector", {"localhost"}, {"127.0.0.1"}, hours(24));
    ASSERT_TRUE(server_cert.ok()) << server_cert.status().ToString();
    pki_ = {ca_.cert_pem, ca_.key_pem, server_cert->cert_pem, server_cert->key_pem};

    auto inner = store::OpenSqliteStore({.path = dir_.Sub("collector.db")});
    ASSERT_TRUE(inner.ok()) << inner.status().ToString();
    store_ = std::make_unique<GatedStore>(std::move(*inner));

    IngestOptions options;
    options.listen_host = "127.0.0.1";
    options.port = 0;
    options.io_threads = 2;
    options.max_frame_bytes = kMaxFrameBytes;
    options.window_batches = kWindow;
    options.handshake_timeout = milliseconds(3000);
    options.idle_timeout = milliseconds(20000);
    Customize(&options);
    auto server = IngestServer::Start(options, pki_, store_.get(), &registry_, RealClock());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    ASSERT_NE(server_->port(), 0);

    // A well-behaved agent whose session stays open through each test's misbehaviour.
    auto creds = Enroll("bystander");
    ASSERT_TRUE(creds.ok()) << creds.status().ToString();
    bystander_ = *creds;
    bystander_session_ = Connect(bystander_);
    ASSERT_OK(bystander_session_->handshake());
    auto hello = SendHello(*bystander_session_, /*epoch=*/1);
    ASSERT_TRUE(hello.ok()) << hello.status().ToString();
  }

  // Fixtures that test limits change the options here.
  virtual void Customize(IngestOptions* options) {}

  void TearDown() override {
    if (store_) store_->OpenGate();
    bystander_session_.reset();
    if (server_) server_->Stop();
  }

  uplink::Endpoint endpoint() const { return {"127.0.0.1", server_->port(), kServerName}; }

  Result<MintedToken> Mint(uint32_t max_uses = 1, Clock* clock = RealClock(),
                           seconds ttl = seconds(600)) {
    return MintEnrollmentToken(store_.get(), clock, ttl, max_uses, "test");
  }

  Result<uplink::Credentials> EnrollWithToken(const std::string& token,
                                              const std::string& hostname) {
    uplink::EnrollRequest req;
    req.endpoint = endpoint();
    req.ca_pem = pki_.ca_cert_pem;
    req.token = token;
    req.host.set_hostname(hostname);
    req.host.set_os("linux");
    req.timeout = kWait;
    return uplink::EnrollAgent(req);
  }

  Result<uplink::Credentials> Enroll(const std::string& hostname) {
    auto token = Mint();
    if (!token.ok()) return token.status();
    return EnrollWithToken(token->token, hostname);
  }

  crypto::TlsClientOptions ClientOptions(const std::string& cert_pem = "",
                                         const std::string& key_pem = "") const {
    crypto::TlsClientOptions o;
    o.ca_pem = pki_.ca_cert_pem;
    o.cert_pem = cert_pem;
    o.key_pem = key_pem;
    o.server_name = kServerName;
    return o;
  }
  std::unique_ptr<RawClient> Connect(const uplink::Credentials& creds) {
    return RawClient::Connect(server_->port(), ClientOptions(creds.cert_pem, creds.key_pem));
  }
  std::unique_ptr<RawClient> ConnectWithoutCertificate() {
    return RawClient::Connect(server_->port(), ClientOptions());
  }

  uint64_t StoredEvents(const std::string& agent_id) {
    auto n = store_->CountEvents(agent_id);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }

  // The value of one series in the Prometheus exposition, 0 when absent.
  int64_t Metric(const std::string& series) const {
    std::string text = "\n" + registry_.RenderPrometheus();
    std::string needle = "\n" + series + " ";
    size_t pos = text.find(needle);
    if (pos == std::string::npos) return 0;
    return std::stoll(text.substr(pos + needle.size()));
  }
  int64_t Rejected(const std::string& reason) const {
    return Metric("custos_ingest_rejected_total{reason=\"" + reason + "\"}");
  }
  int64_t TotalRejected() const {
    std::istringstream in(registry_.RenderPrometheus());
    int64_t total = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("custos_ingest_rejected_total{", 0) == 0) {
        total += std::stoll(line.substr(line.rfind(' ') + 1));
      }
    }
    return total;
  }
  // custos_ingest_rejected_total{reason} reaches `n` and nothing else was counted.
  void ExpectRejected(const std::string& reason, int64_t n = 1) {
    EXPECT_TRUE(testing::WaitFor([&] { return Rejected(reason) >= n; }, kWait))
        << registry_.RenderPrometheus();
    EXPECT_EQ(Rejected(reason), n) << registry_.RenderPrometheus();
    EXPECT_EQ(TotalRejected(), n) << registry_.RenderPrometheus();
  }

  // The bystander's session, open since SetUp, still gets a new batch acked and stored.
  void ExpectBystanderStillServed() {
    SCOPED_TRACE("bystander");
    uint64_t first = bystander_next_seq_;
    ASSERT_TRUE(bystander_session_->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(first, 3)));
    auto ack = ReadAck(*bystander_session_);
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
    EXPECT_EQ(ack->committed_seq(), first + 2);
    bystander_next_seq_ = first + 3;
    EXPECT_EQ(StoredEvents(bystander_.agent_id), bystander_next_seq_ - 1);
  }

  testing::TempDir dir_;
  metrics::Registry registry_;
  crypto::CaMaterial ca_;
  Pki pki_;
  std::unique_ptr<GatedStore> store_;
  std::unique_ptr<IngestServer> server_;
  uplink::Credentials bystander_;
  std::unique_ptr<RawClient> bystander_session_;
  uint64_t bystander_next_seq_ = 1;
};

// ---- 1. The happy path ------------------------------------------------------------------------

TEST_F(IngestServerTest, AcksBatchOnlyAfterItsEventsAreCommittedToTheStore) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK(c->handshake());
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, /*epoch=*/7));
  EXPECT_EQ(hello.last_committed_seq(), 0u);
  EXPECT_EQ(hello.window_batches(), kWindow);
  EXPECT_EQ(hello.max_frame_bytes(), kMaxFrameBytes);
  EXPECT_EQ(hello.agent_id(), creds.agent_id);

  // Hold the commit: the batch is decoded and queued, but no ACK may leave.
  store_->CloseGate();
  ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 5)));
  ASSERT_TRUE(testing::WaitFor([&] { return store_->commits_waiting() == 1; }, kWait));
  auto early = c->ReadFrame(milliseconds(200));
  EXPECT_EQ(early.status().code(), StatusCode::kDeadlineExceeded)
      << "a frame arrived while the commit was held";
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);

  store_->OpenGate();
  ASSERT_OK_AND_ASSIGN(v1::Ack ack, ReadAck(*c));
  EXPECT_EQ(ack.committed_seq(), 5u);
  // Queried right after the ACK: every event is there, with the session's identity.
  store::EventQuery q;
  q.agent_id = creds.agent_id;
  q.newest_first = false;
  ASSERT_OK_AND_ASSIGN(std::vector<store::StoredEvent> events, store_->QueryEvents(q));
  ASSERT_EQ(events.size(), 5u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].agent_id, creds.agent_id);
    EXPECT_EQ(events[i].hostname, "laptop-1");
    EXPECT_EQ(events[i].epoch, 7u);
    EXPECT_EQ(events[i].seq, i + 1);
    EXPECT_EQ(events[i].user, "alice");
    EXPECT_EQ(events[i].type, store::EventType::kFile);
    v1::Event e;
    ASSERT_TRUE(e.ParseFromString(events[i].payload));
    EXPECT_EQ(e.file().path(), EventPath(i + 1));
  }
  EXPECT_EQ(Metric("custos_ingest_events_total"), 5);
  EXPECT_EQ(TotalRejected(), 0);
}

TEST_F(IngestServerTest, HelloAckAfterReconnectReportsLastCommittedSeqOfThatEpoch) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  {
    auto c = Connect(creds);
    ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, /*epoch=*/3));
    EXPECT_EQ(hello.last_committed_seq(), 0u);
    ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 10)));
    ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(11, 2)));
    ASSERT_OK_AND_ASSIGN(v1::Ack a1, ReadAck(*c));
    EXPECT_EQ(a1.committed_seq(), 10u);
    ASSERT_OK_AND_ASSIGN(v1::Ack a2, ReadAck(*c));
    EXPECT_EQ(a2.committed_seq(), 12u);
    c->Close();
  }
  {
    auto c = Connect(creds);
    ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, /*epoch=*/3, /*oldest_unacked=*/13));
    EXPECT_EQ(hello.last_committed_seq(), 12u);
    // Resuming right after the cursor works.
    ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(13, 3)));
    ASSERT_OK_AND_ASSIGN(v1::Ack ack, ReadAck(*c));
    EXPECT_EQ(ack.committed_seq(), 15u);
    c->Close();
  }
  {
    // Another epoch (the agent's spool started over) has its own cursor.
    auto c = Connect(creds);
    ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, /*epoch=*/4));
    EXPECT_EQ(hello.last_committed_seq(), 0u);
  }
  EXPECT_EQ(StoredEvents(creds.agent_id), 15u);
  EXPECT_EQ(TotalRejected(), 0);
}

// ---- 2. TLS and identity ----------------------------------------------------------------------

TEST_F(IngestServerTest, RefusesHelloFromClientWithoutCertificate) {
  auto c = ConnectWithoutCertificate();
  ASSERT_OK(c->handshake());  // allowed: such a session may ENROLL
  v1::Hello h;
  h.set_stream_epoch(1);
  ASSERT_TRUE(c->SendMessage(v1::FRAME_TYPE_HELLO, h));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_FALSE(err.retryable());
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("no_certificate");
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesClientCertificateFromAnotherCaAtHandshake) {
  ASSERT_OK_AND_ASSIGN(crypto::CaMaterial other_ca, crypto::CreateCa("Other CA", hours(24)));
  ASSERT_OK_AND_ASSIGN(crypto::KeyPair key, crypto::GenerateEcKey());
  ASSERT_OK_AND_ASSIGN(std::string csr, crypto::CreateCsr(key.private_key_pem, "intruder"));
  // Names an enrolled agent: only the issuer is wrong.
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate cert,
                       crypto::SignAgentCsr(other_ca, csr, bystander_.agent_id, hours(24)));
  auto c = RawClient::Connect(server_->port(), ClientOptions(cert.cert_pem, key.private_key_pem));
  if (c->handshake().ok()) {  // TLS 1.3: the client finishes before the server verifies it
    (void)c->SendFrame(v1::FRAME_TYPE_HELLO, v1::Hello().SerializeAsString());
    EXPECT_TRUE(EndedByServer(*c));
  }
  ExpectRejected("tls_handshake");
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesExpiredClientCertificateAtHandshake) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  ASSERT_OK_AND_ASSIGN(std::string csr, crypto::CreateCsr(creds.key_pem, creds.agent_id));
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate expired,
                       crypto::SignAgentCsr(ca_, csr, creds.agent_id, hours(24), std::nullopt,
                                            SystemClock::now() - hours(1)));
  auto c = RawClient::Connect(server_->port(), ClientOptions(expired.cert_pem, creds.key_pem));
  if (c->handshake().ok()) {
    (void)c->SendFrame(v1::FRAME_TYPE_HELLO, v1::Hello().SerializeAsString());
    EXPECT_TRUE(EndedByServer(*c));
  }
  ExpectRejected("tls_handshake");
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesRevokedAgentWithRevokedError) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  ASSERT_OK(store_->RevokeAgent(creds.agent_id, "device reported stolen", NowNs()));
  auto c = Connect(creds);
  ASSERT_OK(c->handshake());  // its certificate is still valid: the refusal is the collector's
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_REVOKED);
  EXPECT_FALSE(err.retryable());
  EXPECT_TRUE(err.reenroll());
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("revoked");
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesCertificateOfAgentNotEnrolledHere) {
  // Issued by the right CA (e.g. restored from a backup) for an agent this store never saw.
  ASSERT_OK_AND_ASSIGN(crypto::KeyPair key, crypto::GenerateEcKey());
  ASSERT_OK_AND_ASSIGN(std::string csr, crypto::CreateCsr(key.private_key_pem, "ghost"));
  ASSERT_OK_AND_ASSIGN(crypto::IssuedCertificate cert,
                       crypto::SignAgentCsr(ca_, csr, "ghost-agent", hours(24)));
  auto c = RawClient::Connect(server_->port(), ClientOptions(cert.cert_pem, key.private_key_pem));
  ASSERT_OK(c->handshake());
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_TRUE(err.reenroll());
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("unknown_agent");
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, UplinkOfRevokedAgentStopsRetrying) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  ASSERT_OK(store_->RevokeAgent(creds.agent_id, "offboarded", NowNs()));
  FakeSource source(/*epoch=*/1, /*total=*/5);
  auto runtime = uplink::UplinkRuntime::Create(1);
  uplink::UplinkOptions o;
  o.endpoint = endpoint();
  o.credentials = creds;
  o.hostname = "laptop-1";
  o.backoff_initial = milliseconds(20);
  o.backoff_max = milliseconds(100);
  auto client = uplink::UplinkClient::Start(runtime.get(), o, &source);
  EXPECT_TRUE(testing::WaitFor([&] { return client->Stats().fatal; }, kWait))
      << client->Stats().last_error;
  client->Stop();
  runtime->Shutdown();
  EXPECT_EQ(Rejected("revoked"), 1);
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesTls12Client) {
  crypto::TlsClientOptions o = ClientOptions(bystander_.cert_pem, bystander_.key_pem);
  o.allow_tls12 = true;
  o.max_version_override = TLS1_2_VERSION;
  auto c = RawClient::Connect(server_->port(), o);
  EXPECT_FALSE(c->handshake().ok());
  ExpectRejected("tls_handshake");
  ExpectBystanderStillServed();
}

// ---- 3. Bad input -----------------------------------------------------------------------------

TEST_F(IngestServerTest, ClosesSessionWhoseFrameIsTruncatedByDisconnect) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  uint8_t header[wire::kFrameHeaderBytes];
  wire::EncodeFrameHeader(v1::FRAME_TYPE_BATCH, 100, header);
  std::string bytes(reinterpret_cast<const char*>(header), sizeof header);
  bytes += BatchBody(1, 1).substr(0, 10);
  ASSERT_TRUE(c->SendBytes(bytes));
  c->Close();
  ExpectRejected("truncated_frame");
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  // Only the bystander's connection is left open.
  EXPECT_TRUE(testing::WaitFor([&] { return Metric("custos_ingest_connections") == 1; }, kWait));
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesFrameLargerThanMaxFrameBytesBeforeReadingIt) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  uint8_t header[wire::kFrameHeaderBytes];
  wire::EncodeFrameHeader(v1::FRAME_TYPE_BATCH, kMaxFrameBytes + 1, header);
  ASSERT_TRUE(c->SendBytes(std::string_view(reinterpret_cast<const char*>(header), sizeof header)));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_FRAME_TOO_LARGE);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("frame_too_large");
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  ExpectBystanderStillServed();
}

// A BATCH carrying a 64 MiB zstd bomb, its uncompressed_size set to `declared`.
void SendZstdBomb(RawClient& c, uint64_t declared) {
  v1::Batch b;
  b.set_first_seq(1);
  b.set_count(1);
  b.set_codec(v1::CODEC_ZSTD);
  b.set_uncompressed_size(declared);
  b.set_records(ZstdBombOf64MiB());
  ASSERT_LT(b.ByteSizeLong(), kMaxFrameBytes);
  ASSERT_TRUE(c.SendMessage(v1::FRAME_TYPE_BATCH, b));
}

TEST_F(IngestServerTest, RefusesZstdBombThatDeclaresItsTrueSize) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  SendZstdBomb(*c, 64u << 20);
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_BATCH_TOO_LARGE);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("batch_too_large");
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesZstdBombThatClaimsToBeSmall) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  SendZstdBomb(*c, 100);
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  // The frame's own header contradicts the batch: malformed, refused before inflating, and
  // not retryable (splitting would not help a liar).
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PROTOCOL);
  EXPECT_FALSE(err.retryable());
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("bad_batch");
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesInvalidProtobufInHello) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK(c->handshake());
  ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_HELLO, kInvalidProtobuf));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PROTOCOL);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("bad_protobuf");
  EXPECT_EQ(Metric("custos_ingest_connected_agents"), 1);  // only the bystander streams
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesInvalidProtobufInBatch) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, kInvalidProtobuf));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PROTOCOL);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("bad_batch");
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesBatchBeforeHello) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK(c->handshake());
  ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 3)));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PROTOCOL);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("before_hello");
  EXPECT_EQ(StoredEvents(creds.agent_id), 0u);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesBatchReplayedOnNewSessionAndStoresNoDuplicate) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  {
    auto c = Connect(creds);
    ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
    ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 10)));
    ASSERT_OK_AND_ASSIGN(v1::Ack ack, ReadAck(*c));
    EXPECT_EQ(ack.committed_seq(), 10u);
    c->Close();
  }
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  EXPECT_EQ(hello.last_committed_seq(), 10u);
  ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 10)));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PROTOCOL);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("out_of_order");
  EXPECT_EQ(StoredEvents(creds.agent_id), 10u);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesMoreUnackedBatchesThanTheWindow) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  ASSERT_EQ(hello.window_batches(), kWindow);
  // With commits held no ACK can free the window, so batch kWindow + 1 is over it.
  store_->CloseGate();
  std::string bytes;
  for (uint32_t i = 0; i <= kWindow; ++i) {
    wire::AppendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1 + 2 * i, 2), &bytes);
  }
  ASSERT_TRUE(c->SendBytes(bytes));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_PROTOCOL);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("window_exceeded");
  store_->OpenGate();
  // The batches inside the window were valid and are stored; the one beyond it never is.
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Metric("custos_ingest_batches_total") == static_cast<int64_t>(kWindow); },
      kWait));
  EXPECT_EQ(StoredEvents(creds.agent_id), 2u * kWindow);
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesReusedEnrollmentToken) {
  ASSERT_OK_AND_ASSIGN(MintedToken token, Mint(/*max_uses=*/1));
  ASSERT_OK_AND_ASSIGN(uplink::Credentials first, EnrollWithToken(token.token, "laptop-1"));
  EXPECT_FALSE(first.agent_id.empty());

  auto c = ConnectWithoutCertificate();
  ASSERT_OK(c->handshake());
  ASSERT_TRUE(c->SendMessage(v1::FRAME_TYPE_ENROLL, EnrollMessage(token.token, "laptop-2")));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_ENROLLMENT_REFUSED);
  EXPECT_NE(err.message().find("used up"), std::string::npos) << err.message();
  EXPECT_EQ(err.message().find(token.token), std::string::npos);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("enroll_refused");
  EXPECT_EQ(Metric("custos_ingest_enrollments_total{result=\"refused\"}"), 1);

  // Through the agent library, the refusal is PermissionDenied.
  auto again = EnrollWithToken(token.token, "laptop-3");
  EXPECT_EQ(again.status().code(), StatusCode::kPermissionDenied) << again.status().ToString();
  EXPECT_TRUE(testing::WaitFor([&] { return Rejected("enroll_refused") == 2; }, kWait));

  ASSERT_OK_AND_ASSIGN(std::vector<store::AgentRecord> agents, store_->ListAgents());
  EXPECT_EQ(agents.size(), 2u);  // the bystander and laptop-1
  for (const auto& a : agents) EXPECT_NE(a.hostname, "laptop-2");
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesExpiredEnrollmentToken) {
  FakeClock past(NowNs() - std::chrono::duration_cast<std::chrono::nanoseconds>(hours(2)).count());
  ASSERT_OK_AND_ASSIGN(MintedToken token, Mint(/*max_uses=*/5, &past, seconds(3600)));
  auto c = ConnectWithoutCertificate();
  ASSERT_OK(c->handshake());
  ASSERT_TRUE(c->SendMessage(v1::FRAME_TYPE_ENROLL, EnrollMessage(token.token, "laptop-2")));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_ENROLLMENT_REFUSED);
  EXPECT_NE(err.message().find("expired"), std::string::npos) << err.message();
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("enroll_refused");

  ASSERT_OK_AND_ASSIGN(std::vector<store::AgentRecord> agents, store_->ListAgents());
  EXPECT_EQ(agents.size(), 1u);  // the bystander only
  ASSERT_OK_AND_ASSIGN(std::vector<store::EnrollmentTokenRecord> tokens,
                       store_->ListEnrollmentTokens());
  auto it = std::find_if(tokens.begin(), tokens.end(),
                         [&](const auto& t) { return t.id == token.record.id; });
  ASSERT_NE(it, tokens.end());
  EXPECT_EQ(it->uses, 0u);
  ExpectBystanderStillServed();
}

// ---- 4. Renewal -------------------------------------------------------------------------------

TEST_F(IngestServerTest, UplinkRenewsMostlyUsedCertificateInBand) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  // 24 h of validity with 4 h left: under the 1/3 threshold, yet still valid.
  ASSERT_OK_AND_ASSIGN(std::string csr, crypto::CreateCsr(creds.key_pem, creds.agent_id));
  auto now = SystemClock::now();
  ASSERT_OK_AND_ASSIGN(
      crypto::IssuedCertificate worn,
      crypto::SignAgentCsr(ca_, csr, creds.agent_id, hours(24), now - hours(20), now + hours(4)));
  creds.cert_pem = worn.cert_pem;
  // As if the collector had issued it: the agent's current certificate.
  ASSERT_OK(store_->UpdateAgentCertificate(
      creds.agent_id, worn.info.serial_hex,
      std::chrono::duration_cast<std::chrono::nanoseconds>(worn.info.not_after.time_since_epoch())
          .count()));

  std::mutex mu;
  std::optional<uplink::Credentials> renewed;
  FakeSource source(/*epoch=*/1, /*total=*/20);
  auto runtime = uplink::UplinkRuntime::Create(1);
  uplink::UplinkOptions o;
  o.endpoint = endpoint();
  o.credentials = creds;
  o.hostname = "laptop-1";
  o.backoff_initial = milliseconds(20);
  o.poll_interval = milliseconds(20);
  o.on_renewed = [&](const uplink::Credentials& c) {
    std::lock_guard<std::mutex> l(mu);
    renewed = c;
  };
  auto client = uplink::UplinkClient::Start(runtime.get(), o, &source);
  bool done = testing::WaitFor(
      [&] {
        std::lock_guard<std::mutex> l(mu);
        return renewed.has_value() && source.acked() == 20;
      },
      kWait);
  uplink::UplinkStats stats = client->Stats();
  client->Stop();
  runtime->Shutdown();
  ASSERT_TRUE(done) << "acked " << source.acked() << ", last error: " << stats.last_error;

  std::lock_guard<std::mutex> l(mu);
  ASSERT_OK_AND_ASSIGN(crypto::CertificateInfo info, crypto::ParseCertificate(renewed->cert_pem));
  EXPECT_NE(info.serial_hex, worn.info.serial_hex);
  EXPECT_EQ(info.agent_id, creds.agent_id);
  EXPECT_GT(info.not_after, now + hours(24 * 7));
  ASSERT_OK(crypto::VerifyCertificate(renewed->cert_pem, pki_.ca_cert_pem, SystemClock::now()));
  EXPECT_NE(renewed->key_pem, creds.key_pem);  // a new key, generated on the agent
  ASSERT_OK_AND_ASSIGN(store::AgentRecord record, store_->FindAgent(creds.agent_id));
  EXPECT_EQ(record.cert_serial, info.serial_hex);
  EXPECT_EQ(StoredEvents(creds.agent_id), 20u);

  // The renewed identity opens sessions.
  auto c = Connect(*renewed);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  EXPECT_EQ(hello.last_committed_seq(), 20u);
  EXPECT_EQ(TotalRejected(), 0);
}

// ---- 5. Supersede -----------------------------------------------------------------------------

TEST_F(IngestServerTest, NewSessionOfSameAgentSupersedesTheOldOne) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto first = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck h1, SendHello(*first, 1));
  auto second = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck h2, SendHello(*second, 1));

  auto f = first->ReadFrame();
  if (f.ok()) {
    ASSERT_EQ(f->type, v1::FRAME_TYPE_ERROR);
    v1::Error err;
    ASSERT_TRUE(err.ParseFromString(f->body));
    EXPECT_EQ(err.code(), v1::ERROR_CODE_SUPERSEDED);
    EXPECT_TRUE(err.retryable());
    EXPECT_TRUE(EndedByServer(*first));
  } else {
    EXPECT_NE(f.status().code(), StatusCode::kDeadlineExceeded) << "the first session stayed open";
  }

  ASSERT_TRUE(second->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 3)));
  ASSERT_OK_AND_ASSIGN(v1::Ack ack, ReadAck(*second));
  EXPECT_EQ(ack.committed_seq(), 3u);
  EXPECT_EQ(StoredEvents(creds.agent_id), 3u);
  EXPECT_TRUE(testing::WaitFor([&] { return Metric("custos_ingest_connected_agents") == 2; },
                               kWait))  // bystander + second
      << registry_.RenderPrometheus();
  EXPECT_EQ(TotalRejected(), 0);  // superseding is not a refusal
  ExpectBystanderStillServed();
}

// ---- 6. Before authentication, revocation, renewal and sizes (security review) -------------

// A frame header alone: what an attacker sends before going silent.
std::string HeaderOnly(v1::FrameType type, uint32_t body_bytes) {
  uint8_t header[wire::kFrameHeaderBytes];
  wire::EncodeFrameHeader(type, body_bytes, header);
  return std::string(reinterpret_cast<const char*>(header), sizeof header);
}

TEST_F(IngestServerTest, RefusesALargeFrameWithoutCertificateFromItsHeader) {
  // The review's attack: no client certificate, a header declaring a 4 MiB body, then silence.
  // The collector must refuse it at once instead of allocating and waiting for the body.
  auto c = ConnectWithoutCertificate();
  ASSERT_OK(c->handshake());
  ASSERT_TRUE(c->SendBytes(HeaderOnly(v1::FRAME_TYPE_ENROLL, 4u << 20)));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_FRAME_TOO_LARGE);
  EXPECT_TRUE(EndedByServer(*c));
  ExpectRejected("frame_too_large");
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesALargeControlFrameOfAnAgentFromItsHeader) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK(c->handshake());
  ASSERT_TRUE(c->SendBytes(HeaderOnly(v1::FRAME_TYPE_HELLO, 64u << 10)));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_FRAME_TOO_LARGE);
  ExpectRejected("frame_too_large");
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, RefusesRenewalWhileMostOfTheValidityIsLeft) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  ASSERT_OK_AND_ASSIGN(crypto::KeyPair key, crypto::GenerateEcKey());
  v1::Renew renew;
  renew.set_csr_pem(*crypto::CreateCsr(key.private_key_pem, creds.agent_id));
  ASSERT_TRUE(c->SendMessage(v1::FRAME_TYPE_RENEW, renew));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_ENROLLMENT_REFUSED);
  EXPECT_TRUE(err.retryable());
  EXPECT_NE(err.message().find("too early"), std::string::npos) << err.message();
  ExpectRejected("renew_too_early");
  ASSERT_OK_AND_ASSIGN(store::AgentRecord record, store_->FindAgent(creds.agent_id));
  EXPECT_EQ(record.prev_cert_serial, "");  // nothing was issued
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, ClosesTheLiveSessionOfAnAgentRevokedByAnotherProcessWithinASecond) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 3)));
  ASSERT_OK_AND_ASSIGN(v1::Ack ack, ReadAck(*c));
  // `custos-collector agent revoke` writes the store from its own process; a second store
  // handle on the same file stands for it.
  {
    auto other = store::OpenSqliteStore({.path = dir_.Sub("collector.db")});
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    ASSERT_OK((*other)->RevokeAgent(creds.agent_id, "laptop stolen", NowNs()));
  }
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1500));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_REVOKED);
  EXPECT_FALSE(err.retryable());
  EXPECT_TRUE(EndedByServer(*c));
  EXPECT_EQ(StoredEvents(creds.agent_id), 3u);  // nothing after the revocation
  ExpectBystanderStillServed();
}

TEST_F(IngestServerTest, StoresAnEventOverTheSizeCapAsACountedRefusal) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  // Three events, the middle one 3 MiB (a path of repeated bytes: a few KiB compressed).
  v1::EventBatch events;
  events.ParseFromString(EventBatchBytes(1, 3));
  events.mutable_events(1)->mutable_file()->set_path("/" + std::string(3u << 20, 'a'));
  std::string raw = events.SerializeAsString();
  auto zc = wire::ZstdCompressor::Create(3);
  ASSERT_TRUE(zc.ok());
  v1::Batch b;
  b.set_first_seq(1);
  b.set_count(3);
  b.set_codec(v1::CODEC_ZSTD);
  b.set_uncompressed_size(raw.size());
  ASSERT_OK(zc->Compress(raw, b.mutable_records()));
  ASSERT_LT(b.ByteSizeLong(), kMaxFrameBytes);
  ASSERT_TRUE(c->SendMessage(v1::FRAME_TYPE_BATCH, b));
  ASSERT_OK_AND_ASSIGN(v1::Ack ack, ReadAck(*c));
  EXPECT_EQ(ack.committed_seq(), 3u);
  store::EventQuery q;
  q.agent_id = creds.agent_id;
  q.newest_first = false;
  auto stored = store_->QueryEvents(q);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_EQ(stored->size(), 3u);
  EXPECT_EQ((*stored)[1].seq, 2u);
  EXPECT_EQ((*stored)[1].type, store::EventType::kEventsLost);
  EXPECT_LT((*stored)[1].payload.size(), 1024u);
  v1::Event refused;
  ASSERT_TRUE(refused.ParseFromString((*stored)[1].payload));
  EXPECT_EQ(refused.events_lost().source(), "collector");
  EXPECT_NE(refused.events_lost().reason().find("over the collector's limit"), std::string::npos)
      << refused.events_lost().reason();
  EXPECT_EQ(refused.time_ns(), events.events(1).time_ns());
  EXPECT_EQ((*stored)[2].type, store::EventType::kFile);
  EXPECT_EQ(Metric("custos_ingest_refused_events_total{reason=\"too_large\"}"), 1);
  EXPECT_EQ(TotalRejected(), 0);
  ExpectBystanderStillServed();
}

// Small limits, so each can be reached in a test.
class IngestLimitsTest : public IngestServerTest {
 protected:
  void Customize(IngestOptions* o) override {
    o->max_preauth_per_address = 3;
    o->preauth_timeout = milliseconds(400);
    o->enroll_failures_per_minute = 1;
    o->enroll_failures_burst = 3;
    o->renew_when_remaining_fraction = 1.0;  // renewal open at once
    o->max_queued_bytes = 4096;
  }
};

TEST_F(IngestLimitsTest, CapsSessionsBeforeAuthenticationPerAddress) {
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(ConnectWithoutCertificate());
    ASSERT_OK(held.back()->handshake());
  }
  auto refused = ConnectWithoutCertificate();
  if (refused->handshake().ok()) {
    EXPECT_TRUE(EndedByServer(*refused));
  }
  EXPECT_TRUE(testing::WaitFor([&] { return Rejected("preauth_per_address") == 1; }, kWait))
      << registry_.RenderPrometheus();
  // An authenticated agent does not hold a pre-authentication slot.
  ExpectBystanderStillServed();
  // A slot is given back when its session ends; the held sessions end by the pre-auth timeout.
  EXPECT_TRUE(testing::WaitFor([&] { return Rejected("preauth_timeout") == 3; }, kWait))
      << registry_.RenderPrometheus();
  auto later = ConnectWithoutCertificate();
  ASSERT_OK(later->handshake());
  v1::Enroll e = EnrollMessage("cet_wrong", "laptop-9");
  ASSERT_TRUE(later->SendMessage(v1::FRAME_TYPE_ENROLL, e));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*later));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_ENROLLMENT_REFUSED);  // served, and refused on its merits
}

TEST_F(IngestLimitsTest, ClosesAnIdleSessionWithoutCertificateAfterThePreauthTimeout) {
  auto c = ConnectWithoutCertificate();
  ASSERT_OK(c->handshake());
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(EndedByServer(*c));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
  ExpectRejected("preauth_timeout");
}

TEST_F(IngestLimitsTest, RateLimitsFailedEnrollmentAttemptsPerAddress) {
  // Successful enrollments cost nothing (a mass deployment behind one NAT address).
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Enroll("ok-" + std::to_string(i)).ok()) << i;
  }
  for (int i = 0; i < 3; ++i) {
    auto c = ConnectWithoutCertificate();
    ASSERT_OK(c->handshake());
    ASSERT_TRUE(c->SendMessage(v1::FRAME_TYPE_ENROLL, EnrollMessage("cet_bogus", "h")));
    ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
    EXPECT_EQ(err.code(), v1::ERROR_CODE_ENROLLMENT_REFUSED) << i;
  }
  auto c = ConnectWithoutCertificate();
  ASSERT_OK(c->handshake());
  ASSERT_OK_AND_ASSIGN(MintedToken token, Mint());
  ASSERT_TRUE(c->SendMessage(v1::FRAME_TYPE_ENROLL, EnrollMessage(token.token, "h")));
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*c));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_OVERLOADED);
  EXPECT_TRUE(err.retryable());
  EXPECT_EQ(Rejected("enroll_rate_limited"), 1);
  EXPECT_EQ(Metric("custos_ingest_enrollments_total{result=\"rate_limited\"}"), 1);
  // The good token was not used up by the refused attempt.
  auto tokens = store_->ListEnrollmentTokens();
  ASSERT_TRUE(tokens.ok());
  for (const auto& t : *tokens) {
    if (t.id == token.record.id) {
      EXPECT_EQ(t.uses, 0u);
    }
  }
  ExpectBystanderStillServed();
}

// Renews over `c` (streaming) and returns the new certificate.
Result<std::string> RenewOver(RawClient& c, const std::string& key_pem, const std::string& id) {
  v1::Renew renew;
  CUSTOS_ASSIGN_OR_RETURN(std::string csr, crypto::CreateCsr(key_pem, id));
  renew.set_csr_pem(csr);
  if (!c.SendMessage(v1::FRAME_TYPE_RENEW, renew)) return UnavailableError("send RENEW");
  auto f = c.ReadFrame();
  if (!f.ok()) return f.status();
  v1::RenewAck ack;
  if (f->type != v1::FRAME_TYPE_RENEW_ACK || !ack.ParseFromString(f->body)) {
    return FailedPreconditionError("expected RENEW_ACK, got type " + std::to_string(f->type));
  }
  return ack.certificate_pem();
}

TEST_F(IngestLimitsTest, AReplacedCertificateWorksOnlyUntilTheNewOneIsUsed) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  ASSERT_OK_AND_ASSIGN(crypto::KeyPair new_key, crypto::GenerateEcKey());
  std::string new_cert;
  {
    auto c = Connect(creds);
    ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
    ASSERT_OK_AND_ASSIGN(new_cert, RenewOver(*c, new_key.private_key_pem, creds.agent_id));
    // One renewal per session.
    auto again = RenewOver(*c, new_key.private_key_pem, creds.agent_id);
    EXPECT_FALSE(again.ok());
  }
  {
    // The RENEW_ACK might have been lost: the old certificate still opens a session.
    auto c = Connect(creds);
    ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  }
  {
    auto c = RawClient::Connect(server_->port(), ClientOptions(new_cert, new_key.private_key_pem));
    ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  }
  EXPECT_TRUE(testing::WaitFor(
      [&] { return store_->FindAgent(creds.agent_id)->prev_cert_serial.empty(); }, kWait));
  auto old = Connect(creds);
  ASSERT_OK(old->handshake());
  ASSERT_OK_AND_ASSIGN(v1::Error err, ReadError(*old));
  EXPECT_EQ(err.code(), v1::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_EQ(Rejected("replaced_certificate"), 1);
  ExpectBystanderStillServed();
}

TEST_F(IngestLimitsTest, StopsReadingWhileTheCommitQueueHoldsTooManyBytes) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  store_->CloseGate();
  // 100 events: about 6 KiB decoded, over the 4 KiB limit but under the event count limit.
  ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(1, 100)));
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Metric("custos_ingest_backpressure_pauses_total") >= 1; }, kWait))
      << registry_.RenderPrometheus();
  EXPECT_GT(Metric("custos_ingest_queued_bytes"), 4096);
  store_->OpenGate();
  ASSERT_OK_AND_ASSIGN(v1::Ack ack, ReadAck(*c));
  EXPECT_EQ(ack.committed_seq(), 100u);
  EXPECT_TRUE(testing::WaitFor([&] { return Metric("custos_ingest_queued_bytes") == 0; }, kWait));
}

class IngestQuotaTest : public IngestServerTest {
 protected:
  void Customize(IngestOptions* o) override {
    o->agent_quota_burst_bytes = 8192;
    o->agent_quota_bytes_per_minute = 1;  // no meaningful refill within the test
  }
};

TEST_F(IngestQuotaTest, RefusesBatchesOverTheAgentsQuotaAsRetryableAndStoresNothingOfThem) {
  ASSERT_OK_AND_ASSIGN(uplink::Credentials creds, Enroll("laptop-1"));
  auto c = Connect(creds);
  ASSERT_OK_AND_ASSIGN(v1::HelloAck hello, SendHello(*c, 1));
  uint64_t next = 1;
  Result<v1::Error> err = UnavailableError("no refusal yet");
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(c->SendFrame(v1::FRAME_TYPE_BATCH, BatchBody(next, 10)));
    auto f = c->ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    if (f->type == v1::FRAME_TYPE_ERROR) {
      v1::Error e;
      ASSERT_TRUE(e.ParseFromString(f->body));
      err = e;
      break;
    }
    ASSERT_EQ(f->type, v1::FRAME_TYPE_ACK);
    next += 10;
  }
  ASSERT_TRUE(err.ok()) << "8 KiB of quota never ran out";
  EXPECT_EQ(err->code(), v1::ERROR_CODE_OVERLOADED);
  EXPECT_TRUE(err->retryable());
  EXPECT_GT(next, 1u);  // some batches fitted
  ExpectRejected("agent_quota");
  EXPECT_EQ(Metric("custos_ingest_quota_refusals_total"), 1);
  EXPECT_EQ(StoredEvents(creds.agent_id), next - 1);  // every acked event, none of the refused
  ExpectBystanderStillServed();                       // a quota is per agent
}

}  // namespace
}  // namespace custos::collector::ingest
