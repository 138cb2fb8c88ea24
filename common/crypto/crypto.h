// common/crypto: keys, certificates, CSRs, TLS contexts and hashes for Custos.
//
// Everything here is OpenSSL 3 underneath; no OpenSSL type crosses this header except the
// opaque SSL_CTX* that TlsContext hands to Asio (asio::ssl::context wraps native handles).
// Keys are ECDSA P-256. PEM strings are the interchange format. All functions are thread-safe
// (no shared mutable state) and return Status/Result, never throw.
//
// Identity: an agent certificate carries the agent id as its subject CN and as a URI SAN
// "urn:custos:agent:<agent_id>". The collector derives the agent's identity only from a
// certificate it verified, never from anything the agent sends.
#pragma once

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::crypto {

// ---- Hashes ----------------------------------------------------------------------------
// SHA-256 of data, 32 raw bytes.
std::string Sha256(std::string_view data);
// HMAC-SHA-256 (RFC 2104) of data under key, 32 raw bytes. Any key length (keys longer than
// the 64-byte block are hashed first, as the RFC says).
std::string HmacSha256(std::string_view key, std::string_view data);
// HMAC-SHA-256 under one fixed key for many short messages: the key's padded blocks are hashed
// once, so each Mac() costs two compressions for a message under 55 bytes. Mac() equals
// HmacSha256(key, data); it is const and thread-safe. Movable, not copyable.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(std::string_view key);
  HmacSha256Key(HmacSha256Key&& other) noexcept;
  HmacSha256Key& operator=(HmacSha256Key&& other) noexcept;
  HmacSha256Key(const HmacSha256Key&) = delete;
  HmacSha256Key& operator=(const HmacSha256Key&) = delete;
  ~HmacSha256Key();
  std::string Mac(std::string_view data) const;

 private:
  EVP_MD_CTX* inner_ = nullptr;  // SHA-256 state after (key ^ ipad)
  EVP_MD_CTX* outer_ = nullptr;  // SHA-256 state after (key ^ opad)
};
// Lower-case hex of raw bytes.
std::string HexEncode(std::string_view bytes);
// CRC32C (Castagnoli), as used by the spool; `crc` is the running value (0 to start).
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);
// n cryptographically random bytes (RAND_bytes).
Result<std::string> RandomBytes(size_t n);
// A random URL-safe token of `bytes` entropy bytes, base64url without padding.
Result<std::string> RandomToken(size_t bytes = 32);
// Constant-time equality.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// ---- Keys and certificates -------------------------------------------------------------
struct KeyPair {
  std::string private_key_pem;  // PKCS#8 PEM, unencrypted: store 0600
  std::string public_key_pem;
};
Result<KeyPair> GenerateEcKey();

// Ed25519 (signing only: the audit log's checkpoints). PKCS#8 / SubjectPublicKeyInfo PEM.
Result<KeyPair> GenerateEd25519Key();
// The 64-byte signature of `message`. InvalidArgument when the key is not an Ed25519 key.
Result<std::string> Ed25519Sign(std::string_view private_key_pem, std::string_view message);
// Ok when `signature` is `message` signed by the key's owner; PermissionDenied when it is not;
// InvalidArgument when the key does not parse or is not Ed25519.
Status Ed25519Verify(std::string_view public_key_pem, std::string_view message,
                     std::string_view signature);

// What a parsed certificate says. Times are system_clock.
struct CertificateInfo {
  std::string subject_cn;
  std::string issuer_cn;
  std::string serial_hex;  // lower-case hex, no leading zeros stripped beyond OpenSSL's
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;
  std::vector<std::string> uri_sans;
  std::string agent_id;  // from the "urn:custos:agent:" URI SAN, empty if none
  bool is_ca = false;
};
Result<CertificateInfo> ParseCertificate(std::string_view cert_pem);

struct CaMaterial {
  std::string cert_pem;
  std::string key_pem;
};
// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign|cRLSign).
Result<CaMaterial> CreateCa(std::string_view common_name, std::chrono::hours validity);

struct IssuedCertificate {
  std::string cert_pem;
  std::string key_pem;  // empty when issued from a CSR (the requester holds the key)
  CertificateInfo info;
};
// A server certificate for the collector signed by the CA, with the given DNS and IP SANs
// (extendedKeyUsage serverAuth). Generates a new key.
Result<IssuedCertificate> IssueServerCertificate(const CaMaterial& ca, std::string_view common_name,
                                                 const std::vector<std::string>& dns_names,
                                                 const std::vector<std::string>& ip_addresses,
                                                 std::chrono::hours validity);

// A certificate signing request for `common_name` with the key `key_pem`.
Result<std::string> CreateCsr(std::string_view key_pem, std::string_view common_name);

// Ok when csr_pem is a CSR that SignAgentCsr would accept (parses, its self-signature verifies,
// an EC P-256 key), without touching a CA key.
Status CheckCsr(std::string_view csr_pem);

// Signs a CSR as an agent client certificate. The CSR's own subject and extensions are
// ignored (only its public key is used, after its self-signature verifies): the certificate
// gets CN=agent_id, URI SAN urn:custos:agent:<agent_id>, extendedKeyUsage clientAuth, a random
// 128-bit serial, notBefore = now - 5 min (clock skew), notAfter = now + validity.
// `not_after_override`, when set, replaces notAfter (tests make expired certificates with it).
Result<IssuedCertificate> SignAgentCsr(
    const CaMaterial& ca, std::string_view csr_pem, std::string_view agent_id,
    std::chrono::hours validity,
    std::optional<std::chrono::system_clock::time_point> not_before_override = std::nullopt,
    std::optional<std::chrono::system_clock::time_point> not_after_override = std::nullopt);

// Verifies that cert_pem chains to ca_pem and is within its validity at `now`.
Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_pem,
                         std::chrono::system_clock::time_point now);

// ---- TLS contexts ------------------------------------------------------------------------
// ALPN protocol id for the agent<->collector protocol.
inline constexpr std::string_view kAlpnCustos1 = "custos/1";

struct TlsServerOptions {
  std::string ca_pem;    // CA that issues client certificates (and the server's own chain)
  std::string cert_pem;  // server certificate (chain)
  std::string key_pem;
  // true: a client without a certificate may complete the handshake (only for enrollment;
  // the caller must then check TlsPeer::has_certificate). A presented certificate is always
  // verified against ca_pem and refused if invalid or expired.
  bool allow_clients_without_certificate = true;
  bool allow_tls12 = false;                      // TLS 1.3 only unless set
  std::string alpn = std::string(kAlpnCustos1);  // required when non-empty
};

struct TlsClientOptions {
  std::string ca_pem;    // pinned CA that must have issued the server certificate
  std::string cert_pem;  // client certificate; empty for an enrollment session
  std::string key_pem;
  std::string server_name;  // checked against the server's DNS/IP SANs; also sent as SNI
  bool allow_tls12 = false;
  int max_version_override = 0;  // tests: e.g. TLS1_2_VERSION to act as an old client
  std::string alpn = std::string(kAlpnCustos1);
};

// Key-exchange groups every Custos TLS context accepts: elliptic-curve groups of at least 128-bit
// strength. Finite-field groups (OpenSSL 3.0 accepts them in TLS 1.3 by default) are left out:
// ffdhe2048 is weaker than everything else in the handshake, and the large ones let a client
// that has not authenticated make the server spend milliseconds of CPU per handshake.
inline constexpr std::string_view kTlsGroups = "X25519:P-256:X448:P-521:P-384";

// Restricts ctx to kTlsGroups. ForServer and ForClient do this; for contexts built elsewhere
// (the HTTPS API). InvalidArgument with OpenSSL's reason when the library lacks a group.
Status RestrictTlsGroups(SSL_CTX* ctx);

// Owns an SSL_CTX. Movable, not copyable.
class TlsContext {
 public:
  static Result<TlsContext> ForServer(const TlsServerOptions& options);
  static Result<TlsContext> ForClient(const TlsClientOptions& options);
  TlsContext(TlsContext&&) noexcept;
  TlsContext& operator=(TlsContext&&) noexcept;
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ~TlsContext();

  SSL_CTX* native() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_ = nullptr;
};

// Prepares a client SSL object made from a ForClient context: sets SNI and hostname (or IP)
// verification for options.server_name. Call before the handshake.
Status ConfigureClientSsl(SSL* ssl, std::string_view server_name);

// What the server learned about the peer after a successful handshake.
struct TlsPeer {
  bool has_certificate = false;
  CertificateInfo certificate;  // valid when has_certificate
  std::string alpn;             // negotiated protocol
  std::string version;          // "TLSv1.3"
};
Result<TlsPeer> InspectPeer(SSL* ssl);

// The last OpenSSL error queue entries as text (and clears the queue), for log messages.
std::string DrainOpenSslErrors();

}  // namespace custos::crypto
