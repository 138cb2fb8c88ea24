// custos-collector: the Custos server. See `custos-collector --help` and docs/operations.md.
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "collector/access/accounts.h"
#include "collector/access/audit.h"
#include "collector/access/ldap_directory.h"
#include "collector/access/pseudonym.h"
#include "collector/access/roles.h"
#include "collector/api/api.h"
#include "collector/api/https_server.h"
#include "collector/app/collector_config.h"
#include "collector/ingest/enrollment.h"
#include "collector/ingest/ingest.h"
#include "collector/scoring/scorer.h"
#include "collector/store/sqlite/sqlite_access_store.h"
#include "collector/store/sqlite/sqlite_privacy_store.h"
#include "collector/store/sqlite/sqlite_risk_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/config/config.h"
#include "common/crypto/crypto.h"
#include "common/flags/flags.h"
#include "common/fs/file_system.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/text/terminal.h"
#include "common/time/clock.h"

namespace custos::collector {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kUsage =
    R"(custos-collector — the Custos server: enrolls agents and stores their events.

Usage:
  custos-collector [run]            Serve agents (mTLS on 7443), score their events and serve the
                                    HTTPS API (8443) until SIGTERM/SIGINT.
  custos-collector init             Create the data directory, the collector CA, the server
                                    certificate, the audit and pseudonym keys, an admin token
                                    (admin.token) and the first console account "admin" (its
                                    password in admin.password; roles admin, investigator).
                                    Safe to re-run: existing material is kept and reported.
                                    More accounts: custos user add (docs/accounts.md).
  custos-collector token create [--uses N] [--ttl DURATION] [--note TEXT]
                                    Mint an enrollment token (printed once; store it safely).
                                    Defaults: 1 use, valid 24h.
  custos-collector token list       Tokens with expiry and uses (never the secrets).
  custos-collector token revoke ID
  custos-collector api-token create --role ROLES --name NAME
                                    Mint a service bearer token for the HTTPS API (printed once).
                                    ROLES: comma-separated, of admin (policies, imports,
                                    settings), analyst (alerts, triggers), investigator (analyst
                                    + events), viewer (alerts, read-only), auditor (audit log),
                                    approver (reveal approvals). Matrix: docs/api.md.
  custos-collector api-token list   API tokens (never the secrets).
  custos-collector api-token revoke ID
  custos-collector agent list       Enrolled agents. STATE "unconfirmed host" marks an agent
                                    that enrolled claiming the host name of another live agent:
                                    its events are stored but not scored as that host's people.
  custos-collector agent confirm AGENT_ID
                                    Vouch for the host name an unconfirmed agent claimed (e.g.
                                    a reinstalled machine; revoke the old agent too).
  custos-collector agent revoke AGENT_ID --reason TEXT
                                    Refuse this agent from now on (a running collector closes
                                    its open session within a second; re-enroll to readmit).
  custos-collector audit verify     Check the audit log's hash chain and signed checkpoints
                                    offline; names the first altered, missing or reordered
                                    entry (exit 1). Every change above, and every change and
                                    event read through the API, is audited; entries older
                                    than audit.retention (365d) are pruned with a signed record.
                                    List it with: custos audit.

Options (all commands):
  --config FILE        YAML configuration (default /etc/custos/collector.yaml if it exists;
                       every key: docs/configuration.md)
  --data-dir DIR       State directory (default /var/lib/custos/collector)
  --log-format F       human (default) or json
  --log-level L        debug, info (default), warn, error
Options (run):
  --listen HOST:PORT   Agent listener (default 0.0.0.0:7443; port 0 picks a free port)
  --metrics HOST:PORT  Prometheus metrics at /metrics (default 127.0.0.1:9464; 'off' disables)
  --api HOST:PORT      HTTPS API /api/v1 (default 0.0.0.0:8443; port 0 picks one; 'off' disables)
  --ready-file FILE    Once listening, write {"ingest_port":N,"metrics_port":M,"api_port":A}
Options (init):
  --server-name NAME   A DNS name or IP agents use to reach this collector (repeatable;
                       default: localhost, this host's name, 127.0.0.1, ::1)

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
Files: DATA_DIR/pki/{ca,server}.{crt,key}, DATA_DIR/pki/audit_signing.{key,pub},
       DATA_DIR/custos.db, DATA_DIR/admin.token, DATA_DIR/admin.password,
       DATA_DIR/pseudonym.key.
)";

int UsageError(const std::string& msg) {
  std::fprintf(stderr, "custos-collector: %s\nRun 'custos-collector --help' for usage.\n",
               msg.c_str());
  return 2;
}

int Failure(const Status& s) {
  std::fprintf(stderr, "custos-collector: %s\n", s.message().c_str());
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

std::string Hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// One cell of a `list` table: the text and the columns it is padded to (0: the last cell).
struct Cell {
  std::string_view text;
  size_t width = 0;
};

// Prints one table row. Every cell is escaped for the terminal: host names, notes, token names
// and revoke reasons come from endpoints and API clients, and a raw ESC, CR, newline, C1 control
// or bidi override in them would forge or reorder table lines. Cells are padded, never cut.
void PrintRow(std::initializer_list<Cell> cells) {
  std::string line;
  size_t i = 0;
  for (const Cell& c : cells) {
    if (i++ > 0) line += ' ';
    const std::string escaped = text::EscapeForTerminal(c.text);
    line += escaped;
    const size_t width = text::DisplayWidth(escaped);
    if (width < c.width) line.append(c.width - width, ' ');
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

bool IsIp(const std::string& s) {
  return s.find_first_not_of("0123456789.") == std::string::npos ||
         s.find(':') != std::string::npos;
}

Result<ingest::Pki> LoadPki(const CollectorConfig& c) {
  fs::FileSystem* f = fs::Posix();
  ingest::Pki pki;
  std::string d = c.pki_dir();
  auto read = [&](const char* name, std::string* out) -> Status {
    auto r = f->ReadFile(d + "/" + name);
    if (!r.ok()) {
      return Status(r.status().code(),
                    r.status().message() +
                        " (run 'custos-collector init' to create the collector's "
                        "certificates)");
    }
    *out = std::move(*r);
    return OkStatus();
  };
  CUSTOS_RETURN_IF_ERROR(read("ca.crt", &pki.ca_cert_pem));
  CUSTOS_RETURN_IF_ERROR(read("ca.key", &pki.ca_key_pem));
  CUSTOS_RETURN_IF_ERROR(read("server.crt", &pki.server_cert_pem));
  CUSTOS_RETURN_IF_ERROR(read("server.key", &pki.server_key_pem));
  return pki;
}

std::string AuditKeyPath(const CollectorConfig& c) { return c.pki_dir() + "/audit_signing.key"; }
std::string AuditPublicKeyPath(const CollectorConfig& c) {
  return c.pki_dir() + "/audit_signing.pub";
}

// "local-admin:<unix user>" (the uid when it has no name): who ran this command.
std::string LocalActor() {
  const uid_t uid = ::getuid();
  if (const passwd* pw = ::getpwuid(uid); pw != nullptr && pw->pw_name != nullptr) {
    return std::string("local-admin:") + pw->pw_name;
  }
  return "local-admin:uid " + std::to_string(uid);
}

// The audit log's Ed25519 signing key: kept when present (a new key would orphan the
// checkpoints the old one signed).
// Says what it did on `out`.
Status InitAuditKey(const CollectorConfig& c, std::FILE* out) {
  fs::FileSystem* f = fs::Posix();
  const std::string key_path = AuditKeyPath(c), pub_path = AuditPublicKeyPath(c);
  if (f->Exists(key_path)) {
    if (!f->Exists(pub_path)) {
      return FailedPreconditionError("audit: " + pub_path + " missing beside " + key_path +
                                     " (restore it from a backup)");
    }
    std::fprintf(out, "audit signing key: kept existing %s\n", key_path.c_str());
    return OkStatus();
  }
  CUSTOS_ASSIGN_OR_RETURN(crypto::KeyPair key, crypto::GenerateEd25519Key());
  CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(f, pub_path, key.public_key_pem, 0644));
  CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(f, key_path, key.private_key_pem, 0600));
  std::fprintf(out, "audit signing key: created %s (Ed25519, mode 0600; public key %s)\n",
               key_path.c_str(), pub_path.c_str());
  return OkStatus();
}

// The audit log for a command that changes state. Opened before the change, so a data directory
// without a signing key refuses the change instead of making it unaudited. A data directory made
// before the audit log existed (neither key nor public key: an upgrade) gets its key now, said on
// stderr so stdout stays the command's own output (a minted token); a key removed after use
// cannot be replaced silently this way, as `audit verify` checks the old checkpoints with the
// public key.
Result<std::unique_ptr<access::AuditLog>> OpenAuditLog(const CollectorConfig& c) {
  if (!fs::Posix()->Exists(AuditKeyPath(c)) && !fs::Posix()->Exists(AuditPublicKeyPath(c))) {
    CUSTOS_RETURN_IF_ERROR(InitAuditKey(c, stderr));
  }
  auto key = fs::Posix()->ReadFile(AuditKeyPath(c));
  if (!key.ok()) {
    return Status(key.status().code(),
                  "audit: " + key.status().message() +
                      " (run 'custos-collector init' to create the audit signing key)");
  }
  return access::AuditLog::Open({.db_path = c.db_path(), .signing_key_pem = *key});
}

// Appends what this command changed, then signs the tail (a CLI run ends here: its shutdown
// checkpoint). Never pass a secret in `summary`. The change is already committed (it is not yet
// in the same transaction, issue 18): a failure here says so.
Status AuditChange(access::AuditLog* log, std::string action, std::string object,
                   std::string summary) {
  auto e = log->Append({.actor = LocalActor(),
                        .action = std::move(action),
                        .object = std::move(object),
                        .summary = std::move(summary),
                        .source = "cli"});
  Status s = e.ok() ? log->Checkpoint() : e.status();
  if (!s.ok()) {
    return Status(s.code(), s.message() + " (the change was made but is not in the audit log)");
  }
  return OkStatus();
}

Result<std::unique_ptr<store::Store>> OpenStore(const CollectorConfig& c) {
  if (!fs::Posix()->Exists(c.db_path())) {
    return NotFoundError("store: " + c.db_path() +
                         ": not found (run 'custos-collector init' first)");
  }
  return store::OpenSqliteStore({.path = c.db_path()});
}

// The admin credential init writes is an API token of the first operator, who sets Custos up and
// works its first alerts: roles admin and investigator (docs/accounts.md says how to split them).
// Make sure the store knows its hash (idempotent; also repairs a store created before API tokens
// existed; a token already registered keeps its roles).
Status RegisterAdminToken(const CollectorConfig& c) {
  auto text = fs::Posix()->ReadFile(c.admin_token_path());
  if (!text.ok()) return text.status();
  std::string token = *text;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  CUSTOS_ASSIGN_OR_RETURN(auto risk, store::OpenSqliteRiskStore(c.db_path()));
  const std::string digest = crypto::Sha256(token);
  if (risk->FindApiToken(digest).ok()) return OkStatus();
  store::ApiTokenRecord rec{
      "atk_admin", "admin,investigator", "admin", RealClock()->NowUnixNs(), {}};
  return risk->CreateApiToken(rec, digest);
}

// The first admin account for the console: "admin", roles admin and investigator, with a random
// password written once to DATA_DIR/admin.password (0600). Kept when any account exists.
Status InitAdminAccount(const CollectorConfig& c) {
  CUSTOS_ASSIGN_OR_RETURN(auto access_store, store::OpenSqliteAccessStore(c.db_path()));
  CUSTOS_ASSIGN_OR_RETURN(auto accounts, access::Accounts::Create(access_store.get(), RealClock()));
  CUSTOS_ASSIGN_OR_RETURN(auto existing, accounts->ListAccounts());
  if (!existing.empty()) {
    std::printf("console accounts: kept the %zu existing\n", existing.size());
    return OkStatus();
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string password, crypto::RandomToken(18));
  CUSTOS_ASSIGN_OR_RETURN(
      auto admin,
      accounts->CreateAccount({.username = "admin",
                               .display_name = "Custos administrator",
                               .roles = {access::Role::kAdmin, access::Role::kInvestigator},
                               .password = password}));
  CUSTOS_RETURN_IF_ERROR(
      fs::WriteFileAtomic(fs::Posix(), c.admin_password_path(), password + "\n", 0600));
  CUSTOS_ASSIGN_OR_RETURN(auto audit, OpenAuditLog(c));
  CUSTOS_RETURN_IF_ERROR(AuditChange(audit.get(), "account.create", "account:" + admin.id,
                                     "username admin, roles admin,investigator, local (init)"));
  std::printf(
      "console sign-in: user 'admin', password in %s (mode 0600); change it with "
      "custos user password admin\n",
      c.admin_password_path().c_str());
  return OkStatus();
}

int Init(const CollectorConfig& c, const flags::Args& args) {
  fs::FileSystem* f = fs::Posix();
  ::umask(077);
  if (Status s = f->CreateDirs(c.pki_dir(), 0700); !s.ok()) return Failure(s);
  std::printf("data directory: %s\n", c.data_dir.c_str());
  std::string ca_crt = c.pki_dir() + "/ca.crt", ca_key = c.pki_dir() + "/ca.key";
  crypto::CaMaterial ca;
  if (f->Exists(ca_crt) && f->Exists(ca_key)) {
    ca.cert_pem = f->ReadFile(ca_crt).value_or("");
    ca.key_pem = f->ReadFile(ca_key).value_or("");
    auto info = crypto::ParseCertificate(ca.cert_pem);
    if (!info.ok()) return Failure(info.status().WithContext(ca_crt));
    std::printf("collector CA: kept existing %s (serial %s)\n", ca_crt.c_str(),
                info->serial_hex.c_str());
  } else {
    auto created =
        crypto::CreateCa("Custos collector CA " + Hostname(), std::chrono::hours(24 * 3650));
    if (!created.ok()) return Failure(created.status());
    ca = std::move(*created);
    if (Status s = fs::WriteFileAtomic(f, ca_key, ca.key_pem, 0600); !s.ok()) return Failure(s);
    if (Status s = fs::WriteFileAtomic(f, ca_crt, ca.cert_pem, 0644); !s.ok()) return Failure(s);
    std::printf("collector CA: created %s (valid 10 years; key %s, mode 0600)\n", ca_crt.c_str(),
                ca_key.c_str());
  }
  std::string srv_crt = c.pki_dir() + "/server.crt", srv_key = c.pki_dir() + "/server.key";
  if (f->Exists(srv_crt) && f->Exists(srv_key)) {
    std::printf("server certificate: kept existing %s\n", srv_crt.c_str());
  } else {
    std::vector<std::string> names = args.GetAll("server-name");
    if (names.empty()) names = c.server_names;
    if (names.empty()) names = {"localhost", Hostname(), "127.0.0.1", "::1"};
    std::vector<std::string> dns, ips;
    for (const auto& n : names) (IsIp(n) ? ips : dns).push_back(n);
    auto issued = crypto::IssueServerCertificate(ca, dns.empty() ? ips[0] : dns[0], dns, ips,
                                                 std::chrono::hours(24 * 825));
    if (!issued.ok()) return Failure(issued.status());
    if (Status s = fs::WriteFileAtomic(f, srv_key, issued->key_pem, 0600); !s.ok())
      return Failure(s);
    if (Status s = fs::WriteFileAtomic(f, srv_crt, issued->cert_pem, 0644); !s.ok())
      return Failure(s);
    std::string joined;
    for (const auto& n : names) joined += (joined.empty() ? "" : ", ") + n;
    std::printf("server certificate: created %s for %s\n", srv_crt.c_str(), joined.c_str());
  }
  auto st = store::OpenSqliteStore({.path = c.db_path()});
  if (!st.ok()) return Failure(st.status());
  std::printf("store: %s (SQLite, schema version %d)\n", c.db_path().c_str(),
              store::SqliteSchemaVersion());
  st->reset();
  if (f->Exists(c.admin_token_path())) {
    std::printf("admin credential: kept existing %s\n", c.admin_token_path().c_str());
  } else {
    auto tok = crypto::RandomToken(32);
    if (!tok.ok()) return Failure(tok.status());
    if (Status s = fs::WriteFileAtomic(f, c.admin_token_path(), "cat_" + *tok + "\n", 0600);
        !s.ok()) {
      return Failure(s);
    }
    std::printf("admin credential: created %s (mode 0600; the bearer token for the HTTPS API)\n",
                c.admin_token_path().c_str());
  }
  if (Status s = RegisterAdminToken(c); !s.ok()) return Failure(s);
  if (Status s = InitAuditKey(c, stdout); !s.ok()) return Failure(s);
  if (auto key = access::LoadOrCreatePseudonymKey(c.pseudonym_key_path()); !key.ok()) {
    return Failure(key.status());
  }
  std::printf("pseudonym key: %s (people are shown as Anon-... codes; docs/privacy.md)\n",
              c.pseudonym_key_path().c_str());
  if (Status s = InitAdminAccount(c); !s.ok()) return Failure(s);
  std::printf("next: custos-collector token create   # then enroll agents with that token\n");
  return 0;
}

int ApiToken(const CollectorConfig& c, const flags::Args& args) {
  const auto& pos = args.positional();
  std::string sub = pos.size() > 1 ? pos[1] : "";
  auto st = OpenStore(c);  // migrates
  if (!st.ok()) return Failure(st.status());
  auto risk = store::OpenSqliteRiskStore(c.db_path());
  if (!risk.ok()) return Failure(risk.status());
  std::unique_ptr<access::AuditLog> audit;
  if (sub == "create" || sub == "revoke") {
    auto log = OpenAuditLog(c);
    if (!log.ok()) return Failure(log.status());
    audit = std::move(*log);
  }
  if (sub == "create") {
    auto roles = access::RoleSet::Parse(args.GetOr("role", ""));
    if (!roles.ok()) return UsageError("api-token create: --role: " + roles.status().message());
    const std::string role = roles->ToString();
    std::string name = args.GetOr("name", "");
    if (name.empty()) return UsageError("api-token create: --name NAME (who or what uses it)");
    auto secret = crypto::RandomToken(32);
    auto id = crypto::RandomBytes(4);
    if (!secret.ok() || !id.ok()) return Failure(secret.ok() ? id.status() : secret.status());
    std::string token = "cat_" + *secret;
    store::ApiTokenRecord rec{
        "atk_" + crypto::HexEncode(*id), role, name, RealClock()->NowUnixNs(), {}};
    if (Status s = (*risk)->CreateApiToken(rec, crypto::Sha256(token)); !s.ok()) return Failure(s);
    if (Status s =
            AuditChange(audit.get(), "api-token.create", rec.id, "role " + role + ", name " + name);
        !s.ok()) {
      return Failure(s);
    }
    std::printf("%s\n", token.c_str());
    std::fprintf(stderr, "api token %s (role %s, name %s): shown once, store it safely\n",
                 rec.id.c_str(), role.c_str(), name.c_str());
    return 0;
  }
  if (sub == "list") {
    auto tokens = (*risk)->ListApiTokens();
    if (!tokens.ok()) return Failure(tokens.status());
    PrintRow({{"ID", 14}, {"ROLE", 8}, {"NAME", 24}, {"CREATED", 24}, {"REVOKED"}});
    for (const auto& t : *tokens) {
      PrintRow({{t.id, 14},
                {t.role, 8},
                {t.name, 24},
                {FormatUnixNs(t.created_at_ns), 24},
                {t.revoked_at_ns ? FormatUnixNs(*t.revoked_at_ns) : "-"}});
    }
    return 0;
  }
  if (sub == "revoke") {
    if (pos.size() < 3) return UsageError("api-token revoke ID");
    if (Status s = (*risk)->RevokeApiToken(pos[2], RealClock()->NowUnixNs()); !s.ok()) {
      return Failure(s);
    }
    if (Status s = AuditChange(audit.get(), "api-token.revoke", pos[2], "revoked"); !s.ok()) {
      return Failure(s);
    }
    std::printf("revoked %s\n", pos[2].c_str());
    return 0;
  }
  return UsageError("api-token: create, list or revoke");
}

int Token(const CollectorConfig& c, const flags::Args& args) {
  const auto& pos = args.positional();
  std::string verb = pos.size() > 1 ? pos[1] : "";
  auto st = OpenStore(c);
  if (!st.ok()) return Failure(st.status());
  store::Store* s = st->get();
  std::unique_ptr<access::AuditLog> audit;
  if (verb == "create" || verb == "revoke") {
    auto log = OpenAuditLog(c);
    if (!log.ok()) return Failure(log.status());
    audit = std::move(*log);
  }
  if (verb == "create") {
    auto uses = args.GetInt("uses", 1, 1, 1'000'000);
    if (!uses.ok()) return UsageError(uses.status().message());
    auto ttl = config::ParseDuration(args.GetOr("ttl", "24h"));
    if (!ttl.ok()) return UsageError("--ttl: " + ttl.status().message());
    auto minted = ingest::MintEnrollmentToken(
        s, RealClock(), std::chrono::duration_cast<std::chrono::seconds>(*ttl),
        static_cast<uint32_t>(*uses), args.GetOr("note", ""));
    if (!minted.ok()) return Failure(minted.status());
    const store::EnrollmentTokenRecord& rec = minted->record;
    std::string summary =
        std::to_string(rec.max_uses) + " use(s), expires " + FormatUnixNs(rec.expires_at_ns);
    if (!rec.note.empty()) summary += ", note " + rec.note;
    if (Status a = AuditChange(audit.get(), "token.create", rec.id, summary); !a.ok()) {
      return Failure(a);
    }
    std::fprintf(stderr, "token %s: %u use(s), expires %s. The secret below is shown only once.\n",
                 minted->record.id.c_str(), minted->record.max_uses,
                 FormatUnixNs(minted->record.expires_at_ns).c_str());
    std::printf("%s\n", minted->token.c_str());
    return 0;
  }
  if (verb == "list") {
    auto list = s->ListEnrollmentTokens();
    if (!list.ok()) return Failure(list.status());
    PrintRow({{"ID", 18}, {"CREATED", 25}, {"EXPIRES", 25}, {"USES", 9}, {"STATE"}});
    int64_t now = RealClock()->NowUnixNs();
    for (const auto& t : *list) {
      std::string state = t.revoked_at_ns          ? "revoked"
                          : now >= t.expires_at_ns ? "expired"
                          : t.uses >= t.max_uses   ? "used up"
                                                   : "valid";
      char uses[32];
      std::snprintf(uses, sizeof uses, "%4u/%-4u", t.uses, t.max_uses);
      PrintRow({{t.id, 18},
                {FormatUnixNs(t.created_at_ns), 25},
                {FormatUnixNs(t.expires_at_ns), 25},
                {uses, 9},
                {t.note.empty() ? state : state + "  " + t.note}});
    }
    return 0;
  }
  if (verb == "revoke") {
    if (pos.size() != 3) return UsageError("token revoke takes one token ID");
    if (Status r = s->RevokeEnrollmentToken(pos[2], RealClock()->NowUnixNs()); !r.ok())
      return Failure(r);
    if (Status a = AuditChange(audit.get(), "token.revoke", pos[2], "revoked"); !a.ok()) {
      return Failure(a);
    }
    std::printf("token %s revoked\n", pos[2].c_str());
    return 0;
  }
  return UsageError("token: expected create, list or revoke");
}

int Agent(const CollectorConfig& c, const flags::Args& args) {
  const auto& pos = args.positional();
  std::string verb = pos.size() > 1 ? pos[1] : "";
  auto st = OpenStore(c);
  if (!st.ok()) return Failure(st.status());
  std::unique_ptr<access::AuditLog> audit;
  if (verb == "revoke" || verb == "confirm") {
    auto log = OpenAuditLog(c);
    if (!log.ok()) return Failure(log.status());
    audit = std::move(*log);
  }
  if (verb == "list") {
    auto list = (*st)->ListAgents();
    if (!list.ok()) return Failure(list.status());
    PrintRow({{"AGENT", 32}, {"HOSTNAME", 24}, {"ENROLLED", 25}, {"LAST SEEN", 25}, {"STATE"}});
    for (const auto& a : *list) {
      PrintRow({{a.agent_id, 32},
                {a.hostname, 24},
                {FormatUnixNs(a.enrolled_at_ns), 25},
                {a.last_seen_ns ? FormatUnixNs(a.last_seen_ns) : "never", 25},
                {a.revoked_at_ns    ? "revoked: " + a.revoke_reason
                 : a.host_confirmed ? "active"
                                    : "active, unconfirmed host"}});
    }
    return 0;
  }
  if (verb == "revoke") {
    if (pos.size() != 3) return UsageError("agent revoke takes one AGENT_ID");
    auto reason = args.Get("reason");
    if (!reason || reason->empty()) return UsageError("agent revoke needs --reason TEXT");
    if (Status r = (*st)->RevokeAgent(pos[2], *reason, RealClock()->NowUnixNs()); !r.ok()) {
      return Failure(r);
    }
    if (Status a = AuditChange(audit.get(), "agent.revoke", pos[2], "reason: " + *reason);
        !a.ok()) {
      return Failure(a);
    }
    std::printf("agent %s revoked\n", pos[2].c_str());
    return 0;
  }
  if (verb == "confirm") {
    if (pos.size() != 3) return UsageError("agent confirm takes one AGENT_ID");
    if (Status r = (*st)->ConfirmAgentHost(pos[2]); !r.ok()) return Failure(r);
    if (Status a = AuditChange(audit.get(), "agent.confirm", pos[2], "host name confirmed");
        !a.ok()) {
      return Failure(a);
    }
    std::printf("agent %s: host name confirmed\n", pos[2].c_str());
    return 0;
  }
  return UsageError("agent: expected list, confirm or revoke");
}

// `audit verify`: read-only, never migrates; exit 0 intact, 1 broken or unreadable.
int Audit(const CollectorConfig& c, const flags::Args& args) {
  const auto& pos = args.positional();
  if (pos.size() != 2 || pos[1] != "verify") return UsageError("audit: expected verify");
  if (!fs::Posix()->Exists(c.db_path())) {
    return Failure(NotFoundError("store: " + c.db_path() + ": not found"));
  }
  auto pub = fs::Posix()->ReadFile(AuditPublicKeyPath(c));
  if (!pub.ok()) return Failure(pub.status().WithContext("audit"));
  auto report = access::VerifyAuditLog({.db_path = c.db_path(), .public_key_pem = *pub});
  if (!report.ok()) return Failure(report.status());
  auto count = [](int64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::string head = "audit log: " + count(report->entries, "entry", "entries") + ", " +
                     count(report->checkpoints, "checkpoint", "checkpoints");
  if (report->pruned_through > 0) {
    head += " (entries through seq " + std::to_string(report->pruned_through) +
            " removed by retention, signed)";
  }
  if (report->ok) {
    std::printf("%s, chain intact\n", head.c_str());
    return 0;
  }
  std::printf("%s, BROKEN at seq %lld: %s\n", head.c_str(),
              static_cast<long long>(report->first_bad_seq), report->problem.c_str());
  return 1;
}

sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// Every agent holds a connection: lift the soft descriptor limit to the hard one.
void RaiseFileLimit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
    logging::Warn("few file descriptors: each agent needs one; raise LimitNOFILE",
                  {{"limit", static_cast<uint64_t>(rl.rlim_cur)}});
  }
}

int Run(CollectorConfig c, const flags::Args& args, sigset_t stop_signals) {
  RaiseFileLimit();
  if (auto l = args.Get("listen")) {
    if (Status s = flags::ParseHostPort(*l, &c.ingest.listen_host, &c.ingest.port); !s.ok()) {
      return UsageError("--listen: " + s.message());
    }
  }
  if (auto m = args.Get("metrics")) {
    if (*m == "off") {
      c.metrics_enabled = false;
    } else if (Status s = flags::ParseHostPort(*m, &c.metrics_host, &c.metrics_port); !s.ok()) {
      return UsageError("--metrics: " + s.message());
    }
  }
  auto pki = LoadPki(c);
  if (!pki.ok()) return Failure(pki.status());
  auto st = OpenStore(c);
  if (!st.ok()) return Failure(st.status());
  metrics::Registry registry;
  store::Store* store = st->get();
  registry.AddCallbackGauge("custos_store_bytes", "Size of the store on disk (database + WAL)",
                            [store] {
                              auto stats = store->Stats();
                              return stats.ok() ? static_cast<double>(stats->bytes_on_disk) : 0.0;
                            });
  registry.AddCallbackGauge("custos_store_events", "Events in the store", [store] {
    auto stats = store->Stats();
    return stats.ok() ? static_cast<double>(stats->events) : 0.0;
  });
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server;
  if (c.metrics_enabled) {
    auto m = metrics::MetricsHttpServer::Start(&registry, c.metrics_host, c.metrics_port);
    if (!m.ok()) return Failure(m.status().WithContext("metrics"));
    metrics_server = std::move(*m);
  }
  if (auto a = args.Get("api")) {
    if (*a == "off") {
      c.api_enabled = false;
    } else if (Status s = flags::ParseHostPort(*a, &c.api_host, &c.api_port); !s.ok()) {
      return UsageError("--api: " + s.message());
    }
  }
  auto risk = store::OpenSqliteRiskStore(c.db_path());
  if (!risk.ok()) return Failure(risk.status());
  if (fs::Posix()->Exists(c.admin_token_path())) {
    if (Status s = RegisterAdminToken(c); !s.ok()) return Failure(s);
  }
  std::unique_ptr<scoring::Scorer> scorer;
  if (c.scoring_enabled) {
    scoring::ScorerOptions so;
    so.engine.mapping.approved_software = c.approved_software;
    auto s = scoring::Scorer::Start(so, risk->get(), &registry, RealClock());
    if (!s.ok()) return Failure(s.status().WithContext("scoring"));
    scorer = std::move(*s);
    scoring::Scorer* scorer_ptr = scorer.get();
    c.ingest.on_committed = [scorer_ptr] { scorer_ptr->Notify(); };
  } else {
    logging::Warn("scoring is disabled (scoring.enabled: false): events are stored, not scored");
  }
  scoring::Scorer* scorer_ptr = scorer.get();
  auto server = ingest::IngestServer::Start(c.ingest, *pki, store, &registry, RealClock());
  if (!server.ok()) return Failure(server.status());
  auto audit = OpenAuditLog(c);
  if (!audit.ok()) return Failure(audit.status());
  auto access_store = store::OpenSqliteAccessStore(c.db_path());
  if (!access_store.ok()) return Failure(access_store.status());
  auto privacy_store = store::OpenSqlitePrivacyStore(c.db_path());
  if (!privacy_store.ok()) return Failure(privacy_store.status());
  auto pseudonym_key = access::LoadOrCreatePseudonymKey(c.pseudonym_key_path());
  if (!pseudonym_key.ok()) return Failure(pseudonym_key.status());
  access::AccountsOptions accounts_options;
  std::unique_ptr<access::LdapDirectory> ldap;
  if (c.ldap_enabled) {
    access::LdapOptions lo = c.ldap;
    if (!c.ldap_bind_password_file.empty()) {
      auto pw = fs::Posix()->ReadFile(c.ldap_bind_password_file);
      if (!pw.ok()) return Failure(pw.status().WithContext("ldap.bind_password_file"));
      lo.bind_password = *pw;
      while (!lo.bind_password.empty() &&
             (lo.bind_password.back() == '\n' || lo.bind_password.back() == '\r')) {
        lo.bind_password.pop_back();
      }
    }
    auto dir = access::LdapDirectory::Create(lo);
    if (!dir.ok()) return UsageError("ldap: " + dir.status().message());
    ldap = std::move(*dir);
    access::LdapDirectory* d = ldap.get();
    accounts_options.external = [d](std::string_view user,
                                    std::string_view password) -> Result<access::ExternalIdentity> {
      CUSTOS_ASSIGN_OR_RETURN(access::LdapUser u, d->Authenticate(user, password));
      return access::ExternalIdentity{.username = u.username,
                                      .display_name = u.display_name,
                                      .email = u.email,
                                      .roles = u.roles};
    };
  }
  api::ApiService api_service({.events = store,
                               .risk = risk->get(),
                               .scorer = scorer_ptr,
                               .clock = RealClock(),
                               .audit = audit->get(),
                               .access_store = access_store->get(),
                               .accounts_options = std::move(accounts_options),
                               .privacy_store = privacy_store->get(),
                               .reveals_options = {.reveal_ttl = c.reveal_ttl},
                               .pseudonym_key = *pseudonym_key,
                               .metrics = &registry});
  std::unique_ptr<api::HttpsServer> api_server;
  if (c.api_enabled) {
    api::HttpsServerOptions o;
    // Handlers block on the database and policy changes wait for a scoring rebuild: enough
    // workers that one slow request never holds up the rest.
    o.worker_threads = 8;
    o.listen_host = c.api_host;
    o.port = c.api_port;
    o.max_connections = c.api_max_connections;
    o.max_connections_per_address = c.api_max_connections_per_address;
    o.handshake_timeout = c.api_handshake_timeout;
    o.metrics = &registry;
    auto a =
        api::HttpsServer::Start(o, pki->server_cert_pem + pki->ca_cert_pem, pki->server_key_pem,
                                api_service.AsHandler(), api_service.AsAdmitter());
    if (!a.ok()) return Failure(a.status().WithContext("api"));
    api_server = std::move(*a);
  }
  logging::Info(
      "custos-collector serving",
      {{"version", kVersion},
       {"ingest", c.ingest.listen_host + ":" + std::to_string((*server)->port())},
       {"metrics", metrics_server ? c.metrics_host + ":" + std::to_string(metrics_server->port())
                                  : std::string("off")},
       {"api",
        api_server ? c.api_host + ":" + std::to_string(api_server->port()) : std::string("off")},
       {"store", c.db_path()}});
  if (auto ready = args.Get("ready-file")) {
    std::string json =
        "{\"ingest_port\":" + std::to_string((*server)->port()) +
        ",\"metrics_port\":" + std::to_string(metrics_server ? metrics_server->port() : 0) +
        ",\"api_port\":" + std::to_string(api_server ? api_server->port() : 0) + "}\n";
    if (Status s = fs::WriteFileAtomic(fs::Posix(), *ready, json, 0644); !s.ok()) return Failure(s);
  }
  // Audit retention: entries older than audit.retention are pruned at start and every 6 hours.
  std::mutex retention_mu;
  std::condition_variable retention_cv;
  bool stopping = false;
  std::thread retention([&] {
    std::unique_lock<std::mutex> l(retention_mu);
    do {
      const int64_t cutoff =
          RealClock()->NowUnixNs() -
          std::chrono::duration_cast<std::chrono::nanoseconds>(c.audit_retention).count();
      l.unlock();
      auto removed = (*audit)->Prune(cutoff);
      if (!removed.ok()) {
        logging::Error("audit: retention failed", {{"error", removed.status().ToString()}});
      } else if (*removed > 0) {
        logging::Info("audit: entries past retention removed", {{"entries", *removed}});
      }
      l.lock();
    } while (!retention_cv.wait_for(l, std::chrono::hours(6), [&] { return stopping; }));
  });
  int sig = 0;
  sigwait(&stop_signals, &sig);
  {
    std::lock_guard<std::mutex> l(retention_mu);
    stopping = true;
  }
  retention_cv.notify_all();
  retention.join();
  logging::Info("custos-collector stopping", {{"signal", sig}});
  if (api_server) api_server->Stop();
  (*server)->Stop();
  if (scorer) scorer->Stop();
  if (metrics_server) metrics_server->Stop();
  // The shutdown checkpoint: everything the API appended is signed.
  if (Status s = (*audit)->Checkpoint(); !s.ok()) {
    logging::Error("audit: shutdown checkpoint failed", {{"error", s.ToString()}});
  }
  logging::Info("custos-collector stopped");
  return 0;
}

int Main(int argc, char** argv) {
  sigset_t stop_signals = BlockStopSignals();
  ::signal(SIGPIPE, SIG_IGN);
  auto args = flags::Args::Parse(argc, argv,
                                 {{"config"},
                                  {"data-dir"},
                                  {"log-format"},
                                  {"log-level"},
                                  {"listen"},
                                  {"metrics"},
                                  {"api"},
                                  {"role"},
                                  {"name"},
                                  {"ready-file"},
                                  {"server-name", true, true},
                                  {"uses"},
                                  {"ttl"},
                                  {"note"},
                                  {"reason"},
                                  {"help", false},
                                  {"version", false}});
  if (!args.ok()) return UsageError(args.status().message());
  if (args->Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args->Has("version")) {
    std::printf("custos-collector %s\n", kVersion);
    return 0;
  }
  std::string config_path = args->GetOr("config", "");
  if (config_path.empty() && ::access(kDefaultCollectorConfigPath, F_OK) == 0) {
    config_path = kDefaultCollectorConfigPath;
  }
  auto cfg = LoadCollectorConfig(config_path);
  if (!cfg.ok()) {
    std::fprintf(stderr, "custos-collector: %s\n", cfg.status().message().c_str());
    return 2;
  }
  if (auto d = args->Get("data-dir")) cfg->data_dir = *d;
  if (Status s = logging::ApplyOverrides(args->Get("log-format"), args->Get("log-level"),
                                         &cfg->log_format, &cfg->log_level);
      !s.ok()) {
    return UsageError(s.message());
  }
  logging::Configure(cfg->log_format, cfg->log_level, "custos-collector");
  const auto& pos = args->positional();
  std::string cmd = pos.empty() ? "run" : pos[0];
  if (cmd == "run") return Run(std::move(*cfg), *args, stop_signals);
  if (cmd == "init") return Init(*cfg, *args);
  if (cmd == "token") return Token(*cfg, *args);
  if (cmd == "api-token") return ApiToken(*cfg, *args);
  if (cmd == "agent") return Agent(*cfg, *args);
  if (cmd == "audit") return Audit(*cfg, *args);
  return UsageError("unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace custos::collector

int main(int argc, char** argv) { return custos::collector::Main(argc, argv); }
