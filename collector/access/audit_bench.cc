// VerifyAuditLog over a chain of N entries with a checkpoint every 1000 (docs/performance.md).
// The chain is built once per N with one bulk transaction (what Append writes, minus the
// per-entry commit), then verified in each iteration.
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <map>
#include <string>

#include "collector/access/audit.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/crypto/crypto.h"
#include "common/testing/testing.h"

namespace custos::collector::access {
namespace {

struct Chain {
  testing::TempDir dir;
  crypto::KeyPair key;
  std::string db_path;
};

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "audit_bench: %s failed\n", what);
    std::abort();
  }
}

Chain* BuildChain(int64_t n) {
  static std::map<int64_t, std::unique_ptr<Chain>> chains;
  auto& slot = chains[n];
  if (slot) return slot.get();
  slot = std::make_unique<Chain>();
  Chain* c = slot.get();
  c->db_path = c->dir.Sub("custos.db");
  Check(store::OpenSqliteStore({.path = c->db_path}).ok(), "open store");
  auto key = crypto::GenerateEd25519Key();
  Check(key.ok(), "generate key");
  c->key = *key;
  sqlite3* db = nullptr;
  Check(sqlite3_open(c->db_path.c_str(), &db) == SQLITE_OK, "open");
  Check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK, "begin");
  sqlite3_stmt* ins = nullptr;
  sqlite3_stmt* cp = nullptr;
  Check(sqlite3_prepare_v2(db,
                           "INSERT INTO audit_log(seq, time_ns, actor, action, object, summary, "
                           "source, prev_hash, hash) VALUES(?,?,?,?,?,?,?,?,?)",
                           -1, &ins, nullptr) == SQLITE_OK,
        "prepare");
  Check(sqlite3_prepare_v2(db,
                           "INSERT INTO audit_checkpoints(seq, hash, time_ns, signature) "
                           "VALUES(?,?,?,?)",
                           -1, &cp, nullptr) == SQLITE_OK,
        "prepare");
  std::string prev(kAuditHashBytes, '\0');
  for (int64_t seq = 1; seq <= n; ++seq) {
    AuditEntry e{.seq = seq,
                 .time_ns = 1'795'255'200'000'000'000 + seq * 1'000'000,
                 .actor = "local-admin:alice",
                 .action = "alert.status",
                 .object = "alert " + std::to_string(seq % 5000),
                 .summary = "status open -> closed (false positive: backup job)",
                 .source = "10.1.2.3",
                 .prev_hash = prev};
    e.hash = EntryHash(e);
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, e.seq);
    sqlite3_bind_int64(ins, 2, e.time_ns);
    sqlite3_bind_text(ins, 3, e.actor.data(), static_cast<int>(e.actor.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 4, e.action.data(), static_cast<int>(e.action.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 5, e.object.data(), static_cast<int>(e.object.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 6, e.summary.data(), static_cast<int>(e.summary.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 7, e.source.data(), static_cast<int>(e.source.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 8, e.prev_hash.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 9, e.hash.data(), 32, SQLITE_TRANSIENT);
    Check(sqlite3_step(ins) == SQLITE_DONE, "insert");
    if (seq % kDefaultCheckpointInterval == 0) {
      auto sig = crypto::Ed25519Sign(c->key.private_key_pem, CheckpointMessage(seq, e.hash));
      Check(sig.ok(), "sign");
      sqlite3_reset(cp);
      sqlite3_bind_int64(cp, 1, seq);
      sqlite3_bind_blob(cp, 2, e.hash.data(), 32, SQLITE_TRANSIENT);
      sqlite3_bind_int64(cp, 3, e.time_ns);
      sqlite3_bind_blob(cp, 4, sig->data(), static_cast<int>(sig->size()), SQLITE_TRANSIENT);
      Check(sqlite3_step(cp) == SQLITE_DONE, "checkpoint");
    }
    prev = e.hash;
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(cp);
  Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK, "commit");
  sqlite3_close(db);
  return c;
}

void BM_VerifyAuditLog(benchmark::State& state) {
  Chain* c = BuildChain(state.range(0));
  for (auto _ : state) {
    auto r = VerifyAuditLog({.db_path = c->db_path, .public_key_pem = c->key.public_key_pem});
    Check(r.ok() && r->ok && r->entries == state.range(0), "verify");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_VerifyAuditLog)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace custos::collector::access

BENCHMARK_MAIN();
