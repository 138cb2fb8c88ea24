#include "collector/access/testing/slapd.h"

#include <arpa/inet.h>
#include <ldap.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace custos::collector::access::testing {
namespace {

using custos::testing::ReadFile;
using custos::testing::Run;
using custos::testing::RunResult;
using custos::testing::WriteFile;

constexpr char kSchemaDir[] = "/etc/ldap/schema";
constexpr char kModuleDir[] = "/usr/lib/ldap";
constexpr int kStartAttempts = 5;

std::string SlapdPath() {
  const char* env = std::getenv("CUSTOS_SLAPD");
  return env != nullptr && *env != '\0' ? env : "/usr/sbin/slapd";
}

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::string ReplaceDir(std::string arg, const std::string& dir) {
  if (arg.rfind("DIR/", 0) == 0) arg.replace(0, 3, dir);
  return arg;
}

std::string Config(const std::string& dir, bool tls) {
  std::string conf;
  if (tls) {
    conf += "TLSCACertificateFile " + dir + "/ca.pem\n";
    conf += "TLSCertificateFile " + dir + "/server.pem\n";
    conf += "TLSCertificateKeyFile " + dir + "/server.key\n";
  }
  for (const char* schema : {"core", "cosine", "inetorgperson", "nis"}) {
    conf += std::string("include ") + kSchemaDir + "/" + schema + ".schema\n";
  }
  // Debian builds the backends as modules; a slapd with mdb built in has no back_mdb module.
  const std::string module = std::string(kModuleDir) + "/back_mdb.la";
  if (::access(module.c_str(), R_OK) == 0) {
    conf += std::string("modulepath ") + kModuleDir + "\nmoduleload back_mdb\n";
  }
  conf += "allow bind_anon_dn\n";  // DN + empty password = unauthenticated bind succeeds
  conf += "pidfile " + dir + "/slapd.pid\n";
  conf += "database mdb\n";
  conf += std::string("suffix \"") + Slapd::kBaseDn + "\"\n";
  conf += std::string("rootdn \"") + Slapd::kRootDn + "\"\n";
  conf += std::string("rootpw ") + Slapd::kRootPassword + "\n";
  conf += "directory " + dir + "/db\n";
  conf += "maxsize 16777216\n";
  conf += "access to attrs=userPassword by anonymous auth by self write by * none\n";
  conf += "access to * by * read\n";
  return conf;
}

Result<std::string> HashPassword(const std::string& password) {
  const std::string slappasswd = "/usr/sbin/slappasswd";
  RunResult r = Run({slappasswd, "-h", "{SSHA}", "-s", password}, std::chrono::seconds(10));
  if (r.exit_code != 0) {
    return InternalError("slapd fixture: slappasswd: exit " + std::to_string(r.exit_code) + ": " +
                         r.err);
  }
  std::string hash = r.out;
  while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) hash.pop_back();
  return hash;
}

Result<std::string> Person(const std::string& uid, const std::string& cn, const std::string& sn,
                           const std::string& display_name, const std::string& mail) {
  CUSTOS_ASSIGN_OR_RETURN(std::string hash, HashPassword(Slapd::Password(uid)));
  std::string e = "dn: uid=" + uid + "," + Slapd::kPeopleDn + "\n";
  e += "objectClass: inetOrgPerson\nuid: " + uid + "\ncn: " + cn + "\nsn: " + sn + "\n";
  if (!display_name.empty()) e += "displayName: " + display_name + "\n";
  if (!mail.empty()) e += "mail: " + mail + "\n";
  e += "userPassword: " + hash + "\n\n";
  return e;
}

std::string Group(const std::string& cn, const std::vector<std::string>& uids) {
  std::string e = "dn: cn=" + cn + "," + Slapd::kGroupsDn + "\n";
  e += "objectClass: groupOfNames\ncn: " + cn + "\n";
  for (const std::string& uid : uids) e += "member: uid=" + uid + "," + Slapd::kPeopleDn + "\n";
  return e + "\n";
}

Result<std::string> Directory() {
  std::string ldif;
  ldif += std::string("dn: ") + Slapd::kBaseDn +
          "\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n";
  CUSTOS_ASSIGN_OR_RETURN(std::string svc_hash, HashPassword(Slapd::kServicePassword));
  ldif += std::string("dn: ") + Slapd::kServiceDn +
          "\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
          "cn: custos-svc\nuserPassword: " +
          svc_hash + "\n\n";
  ldif +=
      std::string("dn: ") + Slapd::kPeopleDn + "\nobjectClass: organizationalUnit\nou: people\n\n";
  ldif +=
      std::string("dn: ") + Slapd::kGroupsDn + "\nobjectClass: organizationalUnit\nou: groups\n\n";
  struct P {
    const char *uid, *cn, *sn, *display, *mail;
  };
  for (const P& p : {P{"alice", "Alice Liddell", "Liddell", "Alice L.", "alice@example.org"},
                     P{"bob", "Bob Builder", "Builder", "", "bob@example.org"},
                     P{"carol", "Carol Danvers", "Danvers", "", "carol@example.org"},
                     P{"dave", "Dave Null", "Null", "", ""}}) {
    CUSTOS_ASSIGN_OR_RETURN(std::string entry, Person(p.uid, p.cn, p.sn, p.display, p.mail));
    ldif += entry;
  }
  ldif += Group("custos-admins", {"alice"});
  ldif += Group("custos-analysts", {"alice", "bob"});
  ldif += Group("custos-approvers", {"carol"});
  ldif += Group("staff", {"alice", "bob", "carol", "dave"});
  return ldif;
}

Status Openssl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/openssl");
  for (std::string& a : args) a = ReplaceDir(a, dir);
  RunResult r = Run(args, std::chrono::seconds(20));
  if (r.exit_code != 0) {
    return InternalError("slapd fixture: openssl " + args[1] + ": exit " +
                         std::to_string(r.exit_code) + ": " + r.err);
  }
  return OkStatus();
}

// A CA (ca.pem), a server certificate for 127.0.0.1/localhost it signed (server.pem,
// server.key), and an unrelated CA (other-ca.pem); P-256 keys, valid two days.
Status MakeCertificates(const std::string& dir) {
  if (!Executable("/usr/bin/openssl")) {
    return FailedPreconditionError(
        "slapd fixture: /usr/bin/openssl not found (apt-get install openssl)");
  }
  for (const char* ca : {"ca", "other-ca"}) {
    CUSTOS_RETURN_IF_ERROR(Openssl(
        dir,
        {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", std::string("DIR/") + ca + ".key", "-out", std::string("DIR/") + ca + ".pem",
         "-days", "2", "-subj", std::string("/CN=Custos test ") + ca, "-addext",
         "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"}));
  }
  CUSTOS_RETURN_IF_ERROR(WriteFile(dir + "/server.ext",
                                   "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                   "basicConstraints=CA:FALSE\n"
                                   "extendedKeyUsage=serverAuth\n"));
  CUSTOS_RETURN_IF_ERROR(Openssl(
      dir, {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            "DIR/server.key", "-out", "DIR/server.csr", "-subj", "/CN=127.0.0.1"}));
  return Openssl(dir, {"x509", "-req", "-in", "DIR/server.csr", "-CA", "DIR/ca.pem", "-CAkey",
                       "DIR/ca.key", "-set_serial", "2", "-days", "2", "-extfile", "DIR/server.ext",
                       "-out", "DIR/server.pem"});
}

// True once the server answers a base search for kBaseDn: it listens and its database is open.
bool Answers(const std::string& uri) {
  LDAP* ld = nullptr;
  if (ldap_initialize(&ld, uri.c_str()) != LDAP_SUCCESS) return false;
  const int version = LDAP_VERSION3;
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  timeval tv{1, 0};
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
  LDAPMessage* res = nullptr;
  char no_attrs[] = LDAP_NO_ATTRS;
  char* attrs[] = {no_attrs, nullptr};
  const int rc = ldap_search_ext_s(ld, Slapd::kBaseDn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0,
                                   nullptr, nullptr, &tv, 1, &res);
  const bool found = rc == LDAP_SUCCESS && ldap_count_entries(ld, res) == 1;
  if (res != nullptr) ldap_msgfree(res);
  ldap_unbind_ext_s(ld, nullptr, nullptr);
  return found;
}

}  // namespace

int PickFreeLocalPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

Result<std::unique_ptr<Slapd>> Slapd::Start(const Options& options) {
  if (!Executable(SlapdPath())) {
    return FailedPreconditionError("slapd fixture: " + SlapdPath() +
                                   " not found (apt-get install slapd ldap-utils)");
  }
  for (const char* tool : {"/usr/sbin/slapadd", "/usr/sbin/slappasswd", "/usr/bin/ldapadd"}) {
    if (!Executable(tool)) {
      return FailedPreconditionError(std::string("slapd fixture: ") + tool +
                                     " not found (apt-get install slapd ldap-utils)");
    }
  }
  if (::access((std::string(kSchemaDir) + "/inetorgperson.schema").c_str(), R_OK) != 0) {
    return FailedPreconditionError(std::string("slapd fixture: no schemas in ") + kSchemaDir);
  }
  auto slapd = std::unique_ptr<Slapd>(new Slapd());
  const std::string dir = slapd->dir_.path();
  if (options.tls) {
    CUSTOS_RETURN_IF_ERROR(MakeCertificates(dir));
    slapd->ca_file_ = dir + "/ca.pem";
    slapd->other_ca_file_ = dir + "/other-ca.pem";
  }
  CUSTOS_RETURN_IF_ERROR(WriteFile(dir + "/slapd.conf", Config(dir, options.tls)));
  CUSTOS_ASSIGN_OR_RETURN(std::string ldif, Directory());
  CUSTOS_RETURN_IF_ERROR(WriteFile(dir + "/data.ldif", ldif + options.extra_ldif));
  if (::mkdir((dir + "/db").c_str(), 0700) != 0)
    return ErrnoError("slapd fixture: mkdir db", errno);
  RunResult add =
      Run({"/usr/sbin/slapadd", "-q", "-f", dir + "/slapd.conf", "-l", dir + "/data.ldif"},
          options.start_timeout);
  if (add.exit_code != 0) {
    return InternalError("slapd fixture: slapadd: exit " + std::to_string(add.exit_code) + ": " +
                         add.err);
  }
  Status last;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    last = slapd->StartOnce(options, attempt);
    if (last.ok()) return slapd;
  }
  return last;
}

Status Slapd::StartOnce(const Options& options, int attempt) {
  port_ = PickFreeLocalPort();
  if (port_ == 0) return InternalError("slapd fixture: no free port on 127.0.0.1");
  uri_ = "ldap://127.0.0.1:" + std::to_string(port_);
  std::string listeners = uri_ + "/";
  if (options.tls) {
    const int ldaps_port = PickFreeLocalPort();
    if (ldaps_port == 0 || ldaps_port == port_) {
      return InternalError("slapd fixture: no second free port on 127.0.0.1");
    }
    ldaps_uri_ = "ldaps://127.0.0.1:" + std::to_string(ldaps_port);
    listeners += " " + ldaps_uri_ + "/";
  }
  log_prefix_ = dir_.Sub("slapd." + std::to_string(attempt));
  // -d 0: stay in the foreground (no fork, so the pid is slapd's) with no debug output.
  CUSTOS_RETURN_IF_ERROR(server_.Start(
      {SlapdPath(), "-d", "0", "-f", dir_.path() + "/slapd.conf", "-h", listeners}, log_prefix_));
  bool exited = false;
  const bool ready = custos::testing::WaitFor(
      [&] {
        if (!server_.running()) {
          exited = true;
          return true;
        }
        return Answers(uri_);
      },
      options.start_timeout);
  if (ready && !exited) return OkStatus();
  const std::string log = Log();
  Stop();
  return InternalError("slapd fixture: slapd on " + uri_ +
                       (exited ? " exited at start" : " did not answer in time") + ": " + log);
}

Slapd::~Slapd() { Stop(); }

void Slapd::Stop() {
  if (!server_.running()) return;
  server_.Signal(SIGTERM);
  if (server_.Wait(std::chrono::seconds(5)) == -1) server_.Kill();
}

Status Slapd::Add(const std::string& ldif) {
  const std::string path = dir_.Sub("add.ldif");
  CUSTOS_RETURN_IF_ERROR(WriteFile(path, ldif));
  RunResult r =
      Run({"/usr/bin/ldapadd", "-x", "-H", uri_, "-D", kRootDn, "-w", kRootPassword, "-f", path},
          std::chrono::seconds(10));
  if (r.exit_code != 0) {
    return InternalError("slapd fixture: ldapadd: exit " + std::to_string(r.exit_code) + ": " +
                         r.err);
  }
  return OkStatus();
}

std::string Slapd::Log() const {
  if (log_prefix_.empty()) return {};
  Result<std::string> err = ReadFile(log_prefix_ + ".err");
  return err.ok() ? *err : std::string();
}

}  // namespace custos::collector::access::testing
