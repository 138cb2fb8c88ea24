// SqliteAccessStore: the access tables (access_store.h) in the collector's SQLite database, on
// their own write and read connections, like SqliteRiskStore. Writes take the database lock with
// BEGIN IMMEDIATE and wait (busy timeout) behind ingest's group commits; each is a row or two.
#pragma once

#include <memory>
#include <string>

#include "collector/store/access_store.h"

namespace custos::collector::store {

// `path` must already be migrated by OpenSqliteStore to schema 6 or later (FailedPrecondition
// otherwise).
Result<std::unique_ptr<AccessStore>> OpenSqliteAccessStore(const std::string& path);

}  // namespace custos::collector::store
