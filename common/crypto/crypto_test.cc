#include "common/crypto/crypto.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

namespace custos::crypto {

// Defined in crypto.cc; the table-driven path that runs where SSE4.2 is missing.
uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc);

namespace {

using std::chrono::hours;
using Clock = std::chrono::system_clock;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

#define CRYPTO_TEST_CONCAT_INNER(a, b) a##b
#define CRYPTO_TEST_CONCAT(a, b) CRYPTO_TEST_CONCAT_INNER(a, b)
#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    const ::custos::Status& crypto_test_status = (expr);                   \
    ASSERT_TRUE(crypto_test_status.ok()) << crypto_test_status.ToString(); \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(CRYPTO_TEST_CONCAT(crypto_test_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)   \
  auto tmp = (expr);                                \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

template <typename T>
T ValueOrDie(Result<T> result) {
  CUSTOS_CHECK(result.ok()) << result.status().ToString();
  return std::move(result).value();
}

// ---- Hashes and randomness ---------------------------------------------------------------

uint32_t Crc32cBitwise(const std::string& data, uint32_t crc) {
  crc = ~crc;
  for (unsigned char b : data) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
  }
  return ~crc;
}

uint32_t Crc32cOf(const std::string& s) { return Crc32c(s.data(), s.size()); }

TEST(Crc32cTest, MatchesKnownVectors) {
  EXPECT_EQ(Crc32cOf("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cOf(""), 0u);
  // RFC 3720 appendix B.4.
  EXPECT_EQ(Crc32cOf(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32cOf(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32cOf(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32cOf(descending), 0x113FDB5Cu);
  EXPECT_EQ(Crc32cPortable("123456789", 9, 0), 0xE3069283u);
}

TEST(Crc32cTest, ExtendsIncrementally) {
  std::string a = "spool record header ";
  std::string b = "and a payload that is longer than eight bytes";
  EXPECT_EQ(Crc32c(b.data(), b.size(), Crc32c(a.data(), a.size())), Crc32cOf(a + b));
  EXPECT_EQ(Crc32cPortable(b.data(), b.size(), Crc32cPortable(a.data(), a.size(), 0)),
            Crc32cOf(a + b));
  EXPECT_EQ(Crc32c("", 0, 0x12345678), 0x12345678u);
}

TEST(Crc32cTest, AllPathsAgreeWithBitwiseReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(42);
  std::string buffer(300, '\0');
  for (char& c : buffer) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n = 0; n + offset <= 200; ++n) {
      std::string slice = buffer.substr(offset, n);
      uint32_t want = Crc32cBitwise(slice, 0x9E3779B9);
      ASSERT_EQ(Crc32c(buffer.data() + offset, n, 0x9E3779B9), want) << offset << "+" << n;
      ASSERT_EQ(Crc32cPortable(buffer.data() + offset, n, 0x9E3779B9), want) << offset << "+" << n;
    }
  }
}

TEST(HashTest, Sha256MatchesFipsVectors) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// RFC 4231 test cases 1, 2 and 6 (a key longer than the block size is hashed first).
TEST(HashTest, HmacSha256MatchesRfc4231Vectors) {
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(HmacSha256(std::string(131, '\xaa'),
                                 "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_NE(HmacSha256("", "x"), HmacSha256("k", "x"));
}

TEST(HashTest, HmacSha256KeyEqualsOneShotHmacForAnyKeyAndMessage) {
  for (size_t key_len : {0, 1, 32, 64, 65, 131}) {
    const std::string key(key_len, '\x5a');
    HmacSha256Key keyed(key);
    for (size_t n : {0, 1, 55, 56, 64, 1000}) {
      const std::string data(n, 'd');
      EXPECT_EQ(keyed.Mac(data), HmacSha256(key, data)) << key_len << " " << n;
    }
  }
  HmacSha256Key moved(HmacSha256Key(std::string(20, '\x0b')));
  EXPECT_EQ(HexEncode(moved.Mac("Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(Ed25519Test, SignatureVerifiesOnlyForItsMessageAndKey) {
  ASSERT_OK_AND_ASSIGN(KeyPair key, GenerateEd25519Key());
  ASSERT_OK_AND_ASSIGN(KeyPair other, GenerateEd25519Key());
  ASSERT_OK_AND_ASSIGN(std::string sig, Ed25519Sign(key.private_key_pem, "seq 1000"));
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_TRUE(Ed25519Verify(key.public_key_pem, "seq 1000", sig).ok());
  EXPECT_EQ(Ed25519Verify(key.public_key_pem, "seq 1001", sig).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(Ed25519Verify(other.public_key_pem, "seq 1000", sig).code(),
            StatusCode::kPermissionDenied);
  ASSERT_OK_AND_ASSIGN(KeyPair ec, GenerateEcKey());
  EXPECT_EQ(Ed25519Sign(ec.private_key_pem, "x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Verify(ec.public_key_pem, "x", sig).code(), StatusCode::kInvalidArgument);
}

TEST(HashTest, HexEncodesLowerCase) {
  EXPECT_EQ(HexEncode(std::string("\x00\x0f\xab\xff", 4)), "000fabff");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(RandomTest, ReturnsRequestedNumberOfBytes) {
  ASSERT_OK_AND_ASSIGN(std::string bytes, RandomBytes(48));
  EXPECT_EQ(bytes.size(), 48u);
  ASSERT_OK_AND_ASSIGN(std::string none, RandomBytes(0));
  EXPECT_THAT(none, IsEmpty());
}

TEST(RandomTest, TokenIsUnpaddedBase64UrlAndUnique) {
  ASSERT_OK_AND_ASSIGN(std::string a, RandomToken());
  ASSERT_OK_AND_ASSIGN(std::string b, RandomToken());
  EXPECT_EQ(a.size(), 43u);  // ceil(32 * 4 / 3), no padding
  EXPECT_NE(a, b);
  for (char c : a) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << a;
  }
  for (size_t n : {1u, 2u, 3u, 4u, 5u}) {
    ASSERT_OK_AND_ASSIGN(std::string token, RandomToken(n));
    EXPECT_EQ(token.size(), (n * 4 + 2) / 3) << n;
  }
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
}

// ---- Keys, certificates, CSRs --------------------------------------------------------------

TEST(KeyTest, GeneratesP256KeyAsPkcs8Pem) {
  ASSERT_OK_AND_ASSIGN(KeyPair key, GenerateEcKey());
  EXPECT_THAT(key.private_key_pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  EXPECT_THAT(key.public_key_pem, HasSubstr("-----BEGIN PUBLIC KEY-----"));
  ASSERT_OK_AND_ASSIGN(KeyPair other, GenerateEcKey());
  EXPECT_NE(key.private_key_pem, other.private_key_pem);
}

TEST(CertificateTest, CreatesSelfSignedCa) {
  Clock::time_point before = Clock::now();
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("Custos Test CA", hours(24 * 365)));
  ASSERT_OK_AND_ASSIGN(CertificateInfo info, ParseCertificate(ca.cert_pem));
  EXPECT_EQ(ERR_peek_error(), 0u) << "OpenSSL error queue left dirty";
  EXPECT_TRUE(info.is_ca);
  EXPECT_THAT(info.dns_sans, IsEmpty());
  EXPECT_EQ(info.subject_cn, "Custos Test CA");
  EXPECT_EQ(info.issuer_cn, "Custos Test CA");
  EXPECT_FALSE(info.serial_hex.empty());
  EXPECT_LE(info.serial_hex.size(), 32u);
  EXPECT_EQ(info.serial_hex.find_first_of("ABCDEF"), std::string::npos);
  EXPECT_LT(info.not_before, before);
  EXPECT_GT(info.not_after, before + hours(24 * 364));
  EXPECT_THAT(ca.key_pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  ASSERT_OK(VerifyCertificate(ca.cert_pem, ca.cert_pem, Clock::now()));
}

TEST(CertificateTest, CaSerialsAreRandom) {
  ASSERT_OK_AND_ASSIGN(CaMaterial a, CreateCa("CA", hours(1)));
  ASSERT_OK_AND_ASSIGN(CaMaterial b, CreateCa("CA", hours(1)));
  EXPECT_NE(ValueOrDie(ParseCertificate(a.cert_pem)).serial_hex,
            ValueOrDie(ParseCertificate(b.cert_pem)).serial_hex);
}

TEST(CertificateTest, RefusesEmptyCaNameAndOutOfRangeValidity) {
  EXPECT_EQ(CreateCa("", hours(1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCa("CA", hours(0)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCa("CA", hours(24 * 366 * 101)).status().code(), StatusCode::kInvalidArgument);
}

TEST(CertificateTest, IssuesServerCertificateWithDnsAndIpSans) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("Custos Test CA", hours(24)));
  ASSERT_OK_AND_ASSIGN(IssuedCertificate server,
                       IssueServerCertificate(ca, "collector", {"collector.test", "localhost"},
                                              {"127.0.0.1", "::1"}, hours(24)));
  EXPECT_FALSE(server.key_pem.empty());
  ASSERT_OK_AND_ASSIGN(CertificateInfo info, ParseCertificate(server.cert_pem));
  EXPECT_EQ(info.subject_cn, "collector");
  EXPECT_EQ(info.issuer_cn, "Custos Test CA");
  EXPECT_THAT(info.dns_sans, ElementsAre("collector.test", "localhost"));
  EXPECT_THAT(info.ip_sans, ElementsAre("127.0.0.1", "::1"));
  EXPECT_THAT(info.uri_sans, IsEmpty());
  EXPECT_THAT(info.agent_id, IsEmpty());
  EXPECT_FALSE(info.is_ca);
  EXPECT_EQ(server.info.serial_hex, info.serial_hex);
  ASSERT_OK(VerifyCertificate(server.cert_pem, ca.cert_pem, Clock::now()));
}

TEST(CertificateTest, RefusesInvalidServerSans) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  Result<IssuedCertificate> bad_ip = IssueServerCertificate(ca, "c", {}, {"300.1.1.1"}, hours(1));
  EXPECT_EQ(bad_ip.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_ip.status().message(), HasSubstr("300.1.1.1"));
  // A comma must not smuggle a second SAN in.
  Result<IssuedCertificate> bad_dns =
      IssueServerCertificate(ca, "c", {"a.test,IP:10.0.0.1"}, {}, hours(1));
  EXPECT_EQ(bad_dns.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(IssueServerCertificate(ca, "c", {}, {}, hours(1)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(CertificateTest, RefusesToIssueWithCaKeyThatDoesNotMatch) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  ASSERT_OK_AND_ASSIGN(CaMaterial other, CreateCa("CA", hours(24)));
  CaMaterial mixed{.cert_pem = ca.cert_pem, .key_pem = other.key_pem};
  Result<IssuedCertificate> issued = IssueServerCertificate(mixed, "c", {"c.test"}, {}, hours(1));
  EXPECT_EQ(issued.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(issued.status().message(), HasSubstr("does not match"));
}

struct Agent {
  KeyPair key;
  IssuedCertificate cert;
};

Agent IssueAgent(const CaMaterial& ca, std::string_view agent_id,
                 std::optional<Clock::time_point> not_before = std::nullopt,
                 std::optional<Clock::time_point> not_after = std::nullopt) {
  Agent agent;
  agent.key = ValueOrDie(GenerateEcKey());
  std::string csr = ValueOrDie(CreateCsr(agent.key.private_key_pem, "whatever-the-agent-asks"));
  agent.cert = ValueOrDie(SignAgentCsr(ca, csr, agent_id, hours(24), not_before, not_after));
  return agent;
}

TEST(CertificateTest, SignsAgentCsrWithAgentIdAndIgnoresCsrSubject) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("Custos Test CA", hours(24)));
  ASSERT_OK_AND_ASSIGN(KeyPair key, GenerateEcKey());
  ASSERT_OK_AND_ASSIGN(std::string csr, CreateCsr(key.private_key_pem, "i-am-the-admin"));
  EXPECT_THAT(csr, HasSubstr("-----BEGIN CERTIFICATE REQUEST-----"));
  Clock::time_point before = Clock::now();
  ASSERT_OK_AND_ASSIGN(IssuedCertificate issued,
                       SignAgentCsr(ca, csr, "host-42.example_a", hours(48)));
  EXPECT_THAT(issued.key_pem, IsEmpty());
  ASSERT_OK_AND_ASSIGN(CertificateInfo info, ParseCertificate(issued.cert_pem));
  EXPECT_EQ(info.subject_cn, "host-42.example_a");
  EXPECT_EQ(info.agent_id, "host-42.example_a");
  EXPECT_THAT(info.uri_sans, ElementsAre("urn:custos:agent:host-42.example_a"));
  EXPECT_THAT(info.dns_sans, IsEmpty());
  EXPECT_FALSE(info.is_ca);
  EXPECT_EQ(issued.info.agent_id, "host-42.example_a");
  // notBefore = now - 5 min, notAfter = now + validity (second resolution).
  EXPECT_LE(info.not_before, before - std::chrono::minutes(4));
  EXPECT_GE(info.not_before, before - std::chrono::minutes(6));
  EXPECT_GE(info.not_after, before + hours(48) - std::chrono::seconds(2));
  ASSERT_OK(VerifyCertificate(issued.cert_pem, ca.cert_pem, Clock::now()));
}

TEST(CertificateTest, AgentCertificateCarriesTheCsrPublicKey) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  Agent agent = IssueAgent(ca, "agent-1");
  // The client context checks that certificate and key belong together.
  TlsClientOptions options{.ca_pem = ca.cert_pem,
                           .cert_pem = agent.cert.cert_pem,
                           .key_pem = agent.key.private_key_pem,
                           .server_name = "collector.test"};
  ASSERT_OK(TlsContext::ForClient(options).status());
  ASSERT_OK_AND_ASSIGN(KeyPair stranger, GenerateEcKey());
  options.key_pem = stranger.private_key_pem;
  EXPECT_EQ(TlsContext::ForClient(options).status().code(), StatusCode::kInvalidArgument);
}

// Decodes the PEM, lets `tamper` edit the DER, encodes it again (without re-signing).
std::string TamperPem(const std::string& pem, const std::function<void(std::string&)>& tamper) {
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  CUSTOS_CHECK(PEM_read_bio(in, &name, &header, &data, &len) == 1);
  std::string der(reinterpret_cast<char*>(data), static_cast<size_t>(len));
  tamper(der);
  BIO* out = BIO_new(BIO_s_mem());
  CUSTOS_CHECK(PEM_write_bio(out, name, header, reinterpret_cast<const unsigned char*>(der.data()),
                             static_cast<long>(der.size())) > 0);
  char* out_data = nullptr;
  long out_len = BIO_get_mem_data(out, &out_data);
  std::string result(out_data, static_cast<size_t>(out_len));
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  BIO_free(in);
  BIO_free(out);
  return result;
}

TEST(CertificateTest, RefusesTamperedCsr) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  ASSERT_OK_AND_ASSIGN(KeyPair key, GenerateEcKey());
  ASSERT_OK_AND_ASSIGN(std::string csr, CreateCsr(key.private_key_pem, "agent-aaaa"));
  std::string tampered = TamperPem(csr, [](std::string& der) {
    size_t at = der.find("agent-aaaa");
    CUSTOS_CHECK(at != std::string::npos);
    der.replace(at, 10, "agent-bbbb");
  });
  Result<IssuedCertificate> issued = SignAgentCsr(ca, tampered, "agent-1", hours(24));
  EXPECT_EQ(issued.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(issued.status().message(), "crypto: sign CSR: signature does not verify");
  EXPECT_EQ(ERR_peek_error(), 0u) << "OpenSSL error queue left dirty";
}

TEST(CertificateTest, RefusesGarbageCsrAndInvalidAgentIds) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  EXPECT_EQ(SignAgentCsr(ca, "not a csr", "agent-1", hours(1)).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(KeyPair key, GenerateEcKey());
  ASSERT_OK_AND_ASSIGN(std::string csr, CreateCsr(key.private_key_pem, "x"));
  for (std::string bad : {std::string(), std::string(65, 'a'), std::string("a/b"),
                          std::string("a b"), std::string("a:b"), std::string("ä")}) {
    Result<IssuedCertificate> issued = SignAgentCsr(ca, csr, bad, hours(1));
    EXPECT_EQ(issued.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(issued.status().message(), HasSubstr("agent id")) << bad;
  }
  ASSERT_OK(SignAgentCsr(ca, csr, std::string(64, 'a'), hours(1)).status());
}

TEST(CertificateTest, ParseRefusesGarbage) {
  Result<CertificateInfo> info = ParseCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n");
  EXPECT_EQ(info.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(info.status().message(), HasSubstr("crypto: parse certificate: "));
  EXPECT_EQ(ParseCertificate("").status().code(), StatusCode::kInvalidArgument);
}

// ---- Verification ----------------------------------------------------------------------------

TEST(VerifyTest, AcceptsCertificateIssuedByCa) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  Agent agent = IssueAgent(ca, "agent-1");
  EXPECT_TRUE(VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, Clock::now()).ok());
}

TEST(VerifyTest, RefusesCertificateFromAnotherCa) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  ASSERT_OK_AND_ASSIGN(CaMaterial other, CreateCa("CA", hours(24)));  // same name, other key
  Agent agent = IssueAgent(other, "agent-1");
  Status status = VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, Clock::now());
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("crypto: verify certificate 'agent-1': "));
}

TEST(VerifyTest, RefusesExpiredCertificate) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  Clock::time_point now = Clock::now();
  Agent agent = IssueAgent(ca, "agent-1", now - hours(3), now - hours(1));
  Status status = VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, now);
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("certificate has expired"));
}

TEST(VerifyTest, JudgesValidityAtTheGivenTimeNotTheWallClock) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24 * 30)));
  Clock::time_point now = Clock::now();
  Agent agent = IssueAgent(ca, "agent-1");  // valid for 24 hours
  EXPECT_TRUE(VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, now + hours(23)).ok());
  Status status = VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, now + hours(25));
  EXPECT_THAT(status.message(), HasSubstr("certificate has expired"));
}

TEST(VerifyTest, ExpiresWithOnlyNotAfterOverride) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  Clock::time_point now = Clock::now();
  Agent agent = IssueAgent(ca, "agent-1", std::nullopt, now - hours(1));
  EXPECT_LT(agent.cert.info.not_before, agent.cert.info.not_after);
  Status status = VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, now);
  EXPECT_THAT(status.message(), HasSubstr("certificate has expired"));
}

TEST(VerifyTest, RefusesNotYetValidCertificate) {
  ASSERT_OK_AND_ASSIGN(CaMaterial ca, CreateCa("CA", hours(24)));
  Clock::time_point now = Clock::now();
  Agent agent = IssueAgent(ca, "agent-1", now + hours(1), now + hours(5));
  Status status = VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, now);
  EXPECT_EQ(status.code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("certificate is not yet valid"));
  EXPECT_TRUE(VerifyCertificate(agent.cert.cert_pem, ca.cert_pem, now + hours(2)).ok());
}

// ---- TLS -----------------------------------------------------------------------------------

struct Pki {
  CaMaterial ca;
  IssuedCertificate server;
  Agent agent;
  CaMaterial other_ca;
  Agent stranger;  // issued by other_ca
};

const Pki& SharedPki() {
  static const Pki* pki = [] {
    auto* p = new Pki;
    p->ca = ValueOrDie(CreateCa("Custos Test CA", hours(24)));
    p->server = ValueOrDie(
        IssueServerCertificate(p->ca, "collector", {"collector.test"}, {"127.0.0.1"}, hours(24)));
    p->agent = IssueAgent(p->ca, "agent-7");
    p->other_ca = ValueOrDie(CreateCa("Custos Test CA", hours(24)));
    p->stranger = IssueAgent(p->other_ca, "agent-7");
    return p;
  }();
  return *pki;
}

TlsServerOptions ServerOptions() {
  const Pki& pki = SharedPki();
  return {
      .ca_pem = pki.ca.cert_pem, .cert_pem = pki.server.cert_pem, .key_pem = pki.server.key_pem};
}

TlsClientOptions AgentOptions() {
  const Pki& pki = SharedPki();
  return {.ca_pem = pki.ca.cert_pem,
          .cert_pem = pki.agent.cert.cert_pem,
          .key_pem = pki.agent.key.private_key_pem,
          .server_name = "collector.test"};
}

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// One side of a handshake followed by a one-byte exchange each way (in TLS 1.3 the client
// finishes its handshake before the server has judged the client certificate; the exchange
// makes a refusal visible to both sides).
struct Side {
  bool ok = false;
  std::string error;
  long verify_result = X509_V_OK;
  TlsPeer peer;
};

Side RunSide(SSL_CTX* ctx, int fd, bool server, const std::string& server_name) {
  Side side;
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx));
  CUSTOS_CHECK(ssl != nullptr && SSL_set_fd(ssl.get(), fd) == 1);
  if (!server && !server_name.empty()) {
    Status configured = ConfigureClientSsl(ssl.get(), server_name);
    CUSTOS_CHECK(configured.ok()) << configured.ToString();
  }
  if ((server ? SSL_accept(ssl.get()) : SSL_connect(ssl.get())) == 1) {
    Result<TlsPeer> peer = InspectPeer(ssl.get());
    if (peer.ok()) side.peer = *peer;
    char mine = server ? 's' : 'c';
    char theirs = server ? 'c' : 's';
    char got = 0;
    bool exchanged = server
                         ? SSL_write(ssl.get(), &mine, 1) == 1 && SSL_read(ssl.get(), &got, 1) == 1
                         : SSL_read(ssl.get(), &got, 1) == 1 && SSL_write(ssl.get(), &mine, 1) == 1;
    side.ok = peer.ok() && exchanged && got == theirs;
    if (!peer.ok()) side.error = peer.status().ToString();
  }
  if (!side.ok && side.error.empty()) side.error = DrainOpenSslErrors();
  ERR_clear_error();
  side.verify_result = SSL_get_verify_result(ssl.get());
  // Unblocks the other side if it still waits for us.
  shutdown(fd, SHUT_RDWR);
  return side;
}

struct Handshake {
  Side server;
  Side client;
};

Handshake RunHandshake(const TlsContext& server_ctx, const TlsContext& client_ctx,
                       const std::string& server_name = "collector.test") {
  signal(SIGPIPE, SIG_IGN);  // a refused peer may have closed its end already
  int fds[2];
  CUSTOS_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  timeval timeout{.tv_sec = 20, .tv_usec = 0};  // a hang fails the test instead of blocking it
  for (int fd : fds) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  }
  Handshake result;
  std::thread server([&] { result.server = RunSide(server_ctx.native(), fds[0], true, ""); });
  result.client = RunSide(client_ctx.native(), fds[1], false, server_name);
  server.join();
  close(fds[0]);
  close(fds[1]);
  return result;
}

Handshake RunHandshake(const TlsServerOptions& server_options,
                       const TlsClientOptions& client_options) {
  TlsContext server = ValueOrDie(TlsContext::ForServer(server_options));
  TlsContext client = ValueOrDie(TlsContext::ForClient(client_options));
  return RunHandshake(server, client, client_options.server_name);
}

TEST(TlsTest, MutualHandshakeExposesAgentIdAlpnAndVersion) {
  Handshake hs = RunHandshake(ServerOptions(), AgentOptions());
  ASSERT_TRUE(hs.server.ok) << hs.server.error;
  ASSERT_TRUE(hs.client.ok) << hs.client.error;
  EXPECT_TRUE(hs.server.peer.has_certificate);
  EXPECT_EQ(hs.server.peer.certificate.agent_id, "agent-7");
  EXPECT_EQ(hs.server.peer.certificate.subject_cn, "agent-7");
  EXPECT_EQ(hs.server.peer.alpn, "custos/1");
  EXPECT_EQ(hs.server.peer.version, "TLSv1.3");
  EXPECT_TRUE(hs.client.peer.has_certificate);
  EXPECT_THAT(hs.client.peer.certificate.dns_sans, ElementsAre("collector.test"));
  EXPECT_EQ(hs.client.peer.alpn, "custos/1");
}

TEST(TlsTest, VerifiesServerByIpAddress) {
  TlsClientOptions client = AgentOptions();
  client.server_name = "127.0.0.1";
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_TRUE(hs.server.ok) << hs.server.error;
  EXPECT_TRUE(hs.client.ok) << hs.client.error;

  client.server_name = "127.0.0.2";
  hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_EQ(hs.client.verify_result, X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST(TlsTest, ContextIsMovable) {
  TlsContext a = ValueOrDie(TlsContext::ForServer(ServerOptions()));
  SSL_CTX* native = a.native();
  TlsContext b = std::move(a);
  EXPECT_EQ(b.native(), native);
  EXPECT_EQ(a.native(), nullptr);  // NOLINT(bugprone-use-after-move)
  TlsContext c = ValueOrDie(TlsContext::ForClient(AgentOptions()));
  c = std::move(b);
  EXPECT_EQ(c.native(), native);
  // The moved context still negotiates ALPN (its protocol lives with the SSL_CTX).
  TlsContext client = ValueOrDie(TlsContext::ForClient(AgentOptions()));
  Handshake hs = RunHandshake(c, client);
  EXPECT_TRUE(hs.server.ok) << hs.server.error;
  EXPECT_EQ(hs.server.peer.alpn, "custos/1");
}

TEST(TlsTest, RefusesClientCertificateFromAnotherCa) {
  TlsClientOptions client = AgentOptions();
  client.cert_pem = SharedPki().stranger.cert.cert_pem;
  client.key_pem = SharedPki().stranger.key.private_key_pem;
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_NE(hs.server.verify_result, X509_V_OK);
  EXPECT_THAT(hs.server.error, HasSubstr("certificate verify failed"));
}

TEST(TlsTest, RefusesExpiredClientCertificate) {
  Clock::time_point now = Clock::now();
  Agent expired = IssueAgent(SharedPki().ca, "agent-7", now - hours(48), now - hours(1));
  TlsClientOptions client = AgentOptions();
  client.cert_pem = expired.cert.cert_pem;
  client.key_pem = expired.key.private_key_pem;
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_EQ(hs.server.verify_result, X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST(TlsTest, RefusesServerCertificateUsedAsClientCertificate) {
  TlsClientOptions client = AgentOptions();
  client.cert_pem = SharedPki().server.cert_pem;  // right CA, but extendedKeyUsage serverAuth
  client.key_pem = SharedPki().server.key_pem;
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_EQ(hs.server.verify_result, X509_V_ERR_INVALID_PURPOSE);
}

TEST(TlsTest, AcceptsClientWithoutCertificateForEnrollment) {
  TlsClientOptions client = AgentOptions();
  client.cert_pem.clear();
  client.key_pem.clear();
  Handshake hs = RunHandshake(ServerOptions(), client);
  ASSERT_TRUE(hs.server.ok) << hs.server.error;
  ASSERT_TRUE(hs.client.ok) << hs.client.error;
  EXPECT_FALSE(hs.server.peer.has_certificate);
  EXPECT_THAT(hs.server.peer.certificate.agent_id, IsEmpty());
  EXPECT_EQ(hs.server.peer.alpn, "custos/1");
}

TEST(TlsTest, RefusesClientWithoutCertificateWhenRequired) {
  TlsServerOptions server = ServerOptions();
  server.allow_clients_without_certificate = false;
  TlsClientOptions client = AgentOptions();
  client.cert_pem.clear();
  client.key_pem.clear();
  Handshake hs = RunHandshake(server, client);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_THAT(hs.server.error, HasSubstr("peer did not return a certificate"));
  // With a certificate the same server accepts.
  hs = RunHandshake(server, AgentOptions());
  EXPECT_TRUE(hs.server.ok) << hs.server.error;
  EXPECT_EQ(hs.server.peer.certificate.agent_id, "agent-7");
}

TEST(TlsTest, RefusesTls12Client) {
  TlsClientOptions client = AgentOptions();
  client.max_version_override = TLS1_2_VERSION;
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_THAT(hs.server.error, HasSubstr("unsupported protocol"));
}

// A client that offers only a finite-field group: OpenSSL's default would accept ffdhe2048
// (112-bit) and let a client make the server compute ffdhe8192 before it has authenticated.
TEST(TlsTest, RefusesClientOfferingOnlyFiniteFieldGroups) {
  for (const char* group : {"ffdhe2048", "ffdhe8192"}) {
    TlsContext server = ValueOrDie(TlsContext::ForServer(ServerOptions()));
    TlsContext client = ValueOrDie(TlsContext::ForClient(AgentOptions()));
    ASSERT_EQ(SSL_CTX_set1_groups_list(client.native(), group), 1) << group;
    Handshake hs = RunHandshake(server, client);
    EXPECT_FALSE(hs.server.ok) << group;
    EXPECT_FALSE(hs.client.ok) << group;
    EXPECT_THAT(hs.server.error, HasSubstr("no suitable key share")) << group;
  }
}

TEST(TlsTest, AcceptsEveryEllipticCurveGroupOfTheAllowList) {
  for (const char* group : {"X25519", "P-256", "X448", "P-521", "P-384"}) {
    TlsContext server = ValueOrDie(TlsContext::ForServer(ServerOptions()));
    TlsContext client = ValueOrDie(TlsContext::ForClient(AgentOptions()));
    ASSERT_EQ(SSL_CTX_set1_groups_list(client.native(), group), 1) << group;
    Handshake hs = RunHandshake(server, client);
    EXPECT_TRUE(hs.server.ok) << group << ": " << hs.server.error;
    EXPECT_TRUE(hs.client.ok) << group << ": " << hs.client.error;
  }
}

// For contexts built outside ForServer (the HTTPS API), with TLS 1.2 allowed.
TEST(TlsTest, RestrictTlsGroupsAppliesToAContextBuiltElsewhere) {
  TlsServerOptions options = ServerOptions();
  options.allow_tls12 = true;
  TlsContext server = ValueOrDie(TlsContext::ForServer(options));
  ASSERT_EQ(SSL_CTX_set1_groups_list(server.native(), "ffdhe2048:X25519"), 1);
  TlsClientOptions client_options = AgentOptions();
  client_options.allow_tls12 = true;
  TlsContext client = ValueOrDie(TlsContext::ForClient(client_options));
  ASSERT_EQ(SSL_CTX_set1_groups_list(client.native(), "ffdhe2048"), 1);
  EXPECT_TRUE(RunHandshake(server, client).server.ok);  // the unrestricted context accepts

  ASSERT_OK(RestrictTlsGroups(server.native()));
  EXPECT_FALSE(RunHandshake(server, client).server.ok);
}

TEST(TlsTest, AcceptsTls12ClientWhenAllowed) {
  TlsServerOptions server = ServerOptions();
  server.allow_tls12 = true;
  TlsClientOptions client = AgentOptions();
  client.max_version_override = TLS1_2_VERSION;
  Handshake hs = RunHandshake(server, client);
  ASSERT_TRUE(hs.server.ok) << hs.server.error;
  EXPECT_TRUE(hs.client.ok) << hs.client.error;
  EXPECT_EQ(hs.server.peer.version, "TLSv1.2");
  EXPECT_EQ(hs.server.peer.certificate.agent_id, "agent-7");
  EXPECT_EQ(hs.server.peer.alpn, "custos/1");
}

TEST(TlsTest, ClientRefusesServerWithWrongName) {
  TlsClientOptions client = AgentOptions();
  client.server_name = "evil.test";
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_EQ(hs.client.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST(TlsTest, ClientChecksServerNameFromContextEvenWithoutConfigureClientSsl) {
  TlsClientOptions client_options = AgentOptions();
  client_options.server_name = "evil.test";
  TlsContext server = ValueOrDie(TlsContext::ForServer(ServerOptions()));
  TlsContext client = ValueOrDie(TlsContext::ForClient(client_options));
  Handshake hs = RunHandshake(server, client, /*server_name=*/"");
  EXPECT_FALSE(hs.client.ok);
  EXPECT_EQ(hs.client.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST(TlsTest, ClientRefusesServerFromAnotherCa) {
  TlsClientOptions client = AgentOptions();
  client.ca_pem = SharedPki().other_ca.cert_pem;  // pinned to a CA that did not issue the server
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_NE(hs.client.verify_result, X509_V_OK);
}

TEST(TlsTest, RefusesClientNotOfferingAlpn) {
  TlsClientOptions client = AgentOptions();
  client.alpn.clear();
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_THAT(hs.client.error, HasSubstr("no application protocol"));
}

TEST(TlsTest, RefusesClientOfferingOnlyAnotherProtocol) {
  TlsClientOptions client = AgentOptions();
  client.alpn = "http/1.1";
  Handshake hs = RunHandshake(ServerOptions(), client);
  EXPECT_FALSE(hs.server.ok);
  EXPECT_FALSE(hs.client.ok);
  EXPECT_THAT(hs.client.error, HasSubstr("no application protocol"));
}

TEST(TlsTest, ServerContextRefusesKeyThatDoesNotMatchCertificate) {
  TlsServerOptions server = ServerOptions();
  server.key_pem = SharedPki().agent.key.private_key_pem;
  Result<TlsContext> ctx = TlsContext::ForServer(server);
  EXPECT_EQ(ctx.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(ctx.status().message(), HasSubstr("TLS server context: key"));
}

TEST(TlsTest, ServerContextRefusesGarbageCa) {
  TlsServerOptions server = ServerOptions();
  server.ca_pem = "garbage";
  EXPECT_EQ(TlsContext::ForServer(server).status().code(), StatusCode::kInvalidArgument);
}

TEST(TlsTest, ServerSendsCertificateChainFromPemBundle) {
  // A bundle "leaf + CA" is accepted and the leaf is what the client verifies.
  TlsServerOptions server = ServerOptions();
  server.cert_pem += SharedPki().ca.cert_pem;
  Handshake hs = RunHandshake(server, AgentOptions());
  EXPECT_TRUE(hs.client.ok) << hs.client.error;
  EXPECT_EQ(hs.client.peer.certificate.subject_cn, "collector");
}

TEST(TlsTest, ConfigureClientSslRefusesInvalidNames) {
  TlsContext client = ValueOrDie(TlsContext::ForClient(AgentOptions()));
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(client.native()));
  EXPECT_EQ(ConfigureClientSsl(ssl.get(), "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfigureClientSsl(ssl.get(), "bad name").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ConfigureClientSsl(nullptr, "collector.test").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ConfigureClientSsl(ssl.get(), "::1").ok());
}

TEST(TlsTest, InspectPeerRequiresFinishedHandshake) {
  TlsContext client = ValueOrDie(TlsContext::ForClient(AgentOptions()));
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(client.native()));
  EXPECT_EQ(InspectPeer(ssl.get()).status().code(), StatusCode::kFailedPrecondition);
}

TEST(OpenSslErrorsTest, DrainsQueueIntoText) {
  EXPECT_FALSE(ParseCertificate("nope").ok());
  ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
  EXPECT_THAT(DrainOpenSslErrors(), HasSubstr("no start line"));
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_EQ(DrainOpenSslErrors(), "no OpenSSL error detail");
}

}  // namespace
}  // namespace custos::crypto
