// Test helper: the SQLite event and risk stores on one fresh database file in a temp dir
// (header-only; tests only). CUSTOS_CHECK-fails when a store cannot be opened.
#pragma once

#include <memory>
#include <string>

#include "collector/store/sqlite/sqlite_risk_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"

namespace custos::collector::store::testing {

struct SqliteStores {
  custos::testing::TempDir dir;
  std::string db_path = dir.Sub("custos.db");
  std::unique_ptr<Store> events = Open<Store>(OpenSqliteStore({.path = db_path}));
  std::unique_ptr<RiskStore> risk = Open<RiskStore>(OpenSqliteRiskStore(db_path));

 private:
  template <typename T, typename R>
  static std::unique_ptr<T> Open(R opened) {
    CUSTOS_CHECK(opened.ok()) << opened.status().ToString();
    return std::move(*opened);
  }
};

}  // namespace custos::collector::store::testing
