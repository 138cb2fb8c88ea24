// SqliteRiskStore: the risk tables (risk_store.h) in the collector's SQLite database, on their
// own write and read connections. Writes take the database lock with BEGIN IMMEDIATE and wait
// (busy timeout) behind ingest's group commits; each is a few rows, so ingest barely notices.
#pragma once

#include <memory>
#include <string>

#include "collector/store/risk_store.h"

namespace custos::collector::store {

// `path` must already be migrated by OpenSqliteStore (FailedPrecondition otherwise).
Result<std::unique_ptr<RiskStore>> OpenSqliteRiskStore(const std::string& path);

}  // namespace custos::collector::store
