#include "collector/access/audit.h"

#include <sqlite3.h>

#include <vector>

#include "collector/store/sqlite/sqlite_util.h"
#include "common/crypto/crypto.h"

namespace custos::collector::access {
namespace {

using store::sqlite::BindBlob;
using store::sqlite::BindText;
using store::sqlite::ColumnBlob;
using store::sqlite::ColumnText;
using store::sqlite::Db;
using store::sqlite::Exec;
using store::sqlite::InImmediateTransaction;
using store::sqlite::OpenDatabase;
using store::sqlite::Prepare;
using store::sqlite::SqliteError;
using store::sqlite::Stmt;

constexpr int kBusyTimeoutMs = 10'000;
constexpr int kAuditSchemaVersion = 5;

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void PutField(std::string* out, std::string_view field) {
  const auto n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(n >> shift));
  out->append(field);
}

Status CheckSchema(sqlite3* db, const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(db, path, "PRAGMA user_version"));
  if (sqlite3_step(s.get()) != SQLITE_ROW) return SqliteError(db, path, "schema version");
  if (sqlite3_column_int(s.get(), 0) < kAuditSchemaVersion) {
    return FailedPreconditionError("audit: " + path +
                                   ": no audit tables (schema older than version 5; run "
                                   "'custos-collector init')");
  }
  return OkStatus();
}

// Retention needs schema version 8 (audit_prunes).
bool HasPruneTable(sqlite3* db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT 1 FROM sqlite_master WHERE type='table' AND name='audit_prunes'",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return false;
  }
  Stmt s(raw);
  return sqlite3_step(s.get()) == SQLITE_ROW;
}

Status CheckPruneTable(sqlite3* db, const std::string& path) {
  if (HasPruneTable(db)) return OkStatus();
  return FailedPreconditionError("audit: " + path +
                                 ": no retention table (schema older than version 8; run "
                                 "'custos-collector init')");
}

struct Tail {
  int64_t seq = 0;
  std::string hash = std::string(kAuditHashBytes, '\0');
};

Result<Tail> ReadTail(sqlite3* db, const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(
      Stmt s, Prepare(db, path, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"));
  Tail tail;
  int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) {
    tail.seq = sqlite3_column_int64(s.get(), 0);
    tail.hash = ColumnBlob(s.get(), 1);
  } else if (rc != SQLITE_DONE) {
    return SqliteError(db, path, "read audit tail");
  }
  return tail;
}

}  // namespace

std::string CanonicalBytes(const AuditEntry& e) {
  std::string out;
  out.reserve(16 + 20 + e.actor.size() + e.action.size() + e.object.size() + e.summary.size() +
              e.source.size());
  PutU64(&out, static_cast<uint64_t>(e.seq));
  PutU64(&out, static_cast<uint64_t>(e.time_ns));
  PutField(&out, e.actor);
  PutField(&out, e.action);
  PutField(&out, e.object);
  PutField(&out, e.summary);
  PutField(&out, e.source);
  return out;
}

std::string EntryHash(const AuditEntry& e) {
  return crypto::Sha256(e.prev_hash + CanonicalBytes(e));
}

std::string PruneMessage(int64_t seq, std::string_view hash, int64_t cutoff_ns) {
  std::string m = "custos-audit-prune-v1";
  PutU64(&m, static_cast<uint64_t>(seq));
  m.append(hash);
  PutU64(&m, static_cast<uint64_t>(cutoff_ns));
  return m;
}

std::string CheckpointMessage(int64_t seq, std::string_view hash) {
  std::string m = "custos-audit-checkpoint-v1";
  PutU64(&m, static_cast<uint64_t>(seq));
  m.append(hash);
  return m;
}

struct AuditLog::Connection {
  Db db;
};

AuditLog::AuditLog(AuditLogOptions options, std::unique_ptr<Connection> conn)
    : options_(std::move(options)), conn_(std::move(conn)) {}
AuditLog::~AuditLog() = default;

Result<std::unique_ptr<AuditLog>> AuditLog::Open(AuditLogOptions options) {
  if (options.checkpoint_interval <= 0) {
    return InvalidArgumentError("audit: checkpoint interval must be positive");
  }
  if (auto probe = crypto::Ed25519Sign(options.signing_key_pem, "probe"); !probe.ok()) {
    return InvalidArgumentError("audit: signing key: " + probe.status().message());
  }
  CUSTOS_ASSIGN_OR_RETURN(Db db,
                          OpenDatabase(options.db_path, SQLITE_OPEN_READWRITE, kBusyTimeoutMs));
  CUSTOS_RETURN_IF_ERROR(CheckSchema(db.get(), options.db_path));
  auto conn = std::make_unique<Connection>();
  conn->db = std::move(db);
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(options), std::move(conn)));
}

Status AuditLog::CheckpointLocked(int64_t seq, const std::string& hash) {
  sqlite3* db = conn_->db.get();
  const std::string& path = options_.db_path;
  CUSTOS_ASSIGN_OR_RETURN(
      std::string sig, crypto::Ed25519Sign(options_.signing_key_pem, CheckpointMessage(seq, hash)));
  CUSTOS_ASSIGN_OR_RETURN(
      Stmt s, Prepare(db, path,
                      "INSERT OR IGNORE INTO audit_checkpoints(seq, hash, time_ns, signature) "
                      "VALUES(?,?,?,?)"));
  sqlite3_bind_int64(s.get(), 1, seq);
  BindBlob(s.get(), 2, hash);
  sqlite3_bind_int64(s.get(), 3, options_.clock->NowUnixNs());
  BindBlob(s.get(), 4, sig);
  if (sqlite3_step(s.get()) != SQLITE_DONE) return SqliteError(db, path, "insert audit checkpoint");
  return OkStatus();
}

Result<AuditEntry> AuditLog::Append(AuditEntry entry, Durability durability) {
  std::lock_guard<std::mutex> l(mu_);
  sqlite3* db = conn_->db.get();
  const std::string& path = options_.db_path;
  if (durability == Durability::kRelaxed) {
    CUSTOS_RETURN_IF_ERROR(Exec(db, path, "PRAGMA synchronous=NORMAL"));
  }
  struct RestoreSync {
    sqlite3* db;
    bool relaxed;
    ~RestoreSync() {
      if (relaxed) sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
    }
  } restore{db, durability == Durability::kRelaxed};
  Status s = InImmediateTransaction(db, path, [&]() -> Status {
    CUSTOS_ASSIGN_OR_RETURN(Tail tail, ReadTail(db, path));
    entry.seq = tail.seq + 1;
    entry.time_ns = options_.clock->NowUnixNs();
    entry.prev_hash = tail.hash;
    entry.hash = EntryHash(entry);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt ins, Prepare(db, path,
                          "INSERT INTO audit_log(seq, time_ns, actor, action, object, summary, "
                          "source, prev_hash, hash) VALUES(?,?,?,?,?,?,?,?,?)"));
    sqlite3_bind_int64(ins.get(), 1, entry.seq);
    sqlite3_bind_int64(ins.get(), 2, entry.time_ns);
    BindText(ins.get(), 3, entry.actor);
    BindText(ins.get(), 4, entry.action);
    BindText(ins.get(), 5, entry.object);
    BindText(ins.get(), 6, entry.summary);
    BindText(ins.get(), 7, entry.source);
    BindBlob(ins.get(), 8, entry.prev_hash);
    BindBlob(ins.get(), 9, entry.hash);
    if (sqlite3_step(ins.get()) != SQLITE_DONE) return SqliteError(db, path, "append audit entry");
    if (entry.seq % options_.checkpoint_interval == 0) {
      CUSTOS_RETURN_IF_ERROR(CheckpointLocked(entry.seq, entry.hash));
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return entry;
}

Status AuditLog::Checkpoint() {
  std::lock_guard<std::mutex> l(mu_);
  sqlite3* db = conn_->db.get();
  return InImmediateTransaction(db, options_.db_path, [&]() -> Status {
    CUSTOS_ASSIGN_OR_RETURN(Tail tail, ReadTail(db, options_.db_path));
    if (tail.seq == 0) return OkStatus();
    return CheckpointLocked(tail.seq, tail.hash);  // INSERT OR IGNORE: already signed is fine
  });
}

Result<int64_t> AuditLog::Prune(int64_t cutoff_ns) {
  std::lock_guard<std::mutex> l(mu_);
  sqlite3* db = conn_->db.get();
  const std::string& path = options_.db_path;
  CUSTOS_RETURN_IF_ERROR(CheckPruneTable(db, path));
  int64_t removed = 0;
  Status s = InImmediateTransaction(db, path, [&]() -> Status {
    CUSTOS_ASSIGN_OR_RETURN(Tail tail, ReadTail(db, path));
    CUSTOS_ASSIGN_OR_RETURN(Stmt last,
                            Prepare(db, path,
                                    "SELECT seq, hash FROM audit_log WHERE time_ns < ? AND seq < ? "
                                    "ORDER BY seq DESC LIMIT 1"));
    sqlite3_bind_int64(last.get(), 1, cutoff_ns);
    sqlite3_bind_int64(last.get(), 2, tail.seq);
    const int rc = sqlite3_step(last.get());
    if (rc == SQLITE_DONE) return OkStatus();  // nothing old enough
    if (rc != SQLITE_ROW) return SqliteError(db, path, "find prunable audit entries");
    const int64_t seq = sqlite3_column_int64(last.get(), 0);
    const std::string hash = ColumnBlob(last.get(), 1);
    CUSTOS_ASSIGN_OR_RETURN(
        std::string sig,
        crypto::Ed25519Sign(options_.signing_key_pem, PruneMessage(seq, hash, cutoff_ns)));
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt ins, Prepare(db, path,
                          "INSERT OR REPLACE INTO audit_prunes(seq, hash, cutoff_ns, time_ns, "
                          "signature) VALUES(?,?,?,?,?)"));
    sqlite3_bind_int64(ins.get(), 1, seq);
    BindBlob(ins.get(), 2, hash);
    sqlite3_bind_int64(ins.get(), 3, cutoff_ns);
    sqlite3_bind_int64(ins.get(), 4, options_.clock->NowUnixNs());
    BindBlob(ins.get(), 5, sig);
    if (sqlite3_step(ins.get()) != SQLITE_DONE) return SqliteError(db, path, "record pruning");
    for (const char* sql :
         {"DELETE FROM audit_prunes WHERE seq < ?", "DELETE FROM audit_checkpoints WHERE seq <= ?",
          "DELETE FROM audit_log WHERE seq <= ?"}) {
      CUSTOS_ASSIGN_OR_RETURN(Stmt del, Prepare(db, path, sql));
      sqlite3_bind_int64(del.get(), 1, seq);
      if (sqlite3_step(del.get()) != SQLITE_DONE) return SqliteError(db, path, "prune audit log");
      removed = sqlite3_changes(db);  // the last statement's: entries
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return removed;
}

Result<std::vector<AuditEntry>> AuditLog::Query(const AuditQuery& q) {
  std::string sql =
      "SELECT seq, time_ns, actor, action, object, summary, source, prev_hash, hash "
      "FROM audit_log WHERE 1";
  if (q.actor) sql += " AND actor = :actor";
  const bool action_prefix = q.action && !q.action->empty() && q.action->back() == '.';
  if (q.action)
    sql += action_prefix ? " AND substr(action, 1, :alen) = :action" : " AND action = :action";
  if (q.object) sql += " AND object = :object";
  if (q.since_ns) sql += " AND time_ns >= :since";
  if (q.until_ns) sql += " AND time_ns < :until";
  if (q.before_seq) sql += " AND seq < :before";
  sql += " ORDER BY seq DESC LIMIT :limit";
  std::lock_guard<std::mutex> l(mu_);
  sqlite3* db = conn_->db.get();
  CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(db, options_.db_path, sql));
  auto idx = [&](const char* name) { return sqlite3_bind_parameter_index(s.get(), name); };
  if (q.actor) BindText(s.get(), idx(":actor"), *q.actor);
  if (q.action) {
    BindText(s.get(), idx(":action"), *q.action);
    if (action_prefix)
      sqlite3_bind_int64(s.get(), idx(":alen"), static_cast<int64_t>(q.action->size()));
  }
  if (q.object) BindText(s.get(), idx(":object"), *q.object);
  if (q.since_ns) sqlite3_bind_int64(s.get(), idx(":since"), *q.since_ns);
  if (q.until_ns) sqlite3_bind_int64(s.get(), idx(":until"), *q.until_ns);
  if (q.before_seq) sqlite3_bind_int64(s.get(), idx(":before"), *q.before_seq);
  sqlite3_bind_int64(s.get(), idx(":limit"), q.limit);
  std::vector<AuditEntry> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    AuditEntry e;
    e.seq = sqlite3_column_int64(s.get(), 0);
    e.time_ns = sqlite3_column_int64(s.get(), 1);
    e.actor = ColumnText(s.get(), 2);
    e.action = ColumnText(s.get(), 3);
    e.object = ColumnText(s.get(), 4);
    e.summary = ColumnText(s.get(), 5);
    e.source = ColumnText(s.get(), 6);
    e.prev_hash = ColumnBlob(s.get(), 7);
    e.hash = ColumnBlob(s.get(), 8);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, options_.db_path, "query audit log");
  return out;
}

namespace {

struct StoredCheckpoint {
  int64_t seq;
  std::string hash;
  std::string signature;
};

class Verifier {
 public:
  Verifier(const AuditVerifyOptions& o, AuditVerifyReport* r) : options_(o), report_(r) {}

  // False once a problem is recorded (the report names it).
  bool Bad(int64_t seq, std::string problem) {
    report_->ok = false;
    report_->first_bad_seq = seq;
    report_->problem = std::move(problem);
    return false;
  }

  bool CheckCheckpoint(const StoredCheckpoint& c, std::string_view entry_hash) {
    const std::string at = "checkpoint at seq " + std::to_string(c.seq);
    if (!crypto::Ed25519Verify(options_.public_key_pem, CheckpointMessage(c.seq, c.hash),
                               c.signature)
             .ok()) {
      return Bad(c.seq, at + ": signature does not verify (forged or altered checkpoint)");
    }
    if (c.hash != entry_hash) {
      return Bad(c.seq,
                 "entry " + std::to_string(c.seq) +
                     " differs from its signed checkpoint (chain rewritten at or before it)");
    }
    return true;
  }

  // Checks one entry against the chain so far; false at the first problem.
  bool CheckEntry(const AuditEntry& e, const std::vector<StoredCheckpoint>& checkpoints,
                  size_t* next_checkpoint) {
    const int64_t expected = running_seq_ + 1;
    const std::string n = std::to_string(e.seq);
    if (e.seq != expected) {
      return Bad(expected,
                 "entry " + std::to_string(expected) + " missing (deleted); next is " + n);
    }
    if (e.prev_hash != running_hash_) {
      return Bad(e.seq, "entry " + n + " does not link to entry " + std::to_string(running_seq_) +
                            " (reordered or replaced)");
    }
    if (EntryHash(e) != e.hash) {
      return Bad(e.seq, "entry " + n + " altered (its hash does not match its contents)");
    }
    bool checkpointed = false;
    while (*next_checkpoint < checkpoints.size() && checkpoints[*next_checkpoint].seq <= e.seq) {
      const StoredCheckpoint& c = checkpoints[(*next_checkpoint)++];
      if (c.seq != e.seq)
        return Bad(c.seq, "checkpoint at seq " + std::to_string(c.seq) + " names no entry");
      if (!CheckCheckpoint(c, e.hash)) return false;
      checkpointed = true;
    }
    if (!checkpointed && options_.checkpoint_interval > 0 &&
        e.seq % options_.checkpoint_interval == 0) {
      return Bad(e.seq, "checkpoint at seq " + n + " missing (deleted)");
    }
    running_seq_ = e.seq;
    running_hash_ = e.hash;
    return true;
  }

  int64_t running_seq() const { return running_seq_; }

  // The log starts after the entries retention removed: the first kept entry must link to the
  // signed pruning record's hash.
  bool StartAfterPruning(int64_t seq, const std::string& hash, int64_t cutoff_ns,
                         const std::string& signature) {
    if (!crypto::Ed25519Verify(options_.public_key_pem, PruneMessage(seq, hash, cutoff_ns),
                               signature)
             .ok()) {
      return Bad(seq, "pruning record at seq " + std::to_string(seq) +
                          " forged or altered (its signature does not verify)");
    }
    running_seq_ = seq;
    running_hash_ = hash;
    report_->pruned_through = seq;
    return true;
  }

 private:
  const AuditVerifyOptions& options_;
  AuditVerifyReport* report_;
  int64_t running_seq_ = 0;
  std::string running_hash_ = std::string(kAuditHashBytes, '\0');
};

}  // namespace

Result<AuditVerifyReport> VerifyAuditLog(const AuditVerifyOptions& options) {
  const std::string& path = options.db_path;
  CUSTOS_ASSIGN_OR_RETURN(Db db, OpenDatabase(path, SQLITE_OPEN_READONLY, kBusyTimeoutMs));
  CUSTOS_RETURN_IF_ERROR(CheckSchema(db.get(), path));
  // One read transaction: entries and checkpoints from the same snapshot.
  CUSTOS_RETURN_IF_ERROR(Exec(db.get(), path, "BEGIN"));
  std::vector<StoredCheckpoint> checkpoints;
  {
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s,
        Prepare(db.get(), path, "SELECT seq, hash, signature FROM audit_checkpoints ORDER BY seq"));
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      checkpoints.push_back(
          {sqlite3_column_int64(s.get(), 0), ColumnBlob(s.get(), 1), ColumnBlob(s.get(), 2)});
    }
    if (rc != SQLITE_DONE) return SqliteError(db.get(), path, "read audit checkpoints");
  }
  AuditVerifyReport report;
  report.checkpoints = static_cast<int64_t>(checkpoints.size());
  Verifier verifier(options, &report);
  bool intact = true;
  if (HasPruneTable(db.get())) {
    CUSTOS_ASSIGN_OR_RETURN(Stmt p,
                            Prepare(db.get(), path,
                                    "SELECT seq, hash, cutoff_ns, signature FROM audit_prunes "
                                    "ORDER BY seq DESC LIMIT 1"));
    const int prc = sqlite3_step(p.get());
    if (prc == SQLITE_ROW) {
      intact = verifier.StartAfterPruning(sqlite3_column_int64(p.get(), 0), ColumnBlob(p.get(), 1),
                                          sqlite3_column_int64(p.get(), 2), ColumnBlob(p.get(), 3));
    } else if (prc != SQLITE_DONE) {
      return SqliteError(db.get(), path, "read audit pruning record");
    }
  }
  CUSTOS_ASSIGN_OR_RETURN(
      Stmt s, Prepare(db.get(), path,
                      "SELECT seq, time_ns, actor, action, object, summary, source, prev_hash, "
                      "hash FROM audit_log ORDER BY seq"));
  size_t next_checkpoint = 0;
  AuditEntry e;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    ++report.entries;
    if (!intact) continue;  // keep counting
    e.seq = sqlite3_column_int64(s.get(), 0);
    e.time_ns = sqlite3_column_int64(s.get(), 1);
    e.actor = ColumnText(s.get(), 2);
    e.action = ColumnText(s.get(), 3);
    e.object = ColumnText(s.get(), 4);
    e.summary = ColumnText(s.get(), 5);
    e.source = ColumnText(s.get(), 6);
    e.prev_hash = ColumnBlob(s.get(), 7);
    e.hash = ColumnBlob(s.get(), 8);
    intact = verifier.CheckEntry(e, checkpoints, &next_checkpoint);
  }
  if (rc != SQLITE_DONE) return SqliteError(db.get(), path, "read audit log");
  (void)Exec(db.get(), path, "COMMIT");
  if (intact && next_checkpoint < checkpoints.size()) {
    const int64_t last = verifier.running_seq();
    verifier.Bad(last + 1, "entries from seq " + std::to_string(last + 1) +
                               " removed (truncated): checkpoint at seq " +
                               std::to_string(checkpoints.back().seq) + " signs an entry the " +
                               "log no longer has");
  }
  return report;
}

}  // namespace custos::collector::access
