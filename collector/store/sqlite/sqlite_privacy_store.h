// SqlitePrivacyStore: the privacy tables (privacy_store.h) in the collector's SQLite database, on
// their own write and read connections, like SqliteRiskStore. Writes take the database lock with
// BEGIN IMMEDIATE and wait (busy timeout) behind ingest's group commits; each is one row or a few.
#pragma once

#include <memory>
#include <string>

#include "collector/store/privacy_store.h"

namespace custos::collector::store {

// `path` must already be migrated by OpenSqliteStore: FailedPrecondition when the tables
// reveal_requests and settings are missing.
Result<std::unique_ptr<PrivacyStore>> OpenSqlitePrivacyStore(const std::string& path);

}  // namespace custos::collector::store
