#include "collector/access/audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <thread>
#include <vector>

#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/testing/exec_sql.h"
#include "common/crypto/crypto.h"
#include "common/testing/testing.h"

namespace custos::collector::access {
namespace {

using ::testing::HasSubstr;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::OpenSqliteStore({.path = db_path()});  // migrates to version >= 5
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto key = crypto::GenerateEd25519Key();
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    key_ = *key;
  }

  std::string db_path() const { return dir_.Sub("custos.db"); }

  std::unique_ptr<AuditLog> OpenLog(int64_t interval) {
    auto log = AuditLog::Open({.db_path = db_path(),
                               .signing_key_pem = key_.private_key_pem,
                               .checkpoint_interval = interval,
                               .clock = &clock_});
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }

  void AppendN(AuditLog* log, int n) {
    for (int i = 1; i <= n; ++i) {
      auto e = log->Append({.actor = "local-admin:alice",
                            .action = "token.create",
                            .object = "tok_" + std::to_string(i),
                            .summary = "1 use, expires in 24h",
                            .source = "cli"});
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      ASSERT_EQ(e->seq, i);
      clock_.Advance(std::chrono::seconds(1));
    }
  }

  // Appends `n` more entries, the first with seq `first`.
  void AppendN2(AuditLog* log, int64_t first, int n) {
    for (int i = 0; i < n; ++i) {
      auto e = log->Append({.actor = "user:bob",
                            .action = "alert.status",
                            .object = "alert:1",
                            .summary = "s",
                            .source = "api"});
      ASSERT_TRUE(e.ok()) << e.status().ToString();
      ASSERT_EQ(e->seq, first + i);
      clock_.Advance(std::chrono::seconds(1));
    }
  }

  AuditVerifyReport Verify(int64_t interval) {
    auto r = VerifyAuditLog({.db_path = db_path(),
                             .public_key_pem = key_.public_key_pem,
                             .checkpoint_interval = interval});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AuditVerifyReport{};
  }

  void Sql(const std::string& sql) { ASSERT_TRUE(store::testing::ExecSql(db_path(), sql)); }

  testing::TempDir dir_;
  FakeClock clock_;
  crypto::KeyPair key_;
};

TEST_F(AuditLogTest, AppendedChainVerifies) {
  auto log = OpenLog(5);
  ASSERT_NE(log, nullptr);
  AppendN(log.get(), 12);
  ASSERT_TRUE(log->Checkpoint().ok());
  ASSERT_TRUE(log->Checkpoint().ok());  // idempotent on the same tail
  auto r = Verify(5);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 12);
  EXPECT_EQ(r.checkpoints, 3);  // 5, 10 and 12 (on demand)
}

TEST_F(AuditLogTest, QueryFiltersNewestFirstAndPages) {
  auto log = OpenLog(1000);
  ASSERT_NE(log, nullptr);
  AppendN(log.get(), 5);  // token.create tok_1..tok_5, one second apart
  ASSERT_TRUE(log->Append({.actor = "user:bob",
                           .action = "alert.status",
                           .object = "alert 7",
                           .summary = "needs_review -> confirmed",
                           .source = "10.0.0.9"})
                  .ok());
  auto all = log->Query({});
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 6u);
  EXPECT_EQ(all->front().seq, 6);
  EXPECT_EQ(all->front().source, "10.0.0.9");

  auto by_actor = log->Query({.actor = "user:bob"});
  ASSERT_TRUE(by_actor.ok());
  ASSERT_EQ(by_actor->size(), 1u);
  EXPECT_EQ(by_actor->front().action, "alert.status");

  auto by_prefix = log->Query({.action = "token."});
  ASSERT_TRUE(by_prefix.ok());
  EXPECT_EQ(by_prefix->size(), 5u);
  auto exact = log->Query({.action = "token"});
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(exact->empty());

  auto page = log->Query({.action = "token.", .before_seq = 4, .limit = 2});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 3);
  EXPECT_EQ((*page)[1].seq, 2);

  const int64_t t2 = (*all)[4].time_ns;  // seq 2
  auto window = log->Query({.since_ns = t2, .until_ns = t2 + 1});
  ASSERT_TRUE(window.ok());
  ASSERT_EQ(window->size(), 1u);
  EXPECT_EQ(window->front().object, "tok_2");
}

TEST_F(AuditLogTest, RetentionRemovesOldEntriesAndTheChainStillVerifies) {
  auto log = OpenLog(5);
  ASSERT_NE(log, nullptr);
  AppendN(log.get(), 12);  // seq 1..12, one second apart
  const int64_t t0 = clock_.NowUnixNs() - int64_t{12} * 1'000'000'000;
  // Entries 1..7 are older than the cutoff.
  auto removed = log->Prune(t0 + int64_t{7} * 1'000'000'000);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 7);
  auto r = Verify(5);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 5);
  EXPECT_EQ(r.pruned_through, 7);
  // The chain goes on from its tail.
  AppendN2(log.get(), 13, 3);
  r = Verify(5);
  EXPECT_TRUE(r.ok) << r.problem;
  // Never the newest entry, which the chain continues from.
  auto all = log->Prune(clock_.NowUnixNs() + 1'000'000'000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 7);  // 8..14 of 8..15
  r = Verify(5);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 1);
}

TEST_F(AuditLogTest, RemovalsAtTheFrontBeyondRetentionAreFound) {
  auto log = OpenLog(5);
  ASSERT_NE(log, nullptr);
  AppendN(log.get(), 12);
  const int64_t t0 = clock_.NowUnixNs() - int64_t{12} * 1'000'000'000;
  ASSERT_TRUE(log->Prune(t0 + int64_t{4} * 1'000'000'000).ok());  // 1..4, signed
  // Someone removes more from the front: the first kept entry no longer links.
  Sql("DELETE FROM audit_log WHERE seq <= 6");
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  // A pruning record cannot be made up or moved: its signature covers seq and hash.
  Sql("UPDATE audit_prunes SET seq = 6");
  r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("pruning record"), std::string::npos) << r.problem;
  // And deleting it shows that the log does not start at entry 1.
  Sql("DELETE FROM audit_prunes");
  r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 1);
}

TEST_F(AuditLogTest, EmptyLogVerifies) {
  auto r = Verify(5);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.entries, 0);
}

TEST_F(AuditLogTest, CanonicalEncodingIsUnambiguous) {
  AuditEntry a{.seq = 1, .actor = "ab", .action = "c"};
  AuditEntry b{.seq = 1, .actor = "a", .action = "bc"};
  a.prev_hash = b.prev_hash = std::string(kAuditHashBytes, '\0');
  EXPECT_NE(CanonicalBytes(a), CanonicalBytes(b));
  EXPECT_NE(EntryHash(a), EntryHash(b));
}

TEST_F(AuditLogTest, EditedSummaryIsFoundAtItsSeq) {
  auto log = OpenLog(5);
  AppendN(log.get(), 8);
  Sql("UPDATE audit_log SET summary='nothing happened' WHERE seq=3");
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("altered"));
  EXPECT_EQ(r.entries, 8);
}

TEST_F(AuditLogTest, DeletedEntryIsFoundAtItsSeq) {
  auto log = OpenLog(5);
  AppendN(log.get(), 8);
  Sql("DELETE FROM audit_log WHERE seq=4");
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 4);
  EXPECT_THAT(r.problem, HasSubstr("missing"));
}

TEST_F(AuditLogTest, SwappedEntriesAreFoundAtTheFirst) {
  auto log = OpenLog(5);
  AppendN(log.get(), 8);
  Sql("UPDATE audit_log SET seq=-1 WHERE seq=6; UPDATE audit_log SET seq=6 WHERE seq=7; "
      "UPDATE audit_log SET seq=7 WHERE seq=-1");
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6);
  EXPECT_THAT(r.problem, HasSubstr("reordered"));
}

TEST_F(AuditLogTest, TailTruncatedBeforeACheckpointIsFound) {
  auto log = OpenLog(5);
  AppendN(log.get(), 12);  // checkpoints at 5 and 10
  Sql("DELETE FROM audit_log WHERE seq >= 8");
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 8);
  EXPECT_THAT(r.problem, HasSubstr("truncated"));
}

TEST_F(AuditLogTest, TailTruncatedWithItsPeriodicCheckpointIsFound) {
  auto log = OpenLog(5);
  AppendN(log.get(), 12);
  Sql("DELETE FROM audit_checkpoints WHERE seq=10");
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10);
  EXPECT_THAT(r.problem, HasSubstr("checkpoint at seq 10 missing"));
}

TEST_F(AuditLogTest, ForgedCheckpointSignatureIsFound) {
  auto log = OpenLog(5);
  AppendN(log.get(), 12);
  auto other = crypto::GenerateEd25519Key();
  ASSERT_TRUE(other.ok());
  // Signed with the wrong key over the right (seq, hash).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT hash FROM audit_checkpoints WHERE seq=10", -1, &s, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  std::string hash(static_cast<const char*>(sqlite3_column_blob(s, 0)),
                   static_cast<size_t>(sqlite3_column_bytes(s, 0)));
  sqlite3_finalize(s);
  sqlite3_close(db);
  auto forged = crypto::Ed25519Sign(other->private_key_pem, CheckpointMessage(10, hash));
  ASSERT_TRUE(forged.ok());
  Sql("UPDATE audit_checkpoints SET signature=x'" + crypto::HexEncode(*forged) + "' WHERE seq=10");
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10);
  EXPECT_THAT(r.problem, HasSubstr("signature"));
}

TEST_F(AuditLogTest, RewrittenChainIsFoundAtTheNextCheckpoint) {
  auto log = OpenLog(5);
  AppendN(log.get(), 8);
  // Rewrite entry 2 and recompute every hash after it, as someone without the key would.
  Sql("UPDATE audit_log SET summary='rewritten' WHERE seq=2");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path().c_str(), &db), SQLITE_OK);
  std::string prev(kAuditHashBytes, '\0');
  for (int seq = 1; seq <= 8; ++seq) {
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "SELECT time_ns, actor, action, object, summary, source FROM "
                                 "audit_log WHERE seq=?",
                                 -1, &s, nullptr),
              SQLITE_OK);
    sqlite3_bind_int(s, 1, seq);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    auto text = [s](int i) {
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, i)));
    };
    AuditEntry e{.seq = seq,
                 .time_ns = sqlite3_column_int64(s, 0),
                 .actor = text(1),
                 .action = text(2),
                 .object = text(3),
                 .summary = text(4),
                 .source = text(5),
                 .prev_hash = prev};
    sqlite3_finalize(s);
    e.hash = EntryHash(e);
    std::string sql = "UPDATE audit_log SET prev_hash=x'" + crypto::HexEncode(prev) + "', hash=x'" +
                      crypto::HexEncode(e.hash) + "' WHERE seq=" + std::to_string(seq);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    prev = e.hash;
  }
  sqlite3_close(db);
  auto r = Verify(5);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_THAT(r.problem, HasSubstr("signed checkpoint"));
}

TEST_F(AuditLogTest, ConcurrentAppendsKeepOneChain) {
  auto log = OpenLog(7);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log] {
      for (int i = 0; i < 25; ++i) {
        auto e = log->Append({.actor = "a", .action = "b", .object = "c", .source = "cli"});
        EXPECT_TRUE(e.ok()) << e.status().ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  auto r = Verify(7);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 100);
  EXPECT_EQ(r.checkpoints, 14);
}

TEST_F(AuditLogTest, OpenRefusesANonEd25519Key) {
  auto ec = crypto::GenerateEcKey();
  ASSERT_TRUE(ec.ok());
  auto log = AuditLog::Open({.db_path = db_path(), .signing_key_pem = ec->private_key_pem});
  EXPECT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::collector::access
