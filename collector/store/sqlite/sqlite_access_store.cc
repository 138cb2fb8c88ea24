#include "collector/store/sqlite/sqlite_access_store.h"

#include <mutex>

#include "collector/store/sqlite/sqlite_util.h"

namespace custos::collector::store {
namespace {

using sqlite::BindBlob;
using sqlite::BindText;
using sqlite::ColumnBlob;
using sqlite::ColumnText;
using sqlite::Db;
using sqlite::Stmt;

constexpr int kAccessSchemaVersion = 6;

constexpr const char* kAccountColumns =
    "SELECT id, username, display_name, email, roles, password_hash, source, disabled, "
    "created_at_ns, updated_at_ns FROM accounts";
constexpr const char* kSessionColumns =
    "SELECT id, csrf_sha256, account, created_at_ns, last_seen_ns, expires_at_ns, revoked_at_ns, "
    "source_address FROM account_sessions";
constexpr const char* kTokenColumns =
    "SELECT id, owner, name, created_at_ns, last_used_ns, expires_at_ns, revoked_at_ns "
    "FROM personal_tokens";

std::optional<int64_t> ColumnOptionalInt(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

void BindOptionalInt(sqlite3_stmt* s, int i, std::optional<int64_t> v) {
  if (v) {
    sqlite3_bind_int64(s, i, *v);
  } else {
    sqlite3_bind_null(s, i);
  }
}

AccountRecord ReadAccount(sqlite3_stmt* s) {
  AccountRecord a;
  a.id = ColumnText(s, 0);
  a.username = ColumnText(s, 1);
  a.display_name = ColumnText(s, 2);
  a.email = ColumnText(s, 3);
  a.role_bits = static_cast<uint8_t>(sqlite3_column_int(s, 4) & 0xff);
  a.password_hash = ColumnText(s, 5);
  a.source = ColumnText(s, 6);
  a.disabled = sqlite3_column_int(s, 7) != 0;
  a.created_at_ns = sqlite3_column_int64(s, 8);
  a.updated_at_ns = sqlite3_column_int64(s, 9);
  return a;
}

SessionRecord ReadSession(sqlite3_stmt* s) {
  SessionRecord r;
  r.id = ColumnText(s, 0);
  r.csrf_sha256 = ColumnBlob(s, 1);
  r.account = ColumnText(s, 2);
  r.created_at_ns = sqlite3_column_int64(s, 3);
  r.last_seen_ns = sqlite3_column_int64(s, 4);
  r.expires_at_ns = sqlite3_column_int64(s, 5);
  r.revoked_at_ns = ColumnOptionalInt(s, 6);
  r.source_address = ColumnText(s, 7);
  return r;
}

PersonalTokenRecord ReadToken(sqlite3_stmt* s) {
  PersonalTokenRecord t;
  t.id = ColumnText(s, 0);
  t.owner = ColumnText(s, 1);
  t.name = ColumnText(s, 2);
  t.created_at_ns = sqlite3_column_int64(s, 3);
  t.last_used_ns = ColumnOptionalInt(s, 4);
  t.expires_at_ns = ColumnOptionalInt(s, 5);
  t.revoked_at_ns = ColumnOptionalInt(s, 6);
  return t;
}

class SqliteAccessStore final : public AccessStore, private sqlite::ConnectionPair {
 public:
  explicit SqliteAccessStore(std::string path) : ConnectionPair(std::move(path)) {}

  Status Open() {
    CUSTOS_RETURN_IF_ERROR(OpenConnections());
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), "PRAGMA user_version"));
    if (sqlite3_step(s.get()) != SQLITE_ROW) return Error(read_db_.get(), "schema version");
    if (sqlite3_column_int(s.get(), 0) < kAccessSchemaVersion) {
      return FailedPreconditionError("store: " + path_ + ": access tables missing (schema older " +
                                     "than version " + std::to_string(kAccessSchemaVersion) + ")");
    }
    return OkStatus();
  }

  // ---- accounts ----

  Status InsertAccount(const AccountRecord& a) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT INTO accounts(id, username, display_name, email, roles, "
                          "password_hash, source, disabled, created_at_ns, updated_at_ns) "
                          "VALUES(?,?,?,?,?,?,?,?,?,?)"));
      BindText(s.get(), 1, a.id);
      BindText(s.get(), 2, a.username);
      BindText(s.get(), 3, a.display_name);
      BindText(s.get(), 4, a.email);
      sqlite3_bind_int(s.get(), 5, a.role_bits);
      BindText(s.get(), 6, a.password_hash);
      BindText(s.get(), 7, a.source);
      sqlite3_bind_int(s.get(), 8, a.disabled ? 1 : 0);
      sqlite3_bind_int64(s.get(), 9, a.created_at_ns);
      sqlite3_bind_int64(s.get(), 10, a.updated_at_ns);
      if (sqlite3_step(s.get()) != SQLITE_DONE) {
        Status e = Error(write_db_.get(), "insert account");
        if (e.code() == StatusCode::kAlreadyExists) {
          return AlreadyExistsError("accounts: username " + a.username + ": already taken");
        }
        return e;
      }
      return OkStatus();
    });
  }

  Result<AccountRecord> GetAccount(std::string_view id) override {
    return FindAccount(" WHERE id = ?", id, "account " + std::string(id));
  }

  Result<AccountRecord> FindAccountByUsername(std::string_view username) override {
    return FindAccount(" WHERE username = ?", username, "username " + std::string(username));
  }

  Result<std::vector<AccountRecord>> ListAccounts() override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(), std::string(kAccountColumns) + " ORDER BY username"));
    std::vector<AccountRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadAccount(s.get()));
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list accounts");
    return out;
  }

  Status UpdateAccount(std::string_view id, const AccountChange& c, int64_t now_ns) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt get, Prepare(write_db_.get(), "SELECT password_hash FROM accounts WHERE id = ?"));
      BindText(get.get(), 1, id);
      int rc = sqlite3_step(get.get());
      if (rc == SQLITE_DONE)
        return NotFoundError("accounts: account " + std::string(id) + ": not found");
      if (rc != SQLITE_ROW) return Error(write_db_.get(), "read account");
      if (c.expected_password_hash && ColumnText(get.get(), 0) != *c.expected_password_hash) {
        return FailedPreconditionError("accounts: account " + std::string(id) +
                                       ": password changed meanwhile");
      }
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "UPDATE accounts SET roles = coalesce(?, roles), "
                          "disabled = coalesce(?, disabled), "
                          "password_hash = coalesce(?, password_hash), updated_at_ns = ? "
                          "WHERE id = ?"));
      if (c.role_bits) sqlite3_bind_int(s.get(), 1, *c.role_bits);
      if (c.disabled) sqlite3_bind_int(s.get(), 2, *c.disabled ? 1 : 0);
      if (c.password_hash) BindText(s.get(), 3, *c.password_hash);
      sqlite3_bind_int64(s.get(), 4, now_ns);
      BindText(s.get(), 5, id);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "update account");
      if (c.revoke_sessions) {
        CUSTOS_ASSIGN_OR_RETURN(uint32_t n, RevokeSessionsLocked(id, now_ns));
        (void)n;
      }
      return OkStatus();
    });
  }

  // ---- sessions ----

  Status InsertSession(const SessionRecord& r, std::string_view secret_sha256) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(
          Stmt s, Prepare(write_db_.get(),
                          "INSERT INTO account_sessions(id, secret_sha256, csrf_sha256, account, "
                          "created_at_ns, last_seen_ns, expires_at_ns, revoked_at_ns, "
                          "source_address) VALUES(?,?,?,?,?,?,?,?,?)"));
      BindText(s.get(), 1, r.id);
      BindBlob(s.get(), 2, secret_sha256);
      BindBlob(s.get(), 3, r.csrf_sha256);
      BindText(s.get(), 4, r.account);
      sqlite3_bind_int64(s.get(), 5, r.created_at_ns);
      sqlite3_bind_int64(s.get(), 6, r.last_seen_ns);
      sqlite3_bind_int64(s.get(), 7, r.expires_at_ns);
      BindOptionalInt(s.get(), 8, r.revoked_at_ns);
      BindText(s.get(), 9, r.source_address);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "insert session");
      return OkStatus();
    });
  }

  Result<SessionRecord> FindSession(std::string_view secret_sha256) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(), std::string(kSessionColumns) + " WHERE secret_sha256 = ?"));
    BindBlob(s.get(), 1, secret_sha256);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return NotFoundError("accounts: session: unknown");
    if (rc != SQLITE_ROW) return Error(read_db_.get(), "find session");
    return ReadSession(s.get());
  }

  Status TouchSession(std::string_view id, int64_t last_seen_ns) override {
    return UpdateOne("UPDATE account_sessions SET last_seen_ns = max(last_seen_ns, ?) WHERE id = ?",
                     last_seen_ns, id, "session");
  }

  Status RevokeSession(std::string_view id, int64_t now_ns) override {
    return UpdateOne(
        "UPDATE account_sessions SET revoked_at_ns = coalesce(revoked_at_ns, ?) WHERE id = ?",
        now_ns, id, "session");
  }

  Result<uint32_t> RevokeSessionsOf(std::string_view account, int64_t now_ns) override {
    uint32_t n = 0;
    Status st = InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(n, RevokeSessionsLocked(account, now_ns));
      return OkStatus();
    });
    if (!st.ok()) return st;
    return n;
  }

  Result<uint32_t> DeleteSessionsEndedBefore(int64_t before_ns) override {
    uint32_t n = 0;
    Status st = InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                              Prepare(write_db_.get(),
                                      "DELETE FROM account_sessions WHERE expires_at_ns < ?1 OR "
                                      "revoked_at_ns < ?1"));
      sqlite3_bind_int64(s.get(), 1, before_ns);
      if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "delete sessions");
      n = static_cast<uint32_t>(sqlite3_changes(write_db_.get()));
      return OkStatus();
    });
    if (!st.ok()) return st;
    return n;
  }

  // ---- personal tokens ----

  Status InsertPersonalToken(const PersonalTokenRecord& t, std::string_view token_sha256) override {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                              Prepare(write_db_.get(),
                                      "INSERT INTO personal_tokens(id, owner, name, token_sha256, "
                                      "created_at_ns, last_used_ns, expires_at_ns, revoked_at_ns) "
                                      "VALUES(?,?,?,?,?,?,?,?)"));
      BindText(s.get(), 1, t.id);
      BindText(s.get(), 2, t.owner);
      BindText(s.get(), 3, t.name);
      BindBlob(s.get(), 4, token_sha256);
      sqlite3_bind_int64(s.get(), 5, t.created_at_ns);
      BindOptionalInt(s.get(), 6, t.last_used_ns);
      BindOptionalInt(s.get(), 7, t.expires_at_ns);
      BindOptionalInt(s.get(), 8, t.revoked_at_ns);
      if (sqlite3_step(s.get()) != SQLITE_DONE) {
        return Error(write_db_.get(), "insert personal token");
      }
      return OkStatus();
    });
  }

  Result<PersonalTokenRecord> FindPersonalToken(std::string_view token_sha256) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(
        Stmt s, Prepare(read_db_.get(), std::string(kTokenColumns) + " WHERE token_sha256 = ?"));
    BindBlob(s.get(), 1, token_sha256);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return NotFoundError("accounts: personal token: unknown");
    if (rc != SQLITE_ROW) return Error(read_db_.get(), "find personal token");
    return ReadToken(s.get());
  }

  Result<PersonalTokenRecord> GetPersonalToken(std::string_view id) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s,
                            Prepare(read_db_.get(), std::string(kTokenColumns) + " WHERE id = ?"));
    BindText(s.get(), 1, id);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) {
      return NotFoundError("accounts: personal token " + std::string(id) + ": not found");
    }
    if (rc != SQLITE_ROW) return Error(read_db_.get(), "get personal token");
    return ReadToken(s.get());
  }

  Result<std::vector<PersonalTokenRecord>> ListPersonalTokens(
      std::optional<std::string_view> owner) override {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), std::string(kTokenColumns) +
                                                                (owner ? " WHERE owner = ?" : "") +
                                                                " ORDER BY created_at_ns, id"));
    if (owner) BindText(s.get(), 1, *owner);
    std::vector<PersonalTokenRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(ReadToken(s.get()));
    if (rc != SQLITE_DONE) return Error(read_db_.get(), "list personal tokens");
    return out;
  }

  Status TouchPersonalToken(std::string_view id, int64_t last_used_ns) override {
    return UpdateOne(
        "UPDATE personal_tokens SET last_used_ns = max(coalesce(last_used_ns, 0), ?) WHERE id = ?",
        last_used_ns, id, "personal token");
  }

  Status RevokePersonalToken(std::string_view id, int64_t now_ns) override {
    return UpdateOne(
        "UPDATE personal_tokens SET revoked_at_ns = coalesce(revoked_at_ns, ?) WHERE id = ?",
        now_ns, id, "personal token");
  }

 private:
  Result<AccountRecord> FindAccount(const char* where, std::string_view key,
                                    const std::string& what) {
    std::lock_guard<std::mutex> l(read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(read_db_.get(), std::string(kAccountColumns) + where));
    BindText(s.get(), 1, key);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return NotFoundError("accounts: " + what + ": not found");
    if (rc != SQLITE_ROW) return Error(read_db_.get(), "find account");
    return ReadAccount(s.get());
  }

  // Inside a write transaction.
  Result<uint32_t> RevokeSessionsLocked(std::string_view account, int64_t now_ns) {
    CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(write_db_.get(),
                                            "UPDATE account_sessions SET revoked_at_ns = ? "
                                            "WHERE account = ? AND revoked_at_ns IS NULL"));
    sqlite3_bind_int64(s.get(), 1, now_ns);
    BindText(s.get(), 2, account);
    if (sqlite3_step(s.get()) != SQLITE_DONE) return Error(write_db_.get(), "revoke sessions");
    return static_cast<uint32_t>(sqlite3_changes(write_db_.get()));
  }

  // `sql` binds (int64, id) and changes at most one row; NotFound when it changed none.
  Status UpdateOne(const char* sql, int64_t value, std::string_view id, const char* what) {
    return InWriteTransaction([&]() -> Status {
      CUSTOS_ASSIGN_OR_RETURN(Stmt s, Prepare(write_db_.get(), sql));
      sqlite3_bind_int64(s.get(), 1, value);
      BindText(s.get(), 2, id);
      if (sqlite3_step(s.get()) != SQLITE_DONE) {
        return Error(write_db_.get(), std::string("update ") + what);
      }
      if (sqlite3_changes(write_db_.get()) == 0) {
        return NotFoundError("accounts: " + std::string(what) + " " + std::string(id) +
                             ": not found");
      }
      return OkStatus();
    });
  }
};

}  // namespace

Result<std::unique_ptr<AccessStore>> OpenSqliteAccessStore(const std::string& path) {
  auto store = std::make_unique<SqliteAccessStore>(path);
  CUSTOS_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<AccessStore>(std::move(store));
}

}  // namespace custos::collector::store
