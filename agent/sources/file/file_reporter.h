// Internal to agent/sources/file: the part of the file source both mechanisms share. The kernel
// reader threads only read and queue; the source's event worker thread turns what they queued
// into FileReporter calls, and FileReporter keeps the snapshot, filters, labels, escapes paths,
// resolves user names, hands MODIFY events to the Hasher and pushes events into the sink.
//
// Threading: the "worker" methods are called from one thread at a time (the worker, or Start
// before the worker runs). Push happens from the worker and the hashing thread (serialised
// here). Health and SetCondition may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "agent/pipeline/attribution.h"
#include "agent/sources/file/file_source.h"
#include "agent/sources/file/hasher.h"
#include "agent/sources/file/path_filter.h"
#include "agent/sources/file/snapshot.h"
#include "agent/sources/file/snapshot_store.h"
#include "agent/sources/source.h"
#include "common/time/clock.h"

namespace custos::agent::file {

class FileReporter {
 public:
  FileReporter(const FileSourceOptions& options, const PathFilter& filter,
               pipeline::ProcessAttributor* attributor, Clock* clock, std::string mechanism);
  ~FileReporter();
  FileReporter(const FileReporter&) = delete;
  FileReporter& operator=(const FileReporter&) = delete;

  // An actor for changes without a process: empty, partial, no login uid.
  static custos::v1::Actor UnknownActor();

  // ---- any thread ----
  // Health conditions by key (e.g. "fallback", "watch_budget"): the worst level wins and the
  // messages are joined. OK clears the key.
  void SetCondition(const std::string& key, custos::v1::HealthLevel level, std::string message);
  SourceHealth Health() const;
  void CountKernelOverflow() { overflows_.fetch_add(1, std::memory_order_relaxed); }
  void CountUnresolved() { unresolved_.fetch_add(1, std::memory_order_relaxed); }
  void CountReadDropped() { reads_dropped_.fetch_add(1, std::memory_order_relaxed); }

  // ---- lifecycle (Start before the worker runs, Stop after it was joined) ----
  void Start(EventSink* sink);
  // Stops the hasher (its queued events are pushed), waits up to 5 s for what was pushed to be
  // durable and writes a checkpoint of the snapshot; idempotent.
  void Stop();
  void set_dir_visitor(DirVisitor visitor) { visit_ = std::move(visitor); }

  // ---- worker thread ----
  struct Change {
    custos::v1::FileOp op = custos::v1::FILE_OP_UNSPECIFIED;
    std::string path;      // raw bytes
    std::string old_path;  // RENAME only
    bool is_dir = false;
    custos::v1::Actor actor;
    int64_t time_ns = 0;
    // Opens the very object of the event with the given open(2) flags (fanotify: by file
    // handle), or -1. Used to hash it and to stat it when its name is already gone. Optional.
    std::function<int(int flags)> open_object;
  };
  // Applies a live change to the snapshot and reports it when it passes the filters. A RENAME is
  // reported when either name is reported; a directory renamed in from outside the watched tree
  // is absorbed (its content enters the snapshot without events). Size and mode come from
  // lstat(path) at handling time, else from open_object, else from the snapshot. Only CREATE,
  // RENAME and scans add paths to the snapshot: a MODIFY/ATTRIB of a path the snapshot lacks
  // (its CREATE was lost) is reported but leaves the path out, so the rescan that follows the
  // loss still reports the CREATE. Returns false when nothing was done: outside the roots, or a
  // CREATE a scan already reported (same path and inode).
  bool Report(Change change);
  // A read-only open of `change.path` was closed (FileSourceOptions::report_reads): FILE_OP_READ
  // for a regular file that passes the filters; the snapshot is not touched.
  void ReportRead(Change change);
  // A directory whose content the kernel may not have reported (inotify: created before its
  // watch existed): CREATE for every entry below `dir` that the snapshot does not hold.
  void ReportNewTree(const std::string& dir);
  // Content of `dir` enters the snapshot without events.
  void AbsorbTree(const std::string& dir);
  // Scans the roots; with a persisted view (snapshot_store.h: the last checkpoint plus the journal
  // of changes whose events were durable), reports what changed while the agent was down (only
  // under roots the persisted view covered), as scan findings (observed_by SCAN, no actor).
  // Without one, persists a first baseline at once. False if stopped.
  // `watch_began_ns`: KernelNowNs() once the kernel watch was in place; what changed at or after
  // it (ctime) is left for the kernel's events (or, if they are lost, the next rescan) to report.
  bool StartupScan(const std::atomic<bool>& stop, int64_t watch_began_ns);
  // After lost events: scans the roots and reports differences with the in-memory snapshot.
  bool Rescan(const std::atomic<bool>& stop);
  void ReportLost(uint64_t count, int64_t window_start_ns, int64_t window_end_ns,
                  const std::string& reason);
  // Pushes an AgentHealth event (component "source.file").
  void PushHealthEvent(custos::v1::HealthLevel level, const std::string& message,
                       const std::map<std::string, std::string>& facts);
  // Writes a checkpoint of the snapshot when due: the journal is past kCheckpointJournalBytes,
  // the roots changed, or snapshot_persist_interval passed with a non-empty journal (force: now,
  // if anything was journaled). Waits briefly for pending events to be written to the spool and
  // for the journaled ones to be synced there; when they are not, tries again next time. Never
  // before the startup scan finished.
  void MaybePersist(bool force);
  static constexpr uint64_t kCheckpointJournalBytes = 4u << 20;

  const PathFilter& filter() const { return filter_; }
  Clock* clock() const { return clock_; }

 private:
  bool ReportRename(Change& change);
  // `op`: the snapshot change this event reports (SnapshotStore::Seal); `scan`: found by a walk
  // (observed_by SCAN, no actor) rather than by a kernel notification.
  void Emit(custos::v1::FileOp op, const std::string& path, const std::string& old_path,
            bool is_dir, const FileState* state, custos::v1::Actor actor, int64_t time_ns,
            std::function<int(int flags)> open_object, uint64_t journal_op, bool scan = false);
  // Seals the snapshot's journal entries so far into an op (SnapshotStore::kNoOp without a
  // store); Release gives an op without an event its (immediate) mark.
  uint64_t SealJournal();
  void Release(uint64_t journal_op);
  // lstat(path), else fstat of open_object's O_PATH descriptor.
  static bool StatChange(const Change& change, const std::string& path, FileState* state);
  void EmitScanChange(ChangeKind kind, const std::string& path, const FileState& state,
                      int64_t time_ns, uint64_t journal_op);
  // Journals the differences a Replace of the snapshot brings (for the persisted view).
  void JournalChange(ChangeKind kind, const std::string& path, const FileState& state);
  bool ScanRoots(const std::atomic<bool>& stop, SnapshotMap* out, uint64_t* untracked,
                 int64_t unconfirmed_since_ns = kNeverUnconfirmed);
  void UpdateSnapshotCondition();
  void Push(custos::v1::Event&& event, uint64_t journal_op = SnapshotStore::kNoOp);

  const FileSourceOptions options_;
  const PathFilter& filter_;
  pipeline::ProcessAttributor* const attributor_;
  Clock* const clock_;
  const std::string mechanism_;
  DirVisitor visit_;

  // Worker state.
  Snapshot snapshot_;
  std::unique_ptr<SnapshotStore> store_;  // null without state_dir
  bool baseline_ready_ = false;
  bool checkpoint_due_ = false;  // the persisted roots differ from ours
  bool started_ = false;
  std::chrono::steady_clock::time_point next_persist_{};
  std::chrono::steady_clock::time_point next_checkpoint_try_{};

  Hasher hasher_;
  std::atomic<EventSink*> sink_{nullptr};

  std::mutex push_mu_;
  uint64_t refused_ = 0;          // guarded by push_mu_: refused since the last EventsLost
  int64_t refused_since_ns_ = 0;  // guarded by push_mu_

  mutable std::mutex health_mu_;
  std::map<std::string, std::pair<custos::v1::HealthLevel, std::string>>
      conditions_;  // guarded by health_mu_
  std::atomic<uint64_t> events_{0}, lost_{0}, overflows_{0}, unresolved_{0}, reads_dropped_{0};
};

}  // namespace custos::agent::file
