#include "common/crypto/crypto.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <ctime>
#include <memory>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>
#define CUSTOS_CRC32C_SSE42 1
#endif

namespace custos::crypto {

// Exposed to crypto_test.cc (declared there) so the portable path is tested on every machine.
uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc);

namespace {

using Clock = std::chrono::system_clock;

template <auto Fn>
struct FnDeleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};

using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, FnDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, FnDeleter<X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, FnDeleter<X509_REQ_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, FnDeleter<X509_EXTENSION_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, FnDeleter<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, FnDeleter<X509_STORE_CTX_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, FnDeleter<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, FnDeleter<GENERAL_NAMES_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, FnDeleter<ASN1_STRING_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, FnDeleter<SSL_CTX_free>>;
using OpenSslCharPtr = std::unique_ptr<char, OpenSslFree>;
using OpenSslBytePtr = std::unique_ptr<unsigned char, OpenSslFree>;

constexpr std::string_view kAgentUriPrefix = "urn:custos:agent:";
// Certificates start this far in the past so that peers with a slightly slow clock accept them.
constexpr std::chrono::minutes kClockSkew{5};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// "crypto: <what>: <OpenSSL errors>"
std::string OpenSslMessage(std::string_view what) {
  return "crypto: " + std::string(what) + ": " + DrainOpenSslErrors();
}

// ---- CRC32C ------------------------------------------------------------------------------

constexpr uint32_t kCrc32cPoly = 0x82F63B78;  // Castagnoli, reflected

using Crc32cTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Crc32cTables MakeCrc32cTables() {
  Crc32cTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCrc32cPoly : c >> 1;
    t[0][i] = c;
  }
  for (size_t s = 1; s < 8; ++s) {
    for (size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
  }
  return t;
}

constexpr Crc32cTables kCrc32cTables = MakeCrc32cTables();

#if defined(CUSTOS_CRC32C_SSE42)
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(const void* data, size_t n, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t c = static_cast<uint32_t>(~crc);
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    c = _mm_crc32_u64(c, word);
  }
  auto c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
}

bool CpuHasSse42() {
  static const bool has = [] {
    __builtin_cpu_init();  // Crc32c may run from a static initializer before libgcc's.
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return has;
}
#endif

// ---- PEM and BIO helpers -----------------------------------------------------------------

Result<BioPtr> ReadBio(std::string_view bytes, std::string_view what) {
  if (bytes.empty()) return InvalidArgumentError("crypto: " + std::string(what) + ": empty");
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return InvalidArgumentError("crypto: " + std::string(what) + ": too large");
  }
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  if (!bio) return InternalError(OpenSslMessage(what));
  return bio;
}

Result<BioPtr> WriteBio(std::string_view what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return InternalError(OpenSslMessage(what));
  return bio;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(n));
}

// Runs `write(bio)` (a PEM_write_bio_* call returning 1 on success) into a memory BIO.
template <typename WriteFn>
Result<std::string> EncodePem(std::string_view what, WriteFn&& write) {
  CUSTOS_ASSIGN_OR_RETURN(BioPtr bio, WriteBio(what));
  if (write(bio.get()) != 1) return InternalError(OpenSslMessage(what));
  return BioContents(bio.get());
}

Result<PkeyPtr> LoadPrivateKey(std::string_view pem, std::string_view what) {
  CUSTOS_ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem, what));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgumentError(OpenSslMessage(what));
  return key;
}

Result<X509Ptr> LoadCertificate(std::string_view pem, std::string_view what) {
  CUSTOS_ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem, what));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return InvalidArgumentError(OpenSslMessage(what));
  return cert;
}

// All certificates of a PEM bundle, in order; at least one.
Result<std::vector<X509Ptr>> LoadCertificates(std::string_view pem, std::string_view what) {
  CUSTOS_ASSIGN_OR_RETURN(BioPtr bio, ReadBio(pem, what));
  std::vector<X509Ptr> certs;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert) {
      certs.push_back(std::move(cert));
      continue;
    }
    unsigned long err = ERR_peek_last_error();
    bool end_of_input = !certs.empty() && ERR_GET_LIB(err) == ERR_LIB_PEM &&
                        ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
    if (!end_of_input) return InvalidArgumentError(OpenSslMessage(what));
    ERR_clear_error();
    return certs;
  }
}

// ---- Validation --------------------------------------------------------------------------

bool IsValidAgentId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// LDH labels separated by dots; with `allow_wildcard`, the first label may be "*".
bool IsValidDnsName(std::string_view name, bool allow_wildcard) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  bool first = true;
  for (;;) {
    size_t dot = name.find('.', start);
    std::string_view label =
        name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!(first && allow_wildcard && label == "*")) {
      for (char c : label) {
        bool ok =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) return false;
      }
      if (label.front() == '-' || label.back() == '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
    first = false;
  }
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Status ValidateCommonName(std::string_view cn, std::string_view context) {
  // 64 is the X.520 upper bound for commonName (ub-common-name).
  if (cn.empty() || cn.size() > 64) {
    return InvalidArgumentError("crypto: " + std::string(context) + ": common name " + Quote(cn) +
                                ": must be 1 to 64 bytes");
  }
  return OkStatus();
}

Status ValidateValidity(std::chrono::hours validity, std::string_view context) {
  // The upper bound keeps now + validity far from overflowing system_clock's nanoseconds.
  constexpr std::chrono::hours kMaxValidity(24 * 366 * 100);
  if (validity.count() <= 0 || validity > kMaxValidity) {
    return InvalidArgumentError("crypto: " + std::string(context) + ": validity " +
                                std::to_string(validity.count()) +
                                "h: must be positive and at most 100 years");
  }
  return OkStatus();
}

// ---- Certificate building ----------------------------------------------------------------

struct Ca {
  X509Ptr cert;
  PkeyPtr key;
};

Result<Ca> LoadCa(const CaMaterial& material, std::string_view context) {
  Ca ca;
  CUSTOS_ASSIGN_OR_RETURN(
      ca.cert, LoadCertificate(material.cert_pem, std::string(context) + ": CA certificate"));
  CUSTOS_ASSIGN_OR_RETURN(ca.key,
                          LoadPrivateKey(material.key_pem, std::string(context) + ": CA key"));
  if ((X509_get_extension_flags(ca.cert.get()) & EXFLAG_CA) == 0) {
    return InvalidArgumentError("crypto: " + std::string(context) +
                                ": CA certificate: not a CA (basicConstraints CA:FALSE)");
  }
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    return InvalidArgumentError(
        OpenSslMessage(std::string(context) + ": CA key: does not match the CA certificate"));
  }
  return ca;
}

Status SetRandomSerial(X509* cert, std::string_view context) {
  // 128 random bits with the top bit cleared: a positive DER INTEGER of at most 16 octets.
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return InternalError(OpenSslMessage(std::string(context) + ": serial"));
  }
  bytes[0] &= 0x7F;
  bytes[bytes.size() - 1] |= 0x01;  // never zero
  BignumPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return InternalError(OpenSslMessage(std::string(context) + ": serial"));
  }
  return OkStatus();
}

Status AddCommonName(X509_NAME* name, std::string_view cn, std::string_view context) {
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1) {
    return InvalidArgumentError(
        OpenSslMessage(std::string(context) + ": common name " + Quote(cn)));
  }
  return OkStatus();
}

struct CertificateSpec {
  std::string_view subject_cn;
  EVP_PKEY* subject_key = nullptr;  // the public key being certified
  X509* issuer = nullptr;           // nullptr: self-signed
  Clock::time_point not_before;
  Clock::time_point not_after;
};

// An unsigned X509v3 certificate without extensions.
Result<X509Ptr> NewCertificate(const CertificateSpec& spec, std::string_view context) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return InternalError(OpenSslMessage(context));
  }
  CUSTOS_RETURN_IF_ERROR(SetRandomSerial(cert.get(), context));
  CUSTOS_RETURN_IF_ERROR(
      AddCommonName(X509_get_subject_name(cert.get()), spec.subject_cn, context));
  X509_NAME* issuer_name = spec.issuer != nullptr ? X509_get_subject_name(spec.issuer)
                                                  : X509_get_subject_name(cert.get());
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), Clock::to_time_t(spec.not_before)) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), Clock::to_time_t(spec.not_after)) == nullptr ||
      X509_set_pubkey(cert.get(), spec.subject_key) != 1) {
    return InternalError(OpenSslMessage(context));
  }
  return cert;
}

// Adds an extension from its OpenSSL config text. Values are constants of this file, never
// caller input (SANs are built as GENERAL_NAMEs so that a name cannot inject extra entries).
Status AddExtension(X509* cert, X509* issuer, int nid, const char* value,
                    std::string_view context) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return InternalError(OpenSslMessage(std::string(context) + ": extension " + OBJ_nid2sn(nid)));
  }
  return OkStatus();
}

Status PushGeneralName(GENERAL_NAMES* names, int type, Asn1StringPtr value,
                       std::string_view context) {
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name) return InternalError(OpenSslMessage(context));
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  if (sk_GENERAL_NAME_push(names, name.get()) <= 0) return InternalError(OpenSslMessage(context));
  name.release();  // owned by `names`
  return OkStatus();
}

Result<Asn1StringPtr> Ia5String(std::string_view s, std::string_view context) {
  Asn1StringPtr str(ASN1_IA5STRING_new());
  if (!str || ASN1_STRING_set(str.get(), s.data(), static_cast<int>(s.size())) != 1) {
    return InternalError(OpenSslMessage(context));
  }
  return str;
}

struct SubjectAltNames {
  std::vector<std::string> dns;
  std::vector<std::string> ip;
  std::vector<std::string> uri;
};

Status AddSubjectAltNames(X509* cert, const SubjectAltNames& sans, std::string_view context) {
  std::string what = std::string(context) + ": subjectAltName";
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return InternalError(OpenSslMessage(what));
  for (const std::string& dns : sans.dns) {
    if (!IsValidDnsName(dns, /*allow_wildcard=*/true)) {
      return InvalidArgumentError("crypto: " + std::string(context) + ": DNS name " + Quote(dns) +
                                  ": not a valid host name");
    }
    CUSTOS_ASSIGN_OR_RETURN(Asn1StringPtr value, Ia5String(dns, what));
    CUSTOS_RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_DNS, std::move(value), what));
  }
  for (const std::string& ip : sans.ip) {
    Asn1StringPtr value(IsIpAddress(ip) ? a2i_IPADDRESS(ip.c_str()) : nullptr);
    if (!value) {
      ERR_clear_error();
      return InvalidArgumentError("crypto: " + std::string(context) + ": IP address " + Quote(ip) +
                                  ": not an IPv4 or IPv6 address");
    }
    CUSTOS_RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_IPADD, std::move(value), what));
  }
  for (const std::string& uri : sans.uri) {
    CUSTOS_ASSIGN_OR_RETURN(Asn1StringPtr value, Ia5String(uri, what));
    CUSTOS_RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_URI, std::move(value), what));
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return InternalError(OpenSslMessage(what));
  }
  return OkStatus();
}

Status SignCertificate(X509* cert, EVP_PKEY* issuer_key, std::string_view context) {
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
    return InternalError(OpenSslMessage(std::string(context) + ": sign"));
  }
  return OkStatus();
}

Result<std::string> CertificatePem(X509* cert, std::string_view context) {
  return EncodePem(std::string(context) + ": encode certificate",
                   [cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

Result<std::string> PrivateKeyPem(EVP_PKEY* key, std::string_view context) {
  // PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY") in OpenSSL 3.
  return EncodePem(std::string(context) + ": encode private key", [key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<PkeyPtr> NewEcKey(std::string_view context) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return InternalError(OpenSslMessage(std::string(context) + ": generate EC P-256 key"));
  return key;
}

bool IsP256Key(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") != 1) return false;
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) != 1) {
    ERR_clear_error();
    return false;
  }
  return std::string_view(group, len) == SN_X9_62_prime256v1;
}

// ---- Certificate parsing -----------------------------------------------------------------

Result<std::string> Asn1ToUtf8(const ASN1_STRING* s, std::string_view context) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0) return InvalidArgumentError(OpenSslMessage(context));
  OpenSslBytePtr owned(out);
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

Result<std::string> CommonName(const X509_NAME* name, std::string_view context) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return std::string();
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, index);
  return Asn1ToUtf8(X509_NAME_ENTRY_get_data(entry), context);
}

Result<Clock::time_point> Asn1TimeToTimePoint(const ASN1_TIME* t, std::string_view context) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return InvalidArgumentError(OpenSslMessage(context));
  }
  return Clock::from_time_t(timegm(&tm));
}

std::string Asn1Bytes(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

Result<CertificateInfo> CertificateInfoFromX509(X509* cert, std::string_view context) {
  CertificateInfo info;
  CUSTOS_ASSIGN_OR_RETURN(
      info.subject_cn, CommonName(X509_get_subject_name(cert), std::string(context) + ": subject"));
  CUSTOS_ASSIGN_OR_RETURN(
      info.issuer_cn, CommonName(X509_get_issuer_name(cert), std::string(context) + ": issuer"));

  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  OpenSslCharPtr serial_hex(serial ? BN_bn2hex(serial.get()) : nullptr);
  if (!serial_hex) return InternalError(OpenSslMessage(std::string(context) + ": serial"));
  info.serial_hex = serial_hex.get();
  for (char& c : info.serial_hex) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }

  CUSTOS_ASSIGN_OR_RETURN(
      info.not_before,
      Asn1TimeToTimePoint(X509_get0_notBefore(cert), std::string(context) + ": notBefore"));
  CUSTOS_ASSIGN_OR_RETURN(info.not_after, Asn1TimeToTimePoint(X509_get0_notAfter(cert),
                                                              std::string(context) + ": notAfter"));

  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  // critical: -1 absent, -2 present more than once, else present (and names null if undecodable).
  if (!names && critical != -1) {
    return InvalidArgumentError(OpenSslMessage(
        std::string(context) + (critical == -2 ? ": subjectAltName: extension occurs more than once"
                                               : ": subjectAltName: malformed")));
  }
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
    switch (type) {
      case GEN_DNS:
        info.dns_sans.push_back(Asn1Bytes(value));
        break;
      case GEN_URI:
        info.uri_sans.push_back(Asn1Bytes(value));
        break;
      case GEN_IPADD: {
        std::string raw = Asn1Bytes(value);
        char text[INET6_ADDRSTRLEN] = {};
        int family = raw.size() == 4 ? AF_INET : raw.size() == 16 ? AF_INET6 : 0;
        if (family == 0 || inet_ntop(family, raw.data(), text, sizeof(text)) == nullptr) {
          return InvalidArgumentError("crypto: " + std::string(context) +
                                      ": subjectAltName: IP address of " +
                                      std::to_string(raw.size()) + " bytes");
        }
        info.ip_sans.emplace_back(text);
        break;
      }
      default:
        break;
    }
  }

  // The identity is security-relevant: a malformed or ambiguous agent URI is an error, not "none".
  for (const std::string& uri : info.uri_sans) {
    if (uri.compare(0, kAgentUriPrefix.size(), kAgentUriPrefix) != 0) continue;
    std::string id = uri.substr(kAgentUriPrefix.size());
    if (!IsValidAgentId(id)) {
      return InvalidArgumentError("crypto: " + std::string(context) + ": agent URI " + Quote(uri) +
                                  ": invalid agent id");
    }
    if (!info.agent_id.empty()) {
      return InvalidArgumentError("crypto: " + std::string(context) +
                                  ": more than one agent URI SAN");
    }
    info.agent_id = std::move(id);
  }

  info.is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
  return info;
}

Result<IssuedCertificate> FinishIssued(X509* cert, std::string key_pem, std::string_view context) {
  IssuedCertificate issued;
  CUSTOS_ASSIGN_OR_RETURN(issued.cert_pem, CertificatePem(cert, context));
  issued.key_pem = std::move(key_pem);
  CUSTOS_ASSIGN_OR_RETURN(issued.info, CertificateInfoFromX509(cert, context));
  return issued;
}

// ---- TLS ---------------------------------------------------------------------------------

// The required ALPN protocol lives in the SSL_CTX's ex_data so that it is freed with the
// context (SSL objects hold a reference to their SSL_CTX, so it outlives every handshake).
void FreeAlpnProtocol(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                      long /*argl*/, void* /*argp*/) {
  delete static_cast<std::string*>(ptr);
}

int AlpnExDataIndex() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeAlpnProtocol);
  return index;
}

// Without an ALPN extension the select callback never runs; refuse such clients here.
int RequireAlpnExtension(SSL* ssl, int* alert, void* /*arg*/) {
  const unsigned char* ext = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
                                &len) != 1) {
    *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int SelectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* wanted = static_cast<const std::string*>(arg);
  unsigned int i = 0;
  while (i < inlen) {
    unsigned int len = in[i++];
    if (len == 0 || len > inlen - i) return SSL_TLSEXT_ERR_ALERT_FATAL;
    if (len == wanted->size() && std::memcmp(in + i, wanted->data(), len) == 0) {
      *out = in + i;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // sends no_application_protocol
}

Status ValidateAlpn(std::string_view alpn, std::string_view context) {
  if (alpn.size() > 255) {
    return InvalidArgumentError("crypto: " + std::string(context) + ": ALPN " + Quote(alpn) +
                                ": longer than 255 bytes");
  }
  return OkStatus();
}

Status SetProtocolVersions(SSL_CTX* ctx, int min_version, int max_version,
                           std::string_view context) {
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, max_version) != 1) {
    return InvalidArgumentError(OpenSslMessage(std::string(context) + ": protocol versions"));
  }
  return OkStatus();
}

// Shared hardening: no resumption (every connection verifies the peer afresh), no renegotiation,
// only the key-exchange groups of kTlsGroups.
Status HardenContext(SSL_CTX* ctx) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  return RestrictTlsGroups(ctx);
}

Status LoadCertificateAndKey(SSL_CTX* ctx, std::string_view cert_pem, std::string_view key_pem,
                             std::string_view context) {
  CUSTOS_ASSIGN_OR_RETURN(std::vector<X509Ptr> chain,
                          LoadCertificates(cert_pem, std::string(context) + ": certificate"));
  CUSTOS_ASSIGN_OR_RETURN(PkeyPtr key, LoadPrivateKey(key_pem, std::string(context) + ": key"));
  if (SSL_CTX_use_certificate(ctx, chain[0].get()) != 1) {
    return InvalidArgumentError(OpenSslMessage(std::string(context) + ": use certificate"));
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      return InvalidArgumentError(OpenSslMessage(std::string(context) + ": certificate chain"));
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgumentError(
        OpenSslMessage(std::string(context) + ": key: does not match the certificate"));
  }
  return OkStatus();
}

// Trusts exactly the certificates of ca_pem (never the system roots).
Status TrustCa(SSL_CTX* ctx, std::string_view ca_pem, bool advertise_to_clients,
               std::string_view context) {
  CUSTOS_ASSIGN_OR_RETURN(std::vector<X509Ptr> cas,
                          LoadCertificates(ca_pem, std::string(context) + ": CA"));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1 ||
        (advertise_to_clients && SSL_CTX_add_client_CA(ctx, ca.get()) != 1)) {
      return InternalError(OpenSslMessage(std::string(context) + ": CA"));
    }
  }
  return OkStatus();
}

// Sets the name the peer certificate must carry: a DNS SAN for a host name, an IP SAN for an
// address. The subject CN is never consulted.
Status SetExpectedPeerName(X509_VERIFY_PARAM* param, const std::string& name, bool is_ip,
                           std::string_view context) {
  X509_VERIFY_PARAM_set_hostflags(
      param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  bool ok = is_ip ? X509_VERIFY_PARAM_set1_host(param, nullptr, 0) == 1 &&
                        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                  : X509_VERIFY_PARAM_set1_ip(param, nullptr, 0) == 1 &&
                        X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()) == 1;
  if (!ok) {
    return InvalidArgumentError(
        OpenSslMessage(std::string(context) + ": server name " + Quote(name)));
  }
  return OkStatus();
}

Status ValidateServerName(const std::string& name, bool* is_ip, std::string_view context) {
  *is_ip = IsIpAddress(name);
  if (!*is_ip && !IsValidDnsName(name, /*allow_wildcard=*/false)) {
    return InvalidArgumentError("crypto: " + std::string(context) + ": server name " + Quote(name) +
                                ": not a host name or IP address");
  }
  return OkStatus();
}

}  // namespace

// ---- Hashes ------------------------------------------------------------------------------

std::string Sha256(std::string_view data) {
  std::string digest(32, '\0');
  unsigned int len = 0;
  int ok = EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(digest.data()),
                      &len, EVP_sha256(), nullptr);
  CUSTOS_CHECK(ok == 1 && len == digest.size()) << "SHA-256 failed: " << DrainOpenSslErrors();
  return digest;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::string mac(32, '\0');
  unsigned int len = 0;
  // HMAC() with an empty key would be given a null pointer by an empty string_view; any
  // non-null pointer with length 0 is the RFC's empty key.
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? &kEmpty : static_cast<const void*>(key.data());
  unsigned char* r = HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                          reinterpret_cast<unsigned char*>(mac.data()), &len);
  CUSTOS_CHECK(r != nullptr && len == mac.size())
      << "HMAC-SHA-256 failed: " << DrainOpenSslErrors();
  return mac;
}

HmacSha256Key::HmacSha256Key(std::string_view key) {
  unsigned char block[64] = {};
  if (key.size() > sizeof block) {
    std::string digest = Sha256(key);
    std::memcpy(block, digest.data(), digest.size());
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());
  }
  unsigned char pad[64];
  inner_ = EVP_MD_CTX_new();
  outer_ = EVP_MD_CTX_new();
  CUSTOS_CHECK(inner_ != nullptr && outer_ != nullptr) << "HMAC-SHA-256: out of memory";
  for (size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x36;
  bool ok = EVP_DigestInit_ex(inner_, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(inner_, pad, sizeof pad) == 1;
  for (size_t i = 0; i < sizeof pad; ++i) pad[i] = block[i] ^ 0x5c;
  ok = ok && EVP_DigestInit_ex(outer_, EVP_sha256(), nullptr) == 1 &&
       EVP_DigestUpdate(outer_, pad, sizeof pad) == 1;
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(pad, sizeof pad);
  CUSTOS_CHECK(ok) << "HMAC-SHA-256 key setup failed: " << DrainOpenSslErrors();
}

HmacSha256Key::HmacSha256Key(HmacSha256Key&& other) noexcept
    : inner_(std::exchange(other.inner_, nullptr)), outer_(std::exchange(other.outer_, nullptr)) {}

HmacSha256Key& HmacSha256Key::operator=(HmacSha256Key&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(inner_);
    EVP_MD_CTX_free(outer_);
    inner_ = std::exchange(other.inner_, nullptr);
    outer_ = std::exchange(other.outer_, nullptr);
  }
  return *this;
}

HmacSha256Key::~HmacSha256Key() {
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
}

std::string HmacSha256Key::Mac(std::string_view data) const {
  CUSTOS_CHECK(inner_ != nullptr) << "HmacSha256Key used after move";
  // One scratch context per thread: the shared states are only read (copied from).
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  thread_local std::unique_ptr<EVP_MD_CTX, Free> work(EVP_MD_CTX_new());
  EVP_MD_CTX* c = work.get();
  unsigned char inner[32];
  std::string mac(32, '\0');
  unsigned int len = 0, len2 = 0;
  bool ok = c != nullptr && EVP_MD_CTX_copy_ex(c, inner_) == 1 &&
            EVP_DigestUpdate(c, data.data(), data.size()) == 1 &&
            EVP_DigestFinal_ex(c, inner, &len) == 1 && EVP_MD_CTX_copy_ex(c, outer_) == 1 &&
            EVP_DigestUpdate(c, inner, sizeof inner) == 1 &&
            EVP_DigestFinal_ex(c, reinterpret_cast<unsigned char*>(mac.data()), &len2) == 1;
  CUSTOS_CHECK(ok && len == 32 && len2 == 32) << "HMAC-SHA-256 failed: " << DrainOpenSslErrors();
  return mac;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  return out;
}

uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc) {
  const auto& t = kCrc32cTables;
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  // Slicing-by-8; bytes are assembled explicitly so the result does not depend on endianness.
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t low = c ^ (static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
                        static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
    c = t[7][low & 0xFF] ^ t[6][(low >> 8) & 0xFF] ^ t[5][(low >> 16) & 0xFF] ^ t[4][low >> 24] ^
        t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
  }
  for (; n > 0; --n, ++p) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return ~c;
}

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) {
#if defined(CUSTOS_CRC32C_SSE42)
  if (CpuHasSse42()) return Crc32cSse42(data, n, crc);
#endif
  return Crc32cPortable(data, n, crc);
}

Result<std::string> RandomBytes(size_t n) {
  if (n > static_cast<size_t>(INT_MAX)) {
    return InvalidArgumentError("crypto: random bytes: " + std::to_string(n) + ": too many");
  }
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return InternalError(OpenSslMessage("random bytes"));
  }
  return out;
}

Result<std::string> RandomToken(size_t bytes) {
  CUSTOS_ASSIGN_OR_RETURN(std::string raw, RandomBytes(bytes));
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((raw.size() * 4 + 2) / 3);
  size_t i = 0;
  auto byte = [&raw](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(raw[k]));
  };
  for (; i + 3 <= raw.size(); i += 3) {
    uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out.push_back(kAlphabet[(v >> 18) & 0x3F]);
    out.push_back(kAlphabet[(v >> 12) & 0x3F]);
    out.push_back(kAlphabet[(v >> 6) & 0x3F]);
    out.push_back(kAlphabet[v & 0x3F]);
  }
  size_t rest = raw.size() - i;
  if (rest > 0) {
    uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out.push_back(kAlphabet[(v >> 18) & 0x3F]);
    out.push_back(kAlphabet[(v >> 12) & 0x3F]);
    if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 0x3F]);
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // The length is not secret (tokens have a fixed size); the contents are compared in constant
  // time.
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// ---- Keys and certificates ---------------------------------------------------------------

Result<KeyPair> GenerateEcKey() {
  CUSTOS_ASSIGN_OR_RETURN(PkeyPtr key, NewEcKey("generate key"));
  KeyPair pair;
  CUSTOS_ASSIGN_OR_RETURN(pair.private_key_pem, PrivateKeyPem(key.get(), "generate key"));
  CUSTOS_ASSIGN_OR_RETURN(pair.public_key_pem,
                          EncodePem("generate key: encode public key", [&key](BIO* bio) {
                            return PEM_write_bio_PUBKEY(bio, key.get());
                          }));
  return pair;
}

Result<KeyPair> GenerateEd25519Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return InternalError(OpenSslMessage("generate Ed25519 key"));
  KeyPair pair;
  CUSTOS_ASSIGN_OR_RETURN(pair.private_key_pem, PrivateKeyPem(key.get(), "generate Ed25519 key"));
  CUSTOS_ASSIGN_OR_RETURN(pair.public_key_pem,
                          EncodePem("generate Ed25519 key: encode public key", [&key](BIO* bio) {
                            return PEM_write_bio_PUBKEY(bio, key.get());
                          }));
  return pair;
}

Result<std::string> Ed25519Sign(std::string_view private_key_pem, std::string_view message) {
  CUSTOS_ASSIGN_OR_RETURN(PkeyPtr key, LoadPrivateKey(private_key_pem, "Ed25519 sign: load key"));
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return InvalidArgumentError("Ed25519 sign: the key is not an Ed25519 key");
  }
  std::unique_ptr<EVP_MD_CTX, FnDeleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t n = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return InternalError(OpenSslMessage("Ed25519 sign"));
  }
  sig.resize(n);
  return sig;
}

Status Ed25519Verify(std::string_view public_key_pem, std::string_view message,
                     std::string_view signature) {
  CUSTOS_ASSIGN_OR_RETURN(BioPtr bio, ReadBio(public_key_pem, "Ed25519 verify: load key"));
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return InvalidArgumentError(OpenSslMessage("Ed25519 verify: load key"));
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return InvalidArgumentError("Ed25519 verify: the key is not an Ed25519 key");
  }
  std::unique_ptr<EVP_MD_CTX, FnDeleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return InternalError(OpenSslMessage("Ed25519 verify"));
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();
  if (rc != 1) return PermissionDeniedError("Ed25519 verify: signature does not match");
  return OkStatus();
}

Result<CertificateInfo> ParseCertificate(std::string_view cert_pem) {
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert, LoadCertificate(cert_pem, "parse certificate"));
  return CertificateInfoFromX509(cert.get(), "parse certificate");
}

Result<CaMaterial> CreateCa(std::string_view common_name, std::chrono::hours validity) {
  constexpr std::string_view kContext = "create CA";
  CUSTOS_RETURN_IF_ERROR(ValidateCommonName(common_name, kContext));
  CUSTOS_RETURN_IF_ERROR(ValidateValidity(validity, kContext));
  CUSTOS_ASSIGN_OR_RETURN(PkeyPtr key, NewEcKey(kContext));
  Clock::time_point now = Clock::now();
  CertificateSpec spec{.subject_cn = common_name,
                       .subject_key = key.get(),
                       .issuer = nullptr,
                       .not_before = now - kClockSkew,
                       .not_after = now + validity};
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(spec, kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), nullptr, NID_basic_constraints, "critical,CA:TRUE", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), nullptr, NID_key_usage, "critical,keyCertSign,cRLSign", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), nullptr, NID_subject_key_identifier, "hash", kContext));
  CUSTOS_RETURN_IF_ERROR(SignCertificate(cert.get(), key.get(), kContext));
  CaMaterial ca;
  CUSTOS_ASSIGN_OR_RETURN(ca.cert_pem, CertificatePem(cert.get(), kContext));
  CUSTOS_ASSIGN_OR_RETURN(ca.key_pem, PrivateKeyPem(key.get(), kContext));
  return ca;
}

Result<IssuedCertificate> IssueServerCertificate(const CaMaterial& ca_material,
                                                 std::string_view common_name,
                                                 const std::vector<std::string>& dns_names,
                                                 const std::vector<std::string>& ip_addresses,
                                                 std::chrono::hours validity) {
  constexpr std::string_view kContext = "issue server certificate";
  CUSTOS_RETURN_IF_ERROR(ValidateCommonName(common_name, kContext));
  CUSTOS_RETURN_IF_ERROR(ValidateValidity(validity, kContext));
  if (dns_names.empty() && ip_addresses.empty()) {
    // Clients verify the server by SAN only (the CN is never checked).
    return InvalidArgumentError("crypto: issue server certificate: " + Quote(common_name) +
                                ": needs at least one DNS name or IP address");
  }
  CUSTOS_ASSIGN_OR_RETURN(Ca ca, LoadCa(ca_material, kContext));
  CUSTOS_ASSIGN_OR_RETURN(PkeyPtr key, NewEcKey(kContext));
  Clock::time_point now = Clock::now();
  CertificateSpec spec{.subject_cn = common_name,
                       .subject_key = key.get(),
                       .issuer = ca.cert.get(),
                       .not_before = now - kClockSkew,
                       .not_after = now + validity};
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(spec, kContext));
  X509* issuer = ca.cert.get();
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_ext_key_usage, "serverAuth", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_subject_key_identifier, "hash", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddSubjectAltNames(cert.get(), {.dns = dns_names, .ip = ip_addresses, .uri = {}}, kContext));
  CUSTOS_RETURN_IF_ERROR(SignCertificate(cert.get(), ca.key.get(), kContext));
  CUSTOS_ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyPem(key.get(), kContext));
  return FinishIssued(cert.get(), std::move(key_pem), kContext);
}

Result<std::string> CreateCsr(std::string_view key_pem, std::string_view common_name) {
  constexpr std::string_view kContext = "create CSR";
  CUSTOS_RETURN_IF_ERROR(ValidateCommonName(common_name, kContext));
  CUSTOS_ASSIGN_OR_RETURN(PkeyPtr key, LoadPrivateKey(key_pem, "create CSR: key"));
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
    return InternalError(OpenSslMessage(kContext));
  }
  CUSTOS_RETURN_IF_ERROR(
      AddCommonName(X509_REQ_get_subject_name(req.get()), common_name, kContext));
  if (X509_REQ_set_pubkey(req.get(), key.get()) != 1 ||
      X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
    return InternalError(OpenSslMessage("create CSR: sign"));
  }
  return EncodePem("create CSR: encode",
                   [&req](BIO* bio) { return PEM_write_bio_X509_REQ(bio, req.get()); });
}

namespace {
// Parses a PEM CSR whose self-signature verifies with its EC P-256 public key.
Result<X509ReqPtr> ReadCheckedCsr(std::string_view csr_pem, std::string_view context) {
  const std::string ctx(context);
  CUSTOS_ASSIGN_OR_RETURN(BioPtr bio, ReadBio(csr_pem, ctx + ": CSR"));
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return InvalidArgumentError(OpenSslMessage(ctx + ": CSR"));
  EVP_PKEY* requester_key = X509_REQ_get0_pubkey(req.get());
  if (requester_key == nullptr) return InvalidArgumentError(OpenSslMessage(ctx + ": public key"));
  if (X509_REQ_verify(req.get(), requester_key) != 1) {
    ERR_clear_error();
    return InvalidArgumentError("crypto: " + ctx + ": signature does not verify");
  }
  if (!IsP256Key(requester_key)) {
    return InvalidArgumentError("crypto: " + ctx + ": public key: not an EC P-256 key");
  }
  return req;
}
}  // namespace

Status CheckCsr(std::string_view csr_pem) { return ReadCheckedCsr(csr_pem, "check CSR").status(); }

Result<IssuedCertificate> SignAgentCsr(const CaMaterial& ca_material, std::string_view csr_pem,
                                       std::string_view agent_id, std::chrono::hours validity,
                                       std::optional<Clock::time_point> not_before_override,
                                       std::optional<Clock::time_point> not_after_override) {
  constexpr std::string_view kContext = "sign CSR";
  if (!IsValidAgentId(agent_id)) {
    return InvalidArgumentError("crypto: sign CSR: agent id " + Quote(agent_id) +
                                ": must match [A-Za-z0-9._-]{1,64}");
  }
  if (!not_after_override) CUSTOS_RETURN_IF_ERROR(ValidateValidity(validity, kContext));
  CUSTOS_ASSIGN_OR_RETURN(Ca ca, LoadCa(ca_material, kContext));

  CUSTOS_ASSIGN_OR_RETURN(X509ReqPtr req, ReadCheckedCsr(csr_pem, "sign CSR"));
  EVP_PKEY* requester_key = X509_REQ_get0_pubkey(req.get());

  Clock::time_point now = Clock::now();
  Clock::time_point not_after = not_after_override.value_or(now + validity);
  Clock::time_point not_before = not_before_override.value_or(now - kClockSkew);
  // An already-expired certificate asked for with only notAfter still gets notBefore < notAfter.
  if (!not_before_override && not_after <= not_before) {
    not_before = not_after - std::max(validity, std::chrono::hours(1));
  }
  if (not_after <= not_before) {
    return InvalidArgumentError("crypto: sign CSR: validity: notAfter is not after notBefore");
  }

  CertificateSpec spec{.subject_cn = agent_id,
                       .subject_key = requester_key,
                       .issuer = ca.cert.get(),
                       .not_before = not_before,
                       .not_after = not_after};
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(spec, kContext));
  X509* issuer = ca.cert.get();
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_ext_key_usage, "clientAuth", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_subject_key_identifier, "hash", kContext));
  CUSTOS_RETURN_IF_ERROR(
      AddExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always", kContext));
  std::string uri = std::string(kAgentUriPrefix) + std::string(agent_id);
  CUSTOS_RETURN_IF_ERROR(
      AddSubjectAltNames(cert.get(), {.dns = {}, .ip = {}, .uri = {uri}}, kContext));
  CUSTOS_RETURN_IF_ERROR(SignCertificate(cert.get(), ca.key.get(), kContext));
  return FinishIssued(cert.get(), std::string(), kContext);
}

Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_pem,
                         Clock::time_point now) {
  CUSTOS_ASSIGN_OR_RETURN(X509Ptr cert, LoadCertificate(cert_pem, "verify certificate"));
  CUSTOS_ASSIGN_OR_RETURN(std::vector<X509Ptr> cas,
                          LoadCertificates(ca_pem, "verify certificate: CA"));
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) return InternalError(OpenSslMessage("verify certificate"));
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
      return InternalError(OpenSslMessage("verify certificate: CA"));
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return InternalError(OpenSslMessage("verify certificate"));
  }
  // Sets X509_V_FLAG_USE_CHECK_TIME: validity is judged at `now`, not at the wall clock.
  X509_STORE_CTX_set_time(ctx.get(), 0, Clock::to_time_t(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    std::string subject = "certificate";
    Result<std::string> cn = CommonName(X509_get_subject_name(cert.get()), "verify certificate");
    if (cn.ok() && !cn->empty()) subject += " " + Quote(*cn);
    return PermissionDeniedError("crypto: verify " + subject + ": " +
                                 X509_verify_cert_error_string(err));
  }
  return OkStatus();
}

// ---- TLS contexts ------------------------------------------------------------------------

Status RestrictTlsGroups(SSL_CTX* ctx) {
  const std::string groups(kTlsGroups);
  if (SSL_CTX_set1_groups_list(ctx, groups.c_str()) != 1) {
    return InvalidArgumentError(OpenSslMessage("TLS context: key-exchange groups " + groups));
  }
  return OkStatus();
}

Result<TlsContext> TlsContext::ForServer(const TlsServerOptions& options) {
  constexpr std::string_view kContext = "TLS server context";
  CUSTOS_RETURN_IF_ERROR(ValidateAlpn(options.alpn, kContext));
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return InternalError(OpenSslMessage(kContext));
  CUSTOS_RETURN_IF_ERROR(SetProtocolVersions(
      ctx.get(), options.allow_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION, TLS1_3_VERSION, kContext));
  CUSTOS_RETURN_IF_ERROR(HardenContext(ctx.get()));
  static constexpr unsigned char kSessionIdContext[] = "custos";
  SSL_CTX_set_session_id_context(ctx.get(), kSessionIdContext, sizeof(kSessionIdContext) - 1);

  CUSTOS_RETURN_IF_ERROR(
      LoadCertificateAndKey(ctx.get(), options.cert_pem, options.key_pem, kContext));
  CUSTOS_RETURN_IF_ERROR(
      TrustCa(ctx.get(), options.ca_pem, /*advertise_to_clients=*/true, kContext));
  int mode = SSL_VERIFY_PEER;
  if (!options.allow_clients_without_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx.get(), mode, nullptr);

  if (!options.alpn.empty()) {
    int index = AlpnExDataIndex();
    if (index < 0) return InternalError(OpenSslMessage("TLS server context: ALPN"));
    auto protocol = std::make_unique<std::string>(options.alpn);
    if (SSL_CTX_set_ex_data(ctx.get(), index, protocol.get()) != 1) {
      return InternalError(OpenSslMessage("TLS server context: ALPN"));
    }
    void* arg = protocol.release();  // owned by ctx, freed by FreeAlpnProtocol
    SSL_CTX_set_client_hello_cb(ctx.get(), &RequireAlpnExtension, nullptr);
    SSL_CTX_set_alpn_select_cb(ctx.get(), &SelectAlpn, arg);
  }
  return TlsContext(ctx.release());
}

Result<TlsContext> TlsContext::ForClient(const TlsClientOptions& options) {
  constexpr std::string_view kContext = "TLS client context";
  CUSTOS_RETURN_IF_ERROR(ValidateAlpn(options.alpn, kContext));
  if (options.cert_pem.empty() != options.key_pem.empty()) {
    return InvalidArgumentError(
        "crypto: TLS client context: client certificate and key must be given together");
  }
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return InternalError(OpenSslMessage(kContext));
  int min_version = options.allow_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
  int max_version = TLS1_3_VERSION;
  if (options.max_version_override != 0) {
    max_version = options.max_version_override;
    min_version = std::min(min_version, max_version);
  }
  CUSTOS_RETURN_IF_ERROR(SetProtocolVersions(ctx.get(), min_version, max_version, kContext));
  CUSTOS_RETURN_IF_ERROR(HardenContext(ctx.get()));

  CUSTOS_RETURN_IF_ERROR(
      TrustCa(ctx.get(), options.ca_pem, /*advertise_to_clients=*/false, kContext));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!options.server_name.empty()) {
    // Also on the context, so an SSL made from it checks the name even before
    // ConfigureClientSsl (which additionally sets SNI).
    bool is_ip = false;
    CUSTOS_RETURN_IF_ERROR(ValidateServerName(options.server_name, &is_ip, kContext));
    CUSTOS_RETURN_IF_ERROR(
        SetExpectedPeerName(SSL_CTX_get0_param(ctx.get()), options.server_name, is_ip, kContext));
  }
  if (!options.cert_pem.empty()) {
    CUSTOS_RETURN_IF_ERROR(
        LoadCertificateAndKey(ctx.get(), options.cert_pem, options.key_pem, kContext));
  }
  if (!options.alpn.empty()) {
    std::string wire(1, static_cast<char>(options.alpn.size()));
    wire += options.alpn;
    // SSL_CTX_set_alpn_protos returns 0 on success.
    if (SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) != 0) {
      return InternalError(OpenSslMessage("TLS client context: ALPN"));
    }
  }
  return TlsContext(ctx.release());
}

TlsContext::TlsContext(TlsContext&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

TlsContext& TlsContext::operator=(TlsContext&& other) noexcept {
  if (this != &other) {
    SSL_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Status ConfigureClientSsl(SSL* ssl, std::string_view server_name) {
  constexpr std::string_view kContext = "configure TLS client";
  if (ssl == nullptr) return InvalidArgumentError("crypto: configure TLS client: null SSL");
  std::string name(server_name);
  bool is_ip = false;
  CUSTOS_RETURN_IF_ERROR(ValidateServerName(name, &is_ip, kContext));
  // RFC 6066: SNI carries host names only, never literal addresses.
  if (!is_ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    return InvalidArgumentError(OpenSslMessage("configure TLS client: SNI " + Quote(name)));
  }
  return SetExpectedPeerName(SSL_get0_param(ssl), name, is_ip, kContext);
}

Result<TlsPeer> InspectPeer(SSL* ssl) {
  if (ssl == nullptr) return InvalidArgumentError("crypto: inspect TLS peer: null SSL");
  if (SSL_is_init_finished(ssl) != 1) {
    return FailedPreconditionError("crypto: inspect TLS peer: handshake not finished");
  }
  TlsPeer peer;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert != nullptr) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      return PermissionDeniedError(std::string("crypto: inspect TLS peer: certificate: ") +
                                   X509_verify_cert_error_string(verify));
    }
    peer.has_certificate = true;
    CUSTOS_ASSIGN_OR_RETURN(peer.certificate,
                            CertificateInfoFromX509(cert, "inspect TLS peer: certificate"));
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn != nullptr) peer.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  peer.version = SSL_get_version(ssl);
  return peer;
}

std::string DrainOpenSslErrors() {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long err = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (!out.empty()) out += "; ";
    const char* lib = ERR_lib_error_string(err);
    const char* reason = ERR_reason_error_string(err);
    if (lib != nullptr) out.append(lib).append(": ");
    if (reason != nullptr) {
      out += reason;
    } else {
      char buf[256];
      ERR_error_string_n(err, buf, sizeof(buf));
      out += buf;
    }
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      out.append(" (").append(data).append(")");
    }
  }
  if (out.empty()) out = "no OpenSSL error detail";
  return out;
}

}  // namespace custos::crypto
