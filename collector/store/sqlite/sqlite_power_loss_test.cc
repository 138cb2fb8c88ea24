// Power loss under the SQLite store (docs/reliability.md, "Power loss"): commits go through
// PowerLossVfs, the power is cut between commits, inside a commit or with a partly flushed
// cache, and the store reopened with the normal VFS must hold every acknowledged batch exactly
// once, nothing of an unacknowledged batch but all of it or none, and pass its integrity check.
#include "collector/store/sqlite/power_loss_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>

#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/sqlite/sqlite_util.h"
#include "common/testing/testing.h"

namespace custos::collector::store {
namespace {

using sqlite::PowerLossVfs;

constexpr int64_t kNow = 1'700'000'000'000'000'000;
constexpr uint64_t kEpoch = 3;
constexpr int kAgents = 4;
constexpr int kRounds = 20;

// Deterministic per (agent, seq), so a stored row can be checked byte for byte; 100-2000
// bytes, so a batch spans several 16 KiB pages and WAL frames.
std::string Payload(int64_t agent_key, uint64_t seq) {
  std::string p = "agent-" + std::to_string(agent_key) + "-seq-" + std::to_string(seq) + ":";
  p.resize(100 + (seq * 7919 + static_cast<uint64_t>(agent_key) * 104729) % 1900,
           static_cast<char>('a' + seq % 26));
  return p;
}

BatchWrite MakeBatch(int64_t agent_key, uint64_t first_seq, uint64_t last_seq) {
  BatchWrite b;
  b.agent_key = agent_key;
  b.epoch = kEpoch;
  b.first_seq = first_seq;
  b.users = {"user-" + std::to_string(agent_key)};
  std::vector<size_t> offsets;
  for (uint64_t seq = first_seq; seq <= last_seq; ++seq) {
    offsets.push_back(b.buffer.size());
    b.buffer += Payload(agent_key, seq);
  }
  offsets.push_back(b.buffer.size());
  for (size_t i = 0; i + 1 < offsets.size(); ++i) {
    EventRow r;
    r.time_ns = kNow + static_cast<int64_t>(first_seq + i);
    r.type = EventType::kFile;
    r.user_index = 0;
    r.payload = std::string_view(b.buffer).substr(offsets[i], offsets[i + 1] - offsets[i]);
    b.rows.push_back(r);
  }
  return b;
}

std::unique_ptr<Store> OpenStore(const std::string& path, const std::string& vfs = {}) {
  auto s = OpenSqliteStore({.path = path, .background_checkpoint = false, .vfs = vfs});
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

uint64_t Seed() {
  const char* env = std::getenv("CUSTOS_POWER_LOSS_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 20261207;
}

struct AgentModel {
  int64_t key = 0;
  std::string id;
  uint64_t acked = 0;  // CommitBatches returned OK for every seq up to here
};

// Every seq 1..last of the agent is stored once, with its own payload.
void ExpectExactlyOnce(Store& store, const AgentModel& a, uint64_t last) {
  EXPECT_EQ(*store.CountEvents(a.id), last) << a.id;
  EventQuery q;
  q.agent_id = a.id;
  q.limit = 1'000'000;
  q.newest_first = false;
  Result<std::vector<StoredEvent>> events = store.QueryEvents(q);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), last) << a.id;
  for (uint64_t i = 0; i < last; ++i) {
    const StoredEvent& e = (*events)[i];
    ASSERT_EQ(e.seq, i + 1) << a.id;
    ASSERT_EQ(e.payload, Payload(a.key, e.seq)) << a.id << " seq " << e.seq;
  }
}

// Where the power goes: between two acknowledged commits; after some write or sync inside a
// commit or checkpoint with the whole cache lost; the same with the cache partly flushed.
enum class Cut { kBetweenCommits, kInsideCommit, kInsideCommitTorn };
const char* CutName(Cut c) {
  switch (c) {
    case Cut::kBetweenCommits:
      return "between commits";
    case Cut::kInsideCommit:
      return "inside a commit";
    case Cut::kInsideCommitTorn:
      return "inside a commit, cache torn";
  }
  return "?";
}

TEST(SqlitePowerLossTest, CommitWithoutSyncIsLostAndSyncedCommitSurvives) {
  // The model itself: what SQLite never synced is gone after the cut, what it synced is not.
  testing::TempDir dir;
  PowerLossVfs vfs("custos-power-loss-model");
  const std::string path = dir.Sub("m.db");
  for (const char* sync : {"OFF", "FULL"}) {
    SCOPED_TRACE(std::string("synchronous=") + sync);
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
    {
      auto db =
          sqlite::OpenDatabase(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 1000, vfs.Name());
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      ASSERT_TRUE(sqlite::Exec(db->get(), path,
                               "PRAGMA journal_mode=WAL; PRAGMA synchronous=" + std::string(sync) +
                                   "; CREATE TABLE t(x); INSERT INTO t VALUES(1);")
                      .ok());
      ASSERT_TRUE(sqlite::Exec(db->get(), path, "SELECT count(*) FROM t").ok());
      vfs.PowerLoss();
    }
    vfs.Restore();
    auto db = sqlite::OpenDatabase(path, SQLITE_OPEN_READWRITE, 1000);
    ASSERT_TRUE(db.ok());
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db->get(), "SELECT count(*) FROM t", -1, &raw, nullptr);
    sqlite::Stmt s(raw);
    if (std::string(sync) == "OFF") {
      EXPECT_NE(rc, SQLITE_OK) << "the table was never synced: it must be gone";
      EXPECT_GT(vfs.LastLoss().dropped_writes, 0u);
    } else {
      ASSERT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db->get());
      ASSERT_EQ(sqlite3_step(s.get()), SQLITE_ROW);
      EXPECT_EQ(sqlite3_column_int(s.get(), 0), 1);
    }
  }
}

TEST(SqlitePowerLossTest, AckedBatchesSurviveEveryCutAndUnackedOnesAreAllOrNothing) {
  testing::TempDir dir;
  const std::string path = dir.Sub("c.db");
  PowerLossVfs vfs("custos-power-loss");
  const uint64_t seed = Seed();
  std::cout << "seed " << seed << " (CUSTOS_POWER_LOSS_SEED)\n";

  std::vector<AgentModel> agents;
  {
    auto store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < kAgents; ++i) {
      AgentRecord r;
      r.agent_id = "agent-" + std::to_string(i);
      r.hostname = "host-" + std::to_string(i);
      r.enrolled_at_ns = kNow;
      Result<AgentRecord> a = store->RegisterAgent(r);
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      agents.push_back({a->key, a->agent_id, 0});
    }
  }

  uint64_t acked_commits = 0, in_flight_landed = 0, in_flight_lost = 0, torn_writes = 0,
           dropped_writes = 0, kept_writes = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::mt19937_64 rng(seed + static_cast<uint64_t>(round));
    const auto cut = static_cast<Cut>(rng() % 3);
    SCOPED_TRACE("round " + std::to_string(round) + " (" + CutName(cut) + "), seed " +
                 std::to_string(seed));
    // The batches of the commit the power cut into: never acknowledged.
    std::vector<std::pair<size_t, uint64_t>> in_flight;  // (agent index, last seq)
    {
      auto store = OpenStore(path, vfs.Name());
      ASSERT_NE(store, nullptr);
      // A second connection through the VFS checkpoints now and then, so the cut also finds
      // WAL pages half copied into the database and a WAL restarted over old frames.
      auto checkpointer = sqlite::OpenDatabase(path, SQLITE_OPEN_READWRITE, 1000, vfs.Name());
      ASSERT_TRUE(checkpointer.ok()) << checkpointer.status().ToString();
      const uint64_t commits_before_cut = 1 + rng() % 12;
      if (cut == Cut::kInsideCommit) vfs.CutPowerAfter(1 + rng() % 100);
      if (cut == Cut::kInsideCommitTorn) vfs.CutPowerAfter(1 + rng() % 100, rng());
      for (uint64_t c = 0; !vfs.LostPower(); ++c) {
        if (cut == Cut::kBetweenCommits && c == commits_before_cut) {
          vfs.PowerLoss();
          break;
        }
        ASSERT_LT(c, 1000u) << "the armed cut never came";
        if (rng() % 4 == 0) {
          // Busy or cut short by the power: either is fine, the store's commits are the test.
          (void)sqlite3_exec(
              checkpointer->get(),
              rng() % 2 ? "PRAGMA wal_checkpoint(PASSIVE)" : "PRAGMA wal_checkpoint(RESTART)",
              nullptr, nullptr, nullptr);
          if (vfs.LostPower()) break;
        }
        std::vector<size_t> picked;
        for (size_t i = 0; i < agents.size(); ++i) {
          if (rng() % 2 == 0) picked.push_back(i);
        }
        if (picked.empty()) picked.push_back(rng() % agents.size());
        std::vector<BatchWrite> batches;
        for (size_t i : picked) {
          const AgentModel& a = agents[i];
          // Sometimes a resend overlapping what is already stored, as after a reconnect.
          const uint64_t overlap = std::min<uint64_t>(a.acked, rng() % 4 == 0 ? rng() % 5 : 0);
          batches.push_back(MakeBatch(a.key, a.acked + 1 - overlap, a.acked + 1 + rng() % 40));
        }
        std::vector<BatchWrite*> ptrs;
        for (BatchWrite& b : batches) ptrs.push_back(&b);
        Status s = store->CommitBatches(ptrs);
        if (vfs.LostPower()) {  // the process died inside the call: nothing was acknowledged
          for (size_t k = 0; k < picked.size(); ++k)
            in_flight.emplace_back(picked[k], batches[k].last_seq());
          break;
        }
        ASSERT_TRUE(s.ok()) << s.ToString();
        ++acked_commits;
        for (size_t k = 0; k < picked.size(); ++k) agents[picked[k]].acked = batches[k].last_seq();
      }
      const PowerLossVfs::LossStats loss = vfs.LastLoss();
      dropped_writes += loss.dropped_writes;
      kept_writes += loss.kept_writes;
      torn_writes += loss.torn_writes;
      // The crashed process's connections close; the frozen VFS lets nothing reach the disk.
    }
    vfs.Restore();

    auto store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    Status integrity = store->CheckIntegrity();
    ASSERT_TRUE(integrity.ok()) << integrity.ToString();
    size_t landed = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < agents.size(); ++i) {
      AgentModel& a = agents[i];
      Result<uint64_t> last = store->LastCommittedSeq(a.key, kEpoch);
      ASSERT_TRUE(last.ok()) << last.status().ToString();
      auto flying = std::find_if(in_flight.begin(), in_flight.end(),
                                 [&](const auto& f) { return f.first == i; });
      if (flying != in_flight.end() && *last == flying->second && *last != a.acked) {
        ++landed;  // durable before the cut, though never acknowledged
      } else {
        ASSERT_EQ(*last, a.acked) << a.id << ": an acknowledged batch was lost, or a batch "
                                  << "that was never sent appeared";
      }
      ExpectExactlyOnce(*store, a, *last);
      a.acked = *last;  // what the agent learns at its next HELLO
      total += *last;
    }
    EXPECT_TRUE(landed == 0 || landed == in_flight.size())
        << "half a commit is visible: " << landed << " of " << in_flight.size() << " batches";
    if (!in_flight.empty()) ++(landed > 0 ? in_flight_landed : in_flight_lost);
    EXPECT_EQ(*store->CountEvents(std::nullopt), total) << "events outside every run";

    // After the restart the store takes resends (deduplicated) and new events.
    std::vector<BatchWrite> resends;
    for (const AgentModel& a : agents) {
      resends.push_back(MakeBatch(a.key, a.acked > 3 ? a.acked - 3 : 1, a.acked + 5));
    }
    std::vector<BatchWrite*> ptrs;
    for (BatchWrite& b : resends) ptrs.push_back(&b);
    Status s = store->CommitBatches(ptrs);
    ASSERT_TRUE(s.ok()) << s.ToString();
    s = store->CommitBatches(ptrs);
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (AgentModel& a : agents) {
      a.acked += 5;
      EXPECT_EQ(*store->LastCommittedSeq(a.key, kEpoch), a.acked);
      ExpectExactlyOnce(*store, a, a.acked);
    }
  }
  std::cout << kRounds << " power cuts, " << acked_commits << " acknowledged commits; "
            << "commits cut in flight: " << in_flight_landed << " durable, " << in_flight_lost
            << " lost; unsynced writes at the cuts: " << dropped_writes << " dropped, "
            << kept_writes << " kept, " << torn_writes << " torn\n";
}

}  // namespace
}  // namespace custos::collector::store
