#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/sqlite/sqlite_util.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace custos::collector::store {
namespace {

// Versioned migrations: entry i moves the schema from version i to i+1. Never edit a shipped
// entry; append a new one.
constexpr const char* kMigrations[] = {
    // 1: agents, enrollment tokens, users, stream cursors, events.
    R"sql(
CREATE TABLE agents(
  id INTEGER PRIMARY KEY,
  agent_id TEXT NOT NULL UNIQUE,
  hostname TEXT NOT NULL,
  os TEXT NOT NULL DEFAULT '',
  machine_id TEXT NOT NULL DEFAULT '',
  agent_version TEXT NOT NULL DEFAULT '',
  enrolled_at_ns INTEGER NOT NULL,
  cert_serial TEXT NOT NULL DEFAULT '',
  cert_not_after_ns INTEGER NOT NULL DEFAULT 0,
  revoked_at_ns INTEGER,
  revoke_reason TEXT NOT NULL DEFAULT '',
  last_seen_ns INTEGER NOT NULL DEFAULT 0,
  enrollment_token_id TEXT NOT NULL DEFAULT '');
CREATE TABLE enrollment_tokens(
  id TEXT PRIMARY KEY,
  token_sha256 BLOB NOT NULL UNIQUE,
  created_at_ns INTEGER NOT NULL,
  expires_at_ns INTEGER NOT NULL,
  max_uses INTEGER NOT NULL,
  uses INTEGER NOT NULL DEFAULT 0,
  revoked_at_ns INTEGER,
  note TEXT NOT NULL DEFAULT '');
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE streams(
  agent INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  PRIMARY KEY(agent, epoch)) WITHOUT ROWID;
CREATE TABLE events(
  id INTEGER PRIMARY KEY,
  agent INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  time_ns INTEGER NOT NULL,
  type INTEGER NOT NULL,
  user_id INTEGER,
  payload BLOB NOT NULL);
CREATE UNIQUE INDEX events_by_key ON events(agent, epoch, seq);
CREATE INDEX events_by_time ON events(time_ns);
CREATE INDEX events_by_user_time ON events(user_id, time_ns) WHERE user_id IS NOT NULL;
)sql",
    // 2: risk scoring: directory, policies, triggers, alerts, API tokens (risk_store.h).
    R"sql(
CREATE TABLE people(
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL DEFAULT '',
  department TEXT NOT NULL DEFAULT '',
  manager TEXT NOT NULL DEFAULT '',
  groups_json TEXT NOT NULL DEFAULT '[]');
CREATE TABLE logins(
  login TEXT NOT NULL,
  host TEXT NOT NULL,
  person TEXT NOT NULL,
  PRIMARY KEY(login, host)) WITHOUT ROWID;
CREATE TABLE policies(
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  template TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at_ns INTEGER NOT NULL);
CREATE TABLE triggers(
  id INTEGER PRIMARY KEY,
  person TEXT NOT NULL,
  kind TEXT NOT NULL,
  time_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL DEFAULT 0,
  detail TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL,
  created_at_ns INTEGER NOT NULL,
  dedup_key TEXT UNIQUE);
CREATE TABLE alerts(
  id INTEGER PRIMARY KEY,
  person TEXT NOT NULL,
  policy_id TEXT NOT NULL,
  status TEXT NOT NULL,
  severity TEXT NOT NULL,
  score INTEGER NOT NULL,
  created_at_ns INTEGER NOT NULL,
  updated_at_ns INTEGER NOT NULL,
  first_activity_ns INTEGER NOT NULL,
  last_activity_ns INTEGER NOT NULL,
  explanation TEXT NOT NULL,
  status_reason TEXT NOT NULL DEFAULT '',
  status_by TEXT NOT NULL DEFAULT '',
  status_changed_at_ns INTEGER NOT NULL DEFAULT 0,
  close_snapshot TEXT NOT NULL DEFAULT '',
  updates INTEGER NOT NULL DEFAULT 1);
CREATE UNIQUE INDEX alerts_open ON alerts(person, policy_id)
  WHERE status IN ('needs_review', 'confirmed');
CREATE INDEX alerts_by_updated ON alerts(updated_at_ns);
CREATE TABLE api_tokens(
  id TEXT PRIMARY KEY,
  token_sha256 BLOB NOT NULL UNIQUE,
  role TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at_ns INTEGER NOT NULL,
  revoked_at_ns INTEGER);
)sql",
    // 3: exactly-once through the stream cursor instead of a per-event UNIQUE index. The
    // writer skips what `streams` says is committed; `event_runs` records, per committed run
    // of consecutive seqs, where its rows start (rows of a run have consecutive ids), so
    // per-agent lookups and counts cost one row per batch instead of one index entry per
    // event. Existing events are grouped into runs (gaps and islands: within a stream, rows
    // whose id and seq both advance by one belong to one run).
    R"sql(
CREATE TABLE event_runs(
  agent INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  first_id INTEGER NOT NULL,
  PRIMARY KEY(agent, epoch, first_seq)) WITHOUT ROWID;
INSERT INTO event_runs(agent, epoch, first_seq, last_seq, first_id)
  SELECT agent, epoch, min(seq), max(seq), min(id) FROM (
    SELECT agent, epoch, seq, id,
           row_number() OVER (PARTITION BY agent, epoch ORDER BY id) AS rn FROM events)
  GROUP BY agent, epoch, id - rn, seq - rn;
DROP INDEX events_by_key;
)sql",
    // 4: agent identity hardening. prev_cert_serial: the certificate a renewal replaced, still
    // accepted until the new one is first used. host_confirmed: 0 when the agent enrolled
    // claiming the host name of another live agent, until an admin confirms it.
    R"sql(
ALTER TABLE agents ADD COLUMN prev_cert_serial TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN host_confirmed INTEGER NOT NULL DEFAULT 1;
CREATE INDEX agents_by_hostname ON agents(hostname COLLATE NOCASE);
)sql",
    // 5: the audit log (collector/access/audit.h, docs/audit.md): a hash chain of entries and
    // the signed checkpoints over it. Written only by access::AuditLog.
    R"sql(
CREATE TABLE audit_log(
  seq INTEGER PRIMARY KEY,
  time_ns INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  object TEXT NOT NULL,
  summary TEXT NOT NULL,
  source TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL);
CREATE TABLE audit_checkpoints(
  seq INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  time_ns INTEGER NOT NULL,
  signature BLOB NOT NULL);
)sql",
    // 6: accounts, console sessions and personal API tokens (collector/access/accounts.h,
    // docs/storage.md "Access tables"). Secrets are stored only as SHA-256. Written only by
    // SqliteAccessStore.
    R"sql(
CREATE TABLE accounts(
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  display_name TEXT NOT NULL,
  email TEXT NOT NULL,
  roles INTEGER NOT NULL,
  password_hash TEXT NOT NULL,
  source TEXT NOT NULL CHECK(source IN ('local', 'ldap')),
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at_ns INTEGER NOT NULL,
  updated_at_ns INTEGER NOT NULL);
CREATE TABLE account_sessions(
  id TEXT PRIMARY KEY,
  secret_sha256 BLOB NOT NULL UNIQUE,
  csrf_sha256 BLOB NOT NULL,
  account TEXT NOT NULL REFERENCES accounts(id),
  created_at_ns INTEGER NOT NULL,
  last_seen_ns INTEGER NOT NULL,
  expires_at_ns INTEGER NOT NULL,
  revoked_at_ns INTEGER,
  source_address TEXT NOT NULL);
CREATE INDEX account_sessions_by_account ON account_sessions(account);
CREATE TABLE personal_tokens(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL REFERENCES accounts(id),
  name TEXT NOT NULL,
  token_sha256 BLOB NOT NULL UNIQUE,
  created_at_ns INTEGER NOT NULL,
  last_used_ns INTEGER,
  expires_at_ns INTEGER,
  revoked_at_ns INTEGER);
CREATE INDEX personal_tokens_by_owner ON personal_tokens(owner);
)sql",
    // 7: pseudonymisation (collector/store/privacy_store.h, docs/privacy.md): identity reveal
    // requests and their decisions, and the organisation's settings. Opened by
    // SqlitePrivacyStore, which finds its tables by name, not by this entry's number.
    R"sql(
CREATE TABLE reveal_requests(
  id TEXT PRIMARY KEY,
  person TEXT NOT NULL,
  requester TEXT NOT NULL,
  requester_name TEXT NOT NULL,
  justification TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK(status IN ('requested', 'approved', 'refused', 'expired', 'withdrawn')),
  decided_by TEXT NOT NULL DEFAULT '',
  decided_by_name TEXT NOT NULL DEFAULT '',
  decided_at_ns INTEGER NOT NULL DEFAULT 0,
  decision_note TEXT NOT NULL DEFAULT '',
  created_at_ns INTEGER NOT NULL,
  expires_at_ns INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX reveal_requests_one_pending ON reveal_requests(requester, person)
  WHERE status = 'requested';
CREATE INDEX reveal_requests_live ON reveal_requests(requester, expires_at_ns)
  WHERE status = 'approved';
CREATE INDEX reveal_requests_by_status ON reveal_requests(status, created_at_ns);
CREATE TABLE settings(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at_ns INTEGER NOT NULL,
  updated_by TEXT NOT NULL);
)sql",
    // 8: audit retention (collector/access/audit.h, docs/audit.md): the signed record of the
    // newest pruning — the last removed entry's seq and hash, which the first kept entry links
    // to. Written only by access::AuditLog::Prune.
    R"sql(
CREATE TABLE audit_prunes(
  seq INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  cutoff_ns INTEGER NOT NULL,
  time_ns INTEGER NOT NULL,
  signature BLOB NOT NULL);
)sql",
};

// The stream cursor: read by sessions at HELLO and by the writer inside each commit.
constexpr const char* kSelectStreamCursor =
    "SELECT last_seq FROM streams WHERE agent=? AND epoch=?";

using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::Db;
using sqlite::Stmt;

class SqliteStore final : public Store {
 public:
  SqliteStore(std::string path, std::string vfs) : path_(std::move(path)), vfs_(std::move(vfs)) {}
  ~SqliteStore() override { StopCheckpointer(); }

  Status Open(const SqliteOptions& options) {
    if (!options.read_only) {
      CUSTOS_ASSIGN_OR_RETURN(write_db_, OpenConnection(false));
      // 16 KiB pages: fewer B-tree pages to split and write per event; measured 1.3x the ingest
      // rate of 4 KiB pages (docs/performance.md). Takes effect only on a new database.
      CUSTOS_RETURN_IF_ERROR(ExecW("PRAGMA page_size=16384"));
      CUSTOS_RETURN_IF_ERROR(ExecW("PRAGMA journal_mode=WAL"));
      CUSTOS_RETURN_IF_ERROR(ExecW("PRAGMA synchronous=FULL"));
      CUSTOS_RETURN_IF_ERROR(ExecW("PRAGMA foreign_keys=ON"));
      CUSTOS_RETURN_IF_ERROR(
          ExecW("PRAGMA cache_size=-" + std::to_string(options.cache_bytes / 1024)));
      // Checkpoints copy WAL pages into the database file. With a background checkpointer they
      // run on their own connection and thread, so the writer (the ingest bottleneck) never
      // pays for them; otherwise the writer checkpoints every ~40 MB of WAL.
      CUSTOS_RETURN_IF_ERROR(ExecW(options.background_checkpoint
                                       ? "PRAGMA wal_autocheckpoint=0"
                                       : "PRAGMA wal_autocheckpoint=10000"));
      CUSTOS_RETURN_IF_ERROR(Migrate());
      CUSTOS_RETURN_IF_ERROR(PrepareWriteStatements());
      CUSTOS_ASSIGN_OR_RETURN(read_db_, OpenConnection(true));
      if (options.background_checkpoint) {
        CUSTOS_ASSIGN_OR_RETURN(checkpoint_db_, OpenConnection(false));
        // A connection that has never read the database does not know it is in WAL mode, and
        // sqlite3_wal_checkpoint_v2 on it silently does nothing (log size -1): read it once.
        // Found in session 3, when the WAL grew to 10 GB under a steady load.
        if (sqlite3_exec(checkpoint_db_.get(), "SELECT count(*) FROM sqlite_master", nullptr,
                         nullptr, nullptr) != SQLITE_OK) {
          return Error(checkpoint_db_.get(), "open checkpoint connection");
        }
        checkpointer_ = std::thread([this] { RunCheckpointer(); });
      }
    } else {
      CUSTOS_ASSIGN_OR_RETURN(read_db_, OpenConnection(true));
      CUSTOS_ASSIGN_OR_RETURN(int v, UserVersion(read_db_.get()));
      if (v > SqliteSchemaVersion()) {
        return FailedPreconditionError("store: " + path_ + ": schema version " + std::to_string(v) +
                                       " is newer than this build (" +
                                       std::to_string(SqliteSchemaVersion()) + ")");
      }
      if (v == 0) return FailedPreconditionError("store: " + path_ + ": not initialised");
    }
    return OkStatus();
  }

  Status CommitBatches(std::span<BatchWrite* const> batches) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_RETURN_IF_ERROR(ExecW("BEGIN IMMEDIATE"));
    Status s = WriteBatches(batches);
    if (s.ok()) s = ExecW("COMMIT");
    if (!s.ok()) {
      (void)ExecW("ROLLBACK");
      // Cached user ids and cursors may refer to rolled-back rows.
      user_ids_.clear();
      cursors_.clear();
      return s;
    }
    return OkStatus();
  }

  Result<uint64_t> LastCommittedSeq(int64_t agent_key, uint64_t epoch) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), kSelectStreamCursor));
    sqlite3_bind_int64(s.get(), 1, agent_key);
    sqlite3_bind_int64(s.get(), 2, static_cast<int64_t>(epoch));
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) return static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
    if (rc == SQLITE_DONE) return uint64_t{0};
    return Error(read_db_.get(), "read stream cursor");
  }

  Result<std::vector<StoredEvent>> QueryEvents(const EventQuery& q) override {
    std::string sql =
        "SELECT a.agent_id, a.hostname, e.epoch, e.seq, e.time_ns, e.type, u.name, e.payload ";
    // One agent's events: through its runs (one row per batch) to rowid ranges of events.
    sql += q.agent_id
               ? "FROM agents a JOIN event_runs r ON r.agent = a.id "
                 "JOIN events e ON e.id BETWEEN r.first_id AND r.first_id + r.last_seq - "
                 "r.first_seq LEFT JOIN users u ON u.id = e.user_id WHERE a.agent_id = :agent"
               : "FROM events e JOIN agents a ON a.id = e.agent "
                 "LEFT JOIN users u ON u.id = e.user_id WHERE 1=1";
    if (q.since_ns) sql += " AND e.time_ns >= :since";
    if (q.until_ns) sql += " AND e.time_ns < :until";
    if (q.user) sql += " AND e.user_id = (SELECT id FROM users WHERE name = :user)";
    if (q.type) sql += " AND e.type = :type";
    sql += q.newest_first ? " ORDER BY e.time_ns DESC, e.id DESC" : " ORDER BY e.time_ns, e.id";
    sql += " LIMIT :limit";
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), sql));
    auto bind = [&](const char* name) { return sqlite3_bind_parameter_index(s.get(), name); };
    if (q.since_ns) sqlite3_bind_int64(s.get(), bind(":since"), *q.since_ns);
    if (q.until_ns) sqlite3_bind_int64(s.get(), bind(":until"), *q.until_ns);
    if (q.agent_id) BindText(s.get(), bind(":agent"), *q.agent_id);
    if (q.user) BindText(s.get(), bind(":user"), *q.user);
    if (q.type) sqlite3_bind_int(s.get(), bind(":type"), static_cast<int>(*q.type));
    sqlite3_bind_int64(s.get(), bind(":limit"), q.limit);
    std::vector<StoredEvent> out;
    while (true) {
      int rc = sqlite3_step(s.get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return Error(read_db_.get(), "query events");
      StoredEvent e;
      e.agent_id = ColumnText(s.get(), 0);
      e.hostname = ColumnText(s.get(), 1);
      e.epoch = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 2));
      e.seq = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 3));
      e.time_ns = sqlite3_column_int64(s.get(), 4);
      e.type = static_cast<EventType>(sqlite3_column_int(s.get(), 5));
      e.user = ColumnText(s.get(), 6);
      const void* blob = sqlite3_column_blob(s.get(), 7);
      e.payload.assign(static_cast<const char*>(blob),
                       static_cast<size_t>(sqlite3_column_bytes(s.get(), 7)));
      out.push_back(std::move(e));
    }
    return out;
  }

  Result<uint64_t> CountEvents(std::optional<std::string> agent_id) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s,
        Prepare(read_db_.get(), agent_id ? "SELECT coalesce(sum(last_seq - first_seq + 1), 0) FROM "
                                           "event_runs WHERE agent = (SELECT id FROM agents WHERE "
                                           "agent_id = ?)"
                                         : "SELECT count(*) FROM events"));
    if (agent_id) BindText(s.get(), 1, *agent_id);
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "count events");
    return static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
  }

  Status CreateEnrollmentToken(const EnrollmentTokenRecord& r,
                               std::string_view token_sha256) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(write_db_.get(),
                        "INSERT INTO enrollment_tokens(id, token_sha256, created_at_ns, "
                        "expires_at_ns, max_uses, uses, note) VALUES(?,?,?,?,?,0,?)"));
    BindText(s.get(), 1, r.id);
    sqlite3_bind_blob(s.get(), 2, token_sha256.data(), static_cast<int>(token_sha256.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(s.get(), 3, r.created_at_ns);
    sqlite3_bind_int64(s.get(), 4, r.expires_at_ns);
    sqlite3_bind_int64(s.get(), 5, r.max_uses);
    BindText(s.get(), 6, r.note);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "create token " + r.id);
    return OkStatus();
  }

  Result<EnrollmentTokenRecord> ConsumeEnrollmentToken(std::string_view token_sha256,
                                                       int64_t now_ns) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_RETURN_IF_ERROR(ExecW("BEGIN IMMEDIATE"));
    auto result = [&]() -> Result<EnrollmentTokenRecord> {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(), std::string(kTokenColumns) +
                                               " FROM enrollment_tokens WHERE token_sha256 = ?"));
      sqlite3_bind_blob(s.get(), 1, token_sha256.data(), static_cast<int>(token_sha256.size()),
                        SQLITE_TRANSIENT);
      int rc = sqlite3_step(s.get());
      if (rc == SQLITE_DONE) return PermissionDeniedError("enrollment token: unknown");
      if (rc != SQLITE_ROW) return Error(write_db_.get(), "read enrollment token");
      EnrollmentTokenRecord t = ReadToken(s.get());
      if (t.revoked_at_ns) return PermissionDeniedError("enrollment token " + t.id + ": revoked");
      if (now_ns >= t.expires_at_ns) {
        return PermissionDeniedError("enrollment token " + t.id + ": expired");
      }
      if (t.uses >= t.max_uses)
        return PermissionDeniedError("enrollment token " + t.id + ": used up");
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt u,
          Prepare(write_db_.get(), "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?"));
      BindText(u.get(), 1, t.id);
      if (sqlite3_step(u.get()) != SQLITE_DONE) return Error(write_db_.get(), "use token");
      ++t.uses;
      return t;
    }();
    Status end = ExecW(result.ok() ? "COMMIT" : "ROLLBACK");
    if (!end.ok()) return end;
    return result;
  }

  Status RevokeEnrollmentToken(std::string_view id, int64_t now_ns) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(write_db_.get(),
                        "UPDATE enrollment_tokens SET revoked_at_ns = coalesce(revoked_at_ns, ?) "
                        "WHERE id = ?"));
    sqlite3_bind_int64(s.get(), 1, now_ns);
    BindText(s.get(), 2, id);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "revoke token");
    if (sqlite3_changes(write_db_.get()) == 0) {
      return NotFoundError("enrollment token " + std::string(id) + ": no such token");
    }
    return OkStatus();
  }

  Result<std::vector<EnrollmentTokenRecord>> ListEnrollmentTokens() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(), std::string(kTokenColumns) +
                                            " FROM enrollment_tokens ORDER BY created_at_ns"));
    std::vector<EnrollmentTokenRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadToken(s.get()));
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list tokens");
    return out;
  }

  Result<AgentRecord> RegisterAgent(const AgentRecord& r) override {
    {
      std::lock_guard<std::mutex> l(write_mu_);
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT INTO agents(agent_id, hostname, os, machine_id, agent_version, "
                          "enrolled_at_ns, cert_serial, cert_not_after_ns, enrollment_token_id, "
                          "host_confirmed) VALUES(?,?,?,?,?,?,?,?,?,"
                          "NOT EXISTS(SELECT 1 FROM agents WHERE hostname = ?2 COLLATE NOCASE "
                          "AND revoked_at_ns IS NULL))"));
      BindText(s.get(), 1, r.agent_id);
      BindText(s.get(), 2, r.hostname);
      BindText(s.get(), 3, r.os);
      BindText(s.get(), 4, r.machine_id);
      BindText(s.get(), 5, r.agent_version);
      sqlite3_bind_int64(s.get(), 6, r.enrolled_at_ns);
      BindText(s.get(), 7, r.cert_serial);
      sqlite3_bind_int64(s.get(), 8, r.cert_not_after_ns);
      BindText(s.get(), 9, r.enrollment_token_id);
      if (sqlite3_step(s.get()) != SQLITE_DONE) {
        return Error(write_db_.get(), "register agent " + r.agent_id);
      }
    }
    return FindAgent(r.agent_id);
  }

  Result<AgentRecord> FindAgent(std::string_view agent_id) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), std::string(kAgentColumns) +
                                                                " FROM agents WHERE agent_id = ?"));
    BindText(s.get(), 1, agent_id);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE)
      return NotFoundError("agent " + std::string(agent_id) + ": not enrolled");
    if (rc != SQLITE_ROW) return Error(read_db_.get(), "find agent");
    return ReadAgent(s.get());
  }

  Status UpdateAgentCertificate(std::string_view agent_id, std::string_view serial,
                                int64_t not_after_ns) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(write_db_.get(),
                        "UPDATE agents SET prev_cert_serial = cert_serial, cert_serial = ?, "
                        "cert_not_after_ns = ? WHERE agent_id = ?"));
    BindText(s.get(), 1, serial);
    sqlite3_bind_int64(s.get(), 2, not_after_ns);
    BindText(s.get(), 3, agent_id);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "update certificate");
    if (sqlite3_changes(write_db_.get()) == 0) {
      return NotFoundError("agent " + std::string(agent_id) + ": not enrolled");
    }
    return OkStatus();
  }

  Status RevokeAgent(std::string_view agent_id, std::string_view reason, int64_t now_ns) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                            Prepare(write_db_.get(),
                                    "UPDATE agents SET revoked_at_ns = coalesce(revoked_at_ns, ?), "
                                    "revoke_reason = ? WHERE agent_id = ?"));
    sqlite3_bind_int64(s.get(), 1, now_ns);
    BindText(s.get(), 2, reason);
    BindText(s.get(), 3, agent_id);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "revoke agent");
    if (sqlite3_changes(write_db_.get()) == 0) {
      return NotFoundError("agent " + std::string(agent_id) + ": not enrolled");
    }
    return OkStatus();
  }

  Status ForgetPreviousCertificate(int64_t agent_key) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(write_db_.get(), "UPDATE agents SET prev_cert_serial = '' WHERE id = ?"));
    sqlite3_bind_int64(s.get(), 1, agent_key);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "forget certificate");
    return OkStatus();
  }

  Status ConfirmAgentHost(std::string_view agent_id) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s,
        Prepare(write_db_.get(), "UPDATE agents SET host_confirmed = 1 WHERE agent_id = ?"));
    BindText(s.get(), 1, agent_id);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "confirm agent host");
    if (sqlite3_changes(write_db_.get()) == 0) {
      return NotFoundError("agent " + std::string(agent_id) + ": not enrolled");
    }
    return OkStatus();
  }

  Result<std::vector<int64_t>> RevokedAgentKeys() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(), "SELECT id FROM agents WHERE revoked_at_ns IS NOT NULL"));
    std::vector<int64_t> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
      out.push_back(sqlite3_column_int64(s.get(), 0));
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list revoked agents");
    return out;
  }

  Status TouchAgent(int64_t agent_key, int64_t now_ns) override {
    std::lock_guard<std::mutex> l(write_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(write_db_.get(), "UPDATE agents SET last_seen_ns = ? WHERE id = ?"));
    sqlite3_bind_int64(s.get(), 1, now_ns);
    sqlite3_bind_int64(s.get(), 2, agent_key);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "touch agent");
    return OkStatus();
  }

  Result<std::vector<AgentRecord>> ListAgents() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(), std::string(kAgentColumns) + " FROM agents ORDER BY id"));
    std::vector<AgentRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadAgent(s.get()));
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list agents");
    return out;
  }

  Result<StoreStats> Stats() override {
    StoreStats st;
    {
      std::lock_guard<std::mutex> l(read_mu_);
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s,
          Prepare(
              read_db_.get(),
              "SELECT (SELECT coalesce(max(id), 0) FROM events), (SELECT count(*) FROM agents)"));
      if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "stats");
      // max(id) is O(1) and equals the row count because events are never deleted yet.
      st.events = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0));
      st.agents = static_cast<uint64_t>(sqlite3_column_int64(s.get(), 1));
    }
    for (const char* suffix : {"", "-wal"}) {
      struct stat sb {};
      if (::stat((path_ + suffix).c_str(), &sb) == 0)
        st.bytes_on_disk += static_cast<uint64_t>(sb.st_size);
    }
    return st;
  }

  Status CheckIntegrity() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), "PRAGMA integrity_check"));
    std::string problems;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      std::string line = ColumnText(s.get(), 0);
      if (line != "ok") problems += line + "; ";
    }
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "integrity check");
    if (!problems.empty())
      return DataLossError("store: " + path_ + ": integrity check: " + problems);
    return OkStatus();
  }

 private:
  static constexpr const char* kTokenColumns =
      "SELECT id, created_at_ns, expires_at_ns, max_uses, uses, revoked_at_ns, note";
  static constexpr const char* kAgentColumns =
      "SELECT id, agent_id, hostname, os, machine_id, agent_version, enrolled_at_ns, cert_serial, "
      "cert_not_after_ns, revoked_at_ns, revoke_reason, last_seen_ns, enrollment_token_id, "
      "prev_cert_serial, host_confirmed";

  static EnrollmentTokenRecord ReadToken(sqlite3_stmt* s) {
    EnrollmentTokenRecord t;
    t.id = ColumnText(s, 0);
    t.created_at_ns = sqlite3_column_int64(s, 1);
    t.expires_at_ns = sqlite3_column_int64(s, 2);
    t.max_uses = static_cast<uint32_t>(sqlite3_column_int64(s, 3));
    t.uses = static_cast<uint32_t>(sqlite3_column_int64(s, 4));
    if (sqlite3_column_type(s, 5) != SQLITE_NULL) t.revoked_at_ns = sqlite3_column_int64(s, 5);
    t.note = ColumnText(s, 6);
    return t;
  }
  static AgentRecord ReadAgent(sqlite3_stmt* s) {
    AgentRecord a;
    a.key = sqlite3_column_int64(s, 0);
    a.agent_id = ColumnText(s, 1);
    a.hostname = ColumnText(s, 2);
    a.os = ColumnText(s, 3);
    a.machine_id = ColumnText(s, 4);
    a.agent_version = ColumnText(s, 5);
    a.enrolled_at_ns = sqlite3_column_int64(s, 6);
    a.cert_serial = ColumnText(s, 7);
    a.cert_not_after_ns = sqlite3_column_int64(s, 8);
    if (sqlite3_column_type(s, 9) != SQLITE_NULL) a.revoked_at_ns = sqlite3_column_int64(s, 9);
    a.revoke_reason = ColumnText(s, 10);
    a.last_seen_ns = sqlite3_column_int64(s, 11);
    a.enrollment_token_id = ColumnText(s, 12);
    a.prev_cert_serial = ColumnText(s, 13);
    a.host_confirmed = sqlite3_column_int(s, 14) != 0;
    return a;
  }

  Status Error(sqlite3* db, std::string_view what) const {
    return sqlite::SqliteError(db, path_, what);
  }

  Result<Db> OpenConnection(bool read_only) {
    return sqlite::OpenDatabase(
        path_, read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 10000,
        vfs_);
  }

  Result<Stmt> Prepare(sqlite3* db, const std::string& sql) const {
    return sqlite::Prepare(db, path_, sql, SQLITE_PREPARE_PERSISTENT);
  }

  Status ExecW(const std::string& sql) { return sqlite::Exec(write_db_.get(), path_, sql); }

  static Result<int> UserVersion(sqlite3* db) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &raw, nullptr) != SQLITE_OK) {
      return DataLossError(std::string("store: read schema version: ") + sqlite3_errmsg(db));
    }
    Stmt s(raw);
    if (sqlite3_step(s.get()) != SQLITE_ROW) {
      return DataLossError(std::string("store: read schema version: ") + sqlite3_errmsg(db));
    }
    return sqlite3_column_int(s.get(), 0);
  }

  Status Migrate() {
    CUSTOS_ASSIGN_OR_RETURN(int version, UserVersion(write_db_.get()));
    if (version > SqliteSchemaVersion()) {
      return FailedPreconditionError("store: " + path_ + ": schema version " +
                                     std::to_string(version) + " is newer than this build (" +
                                     std::to_string(SqliteSchemaVersion()) +
                                     "); upgrade custos-collector");
    }
    for (int v = version; v < SqliteSchemaVersion(); ++v) {
      CUSTOS_RETURN_IF_ERROR(ExecW("BEGIN IMMEDIATE"));
      Status s = ExecW(kMigrations[v]);
      if (s.ok()) s = ExecW("PRAGMA user_version=" + std::to_string(v + 1));
      if (s.ok()) s = ExecW("COMMIT");
      if (!s.ok()) {
        (void)ExecW("ROLLBACK");
        return s.WithContext("migrate to schema " + std::to_string(v + 1));
      }
    }
    return OkStatus();
  }

  Status PrepareWriteStatements() {
    CUSTOS_ASSIGN_OR_RETURN(insert_event_,
                            Prepare(write_db_.get(),
                                    "INSERT INTO events(agent, epoch, seq, time_ns, type, "
                                    "user_id, payload) VALUES(?,?,?,?,?,?,?)"));
    CUSTOS_ASSIGN_OR_RETURN(insert_run_,
                            Prepare(write_db_.get(),
                                    "INSERT INTO event_runs(agent, epoch, first_seq, last_seq, "
                                    "first_id) VALUES(?,?,?,?,?)"));
    CUSTOS_ASSIGN_OR_RETURN(read_stream_, Prepare(write_db_.get(), kSelectStreamCursor));
    CUSTOS_ASSIGN_OR_RETURN(
        upsert_stream_,
        Prepare(
            write_db_.get(),
            "INSERT INTO streams(agent, epoch, last_seq) VALUES(?,?,?) "
            "ON CONFLICT(agent, epoch) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)"));
    CUSTOS_ASSIGN_OR_RETURN(find_user_,
                            Prepare(write_db_.get(), "SELECT id FROM users WHERE name = ?"));
    CUSTOS_ASSIGN_OR_RETURN(insert_user_,
                            Prepare(write_db_.get(), "INSERT INTO users(name) VALUES(?)"));
    return OkStatus();
  }

  Result<int64_t> UserId(const std::string& name) {
    auto it = user_ids_.find(name);
    if (it != user_ids_.end()) return it->second;
    sqlite3_stmt* f = find_user_.get();
    sqlite3_reset(f);
    BindText(f, 1, name);
    int rc = sqlite3_step(f);
    int64_t id;
    if (rc == SQLITE_ROW) {
      id = sqlite3_column_int64(f, 0);
    } else if (rc == SQLITE_DONE) {
      sqlite3_stmt* ins = insert_user_.get();
      sqlite3_reset(ins);
      BindText(ins, 1, name);
      if (sqlite3_step(ins) != SQLITE_DONE) return Error(write_db_.get(), "insert user");
      id = sqlite3_last_insert_rowid(write_db_.get());
    } else {
      return Error(write_db_.get(), "find user");
    }
    sqlite3_reset(f);
    if (user_ids_.size() > 100000) user_ids_.clear();
    user_ids_.emplace(name, id);
    return id;
  }

  // The stream's committed seq as this transaction sees it (cached; the writer is the only one
  // who moves it).
  Result<uint64_t*> Cursor(int64_t agent_key, uint64_t epoch) {
    if (cursors_.size() > 100000) cursors_.clear();  // bounded: re-read on the next miss
    auto [it, inserted] = cursors_.try_emplace({agent_key, epoch}, 0);
    if (!inserted) return &it->second;
    sqlite3_stmt* q = read_stream_.get();
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, agent_key);
    sqlite3_bind_int64(q, 2, static_cast<int64_t>(epoch));
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
      it->second = static_cast<uint64_t>(sqlite3_column_int64(q, 0));
    } else if (rc != SQLITE_DONE) {
      cursors_.erase(it);
      return Error(write_db_.get(), "read stream cursor");
    }
    sqlite3_reset(q);
    return &it->second;
  }

  Status InsertRun(const BatchWrite& b, uint64_t first_seq, uint64_t last_seq, int64_t first_id) {
    sqlite3_stmt* r = insert_run_.get();
    sqlite3_reset(r);
    sqlite3_bind_int64(r, 1, b.agent_key);
    sqlite3_bind_int64(r, 2, static_cast<int64_t>(b.epoch));
    sqlite3_bind_int64(r, 3, static_cast<int64_t>(first_seq));
    sqlite3_bind_int64(r, 4, static_cast<int64_t>(last_seq));
    sqlite3_bind_int64(r, 5, first_id);
    if (sqlite3_step(r) != SQLITE_DONE) return Error(write_db_.get(), "insert event run");
    return OkStatus();
  }

  // Exactly-once: rows at or below the stream's committed seq are already stored (a batch
  // resent by a reconnected agent while its first copy was still queued) and are skipped; the
  // cursor moves in the same transaction as the rows.
  Status WriteBatches(std::span<BatchWrite* const> batches) {
    sqlite3_stmt* ins = insert_event_.get();
    std::vector<int64_t> user_ids;
    for (BatchWrite* b : batches) {
      if (b->rows.empty()) continue;
      CUSTOS_ASSIGN_OR_RETURN(uint64_t * cursor, Cursor(b->agent_key, b->epoch));
      if (b->last_seq() <= *cursor) continue;
      const size_t skip = *cursor >= b->first_seq ? *cursor - b->first_seq + 1 : 0;
      user_ids.clear();
      for (const auto& u : b->users) {
        CUSTOS_ASSIGN_OR_RETURN(int64_t id, UserId(u));
        user_ids.push_back(id);
      }
      uint64_t seq = b->first_seq + skip;
      int64_t first_id = 0;
      for (size_t i = skip; i < b->rows.size(); ++i) {
        const EventRow& r = b->rows[i];
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, b->agent_key);
        sqlite3_bind_int64(ins, 2, static_cast<int64_t>(b->epoch));
        sqlite3_bind_int64(ins, 3, static_cast<int64_t>(seq++));
        sqlite3_bind_int64(ins, 4, r.time_ns);
        sqlite3_bind_int(ins, 5, static_cast<int>(r.type));
        if (r.user_index >= 0 && static_cast<size_t>(r.user_index) < user_ids.size()) {
          sqlite3_bind_int64(ins, 6, user_ids[static_cast<size_t>(r.user_index)]);
        } else {
          sqlite3_bind_null(ins, 6);
        }
        sqlite3_bind_blob(ins, 7, r.payload.data(), static_cast<int>(r.payload.size()),
                          SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) return Error(write_db_.get(), "insert event");
        if (first_id == 0) first_id = sqlite3_last_insert_rowid(write_db_.get());
      }
      // The one writer's rows of one transaction get consecutive rowids (max + 1 each); a run
      // relies on it, so it is checked rather than assumed. Failing rolls the commit back
      // unacknowledged: agents resend, nothing accepted is lost.
      const auto inserted = static_cast<int64_t>(b->rows.size() - skip);
      if (sqlite3_last_insert_rowid(write_db_.get()) != first_id + inserted - 1) {
        return InternalError("store: rows of one batch did not get consecutive ids");
      }
      CUSTOS_RETURN_IF_ERROR(InsertRun(*b, b->first_seq + skip, b->last_seq(), first_id));
      *cursor = b->last_seq();
      sqlite3_stmt* up = upsert_stream_.get();
      sqlite3_reset(up);
      sqlite3_bind_int64(up, 1, b->agent_key);
      sqlite3_bind_int64(up, 2, static_cast<int64_t>(b->epoch));
      sqlite3_bind_int64(up, 3, static_cast<int64_t>(b->last_seq()));
      if (sqlite3_step(up) != SQLITE_DONE) return Error(write_db_.get(), "update stream cursor");
    }
    sqlite3_reset(ins);
    return OkStatus();
  }

  std::string path_;
  std::string vfs_;  // SqliteOptions::vfs
  std::mutex write_mu_;
  Db write_db_;
  Stmt insert_event_, upsert_stream_, find_user_, insert_user_, insert_run_, read_stream_;
  std::unordered_map<std::string, int64_t> user_ids_;  // guarded by write_mu_
  struct StreamKeyHash {
    size_t operator()(const std::pair<int64_t, uint64_t>& k) const {
      return std::hash<int64_t>()(k.first) * 31 + std::hash<uint64_t>()(k.second);
    }
  };
  // (agent, epoch) -> committed seq, guarded by write_mu_; cleared when a transaction rolls back.
  std::unordered_map<std::pair<int64_t, uint64_t>, uint64_t, StreamKeyHash> cursors_;
  std::mutex read_mu_;
  Db read_db_;

  // Background checkpointing (SqliteOptions::background_checkpoint).
  void RunCheckpointer() {
    std::unique_lock<std::mutex> l(checkpoint_mu_);
    while (!checkpoint_stop_) {
      // Once a second: each checkpoint fsyncs the database file, and running one after every
      // commit made commits wait on that fsync (measured: 19 us/event instead of 3).
      checkpoint_cv_.wait_for(l, std::chrono::seconds(1));
      if (checkpoint_stop_) break;
      l.unlock();
      int wal_frames = 0, done = 0;
      // PASSIVE never blocks the writer or readers; it copies what it can.
      int rc = sqlite3_wal_checkpoint_v2(checkpoint_db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                         &wal_frames, &done);
      // PASSIVE never resets the log while some reader still uses it, and with the scorer and
      // the API reading all the time there always is one: the WAL grew without bound (10 GB in
      // 80 s at 50k events/s, commits and reads slowing with it; docs/performance.md). Past
      // kRestartWalFrames, RESTART finishes the copy and waits (busy handler) for the readers of
      // the old log — short queries — so the next commit starts the log from the beginning.
      // Commits wait meanwhile, briefly: PASSIVE has already copied nearly everything.
      // The writer mutex is taken first: the busy handler alone starved against back-to-back
      // group commits, which take the file lock again the moment it is free.
      if (rc == SQLITE_OK && wal_frames > kRestartWalFrames) {
        std::lock_guard<std::mutex> w(write_mu_);
        rc = sqlite3_wal_checkpoint_v2(checkpoint_db_.get(), nullptr, SQLITE_CHECKPOINT_RESTART,
                                       &wal_frames, &done);
      }
      if (rc != SQLITE_OK && rc != SQLITE_BUSY && !warned_checkpoint_) {
        warned_checkpoint_ = true;
        std::fprintf(stderr, "store: %s: checkpoint: %s\n", path_.c_str(),
                     sqlite3_errmsg(checkpoint_db_.get()));
      }
      l.lock();
    }
  }
  void StopCheckpointer() {
    {
      std::lock_guard<std::mutex> l(checkpoint_mu_);
      checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
  }
  static constexpr int kRestartWalFrames = 4096;  // 64 MiB of 16 KiB pages
  Db checkpoint_db_;
  std::thread checkpointer_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;  // guarded by checkpoint_mu_
  bool warned_checkpoint_ = false;
};

}  // namespace

int SqliteSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options.path, options.vfs);
  if (options.read_only && ::access(options.path.c_str(), R_OK) != 0) {
    return ErrnoError("store: " + options.path, errno);
  }
  CUSTOS_RETURN_IF_ERROR(store->Open(options));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace custos::collector::store
