#include "collector/store/sqlite/sqlite_store.h"

#include "collector/store/sqlite/sqlite_risk_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "common/testing/testing.h"

namespace custos::collector::store {
namespace {

constexpr int64_t kNow = 1'700'000'000'000'000'000;

std::unique_ptr<Store> OpenOrDie(const std::string& path) {
  auto s = OpenSqliteStore({.path = path});
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return std::move(s).value();
}

AgentRecord Agent(const std::string& id) {
  AgentRecord a;
  a.agent_id = id;
  a.hostname = "host-" + id;
  a.enrolled_at_ns = kNow;
  return a;
}

BatchWrite MakeBatch(int64_t agent_key, uint64_t epoch, uint64_t first_seq, int n,
                     const std::string& user = "alice") {
  BatchWrite b;
  b.agent_key = agent_key;
  b.epoch = epoch;
  b.first_seq = first_seq;
  b.users = {user};
  for (int i = 0; i < n; ++i) b.buffer += "payload-" + std::to_string(first_seq + i) + ";";
  size_t off = 0;
  for (int i = 0; i < n; ++i) {
    size_t end = b.buffer.find(';', off);
    EventRow r;
    r.time_ns = kNow + static_cast<int64_t>(first_seq + i) * 1000;
    r.type = i % 2 ? EventType::kUsb : EventType::kFile;
    r.user_index = 0;
    r.payload = std::string_view(b.buffer).substr(off, end - off);
    b.rows.push_back(r);
    off = end + 1;
  }
  return b;
}

TEST(SqliteStoreTest, CommitsBatchesAndMovesStreamCursor) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  auto a = store->RegisterAgent(Agent("a1"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*store->LastCommittedSeq(a->key, 7), 0u);
  BatchWrite b1 = MakeBatch(a->key, 7, 1, 10);
  BatchWrite b2 = MakeBatch(a->key, 7, 11, 5, "bob");
  BatchWrite* both[] = {&b1, &b2};
  ASSERT_TRUE(store->CommitBatches(both).ok());
  EXPECT_EQ(*store->LastCommittedSeq(a->key, 7), 15u);
  EXPECT_EQ(*store->LastCommittedSeq(a->key, 8), 0u);
  EXPECT_EQ(*store->CountEvents(std::nullopt), 15u);
}

TEST(SqliteStoreTest, RetriedBatchesNeverDuplicate) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  auto a = store->RegisterAgent(Agent("a1"));
  BatchWrite b = MakeBatch(a->key, 1, 1, 100);
  BatchWrite* one[] = {&b};
  ASSERT_TRUE(store->CommitBatches(one).ok());
  ASSERT_TRUE(store->CommitBatches(one).ok());
  BatchWrite overlap = MakeBatch(a->key, 1, 50, 100);
  BatchWrite* two[] = {&overlap};
  ASSERT_TRUE(store->CommitBatches(two).ok());
  EXPECT_EQ(*store->CountEvents("a1"), 149u);
  EXPECT_EQ(*store->LastCommittedSeq(a->key, 1), 149u);
}

// Every stored seq of one agent and epoch, oldest first, read through QueryEvents (which goes
// through the run index for an agent filter).
std::vector<uint64_t> SeqsOf(Store* store, const std::string& agent) {
  EventQuery q;
  q.agent_id = agent;
  q.newest_first = false;
  q.limit = 100000;
  auto r = store->QueryEvents(q);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<uint64_t> seqs;
  for (const auto& e : *r) {
    EXPECT_EQ(e.payload, "payload-" + std::to_string(e.seq));
    EXPECT_EQ(e.agent_id, agent);
    seqs.push_back(e.seq);
  }
  return seqs;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

TEST(SqliteStoreTest, DuplicatesInOneTransactionGapsAndInterleavedAgentsStayExact) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  auto a = store->RegisterAgent(Agent("a1"));
  auto b = store->RegisterAgent(Agent("a2"));
  // One transaction: a1's batch twice (two sessions of a reconnected agent), a2 in between,
  // then a1 again overlapping the end.
  BatchWrite a1 = MakeBatch(a->key, 1, 1, 10);
  BatchWrite b1 = MakeBatch(b->key, 1, 1, 5);
  BatchWrite a1_again = MakeBatch(a->key, 1, 1, 10);
  BatchWrite a1_more = MakeBatch(a->key, 1, 8, 6);
  BatchWrite* first[] = {&a1, &b1, &a1_again, &a1_more};
  ASSERT_TRUE(store->CommitBatches(first).ok());
  // A gap (the agent's spool lost 14..19), then a2 continues.
  BatchWrite a1_gap = MakeBatch(a->key, 1, 20, 3);
  BatchWrite b2 = MakeBatch(b->key, 1, 6, 2);
  BatchWrite* second[] = {&b2, &a1_gap};
  ASSERT_TRUE(store->CommitBatches(second).ok());

  std::vector<uint64_t> want = Range(1, 13);
  for (uint64_t s : Range(20, 22)) want.push_back(s);
  EXPECT_EQ(SeqsOf(store.get(), "a1"), want);
  EXPECT_EQ(SeqsOf(store.get(), "a2"), Range(1, 7));
  EXPECT_EQ(*store->CountEvents("a1"), 16u);
  EXPECT_EQ(*store->CountEvents("a2"), 7u);
  EXPECT_EQ(*store->CountEvents(std::nullopt), 23u);
  EXPECT_EQ(*store->LastCommittedSeq(a->key, 1), 22u);
  EXPECT_TRUE(store->CheckIntegrity().ok());
}

// Runs SQL on its own connection to the store's file (what an operator's sqlite3 would do).
void ExecOn(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

TEST(SqliteStoreTest, RolledBackTransactionLeavesNoCursorBehind) {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.db");
  auto store = OpenOrDie(path);
  auto a = store->RegisterAgent(Agent("a1"));
  auto b = store->RegisterAgent(Agent("a2"));
  // A real SQLite failure in the middle of a group commit: a trigger refuses a2's seq 3, so the
  // whole transaction rolls back, a1's rows and cursor move included.
  ExecOn(path, "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.seq = 3 AND NEW.agent = " +
                   std::to_string(b->key) + " BEGIN SELECT RAISE(ABORT, 'refused by test'); END;");
  BatchWrite ok = MakeBatch(a->key, 1, 1, 5);
  BatchWrite bad = MakeBatch(b->key, 1, 1, 5);
  BatchWrite* both[] = {&ok, &bad};
  EXPECT_FALSE(store->CommitBatches(both).ok());
  EXPECT_EQ(*store->LastCommittedSeq(a->key, 1), 0u);
  EXPECT_EQ(*store->CountEvents(std::nullopt), 0u);
  // Retried, both are stored: the writer did not keep the rolled-back cursor.
  ExecOn(path, "DROP TRIGGER refuse;");
  ASSERT_TRUE(store->CommitBatches(both).ok());
  EXPECT_EQ(SeqsOf(store.get(), "a1"), Range(1, 5));
  EXPECT_EQ(SeqsOf(store.get(), "a2"), Range(1, 5));
}

TEST(SqliteStoreTest, MigratesAVersion2StoreToRunsWithoutLosingAnEvent) {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.db");
  int64_t k1, k2;
  {
    auto store = OpenOrDie(path);
    k1 = store->RegisterAgent(Agent("a1"))->key;
    k2 = store->RegisterAgent(Agent("a2"))->key;
  }
  // Rewind the file to schema 2 as an older collector left it: the per-event UNIQUE index,
  // no runs, and events written row by row, interleaved, with a gap and a second epoch.
  {
    std::string sql =
        "DROP TABLE event_runs; CREATE UNIQUE INDEX events_by_key ON events(agent, epoch, seq);"
        "DROP INDEX agents_by_hostname; ALTER TABLE agents DROP COLUMN prev_cert_serial;"
        "ALTER TABLE agents DROP COLUMN host_confirmed;"
        "DROP TABLE audit_log; DROP TABLE audit_checkpoints;"
        "DROP TABLE personal_tokens; DROP TABLE account_sessions; DROP TABLE accounts;"
        "DROP TABLE reveal_requests; DROP TABLE settings; DROP TABLE audit_prunes;";
    auto row = [&](int64_t agent, int epoch, int seq) {
      sql += "INSERT INTO events(agent, epoch, seq, time_ns, type, payload) VALUES(" +
             std::to_string(agent) + "," + std::to_string(epoch) + "," + std::to_string(seq) + "," +
             std::to_string(kNow + seq) + ",1,'payload-" + std::to_string(seq) + "');";
    };
    for (int s = 1; s <= 4; ++s) row(k1, 1, s);
    for (int s = 1; s <= 3; ++s) row(k2, 1, s);
    for (int s = 5; s <= 6; ++s) row(k1, 1, s);
    for (int s = 9; s <= 10; ++s) row(k1, 1, s);  // gap 7..8, right after 6 by id
    row(k2, 1, 4);
    for (int s = 1; s <= 2; ++s) row(k1, 2, s);  // a new epoch
    sql += "INSERT INTO streams VALUES(" + std::to_string(k1) + ",1,10),(" + std::to_string(k2) +
           ",1,4),(" + std::to_string(k1) + ",2,2); PRAGMA user_version=2;";
    ExecOn(path, sql);
  }
  auto store = OpenOrDie(path);
  std::vector<uint64_t> want = {1, 1, 2, 2, 3, 4, 5, 6, 9, 10};  // both epochs, by time
  EXPECT_EQ(SeqsOf(store.get(), "a1"), want);
  EXPECT_EQ(SeqsOf(store.get(), "a2"), Range(1, 4));
  EXPECT_EQ(*store->CountEvents("a1"), 10u);
  EXPECT_EQ(*store->CountEvents("a2"), 4u);
  // The migrated store goes on deduplicating through the cursor.
  BatchWrite resent = MakeBatch(k1, 1, 9, 4);
  BatchWrite* one[] = {&resent};
  ASSERT_TRUE(store->CommitBatches(one).ok());
  EXPECT_EQ(*store->CountEvents("a1"), 12u);
  EXPECT_EQ(*store->LastCommittedSeq(k1, 1), 12u);
  EXPECT_TRUE(store->CheckIntegrity().ok());
}

TEST(SqliteStoreTest, SurvivesReopenAndPassesIntegrityCheck) {
  testing::TempDir dir;
  int64_t key;
  {
    auto store = OpenOrDie(dir.Sub("c.db"));
    key = store->RegisterAgent(Agent("a1"))->key;
    BatchWrite b = MakeBatch(key, 1, 1, 1000);
    BatchWrite* one[] = {&b};
    ASSERT_TRUE(store->CommitBatches(one).ok());
  }
  auto store = OpenOrDie(dir.Sub("c.db"));
  EXPECT_EQ(*store->LastCommittedSeq(key, 1), 1000u);
  EXPECT_TRUE(store->CheckIntegrity().ok());
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->events, 1000u);
  EXPECT_EQ(st->agents, 1u);
  EXPECT_GT(st->bytes_on_disk, 0u);
}

TEST(SqliteStoreTest, QueriesByTimeAgentUserAndType) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  auto a1 = store->RegisterAgent(Agent("a1"));
  auto a2 = store->RegisterAgent(Agent("a2"));
  BatchWrite b1 = MakeBatch(a1->key, 1, 1, 20, "alice");
  BatchWrite b2 = MakeBatch(a2->key, 1, 1, 20, "bob");
  BatchWrite* both[] = {&b1, &b2};
  ASSERT_TRUE(store->CommitBatches(both).ok());

  EventQuery q;
  q.user = "alice";
  auto r = store->QueryEvents(q);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 20u);
  EXPECT_EQ((*r)[0].agent_id, "a1");
  EXPECT_EQ((*r)[0].hostname, "host-a1");
  EXPECT_EQ((*r)[0].seq, 20u);  // newest first
  EXPECT_EQ((*r)[0].payload, "payload-20");

  q = {};
  q.agent_id = "a2";
  q.type = EventType::kUsb;
  q.newest_first = false;
  r = store->QueryEvents(q);
  ASSERT_EQ(r->size(), 10u);
  EXPECT_EQ((*r)[0].seq, 2u);
  EXPECT_EQ((*r)[0].user, "bob");

  q = {};
  q.since_ns = kNow + 5 * 1000;
  q.until_ns = kNow + 8 * 1000;
  r = store->QueryEvents(q);
  EXPECT_EQ(r->size(), 6u);  // seqs 5,6,7 of both agents

  q = {};
  q.limit = 3;
  EXPECT_EQ(store->QueryEvents(q)->size(), 3u);
  q = {};
  q.user = "nobody";
  EXPECT_TRUE(store->QueryEvents(q)->empty());
}

TEST(SqliteStoreTest, EnrollmentTokensExpireGetUsedUpAndRevoke) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  EnrollmentTokenRecord t;
  t.id = "tok_1";
  t.created_at_ns = kNow;
  t.expires_at_ns = kNow + 1000;
  t.max_uses = 2;
  ASSERT_TRUE(store->CreateEnrollmentToken(t, "hash1").ok());
  EXPECT_TRUE(store->ConsumeEnrollmentToken("hash1", kNow).ok());
  EXPECT_TRUE(store->ConsumeEnrollmentToken("hash1", kNow).ok());
  auto used_up = store->ConsumeEnrollmentToken("hash1", kNow);
  EXPECT_EQ(used_up.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(used_up.status().message().find("used up"), std::string::npos);

  t.id = "tok_2";
  ASSERT_TRUE(store->CreateEnrollmentToken(t, "hash2").ok());
  auto expired = store->ConsumeEnrollmentToken("hash2", kNow + 1000);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);
  ASSERT_TRUE(store->RevokeEnrollmentToken("tok_2", kNow).ok());
  auto revoked = store->ConsumeEnrollmentToken("hash2", kNow);
  EXPECT_NE(revoked.status().message().find("revoked"), std::string::npos);
  EXPECT_EQ(store->ConsumeEnrollmentToken("nope", kNow).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(store->RevokeEnrollmentToken("tok_9", kNow).code(), StatusCode::kNotFound);
  auto list = store->ListEnrollmentTokens();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].uses, 2u);
  EXPECT_TRUE((*list)[1].revoked_at_ns.has_value());
}

TEST(SqliteStoreTest, AgentsRegisterRenewAndRevoke) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  ASSERT_TRUE(store->RegisterAgent(Agent("a1")).ok());
  EXPECT_EQ(store->RegisterAgent(Agent("a1")).status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(store->UpdateAgentCertificate("a1", "abcd", kNow + 5).ok());
  ASSERT_TRUE(store->RevokeAgent("a1", "laptop stolen", kNow).ok());
  auto a = store->FindAgent("a1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->cert_serial, "abcd");
  EXPECT_EQ(a->revoke_reason, "laptop stolen");
  EXPECT_EQ(a->revoked_at_ns, kNow);
  EXPECT_EQ(store->FindAgent("zz").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->RevokeAgent("zz", "x", kNow).code(), StatusCode::kNotFound);
}

TEST(SqliteStoreTest, ReadOnlyOpenRefusesMissingOrUninitialisedFiles) {
  testing::TempDir dir;
  auto missing = OpenSqliteStore({.path = dir.Sub("none.db"), .read_only = true});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(testing::WriteFile(dir.Sub("junk.db"), std::string(4096, 'x')).ok());
  auto junk = OpenSqliteStore({.path = dir.Sub("junk.db")});
  EXPECT_FALSE(junk.ok());
  EXPECT_NE(junk.status().message().find("junk.db"), std::string::npos);
}

TEST(SqliteStoreTest, ConcurrentCommitsAndQueriesAreSafe) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  auto a = store->RegisterAgent(Agent("a1"));
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) {
      BatchWrite b = MakeBatch(a->key, 1, static_cast<uint64_t>(i) * 100 + 1, 100);
      BatchWrite* one[] = {&b};
      ASSERT_TRUE(store->CommitBatches(one).ok());
    }
  });
  for (int i = 0; i < 50; ++i) {
    EventQuery q;
    q.limit = 10;
    ASSERT_TRUE(store->QueryEvents(q).ok());
  }
  writer.join();
  EXPECT_EQ(*store->CountEvents(std::nullopt), 5000u);
}

}  // namespace
}  // namespace custos::collector::store

namespace custos::collector::store {
namespace {

uint64_t FileSize(const std::string& path) {
  struct stat sb {};
  return ::stat(path.c_str(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
}

// Regression (session 3): the background checkpointer's connection had never read the database,
// so its checkpoints silently did nothing and the WAL grew without bound. Pages must reach the
// database file, and a long WAL must start over, while a reader keeps querying.
TEST(SqliteStoreTest, BackgroundCheckpointsMovePagesIntoTheDatabaseAndRestartTheLog) {
  testing::TempDir dir;
  const std::string path = dir.Sub("ck.db");
  auto store = OpenOrDie(path);
  auto a = store->RegisterAgent(Agent("a1"));
  ASSERT_TRUE(a.ok());
  const uint64_t empty_db = FileSize(path);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) (void)store->CountEvents(std::nullopt);
  });
  // Enough commits to pass the 4096-frame restart threshold several times over.
  uint64_t seq = 1;
  for (int i = 0; i < 60; ++i) {
    BatchWrite b = MakeBatch(a->key, 1, seq, 2000);
    seq += 2000;
    BatchWrite* one[] = {&b};
    ASSERT_TRUE(store->CommitBatches(one).ok());
  }
  EXPECT_TRUE(testing::WaitFor([&] { return FileSize(path) > empty_db + (4u << 20); },
                               std::chrono::seconds(10)))
      << "database file still " << FileSize(path) << " bytes: nothing was checkpointed";
  // After a RESTART the next commits reuse the log from its start, so it stays bounded.
  const uint64_t wal_after_load = FileSize(path + "-wal");
  for (int i = 0; i < 60; ++i) {
    BatchWrite b = MakeBatch(a->key, 1, seq, 2000);
    seq += 2000;
    BatchWrite* one[] = {&b};
    ASSERT_TRUE(store->CommitBatches(one).ok());
    if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  stop = true;
  reader.join();
  EXPECT_LT(FileSize(path + "-wal"), wal_after_load * 3 / 2 + (64u << 20))
      << "the WAL kept growing";
  EXPECT_TRUE(store->CheckIntegrity().ok());
}

TEST(SqliteStoreTest, SecondLiveAgentClaimingAKnownHostNameIsUnconfirmedUntilAnAdminConfirms) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  AgentRecord first = Agent("a1");
  first.hostname = "alice-laptop";
  ASSERT_TRUE(store->RegisterAgent(first).ok());
  AgentRecord second = Agent("a2");
  second.hostname = "ALICE-LAPTOP";  // host names compare without case
  auto a2 = store->RegisterAgent(second);
  ASSERT_TRUE(a2.ok()) << a2.status().ToString();
  EXPECT_TRUE(store->FindAgent("a1")->host_confirmed);
  EXPECT_FALSE(a2->host_confirmed);
  ASSERT_TRUE(store->ConfirmAgentHost("a2").ok());
  EXPECT_TRUE(store->FindAgent("a2")->host_confirmed);
  EXPECT_EQ(store->ConfirmAgentHost("nobody").code(), StatusCode::kNotFound);
  // Once the old agent is revoked (the laptop was reinstalled), a new one enrolls confirmed.
  ASSERT_TRUE(store->RevokeAgent("a1", "reinstalled", kNow).ok());
  ASSERT_TRUE(store->RevokeAgent("a2", "reinstalled", kNow).ok());
  AgentRecord third = Agent("a3");
  third.hostname = "alice-laptop";
  EXPECT_TRUE(store->RegisterAgent(third)->host_confirmed);
  auto revoked = store->RevokedAgentKeys();
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked->size(), 2u);
}

TEST(SqliteStoreTest, ScoringFeedSaysWhetherTheAgentsHostIsConfirmedAndSeesTheConfirmation) {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.db");
  auto store = OpenOrDie(path);
  AgentRecord first = Agent("a1");
  first.hostname = "alice-laptop";
  AgentRecord second = Agent("a2");
  second.hostname = "alice-laptop";
  int64_t k1 = store->RegisterAgent(first)->key;
  int64_t k2 = store->RegisterAgent(second)->key;
  BatchWrite b1 = MakeBatch(k1, 1, 1, 1);
  BatchWrite b2 = MakeBatch(k2, 1, 1, 1);
  BatchWrite* both[] = {&b1, &b2};
  ASSERT_TRUE(store->CommitBatches(both).ok());
  auto risk = OpenSqliteRiskStore(path);
  ASSERT_TRUE(risk.ok()) << risk.status().ToString();
  auto feed = [&] {
    std::vector<std::pair<std::string, bool>> seen;
    auto n = (*risk)->ScanEventsAfter(0, 100, [&](const FeedEventView& v) {
      seen.emplace_back(std::string(v.agent_id), v.host_confirmed);
    });
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return seen;
  };
  using Seen = std::vector<std::pair<std::string, bool>>;
  EXPECT_EQ(feed(), (Seen{{"a1", true}, {"a2", false}}));
  ASSERT_TRUE(store->ConfirmAgentHost("a2").ok());  // by an admin, from another process
  EXPECT_EQ(feed(), (Seen{{"a1", true}, {"a2", true}}));
}

TEST(SqliteStoreTest, RenewalKeepsThePreviousCertificateUntilItIsForgotten) {
  testing::TempDir dir;
  auto store = OpenOrDie(dir.Sub("c.db"));
  AgentRecord a = Agent("a1");
  a.cert_serial = "01";
  auto key = store->RegisterAgent(a)->key;
  EXPECT_EQ(store->FindAgent("a1")->prev_cert_serial, "");
  ASSERT_TRUE(store->UpdateAgentCertificate("a1", "02", kNow).ok());
  auto renewed = store->FindAgent("a1");
  EXPECT_EQ(renewed->cert_serial, "02");
  EXPECT_EQ(renewed->prev_cert_serial, "01");
  ASSERT_TRUE(store->ForgetPreviousCertificate(key).ok());
  EXPECT_EQ(store->FindAgent("a1")->prev_cert_serial, "");
}

}  // namespace
}  // namespace custos::collector::store
