// The persisted view of the watched roots (snapshot_store.h) on the fault-injecting file system:
// a change is journaled only once its event is durable, in the order it was made; a restart
// (Load) sees the checkpoint plus every journaled change; power loss, a torn journal tail and a
// stale journal never lose a reported change's record nor invent one.
#include "agent/sources/file/snapshot_store.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "common/crypto/crypto.h"

#include "common/fs/file_system.h"

namespace custos::agent::file {
namespace {

constexpr char kDir[] = "/state/file";
const std::vector<std::string> kRoots = {"/r"};

FileState File(uint64_t inode, uint64_t size = 1) { return {size, 1, inode, 0100644}; }

// Path -> inode, enough to tell entries apart here.
std::map<std::string, uint64_t> Inodes(const SnapshotMap& m) {
  std::map<std::string, uint64_t> out;
  for (const auto& [path, state] : m) out[path] = state.inode;
  return out;
}

std::set<std::string> Paths(const SnapshotMap& m) {
  std::set<std::string> out;
  for (const auto& [path, state] : m) out.insert(path);
  return out;
}

class SnapshotStoreTest : public ::testing::Test {
 protected:
  // What a restarted agent would read.
  SnapshotStore::Loaded Reload() {
    SnapshotStore again(&fs_, kDir, 1000);
    auto loaded = again.Load();
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return loaded.ok() ? std::move(*loaded) : SnapshotStore::Loaded{};
  }
  // The worker's side of one change: mutate the snapshot, seal its journal entries.
  uint64_t Create(const std::string& path, uint64_t inode) {
    snapshot_.Upsert(path, File(inode));
    return store_.Seal(snapshot_.TakeJournal());
  }

  fs::FaultInjectionFileSystem fs_;
  SnapshotStore store_{&fs_, kDir, 1000};
  Snapshot snapshot_{1000, /*journal=*/true};
};

TEST_F(SnapshotStoreTest, NothingPersistedIsNotFound) {
  EXPECT_EQ(store_.Load().status().code(), StatusCode::kNotFound);
}

TEST_F(SnapshotStoreTest, AChangeIsPersistedOnlyOnceItsEventIsDurable) {
  snapshot_.Upsert("/r/a", File(1));
  (void)snapshot_.TakeJournal();
  ASSERT_TRUE(store_.Checkpoint(kRoots, snapshot_.entries()).ok());
  const uint64_t op = Create("/r/b", 2);
  EXPECT_EQ(Paths(Reload().entries), (std::set<std::string>{"/r/a"}));  // not pushed yet
  store_.SetMark(op, 5);                                                // pushed: sink mark 5
  store_.OnLogged(4, {1, 4});
  EXPECT_EQ(Paths(Reload().entries), (std::set<std::string>{"/r/a"}));  // not durable yet
  store_.OnLogged(5, {1, 5});
  const auto loaded = Reload();
  EXPECT_EQ(Paths(loaded.entries), (std::set<std::string>{"/r/a", "/r/b"}));
  EXPECT_EQ(loaded.journal_records, 1u);
  EXPECT_EQ(loaded.roots, kRoots);
  EXPECT_TRUE(store_.WaitIdle(std::chrono::milliseconds(0)));
}

TEST_F(SnapshotStoreTest, ChangesAreJournaledInTheOrderTheyWereMadeWhateverOrderTheyArePushed) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());
  const uint64_t hashed = Create("/r/x", 1);  // its MODIFY waits in the hasher
  snapshot_.EraseTree("/r/x");
  const uint64_t erased = store_.Seal(snapshot_.TakeJournal());
  store_.SetMark(erased, 3);
  store_.OnLogged(10, {1, 10});
  // The erase is durable but must not be journaled before the change made before it.
  EXPECT_TRUE(Paths(Reload().entries).empty());
  EXPECT_EQ(Reload().journal_records, 0u);
  EXPECT_FALSE(store_.WaitIdle(std::chrono::milliseconds(0)));
  store_.SetMark(hashed, 12);
  EXPECT_EQ(Reload().journal_records, 0u);
  store_.OnLogged(12, {1, 12});
  const auto loaded = Reload();
  EXPECT_EQ(loaded.journal_records, 1u);  // both in one record, in order: x created, then erased
  EXPECT_TRUE(loaded.entries.empty());
  EXPECT_TRUE(store_.WaitIdle(std::chrono::milliseconds(0)));
}

TEST_F(SnapshotStoreTest, RenamesAndTreeDeletesReplayLikeTheSnapshot) {
  for (const char* p : {"/r/d", "/r/d/x", "/r/d/y/z", "/r/d-sibling", "/r/old"}) {
    snapshot_.Upsert(p, File(1));
  }
  (void)snapshot_.TakeJournal();
  ASSERT_TRUE(store_.Checkpoint(kRoots, snapshot_.entries()).ok());
  snapshot_.MoveTree("/r/d", "/r/n");
  snapshot_.Upsert("/r/n", File(9));
  snapshot_.EraseTree("/r/old");
  const uint64_t op = store_.Seal(snapshot_.TakeJournal());
  store_.SetMark(op, 0);  // a mark of 0 is durable at once
  EXPECT_EQ(Inodes(Reload().entries), Inodes(snapshot_.entries()));
  EXPECT_EQ(Inodes(snapshot_.entries()),
            (std::map<std::string, uint64_t>{
                {"/r/d-sibling", 1}, {"/r/n", 9}, {"/r/n/x", 1}, {"/r/n/y/z", 1}}));
}

TEST_F(SnapshotStoreTest, PowerLossKeepsTheCheckpointAndLosesOnlyUnsyncedJournalRecords) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {{"/r/base", File(1)}}).ok());
  store_.SetMark(Create("/r/journaled", 2), 0);
  EXPECT_EQ(Paths(Reload().entries), (std::set<std::string>{"/r/base", "/r/journaled"}));
  fs_.DropUnsyncedData();  // the journal is not fsynced: its records may go, the checkpoint stays
  EXPECT_EQ(Paths(Reload().entries), (std::set<std::string>{"/r/base"}));
  // A checkpoint is durable: after it, power loss keeps everything it holds.
  ASSERT_TRUE(store_.Checkpoint(kRoots, snapshot_.entries()).ok());
  fs_.DropUnsyncedData();
  EXPECT_EQ(Paths(Reload().entries), (std::set<std::string>{"/r/journaled"}));
}

// Power loss can keep a journal record while the spool loses the unsynced records of its events:
// the spool's recovered position says which records are backed by events it kept.
TEST_F(SnapshotStoreTest, RecordsAheadOfWhatTheSpoolKeptAreCut) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());
  store_.SetMark(Create("/r/kept", 1), 1);
  store_.OnLogged(1, {7, 10});
  store_.SetMark(Create("/r/lost-with-the-spool", 2), 2);
  store_.OnLogged(2, {7, 11});
  SnapshotStore again(&fs_, kDir, 1000);
  auto loaded = again.Load(SinkPosition{7, 10});  // the spool kept seq 10, not 11
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(Paths(loaded->entries), (std::set<std::string>{"/r/kept"}));
  EXPECT_TRUE(loaded->journal_beyond_log);
  loaded = again.Load(SinkPosition{8, 100});  // a new spool epoch: nothing is known delivered
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->entries.empty());
  loaded = again.Load(SinkPosition{7, 11});
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(Paths(loaded->entries), (std::set<std::string>{"/r/kept", "/r/lost-with-the-spool"}));
  EXPECT_FALSE(loaded->journal_beyond_log);
}

// A checkpoint is fsynced, and Load cannot cut what it folded in: it must never hold a change
// whose spool record is written but not yet synced (power loss would take the event and leave
// the checkpoint saying the change is known, so it would never be reported).
TEST_F(SnapshotStoreTest, ACheckpointWaitsUntilItsChangesAreSyncedInTheSpool) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());
  store_.SetMark(Create("/r/written", 1), 3);
  store_.OnLogged(3, {1, 3});  // in the spool's page cache, not fsynced
  store_.OnSynced(2);          // an earlier group's fsync
  EXPECT_EQ(store_.Checkpoint(kRoots, snapshot_.entries(), std::chrono::milliseconds(0)).code(),
            StatusCode::kUnavailable);
  // Power loss now: the spool loses seq 3 (it kept 2), the journal whatever was not synced.
  fs_.DropUnsyncedData();
  SnapshotStore again(&fs_, kDir, 1000);
  auto loaded = again.Load(SinkPosition{1, 2});
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->entries.empty());  // so the restart reports /r/written again
}

TEST_F(SnapshotStoreTest, ACheckpointIsWrittenOnceTheSpoolSyncedItsChanges) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());
  store_.SetMark(Create("/r/synced", 1), 3);
  store_.OnLogged(3, {1, 3});
  std::thread sink([&] { store_.OnSynced(3); });  // the spool's fsync, during the wait
  const Status status = store_.Checkpoint(kRoots, snapshot_.entries(), std::chrono::seconds(30));
  sink.join();
  ASSERT_TRUE(status.ok()) << status.ToString();
  fs_.DropUnsyncedData();
  SnapshotStore again(&fs_, kDir, 1000);
  auto loaded = again.Load(SinkPosition{1, 3});
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(Paths(loaded->entries), (std::set<std::string>{"/r/synced"}));
}

TEST_F(SnapshotStoreTest, ATornOrCorruptJournalRecordEndsTheJournal) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());
  store_.SetMark(Create("/r/one", 1), 0);
  const uint64_t after_one = fs_.FileSize(store_.journal_path()).value();
  store_.SetMark(Create("/r/two", 2), 0);
  store_.SetMark(Create("/r/three", 3), 0);
  // Torn: the last record cut short.
  const uint64_t full = fs_.FileSize(store_.journal_path()).value();
  ASSERT_TRUE(fs_.Truncate(store_.journal_path(), full - 3).ok());
  auto loaded = Reload();
  EXPECT_TRUE(loaded.journal_torn);
  EXPECT_EQ(Paths(loaded.entries), (std::set<std::string>{"/r/one", "/r/two"}));
  // Corrupt: a flipped byte in the second record drops it and everything after it.
  ASSERT_TRUE(fs_.CorruptByte(store_.journal_path(), after_one + 30).ok());
  loaded = Reload();
  EXPECT_TRUE(loaded.journal_torn);
  EXPECT_EQ(Paths(loaded.entries), (std::set<std::string>{"/r/one"}));
}

TEST_F(SnapshotStoreTest, AJournalOfAnotherGenerationIsIgnored) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());
  store_.SetMark(Create("/r/before-checkpoint", 1), 0);
  const std::string old_journal = fs_.ReadFile(store_.journal_path()).value();
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());  // a checkpoint without that file
  // A crash between writing the checkpoint and starting its journal leaves the old journal.
  ASSERT_TRUE(fs::WriteFileAtomic(&fs_, store_.journal_path(), old_journal, 0600).ok());
  const auto loaded = Reload();
  EXPECT_TRUE(loaded.entries.empty());
  EXPECT_EQ(loaded.journal_records, 0u);
}

TEST_F(SnapshotStoreTest, AFailedJournalWriteIsReportedAndTheViewStopsFollowing) {
  ASSERT_TRUE(store_.Checkpoint(kRoots, {}).ok());
  fs_.FailNext(fs::FaultInjectionFileSystem::Op::kAppend, Status(StatusCode::kInternal, "EIO"));
  store_.SetMark(Create("/r/a", 1), 0);
  store_.SetMark(Create("/r/b", 2), 0);
  EXPECT_FALSE(store_.journal_status().ok());
  EXPECT_TRUE(Reload().entries.empty());  // a restart reports both again, never neither
  ASSERT_TRUE(store_.Checkpoint(kRoots, snapshot_.entries()).ok());
  EXPECT_TRUE(store_.journal_status().ok());
  EXPECT_EQ(Paths(Reload().entries), (std::set<std::string>{"/r/a", "/r/b"}));
}

TEST_F(SnapshotStoreTest, ASinkThatStopsWritingFreezesTheViewInsteadOfGrowingMemory) {
  SnapshotStore store(&fs_, kDir, 1000, /*max_pending_ops=*/2);
  ASSERT_TRUE(store.Checkpoint(kRoots, {}).ok());
  snapshot_.Upsert("/r/a", File(1));
  store.SetMark(store.Seal(snapshot_.TakeJournal()), 5);
  snapshot_.Upsert("/r/b", File(2));
  store.SetMark(store.Seal(snapshot_.TakeJournal()), 6);
  snapshot_.Upsert("/r/c", File(3));
  EXPECT_EQ(store.Seal(snapshot_.TakeJournal()), SnapshotStore::kNoOp);  // the cap: stalled
  EXPECT_TRUE(store.WaitIdle(std::chrono::milliseconds(0)));
  store.OnLogged(6, {1, 6});  // too late: nothing it held is journaled, nothing is invented
  EXPECT_TRUE(Reload().entries.empty());
  // A checkpoint now would record changes whose events may never reach the spool: refused.
  EXPECT_EQ(store.Checkpoint(kRoots, snapshot_.entries()).code(), StatusCode::kFailedPrecondition);
  store.Abandon();  // the source stopped; the next start begins from the frozen view
  EXPECT_TRUE(store.Checkpoint(kRoots, {}).ok());
}

TEST_F(SnapshotStoreTest, ReadsTheVersion1SnapshotAndReplacesIt) {
  // An older agent's file: CFSNAP01, no generation, no journal.
  std::string v1 = EncodeSnapshot(kRoots, {{"/r/old", File(1)}}, 0);
  v1[7] = '1';
  v1.erase(8, 8);
  v1.resize(v1.size() - 4);
  const uint32_t crc = crypto::Crc32c(v1.data(), v1.size());
  v1.append(reinterpret_cast<const char*>(&crc), 4);
  ASSERT_TRUE(fs_.CreateDirs(kDir, 0700).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(&fs_, std::string(kDir) + "/file-snapshot.v1", v1, 0600).ok());
  auto loaded = store_.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(Paths(loaded->entries), (std::set<std::string>{"/r/old"}));
  ASSERT_TRUE(store_.Checkpoint(loaded->roots, loaded->entries).ok());
  EXPECT_FALSE(fs_.Exists(std::string(kDir) + "/file-snapshot.v1"));
  EXPECT_EQ(Paths(Reload().entries), (std::set<std::string>{"/r/old"}));
}

}  // namespace
}  // namespace custos::agent::file
