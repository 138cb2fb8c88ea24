// Runs SQL on a store's database file behind the store's back, as an attacker or a broken tool
// would (tests that tamper with what the store wrote). Test-only, header-only.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace custos::collector::store::testing {

inline ::testing::AssertionResult ExecSql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) {
    std::string m = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return ::testing::AssertionFailure() << "open " << db_path << ": " << m;
  }
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string m = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) return ::testing::AssertionFailure() << sql << ": " << m;
  return ::testing::AssertionSuccess();
}

}  // namespace custos::collector::store::testing
