// Store benchmarks: what SQLite can insert with our schema (the ceiling for ingest), and what each
// index costs. Events are realistic serialized custos.v1.Events from the load generator's
// synthetic source. Figures and commands: docs/performance.md.
#include <sqlite3.h>

#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>
#include <vector>

#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"
#include "custos/v1/event.pb.h"
#include "tests/loadgen/synthetic_events.h"

namespace custos {
namespace {

using collector::store::BatchWrite;
using collector::store::EventRow;
using collector::store::EventType;

std::vector<std::string> Payloads(int n) {
  testing::SyntheticEvents gen(3, 7);
  std::vector<std::string> out;
  custos::v1::Event e;
  for (int i = 0; i < n; ++i) {
    gen.Next(1'763'700'000'000'000'000 + i * 1'000'000LL, &e);
    out.push_back(e.SerializeAsString());
  }
  return out;
}

// Through the real SqliteStore: `batches_per_commit` agents' batches of 1000 events per
// transaction (group commit), WAL, synchronous=FULL.
void BM_StoreCommit(benchmark::State& state) {
  const int batches_per_commit = static_cast<int>(state.range(0));
  testing::TempDir dir;
  auto store = collector::store::OpenSqliteStore({.path = dir.Sub("bench.db")});
  auto payloads = Payloads(1000);
  std::vector<int64_t> keys;
  for (int a = 0; a < batches_per_commit; ++a) {
    collector::store::AgentRecord r;
    r.agent_id = "agent-" + std::to_string(a);
    r.hostname = r.agent_id;
    keys.push_back((*store)->RegisterAgent(r)->key);
  }
  std::vector<BatchWrite> batches(static_cast<size_t>(batches_per_commit));
  for (int a = 0; a < batches_per_commit; ++a) {
    BatchWrite& b = batches[static_cast<size_t>(a)];
    b.agent_key = keys[static_cast<size_t>(a)];
    b.epoch = 1;
    b.users = {"user" + std::to_string(a % 16)};
    for (const auto& p : payloads) b.buffer += p;
    size_t off = 0;
    for (size_t i = 0; i < payloads.size(); ++i) {
      EventRow row;
      row.time_ns = 1'763'700'000'000'000'000 + static_cast<int64_t>(i) * 1000;
      row.type = EventType::kFile;
      row.user_index = 0;
      row.payload = std::string_view(b.buffer).substr(off, payloads[i].size());
      off += payloads[i].size();
      b.rows.push_back(row);
    }
  }
  uint64_t seq = 1;
  std::vector<BatchWrite*> ptrs;
  for (auto& b : batches) ptrs.push_back(&b);
  for (auto _ : state) {
    for (auto& b : batches) {
      b.first_seq = seq;
      // Time moves forward like a live stream, so the time index is appended to.
      for (size_t i = 0; i < b.rows.size(); ++i) {
        b.rows[i].time_ns = 1'763'700'000'000'000'000 + static_cast<int64_t>(seq + i) * 1000;
      }
    }
    seq += 1000;
    if (!(*store)->CommitBatches(ptrs).ok()) state.SkipWithError("commit failed");
  }
  state.SetItemsProcessed(state.iterations() * batches_per_commit * 1000);
}
BENCHMARK(BM_StoreCommit)->Arg(1)->Arg(8)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();

// Raw inserts of the same rows into table variants: 0 = rowid table only, 1 = + unique
// (agent, epoch, seq), 2 = + time index, 3 = + (user, time) index (= the shipped schema),
// 4 = a WITHOUT ROWID table clustered on (agent, epoch, seq) + time and (user, time) indexes.
void BM_RawInsertIndexes(benchmark::State& state) {
  const int indexes = static_cast<int>(state.range(0));
  testing::TempDir dir;
  sqlite3* db = nullptr;
  sqlite3_open(dir.Sub("raw.db").c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
               "PRAGMA wal_autocheckpoint=10000;",
               nullptr, nullptr, nullptr);
  if (indexes == 4) {
    sqlite3_exec(db,
                 "CREATE TABLE events(agent INTEGER, epoch INTEGER, seq INTEGER, time_ns INTEGER, "
                 "type INTEGER, user_id INTEGER, payload BLOB, PRIMARY KEY(agent, epoch, seq)) "
                 "WITHOUT ROWID;"
                 "CREATE INDEX t ON events(time_ns); CREATE INDEX u ON events(user_id, time_ns);",
                 nullptr, nullptr, nullptr);
  } else {
    sqlite3_exec(db,
                 "CREATE TABLE events(id INTEGER PRIMARY KEY, agent INTEGER, epoch INTEGER, seq "
                 "INTEGER, time_ns INTEGER, type INTEGER, user_id INTEGER, payload BLOB);",
                 nullptr, nullptr, nullptr);
  }
  if (indexes >= 1 && indexes <= 3)
    sqlite3_exec(db, "CREATE UNIQUE INDEX k ON events(agent, epoch, seq)", nullptr, nullptr,
                 nullptr);
  if (indexes >= 2 && indexes <= 3)
    sqlite3_exec(db, "CREATE INDEX t ON events(time_ns)", nullptr, nullptr, nullptr);
  if (indexes == 3)
    sqlite3_exec(db, "CREATE INDEX u ON events(user_id, time_ns)", nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT OR IGNORE INTO events(agent, epoch, seq, time_ns, type, user_id, "
                     "payload) VALUES(?,?,?,?,?,?,?)",
                     -1, &ins, nullptr);
  auto payloads = Payloads(1000);
  int64_t seq = 0;
  for (auto _ : state) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (int agent = 0; agent < 16; ++agent) {
      for (size_t i = 0; i < payloads.size(); ++i) {
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, agent);
        sqlite3_bind_int64(ins, 2, 1);
        sqlite3_bind_int64(ins, 3, seq + static_cast<int64_t>(i));
        sqlite3_bind_int64(ins, 4,
                           1'763'700'000'000'000'000 + (seq + static_cast<int64_t>(i)) * 1000);
        sqlite3_bind_int(ins, 5, 1);
        sqlite3_bind_int64(ins, 6, agent % 16);
        sqlite3_bind_blob(ins, 7, payloads[i].data(), static_cast<int>(payloads[i].size()),
                          SQLITE_STATIC);
        sqlite3_step(ins);
      }
    }
    seq += 1000;
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);
  state.SetItemsProcessed(state.iterations() * 16 * 1000);
}
BENCHMARK(BM_RawInsertIndexes)->DenseRange(0, 4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace custos

BENCHMARK_MAIN();
