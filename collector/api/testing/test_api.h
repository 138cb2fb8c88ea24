// Test helper: an ApiService over a test database with everything it requires — an audit log
// with a fresh key, the access and privacy stores, a fixed pseudonym key and cheap Argon2
// parameters (header-only; tests only).
#pragma once

#include <memory>
#include <string>

#include "collector/access/testing/audit_log.h"
#include "collector/api/api.h"
#include "collector/store/sqlite/sqlite_access_store.h"
#include "collector/store/sqlite/sqlite_privacy_store.h"

namespace custos::collector::api::api_testing {

inline constexpr access::PasswordParams kFastPasswords{
    .memory_kib = 64, .iterations = 1, .parallelism = 1};

struct TestApi {
  std::unique_ptr<store::AccessStore> access_store;
  std::unique_ptr<store::PrivacyStore> privacy_store;
  access::testing::TestAuditLog audit;
  std::unique_ptr<ApiService> api;
};

// `db_path` must be migrated (OpenSqliteStore) first. CUSTOS_CHECK-fails on error.
inline TestApi MakeTestApi(const std::string& db_path, store::Store* events, store::RiskStore* risk,
                           Clock* clock, access::AccountsOptions accounts_options = {}) {
  TestApi t;
  auto a = store::OpenSqliteAccessStore(db_path);
  CUSTOS_CHECK(a.ok()) << a.status().ToString();
  t.access_store = std::move(*a);
  auto p = store::OpenSqlitePrivacyStore(db_path);
  CUSTOS_CHECK(p.ok()) << p.status().ToString();
  t.privacy_store = std::move(*p);
  t.audit = access::testing::OpenTestAuditLog(db_path, clock);
  accounts_options.password_params = kFastPasswords;
  t.api =
      std::make_unique<ApiService>(ApiDependencies{.events = events,
                                                   .risk = risk,
                                                   .clock = clock,
                                                   .audit = t.audit.log.get(),
                                                   .access_store = t.access_store.get(),
                                                   .accounts_options = std::move(accounts_options),
                                                   .privacy_store = t.privacy_store.get(),
                                                   .pseudonym_key = std::string(32, 'k')});
  return t;
}

}  // namespace custos::collector::api::api_testing
