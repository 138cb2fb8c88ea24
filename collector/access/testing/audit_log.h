// Test helper: an audit log on a test database with a fresh Ed25519 key (header-only).
#pragma once

#include <memory>
#include <string>

#include "collector/access/audit.h"
#include "common/crypto/crypto.h"
#include "common/status/status.h"

namespace custos::collector::access::testing {

struct TestAuditLog {
  crypto::KeyPair key;
  std::unique_ptr<AuditLog> log;
};

// `db_path` must be migrated (OpenSqliteStore) first. CUSTOS_CHECK-fails on error: tests only.
inline TestAuditLog OpenTestAuditLog(const std::string& db_path, Clock* clock) {
  TestAuditLog t;
  auto key = crypto::GenerateEd25519Key();
  CUSTOS_CHECK(key.ok()) << key.status().ToString();
  t.key = *key;
  auto log = AuditLog::Open(
      {.db_path = db_path, .signing_key_pem = t.key.private_key_pem, .clock = clock});
  CUSTOS_CHECK(log.ok()) << log.status().ToString();
  t.log = std::move(*log);
  return t;
}

}  // namespace custos::collector::access::testing
