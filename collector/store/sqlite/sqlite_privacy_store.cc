#include "collector/store/sqlite/sqlite_privacy_store.h"

#include <mutex>

#include "collector/store/sqlite/sqlite_util.h"

namespace custos::collector::store {
namespace {

using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::Db;
using sqlite::Stmt;

constexpr const char* kRevealColumns =
    "SELECT id, person, requester, requester_name, justification, status, decided_by, "
    "decided_by_name, decided_at_ns, decision_note, created_at_ns, expires_at_ns "
    "FROM reveal_requests";

RevealRecord ReadReveal(sqlite3_stmt* s) {
  RevealRecord r;
  r.id = ColumnText(s, 0);
  r.person = ColumnText(s, 1);
  r.requester = ColumnText(s, 2);
  r.requester_name = ColumnText(s, 3);
  r.justification = ColumnText(s, 4);
  r.status = ColumnText(s, 5);
  r.decided_by = ColumnText(s, 6);
  r.decided_by_name = ColumnText(s, 7);
  r.decided_at_ns = sqlite3_column_int64(s, 8);
  r.decision_note = ColumnText(s, 9);
  r.created_at_ns = sqlite3_column_int64(s, 10);
  r.expires_at_ns = sqlite3_column_int64(s, 11);
  return r;
}

class SqlitePrivacyStore final : public PrivacyStore, private sqlite::ConnectionPair {
 public:
  explicit SqlitePrivacyStore(std::string path) : ConnectionPair(std::move(path)) {}

  Status Open() {
    CUSTOS_RETURN_IF_ERROR(OpenConnections());
    // By name, not by schema version: migrations appended by parallel work may be ordered
    // either way.
    CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                            Prepare(read_db_.get(),
                                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                    "name IN ('reveal_requests', 'settings')"));
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "schema");
    if (sqlite3_column_int(s.get(), 0) != 2) {
      return FailedPreconditionError("store: " + path_ +
                                     ": privacy tables missing (run 'custos-collector init')");
    }
    return OkStatus();
  }

  Status InsertReveal(const RevealRecord& r) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT INTO reveal_requests(id, person, requester, requester_name, "
                          "justification, status, decided_by, decided_by_name, decided_at_ns, "
                          "decision_note, created_at_ns, expires_at_ns) "
                          "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)"));
      BindText(s.get(), 1, r.id);
      BindText(s.get(), 2, r.person);
      BindText(s.get(), 3, r.requester);
      BindText(s.get(), 4, r.requester_name);
      BindText(s.get(), 5, r.justification);
      BindText(s.get(), 6, r.status);
      BindText(s.get(), 7, r.decided_by);
      BindText(s.get(), 8, r.decided_by_name);
      sqlite3_bind_int64(s.get(), 9, r.decided_at_ns);
      BindText(s.get(), 10, r.decision_note);
      sqlite3_bind_int64(s.get(), 11, r.created_at_ns);
      sqlite3_bind_int64(s.get(), 12, r.expires_at_ns);
      if (sqlite3_step(s.get()) != SQLITE_DONE) {
        Status e = Error(write_db_.get(), "insert reveal");
        if (e.code() == StatusCode::kAlreadyExists && r.status == kRevealRequested) {
          return AlreadyExistsError("reveal: " + r.requester_name +
                                    " already has a pending request to reveal " + r.person);
        }
        return e;
      }
      return OkStatus();
    });
  }

  Result<RevealRecord> GetReveal(std::string_view id) override {
    std::lock_guard<std::mutex> l(read_mu_);
    return GetRevealLocked(read_db_.get(), id);
  }

  Result<RevealRecord> DecideReveal(const RevealDecision& d) override {
    RevealRecord out;
    Status st = InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                              Prepare(write_db_.get(),
                                      "UPDATE reveal_requests SET status = ?, decided_by = ?, "
                                      "decided_by_name = ?, decided_at_ns = ?, decision_note = ?, "
                                      "expires_at_ns = ? WHERE id = ? AND status = ?"));
      BindText(s.get(), 1, d.to_status);
      BindText(s.get(), 2, d.decided_by);
      BindText(s.get(), 3, d.decided_by_name);
      sqlite3_bind_int64(s.get(), 4, d.decided_at_ns);
      BindText(s.get(), 5, d.note);
      sqlite3_bind_int64(s.get(), 6, d.expires_at_ns);
      BindText(s.get(), 7, d.id);
      BindText(s.get(), 8, d.from_status);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "decide reveal");
      const bool changed = sqlite3_changes(write_db_.get()) == 1;
      CUSTOS_ASSIGN_OR_RETURN(out, GetRevealLocked(write_db_.get(), d.id));
      if (!changed) {
        return FailedPreconditionError("reveal " + d.id + ": is " + out.status + ", not " +
                                       d.from_status);
      }
      return OkStatus();
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<std::vector<RevealRecord>> ListReveals(const RevealQuery& q) override {
    std::string sql = std::string(kRevealColumns) + " WHERE 1";
    if (q.status) sql += " AND status = ?";
    if (q.requester) sql += " AND requester = ?";
    if (q.person) sql += " AND person = ?";
    sql += " ORDER BY created_at_ns DESC, id DESC LIMIT ?";
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), sql));
    int i = 1;
    if (q.status) BindText(s.get(), i++, *q.status);
    if (q.requester) BindText(s.get(), i++, *q.requester);
    if (q.person) BindText(s.get(), i++, *q.person);
    sqlite3_bind_int64(s.get(), i, q.limit);
    return ReadAll(read_db_.get(), s.get(), "list reveals");
  }

  Result<std::vector<RevealRecord>> LiveReveals(std::string_view requester,
                                                int64_t now_ns) override {
    std::lock_guard<std::mutex> l(read_mu_);
    if (!live_stmt_) {
      CUSTOS_ASSIGN_OR_RETURN(
          live_stmt_, sqlite::Prepare(read_db_.get(), path_,
                                      std::string(kRevealColumns) +
                                          " WHERE requester = ? AND status = 'approved' AND "
                                          "expires_at_ns > ? ORDER BY person",
                                      SQLITE_PREPARE_PERSISTENT));
    }
    sqlite3_stmt* s = live_stmt_.get();
    sqlite3_reset(s);
    BindText(s, 1, requester);
    sqlite3_bind_int64(s, 2, now_ns);
    auto out = ReadAll(read_db_.get(), s, "live reveals");
    // Reset now: a statement left mid-scan would hold a read snapshot.
    sqlite3_reset(s);
    return out;
  }

  Result<std::vector<RevealRecord>> ExpireReveals(int64_t now_ns,
                                                  int64_t pending_created_before_ns) override {
    std::vector<RevealRecord> out;
    constexpr const char* kDue =
        " WHERE (status = 'approved' AND expires_at_ns <= ?1) OR "
        "(status = 'requested' AND created_at_ns < ?2)";
    Status st = InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt sel, Prepare(write_db_.get(), std::string(kRevealColumns) + kDue + " ORDER BY id"));
      sqlite3_bind_int64(sel.get(), 1, now_ns);
      sqlite3_bind_int64(sel.get(), 2, pending_created_before_ns);
      CUSTOS_ASSIGN_OR_RETURN(out, ReadAll(write_db_.get(), sel.get(), "due reveals"));
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt up, Prepare(write_db_.get(),
                           std::string("UPDATE reveal_requests SET status = 'expired'") + kDue));
      sqlite3_bind_int64(up.get(), 1, now_ns);
      sqlite3_bind_int64(up.get(), 2, pending_created_before_ns);
      if (sqlite3_step(up.get()) != SQLITE_DONE) return Error(write_db_.get(), "expire reveals");
      return OkStatus();
    });
    if (!st.ok()) return st;
    for (auto& r : out) r.status = std::string(kRevealExpired);
    return out;
  }

  Result<std::optional<SettingRecord>> GetSetting(std::string_view key) override {
    std::lock_guard<std::mutex> l(read_mu_);
    return GetSettingLocked(read_db_.get(), key);
  }

  Result<std::optional<SettingRecord>> PutSetting(const SettingRecord& r) override {
    std::optional<SettingRecord> previous;
    Status st = InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(previous, GetSettingLocked(write_db_.get(), r.key));
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT OR REPLACE INTO settings(key, value, updated_at_ns, updated_by) "
                          "VALUES(?,?,?,?)"));
      BindText(s.get(), 1, r.key);
      BindText(s.get(), 2, r.value);
      sqlite3_bind_int64(s.get(), 3, r.updated_at_ns);
      BindText(s.get(), 4, r.updated_by);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "put setting");
      return OkStatus();
    });
    if (!st.ok()) return st;
    return previous;
  }

 private:
  Result<RevealRecord> GetRevealLocked(sqlite3* db, std::string_view id) {
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(db, std::string(kRevealColumns) + " WHERE id = ?"));
    BindText(s.get(), 1, id);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) return ReadReveal(s.get());
    if (rc == SQLITE_DONE) return NotFoundError("reveal " + std::string(id) + ": not found");
    return Error(db, "get reveal");
  }

  Result<std::optional<SettingRecord>> GetSettingLocked(sqlite3* db, std::string_view key) {
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s,
        Prepare(db, "SELECT key, value, updated_at_ns, updated_by FROM settings WHERE key = ?"));
    BindText(s.get(), 1, key);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return std::optional<SettingRecord>();
    if (rc != SQLITE_ROW) return Error(db, "get setting");
    return std::optional<SettingRecord>(
        SettingRecord{ColumnText(s.get(), 0), ColumnText(s.get(), 1),
                      sqlite3_column_int64(s.get(), 2), ColumnText(s.get(), 3)});
  }

  Result<std::vector<RevealRecord>> ReadAll(sqlite3* db, sqlite3_stmt* s, std::string_view what) {
    std::vector<RevealRecord> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(ReadReveal(s));
    if (rc != SQLITE_DONE) return Error(db, what);
    return out;
  }

  Stmt live_stmt_;  // guarded by read_mu_
};

}  // namespace

Result<std::unique_ptr<PrivacyStore>> OpenSqlitePrivacyStore(const std::string& path) {
  auto store = std::make_unique<SqlitePrivacyStore>(path);
  CUSTOS_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<PrivacyStore>(std::move(store));
}

}  // namespace custos::collector::store
