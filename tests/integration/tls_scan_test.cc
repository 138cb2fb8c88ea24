// The refusals of a real custos-collector's two TLS ports, as a scanner from Debian sees them
// (sslscan, its XML report): the agents' port offers TLS 1.3 only, the HTTPS API TLS 1.2 and 1.3
// with forward-secret AEAD suites only, both with elliptic-curve groups of at least 128 bits.
// Certificate refusals on the agents' port (no certificate: enrollment only; another CA, expired,
// revoked; a TLS 1.2 client) are in collector/ingest/ingest_server_test.cc. docs/reliability.md,
// "TLS refusals", says how to rerun this and what the last run found.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

namespace custos {
namespace {

using namespace std::chrono_literals;
using testing::CollectorProcess;
using ::testing::Each;
using testing::TempDir;
using ::testing::UnorderedElementsAre;

constexpr char kSslscan[] = "/usr/bin/sslscan";

// One element of sslscan's XML report: its tag and attributes.
struct XmlElement {
  std::string tag;
  std::map<std::string, std::string> attributes;
  std::string Attr(const std::string& name) const {
    auto it = attributes.find(name);
    return it == attributes.end() ? "" : it->second;
  }
};

// What sslscan --xml reports about one server (version 2.0: one element per line).
struct ScanReport {
  std::map<std::string, bool> protocols;  // "SSLv2", "SSLv3", "TLSv1.0" ... -> enabled
  std::vector<XmlElement> ciphers;        // cipher, sslversion, bits, strength
  std::vector<XmlElement> groups;         // name, sslversion, bits
  std::vector<XmlElement> keys;           // the certificate's <pk>: type, bits, curve_name
  std::vector<std::string> signature_algorithms;
  std::vector<XmlElement> renegotiation;
  std::vector<XmlElement> heartbleed;
  std::string xml;
  std::string summary;  // the text report without colours, for failure messages

  std::set<std::string> CipherNames(const std::string& version) const {
    std::set<std::string> names;
    for (const auto& c : ciphers) {
      if (c.Attr("sslversion") == version) names.insert(c.Attr("cipher"));
    }
    return names;
  }
};

ScanReport ParseSslscanXml(const std::string& xml) {
  ScanReport report;
  report.xml = xml;
  static const std::regex element(R"(<([a-z-]+)((?:\s+[a-z_-]+="[^"]*")*)\s*/?>)");
  static const std::regex attribute(R"re(([a-z_-]+)="([^"]*)")re");
  static const std::regex signature(R"(<signature-algorithm>([^<]*)</signature-algorithm>)");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), element);
       it != std::sregex_iterator(); ++it) {
    XmlElement e{.tag = (*it)[1].str(), .attributes = {}};
    const std::string attrs = (*it)[2].str();
    for (auto a = std::sregex_iterator(attrs.begin(), attrs.end(), attribute);
         a != std::sregex_iterator(); ++a) {
      e.attributes[(*a)[1].str()] = (*a)[2].str();
    }
    if (e.tag == "protocol") {
      std::string name =
          e.Attr("type") == "ssl" ? "SSLv" + e.Attr("version") : "TLSv" + e.Attr("version");
      report.protocols[name] = e.Attr("enabled") == "1";
    } else if (e.tag == "cipher") {
      report.ciphers.push_back(std::move(e));
    } else if (e.tag == "group") {
      report.groups.push_back(std::move(e));
    } else if (e.tag == "pk") {
      report.keys.push_back(std::move(e));
    } else if (e.tag == "renegotiation") {
      report.renegotiation.push_back(std::move(e));
    } else if (e.tag == "heartbleed") {
      report.heartbleed.push_back(std::move(e));
    }
  }
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), signature);
       it != std::sregex_iterator(); ++it) {
    report.signature_algorithms.push_back((*it)[1].str());
  }
  return report;
}

// Runs sslscan against 127.0.0.1:port. Its XML and text reports stay in dir as NAME.xml and
// NAME.txt (kept with CUSTOS_KEEP_TEST_DIRS=1); the text is shown in failure messages.
Result<ScanReport> Scan(const TempDir& dir, uint16_t port, const std::string& name) {
  if (access(kSslscan, X_OK) != 0) {
    return FailedPreconditionError(std::string(kSslscan) +
                                   ": not installed (scripts/install-deps.sh installs it)");
  }
  const std::string xml_path = dir.Sub(name + ".xml");
  auto run = testing::Run({kSslscan, "--no-colour", "--timeout=5", "--xml=" + xml_path,
                           "127.0.0.1:" + std::to_string(port)},
                          60s);
  if (run.exit_code != 0) {
    return InternalError("sslscan exited " + std::to_string(run.exit_code) + ": " + run.err);
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string xml, testing::ReadFile(xml_path));
  ScanReport report = ParseSslscanXml(xml);
  report.summary = run.out;
  CUSTOS_RETURN_IF_ERROR(testing::WriteFile(dir.Sub(name + ".txt"), run.out));
  if (report.protocols.size() != 6) return InternalError("sslscan: no protocol section: " + xml);
  return report;
}

// ---- A client hello that names custos/1 ---------------------------------------------------
// The agents' port refuses every client hello without the ALPN extension before it looks at the
// version (crypto.cc RequireAlpnExtension), so a scanner sees every protocol "disabled" for that
// reason alone. sslscan cannot send ALPN; this proxy adds "custos/1" to each client hello that
// has none, so the scan measures the version, suite and group policy behind the ALPN gate. The
// client's handshake transcript then differs from the server's: the protocol and group probes
// (a client hello answered by a server hello or an alert) are exact, a probe that must finish
// the handshake (sslscan's TLS 1.3 suite list, the certificate) fails, which is why the suites
// are also checked with openssl s_client below.

// Adds ALPN "custos/1" to a TLS record holding a whole ClientHello without ALPN; anything else
// (SSLv2 hellos, other records, a hello with ALPN, a hello split across records) is unchanged.
std::string AddAlpnToClientHello(std::string record) {
  auto u8 = [&](size_t i) { return static_cast<uint8_t>(record[i]); };
  auto u16 = [&](size_t i) { return static_cast<size_t>(u8(i) << 8 | u8(i + 1)); };
  auto put16 = [&](size_t i, size_t v) {
    record[i] = static_cast<char>(v >> 8);
    record[i + 1] = static_cast<char>(v);
  };
  // record header (5) | handshake type (1), length (3) | version (2), random (32) | ...
  if (record.size() < 5 + 4 + 34 + 1 || u8(0) != 0x16 || u8(5) != 0x01) return record;
  if (u16(3) != record.size() - 5) return record;
  size_t p = 5 + 4 + 34;
  p += 1 + u8(p);  // session id
  if (p + 2 > record.size()) return record;
  p += 2 + u16(p);  // cipher suites
  if (p + 1 > record.size()) return record;
  p += 1 + u8(p);                                          // compression methods
  if (p == record.size()) record += std::string(2, '\0');  // no extensions block yet
  if (p + 2 > record.size()) return record;
  const size_t extensions_end = p + 2 + u16(p);
  if (extensions_end != record.size()) return record;
  for (size_t q = p + 2; q + 4 <= extensions_end; q += 4 + u16(q + 2)) {
    if (u16(q) == 16) return record;  // already has ALPN
  }
  const std::string protocol = "custos/1";
  std::string extension(7, '\0');
  extension[1] = 16;  // application_layer_protocol_negotiation
  extension[3] = static_cast<char>(protocol.size() + 3);
  extension[5] = static_cast<char>(protocol.size() + 1);
  extension[6] = static_cast<char>(protocol.size());
  record += extension + protocol;
  put16(p, u16(p) + extension.size() + protocol.size());
  const size_t handshake_length = record.size() - 9;
  record[6] = static_cast<char>(handshake_length >> 16);
  put16(7, handshake_length & 0xffff);
  put16(3, record.size() - 5);
  return record;
}

// 127.0.0.1:port() -> 127.0.0.1:target, rewriting the first record of each connection with
// AddAlpnToClientHello and forwarding the rest unchanged.
class AlpnAddingProxy {
 public:
  explicit AlpnAddingProxy(uint16_t target) : target_(target) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(0);
    CUSTOS_CHECK(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                 listen(listen_fd_, 64) == 0)
        << "proxy: listen";
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~AlpnAddingProxy() {
    stop_ = true;
    acceptor_.join();
    close(listen_fd_);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : connections_) t.join();
  }
  uint16_t port() const { return port_; }
  int rewritten() const { return rewritten_.load(); }

 private:
  static sockaddr_in Loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      connections_.emplace_back([this, client] { Serve(client); });
    }
  }
  // Reads until `want` bytes are in `buffer` (or the peer stops sending); false on EOF or error.
  bool ReadAtLeast(int fd, std::string& buffer, size_t want) {
    char chunk[16384];
    while (buffer.size() < want && !stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = read(fd, chunk, sizeof chunk);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    return buffer.size() >= want;
  }
  static bool SendAll(int fd, const std::string& data) {
    for (size_t off = 0; off < data.size();) {
      ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  void Serve(int client) {
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(target_);
    std::string first;
    if (connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ReadAtLeast(client, first, 5)) {
      if (static_cast<uint8_t>(first[0]) == 0x16) {
        const size_t length = static_cast<uint8_t>(first[3]) << 8 | static_cast<uint8_t>(first[4]);
        ReadAtLeast(client, first, 5 + length);
        if (first.size() >= 5 + length) {
          std::string record = AddAlpnToClientHello(first.substr(0, 5 + length));
          if (record.size() != length + 5) rewritten_++;
          first = record + first.substr(5 + length);
        }
      }
      if (SendAll(server, first)) Pump(client, server);
    }
    close(server);
    close(client);
  }
  void Pump(int a, int b) {
    char buf[16384];
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    while (!stop_) {
      if (poll(p, 2, 50) < 0) return;
      for (int i = 0; i < 2; ++i) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = read(p[i].fd, buf, sizeof buf);
        if (n <= 0 || !SendAll(p[1 - i].fd, std::string(buf, static_cast<size_t>(n)))) return;
      }
    }
  }

  uint16_t target_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> rewritten_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;  // guarded by mu_
};

// ---- The scans ------------------------------------------------------------------------------

class TlsScanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    collector_ = new CollectorProcess(dir_->Sub("collector"));
    Status init = collector_->Init();
    CUSTOS_CHECK(init.ok()) << init.ToString();
    Status started = collector_->Start();
    CUSTOS_CHECK(started.ok()) << started.ToString() << collector_->Logs();
  }
  static void TearDownTestSuite() {
    delete collector_;
    delete dir_;
  }

  // No NULL, export, anonymous, RC4, DES/3DES, MD5 or SHA-1 MAC, nothing below 128 bits, and
  // nothing sslscan itself grades below "strong" (TLS 1.2) or "acceptable" (TLS 1.3).
  static void ExpectNoWeakSuite(const ScanReport& report) {
    static const std::regex weak("NULL|EXP|anon|ADH|AECDH|RC4|DES|MD5|-SHA$|CBC|PSK|SRP|CCM_8");
    for (const auto& c : report.ciphers) {
      const std::string name = c.Attr("cipher");
      EXPECT_FALSE(std::regex_search(name, weak)) << name << "\n" << report.summary;
      EXPECT_GE(std::stoi(c.Attr("bits")), 128) << name;
      EXPECT_THAT(c.Attr("strength"), ::testing::AnyOf("strong", "acceptable")) << name;
    }
  }
  static void ExpectOnlyStrongGroups(const ScanReport& report) {
    EXPECT_FALSE(report.groups.empty()) << report.xml;
    for (const auto& g : report.groups) {
      EXPECT_GE(std::stoi(g.Attr("bits")), 128) << g.Attr("name") << "\n" << report.summary;
      EXPECT_EQ(g.Attr("name").find("ffdhe"), std::string::npos) << g.Attr("name");
    }
  }
  static void ExpectNoRenegotiationOrHeartbleed(const ScanReport& report) {
    ASSERT_EQ(report.renegotiation.size(), 1u) << report.xml;
    EXPECT_EQ(report.renegotiation[0].Attr("supported"), "0");
    for (const auto& h : report.heartbleed) EXPECT_EQ(h.Attr("vulnerable"), "0");
  }

  static TempDir* dir_;
  static CollectorProcess* collector_;
};
TempDir* TlsScanTest::dir_ = nullptr;
CollectorProcess* TlsScanTest::collector_ = nullptr;

TEST(AddAlpnToClientHelloTest, AddsTheExtensionAndFixesEveryLength) {
  // A minimal TLS 1.2 hello: empty session id, one suite, null compression, no extensions.
  std::string hello = std::string("\x16\x03\x01\x00\x2d", 5) + std::string("\x01\x00\x00\x29", 4) +
                      std::string("\x03\x03", 2) + std::string(32, 'r') + std::string(1, '\0') +
                      std::string("\x00\x02\xc0\x2b", 4) + std::string("\x01\x00", 2);
  ASSERT_EQ(hello.size(), 5u + 0x2d);
  std::string out = AddAlpnToClientHello(hello);
  ASSERT_EQ(out.size(), hello.size() + 2 + 7 + 8);
  EXPECT_EQ((static_cast<uint8_t>(out[3]) << 8 | static_cast<uint8_t>(out[4])), out.size() - 5);
  EXPECT_EQ(static_cast<uint8_t>(out[8]), out.size() - 9);
  EXPECT_EQ(out.substr(hello.size()),
            std::string("\x00\x0f\x00\x10\x00\x0b\x00\x09\x08", 9) + "custos/1");
  // A hello that already names a protocol, and a record that is not a hello, pass unchanged.
  EXPECT_EQ(AddAlpnToClientHello(out), out);
  const std::string alert("\x15\x03\x03\x00\x02\x02\x28", 7);
  EXPECT_EQ(AddAlpnToClientHello(alert), alert);
}

TEST_F(TlsScanTest, AgentPortRefusesEveryHelloWithoutCustosAlpn) {
  Result<ScanReport> scanned = Scan(*dir_, collector_->port(), "agent-direct");
  ASSERT_TRUE(scanned.ok()) << scanned.status().ToString();
  const ScanReport& report = *scanned;
  for (const auto& [protocol, enabled] : report.protocols) {
    EXPECT_FALSE(enabled) << protocol << "\n" << report.summary;
  }
  EXPECT_TRUE(report.ciphers.empty()) << report.xml;
}

TEST_F(TlsScanTest, AgentPortOffersOnlyTls13WithStrongGroups) {
  AlpnAddingProxy proxy(collector_->port());
  Result<ScanReport> scanned = Scan(*dir_, proxy.port(), "agent");
  ASSERT_TRUE(scanned.ok()) << scanned.status().ToString();
  const ScanReport& report = *scanned;
  EXPECT_GT(proxy.rewritten(), 0);
  EXPECT_EQ(report.protocols, (std::map<std::string, bool>{{"SSLv2", false},
                                                           {"SSLv3", false},
                                                           {"TLSv1.0", false},
                                                           {"TLSv1.1", false},
                                                           {"TLSv1.2", false},
                                                           {"TLSv1.3", true}}))
      << report.summary;
  for (const auto& c : report.ciphers) EXPECT_EQ(c.Attr("sslversion"), "TLSv1.3");
  ExpectNoWeakSuite(report);
  ExpectOnlyStrongGroups(report);
  ExpectNoRenegotiationOrHeartbleed(report);
}

// sslscan cannot finish a handshake through the proxy, so the TLS 1.3 suites are probed one by
// one with openssl s_client, which sends ALPN itself.
TEST_F(TlsScanTest, AgentPortAcceptsOnlyTheAeadTls13SuitesOfOpenSslsDefault) {
  std::set<std::string> accepted;
  for (const char* suite :
       {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}) {
    auto run =
        testing::Run({"/usr/bin/openssl", "s_client", "-connect",
                      "127.0.0.1:" + std::to_string(collector_->port()), "-tls1_3", "-ciphersuites",
                      suite, "-alpn", "custos/1", "-CAfile", collector_->ca_path(),
                      "-verify_return_error", "-verify_hostname", "localhost", "-brief"},
                     30s);
    if (run.exit_code == 0) accepted.insert(suite);
  }
  EXPECT_THAT(accepted,
              UnorderedElementsAre("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                                   "TLS_AES_128_GCM_SHA256"));
}

// collector/api/https_server.cc MakeServerContext: TLS 1.2 and 1.3; in TLS 1.2 only the
// forward-secret AEAD suites it lists (the ECDSA ones, as the certificate is ECDSA).
TEST_F(TlsScanTest, ApiPortOffersTls12And13WithForwardSecretAeadSuitesOnly) {
  ASSERT_NE(collector_->api_port(), 0);
  Result<ScanReport> scanned = Scan(*dir_, collector_->api_port(), "api");
  ASSERT_TRUE(scanned.ok()) << scanned.status().ToString();
  const ScanReport& report = *scanned;
  EXPECT_EQ(report.protocols, (std::map<std::string, bool>{{"SSLv2", false},
                                                           {"SSLv3", false},
                                                           {"TLSv1.0", false},
                                                           {"TLSv1.1", false},
                                                           {"TLSv1.2", true},
                                                           {"TLSv1.3", true}}))
      << report.summary;
  EXPECT_THAT(report.CipherNames("TLSv1.2"),
              UnorderedElementsAre("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                   "ECDHE-ECDSA-CHACHA20-POLY1305"))
      << report.summary;
  EXPECT_THAT(report.CipherNames("TLSv1.3"),
              UnorderedElementsAre("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                                   "TLS_AES_128_GCM_SHA256"))
      << report.summary;
  ExpectNoWeakSuite(report);
  ExpectOnlyStrongGroups(report);
  ExpectNoRenegotiationOrHeartbleed(report);

  // The certificate: an ECDSA P-256 key (128-bit strength), signed with SHA-256.
  ASSERT_EQ(report.keys.size(), 1u) << report.xml;
  EXPECT_EQ(report.keys[0].Attr("type"), "EC");
  EXPECT_EQ(report.keys[0].Attr("curve_name"), "prime256v1");
  EXPECT_GE(std::stoi(report.keys[0].Attr("bits")), 128);
  EXPECT_THAT(report.signature_algorithms, Each(::testing::Eq("ecdsa-with-SHA256")));
  EXPECT_FALSE(report.signature_algorithms.empty());
}

}  // namespace
}  // namespace custos
