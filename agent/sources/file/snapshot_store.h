// Internal to agent/sources/file: the persisted view of the watched roots, kept in step with what
// the sink made durable, so a restart after kill -9 reports only changes that never reached the
// spool (issue 17: a crash must not make the agent re-report, as actor-less creates, everything
// since its last clean stop).
//
// On disk, in `dir` (mode 0600):
//   file-snapshot.v2          a checkpoint: the whole view (snapshot.h format, with a generation)
//   file-snapshot.v2.journal  the changes since that checkpoint:
//     header  "CFSJRN01", u64 generation (= the checkpoint's), u32 CRC32C of those 16 bytes
//     records u32 length, u32 CRC32C of the body, body = u64 epoch, u64 seq (the sink position
//             its events were written at or before; 0, 0 for a sink without a log), then
//             journal entries (snapshot.h)
// The view = the checkpoint + every journal record up to the first that does not parse, fails
// its CRC (a torn tail) or names a position the sink's log did not keep (power loss took
// unsynced spool records: their events were never delivered, so their changes must be reported
// again; an epoch other than the log's counts as not kept). What is cut is reported again at
// start, flagged as found by a scan: never lost. A journal of another generation is ignored (a
// crash between writing a checkpoint and starting its journal). "file-snapshot.v1" (older agents)
// is read when there is no v2 checkpoint and removed by the next checkpoint.
//
// Ordering (why nothing is reported twice or never): the worker changes the in-memory snapshot,
// Seal()s the journal entries of that change into an op and pushes the change's event; once the
// event is pushed, SetMark() gives the op the sink's durability mark. Ops are appended to the
// journal strictly in Seal order, each only once the sink reports its mark written to its log
// (OnLogged, on the sink's thread, right after the spool's write(2)), tagged with that log
// position. kill -9 keeps both files' page cache, so the journal trails the spool only by the
// microseconds between the two writes; power loss may keep a journal record whose spool records
// were lost, which the position check at Load catches. Journal writes are not fsynced;
// checkpoints are, so a checkpoint must never hold a change whose spool record could still be
// lost: the position check cannot cut what a checkpoint folded in. Checkpoint therefore writes
// only when nothing is pending and the sink has reported synced (OnSynced, after the spool's
// fsync) every mark the journal folded in so far; it waits for that on a condition variable,
// up to `sync_wait` (one spool fsync, normally milliseconds), and otherwise writes nothing and
// returns Unavailable: the caller tries again later, the journal keeps following meanwhile
// (deferring is always safe: the journal's records stay subject to the position check). After
// power loss a checkpoint's changes are thus in the spool or the collector has them. An op
// whose event the sink refused is committed too: that event is reported as lost (EventsLost),
// as before.
//
// Threading: Seal/Checkpoint/Load from the owner's worker; SetMark from any thread (the hasher
// pushes MODIFY events); OnLogged/OnSynced from the sink's thread. One mutex; the journal is
// written under it (so records stay in order).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/sources/file/snapshot.h"
#include "agent/sources/source.h"
#include "common/fs/file_system.h"
#include "common/status/status.h"

namespace custos::agent::file {

class SnapshotStore final : public DurabilityListener {
 public:
  static constexpr uint64_t kNoOp = 0;
  // Ops waiting for the sink (it stopped writing: disk full, I/O errors) beyond which the store
  // stops following: the pending ops are dropped, Seal journals nothing and Checkpoint refuses
  // until Abandon (the next start re-reads the frozen view, so what changed since is reported
  // again as scan findings: duplicates, never losses). Memory stays bounded (~100 bytes an op).
  static constexpr size_t kDefaultMaxPendingOps = 1u << 20;

  // `fs` must outlive the store.
  SnapshotStore(fs::FileSystem* fs, std::string dir, size_t max_entries,
                size_t max_pending_ops = kDefaultMaxPendingOps);
  ~SnapshotStore() override;
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  struct Loaded {
    std::vector<std::string> roots;
    SnapshotMap entries;
    uint64_t journal_records = 0;     // applied
    bool journal_torn = false;        // a record at the end did not parse (power loss)
    bool journal_beyond_log = false;  // records cut: the sink's log did not keep their events
  };
  // The persisted view, keeping only journal records at or before `recovered` (the sink's
  // RecoveredPosition; nullopt = no log, keep all). NotFound when there is none; DataLoss when
  // the checkpoint is corrupt.
  Result<Loaded> Load(std::optional<SinkPosition> recovered = std::nullopt);

  static constexpr std::chrono::milliseconds kDefaultSyncWait{2000};
  // Writes `entries` (minus unconfirmed ones) as a new checkpoint with a new generation and
  // starts an empty journal for it. Only when nothing is pending (Idle): the in-memory snapshot
  // then equals the persisted view. Journal writes before the first Checkpoint are dropped.
  // FailedPrecondition while stalled (kDefaultMaxPendingOps). Waits up to `sync_wait` until the
  // sink has synced every mark journaled so far (see above); Unavailable when it has not (nothing
  // written: try again later).
  Status Checkpoint(const std::vector<std::string>& roots, const SnapshotMap& entries,
                    std::chrono::milliseconds sync_wait = kDefaultSyncWait);

  // Closes `entries` (a Snapshot's TakeJournal) into an op that waits for SetMark; kNoOp when
  // there are none.
  uint64_t Seal(std::string entries);
  // The op's event was pushed; it is durable once the sink reports `mark`. kNoOp is ignored.
  void SetMark(uint64_t op, uint64_t mark);
  void OnLogged(uint64_t mark, SinkPosition position) override;
  void OnSynced(uint64_t mark) override;

  // Drops the ops still pending and closes the journal (the owner stopped; the next Load reads
  // what was written).
  void Abandon();
  // Waits (up to `timeout`) until every sealed op is in the journal; true when it is.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Bytes in the journal since the last checkpoint, header included (kJournalHeaderBytes when
  // nothing was journaled).
  uint64_t journal_bytes() const;
  static constexpr uint64_t kJournalHeaderBytes = 20;
  // The first journal write error since the last checkpoint (OK when none); the view then
  // stops following, so a crash reports those changes again.
  Status journal_status() const;

  std::string checkpoint_path() const;
  std::string journal_path() const;

 private:
  struct Op {
    uint64_t id = 0;
    std::string entries;
    uint64_t mark = 0;
    bool marked = false;
  };
  void CommitLocked();

  fs::FileSystem* const fs_;
  const std::string dir_;
  const size_t max_entries_;
  const size_t max_pending_ops_;
  uint64_t generation_ = 0;  // owner's thread: of the last checkpoint loaded or written

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::deque<Op> pending_;                     // guarded by mu_
  uint64_t next_op_ = 1;                       // guarded by mu_
  uint64_t durable_ = 0;                       // guarded by mu_: highest mark logged
  uint64_t synced_ = 0;                        // guarded by mu_: highest mark synced
  uint64_t journaled_mark_ = 0;                // guarded by mu_: highest mark of a committed op
  std::condition_variable synced_cv_;          // synced_ advanced
  SinkPosition position_;                      // guarded by mu_: where that mark was logged
  std::unique_ptr<fs::WritableFile> journal_;  // guarded by mu_
  uint64_t journal_bytes_ = 0;                 // guarded by mu_
  Status journal_status_;                      // guarded by mu_
  bool stalled_ = false;                       // guarded by mu_: see kDefaultMaxPendingOps
  std::string record_;                         // guarded by mu_: scratch
};

}  // namespace custos::agent::file
