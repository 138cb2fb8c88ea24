// collector/access/testing/slapd.h: a private OpenLDAP server for integration tests (test-only).
//
// Slapd::Start runs Debian's /usr/sbin/slapd (override with $CUSTOS_SLAPD) in the foreground on
// ldap://127.0.0.1:PORT, PORT a free port (a socket is bound to port 0 and closed, as slapd cannot
// report a port it chose; if another process takes the port first, slapd exits and Start retries
// with a new port, five times). Everything lives in a fresh temp dir: slapd.conf (schemas core,
// cosine, inetorgperson, nis from /etc/ldap/schema; an mdb database), the database, the LDIF
// loaded with slapadd before the server starts, and slapd's stderr (Log()). Start returns once
// the server answers a search for kBaseDn (polled with a deadline, no fixed sleep). The
// destructor stops the server (SIGTERM, then SIGKILL) and removes the directory.
//
// Works as root (CI) and as a normal user: slapd keeps the caller's uid, the port is above
// 1024, and nothing outside the temp dir is written. Needs the packages slapd and ldap-utils
// (slappasswd hashes the passwords, ldapadd backs Add()), and openssl for Options::tls.
//
// The directory (passwords stored as {SSHA} hashes made by slappasswd):
//   dc=example,dc=org
//     cn=admin              the rootdn (kRootDn / kRootPassword; no entry)
//     cn=custos-svc         read-only service account (kServiceDn / kServicePassword)
//     ou=people             uid=alice  "Alice Liddell", displayName "Alice L.", alice@example.org
//                           uid=bob    "Bob Builder", bob@example.org
//                           uid=carol  "Carol Danvers", carol@example.org
//                           uid=dave   "Dave Null", no mail
//                           passwords: "<uid>-pw" (kPassword("alice") == "alice-pw")
//     ou=groups (groupOfNames)
//                           cn=custos-admins     alice
//                           cn=custos-analysts   alice, bob
//                           cn=custos-approvers  carol
//                           cn=staff             alice, bob, carol, dave (mapped to nothing)
// Access: everyone may read everything but userPassword; anonymous may bind. The server allows
// "unauthenticated binds" (a DN with an empty password succeeds, as on many servers) so that a
// client that forgets to refuse empty passwords is caught by the tests.
//
// Threading: one test thread; the object is not thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/status/status.h"
#include "common/testing/testing.h"

namespace custos::collector::access::testing {

class Slapd {
 public:
  static constexpr char kBaseDn[] = "dc=example,dc=org";
  static constexpr char kPeopleDn[] = "ou=people,dc=example,dc=org";
  static constexpr char kGroupsDn[] = "ou=groups,dc=example,dc=org";
  static constexpr char kRootDn[] = "cn=admin,dc=example,dc=org";
  static constexpr char kRootPassword[] = "root-secret";
  static constexpr char kServiceDn[] = "cn=custos-svc,dc=example,dc=org";
  static constexpr char kServicePassword[] = "svc-secret";
  static std::string Password(const std::string& uid) { return uid + "-pw"; }

  struct Options {
    // Appended to the built-in LDIF above (entries under kBaseDn), loaded before the start.
    std::string extra_ldif = {};
    // Per start attempt: slapadd, the server's start and its first answer.
    std::chrono::milliseconds start_timeout = std::chrono::seconds(20);
    // Also TLS: StartTLS on uri() and an ldaps:// listener (ldaps_uri()), with a server
    // certificate for IP 127.0.0.1 and DNS localhost signed by a fresh CA (ca_file()), made
    // with the openssl command. other_ca_file() is a second CA that signed nothing here.
    bool tls = false;
  };

  // FailedPrecondition when slapd or the schemas are missing (names the package to install);
  // Internal with slapd's log when it does not start.
  static Result<std::unique_ptr<Slapd>> Start(const Options& options);
  static Result<std::unique_ptr<Slapd>> Start() { return Start(Options{}); }
  ~Slapd();
  Slapd(const Slapd&) = delete;
  Slapd& operator=(const Slapd&) = delete;

  // "ldap://127.0.0.1:PORT"
  const std::string& uri() const { return uri_; }
  int port() const { return port_; }
  // With Options::tls: "ldaps://127.0.0.1:PORT2", and the CA files; "" otherwise.
  const std::string& ldaps_uri() const { return ldaps_uri_; }
  const std::string& ca_file() const { return ca_file_; }
  const std::string& other_ca_file() const { return other_ca_file_; }
  // Adds entries to the running server as the rootdn (ldapadd).
  Status Add(const std::string& ldif);
  // Stops the server: SIGTERM, then SIGKILL after 5 s. uri() refuses connections afterwards.
  void Stop();
  // slapd's stderr so far.
  std::string Log() const;

 private:
  Slapd() = default;
  Status StartOnce(const Options& options, int attempt);

  custos::testing::TempDir dir_;
  custos::testing::Subprocess server_;
  std::string uri_;
  int port_ = 0;
  std::string ldaps_uri_;
  std::string ca_file_;
  std::string other_ca_file_;
  std::string log_prefix_;
};

// A 127.0.0.1 port that was free a moment ago (bound to port 0, then closed); 0 on failure.
int PickFreeLocalPort();

}  // namespace custos::collector::access::testing
