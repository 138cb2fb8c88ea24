// Small SQLite helpers shared by the SQLite engines (internal to collector/store/sqlite/).
#pragma once

#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/status/status.h"

namespace custos::collector::store::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

inline std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

inline void BindText(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

inline std::string ColumnBlob(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  return p ? std::string(static_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

inline void BindBlob(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

// "store: <path>: <what>: <sqlite message>" with a StatusCode that tells the caller what to do:
// Unavailable (busy, retry), ResourceExhausted (disk full), DataLoss (corrupt), AlreadyExists
// (constraint), PermissionDenied (cannot open / read-only), else Internal.
inline Status SqliteError(sqlite3* db, std::string_view path, std::string_view what) {
  int code = sqlite3_extended_errcode(db);
  std::string m =
      "store: " + std::string(path) + ": " + std::string(what) + ": " + sqlite3_errmsg(db);
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(m);
    case SQLITE_FULL:
      return ResourceExhaustedError(m);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(m);
    case SQLITE_CONSTRAINT:
      return AlreadyExistsError(m);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return PermissionDeniedError(m);
    default:
      return InternalError(m);
  }
}

// Opens `path` with `flags` (SQLITE_OPEN_*; NOMUTEX added: each connection is used under its
// owner's mutex), extended result codes on, waiting up to `busy_timeout_ms` for locks.
// `vfs`: a registered VFS's name, empty for the default.
inline Result<Db> OpenDatabase(const std::string& path, int flags, int busy_timeout_ms,
                               const std::string& vfs = {}) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX,
                           vfs.empty() ? nullptr : vfs.c_str());
  Db db(raw);
  if (rc != SQLITE_OK) {
    if (!db) return ResourceExhaustedError("store: " + path + ": out of memory");
    return SqliteError(db.get(), path, "open");
  }
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

// `prepare_flags`: SQLITE_PREPARE_PERSISTENT for statements kept for the connection's life.
inline Result<Stmt> Prepare(sqlite3* db, std::string_view path, const std::string& sql,
                            unsigned prepare_flags = 0) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), prepare_flags, &raw,
                         nullptr) != SQLITE_OK) {
    return SqliteError(db, path, "prepare");
  }
  return Stmt(raw);
}

// Runs one or more statements; the error names the first 40 bytes of `sql` and SQLite's message.
inline Status Exec(sqlite3* db, std::string_view path, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    Status s = SqliteError(db, path, sql.substr(0, 40));
    return Status(s.code(), "store: " + std::string(path) + ": " + sql.substr(0, 40) + ": " + m);
  }
  return OkStatus();
}

// Runs `body` (returning Status) inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails.
template <typename Body>
Status InImmediateTransaction(sqlite3* db, std::string_view path, Body&& body) {
  CUSTOS_RETURN_IF_ERROR(Exec(db, path, "BEGIN IMMEDIATE"));
  Status s = body();
  if (s.ok()) s = Exec(db, path, "COMMIT");
  if (!s.ok()) (void)Exec(db, path, "ROLLBACK");
  return s;
}

// The two connections the risk, access and privacy stores keep to the collector's database: one
// for writes (synchronous=FULL; checkpoints left to SqliteStore's background checkpointer, since
// one run from here could make its PASSIVE pass busy and skip the log restart), serialised by
// write_mu_, and one read-only for queries under read_mu_. Stores derive from it privately.
class ConnectionPair {
 protected:
  explicit ConnectionPair(std::string path) : path_(std::move(path)) {}

  Status OpenConnections() {
    CUSTOS_ASSIGN_OR_RETURN(write_db_, Connect(false));
    CUSTOS_ASSIGN_OR_RETURN(read_db_, Connect(true));
    return OkStatus();
  }

  template <typename Fn>
  Status InWriteTransaction(Fn&& fn) {
    std::lock_guard<std::mutex> l(write_mu_);
    return InImmediateTransaction(write_db_.get(), path_, std::forward<Fn>(fn));
  }

  Result<Stmt> Prepare(sqlite3* db, const std::string& sql) const {
    return sqlite::Prepare(db, path_, sql);
  }
  Status Exec(sqlite3* db, const std::string& sql) { return sqlite::Exec(db, path_, sql); }
  Status Error(sqlite3* db, std::string_view what) const { return SqliteError(db, path_, what); }

  std::string path_;
  std::mutex write_mu_;
  Db write_db_;  // guarded by write_mu_
  std::mutex read_mu_;
  Db read_db_;  // guarded by read_mu_

 private:
  Result<Db> Connect(bool read_only) {
    CUSTOS_ASSIGN_OR_RETURN(
        Db db,
        OpenDatabase(path_, read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, 30000));
    if (!read_only) {
      CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db.get(), path_, "PRAGMA synchronous=FULL"));
      CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db.get(), path_, "PRAGMA wal_autocheckpoint=0"));
    }
    return db;
  }
};

}  // namespace custos::collector::store::sqlite
