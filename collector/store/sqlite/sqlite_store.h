// SqliteStore: the embedded default engine. One database file in WAL mode with
// synchronous=FULL; a write connection used under a mutex (group commit happens above it, in
// ingest's committer, which hands many batches to one CommitBatches call) and a separate read
// connection for queries. Schema and migrations: docs/storage.md, sqlite_store.cc kMigrations.
#pragma once

#include <memory>
#include <string>

#include "collector/store/store.h"

namespace custos::collector::store {

struct SqliteOptions {
  std::string path;        // database file; created if missing
  bool read_only = false;  // for the CLI: never migrates or writes
  int64_t cache_bytes = 64 << 20;
  // Copy WAL pages into the database on a separate thread and connection instead of inside
  // commits (the collector's default; tests may turn it off).
  bool background_checkpoint = true;
  // Test-only: the name of a registered SQLite VFS every connection opens through; empty for
  // the default VFS (what the collector uses). The power-loss suite passes a PowerLossVfs
  // (power_loss_vfs.h) here.
  std::string vfs = {};
};

// Opens (creating and migrating as needed). Errors name the file.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

// Schema version this build writes (PRAGMA user_version).
int SqliteSchemaVersion();

}  // namespace custos::collector::store
