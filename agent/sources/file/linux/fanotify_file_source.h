// agent/sources/file/linux: FanotifyFileSource — file activity from fanotify (Linux 5.9+,
// CAP_SYS_ADMIN). Internal: create it through CreateFileSource (file_source.h).
//
// Kernel interface: fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME [| FAN_REPORT_FID |
// FAN_REPORT_TARGET_FID on 5.17+], O_RDONLY | O_LARGEFILE) and one
// fanotify_mark(FAN_MARK_ADD | FAN_MARK_FILESYSTEM) per filesystem holding a root, for FAN_CREATE,
// FAN_DELETE, FAN_CLOSE_WRITE, FAN_ATTRIB, FAN_ONDIR and FAN_RENAME (5.17+) or else
// FAN_MOVED_FROM | FAN_MOVED_TO, plus FAN_CLOSE_NOWRITE with report_reads (reads for copy
// correlation: dropped in the reader when they are the agent's own, a directory's, or when the
// ring is over half full). (FAN_EVENT_ON_CHILD is implied by filesystem marks.) Events of the
// whole filesystem arrive; those outside the roots or excluded are dropped in user space.
//
// Paths: an event names a directory by file handle plus an entry name. The handle is resolved
// with open_by_handle_at (a descriptor of the root as mount fd, CAP_DAC_READ_SEARCH) and readlink
// of /proc/self/fd/N, then cached (handle -> path, at most 65536 directories, emptied when full;
// scans and FAN_REPORT_TARGET_FID pre-fill it; a directory rename rewrites the cached paths below
// it; handles are never reused, so entries of deleted directories are merely dead weight), so a
// directory deleted before its children's DELETE events were handled still resolves. A handle
// that resolves nowhere (created and deleted before it was seen) drops the event and counts it
// (Health: unresolved_paths; this counts the whole filesystem, mostly short-lived temporary
// directories outside the roots, whose directories scans never pre-fill). Like every fanotify
// consumer we resolve at handling time, so a directory renamed in between yields its new name.
// With FAN_REPORT_FID the event also carries the object's own handle: the hasher opens exactly
// that inode (a rename after close does not lose the hash) and, when the name is already gone or
// renamed, size and mode come from it.
//
// Renames: with FAN_RENAME one event carries both names (old and new directory handle + name): it
// is reported as RENAME old_path -> path, also when only one side is inside the roots (moved in or
// out of a root is interesting). Without FAN_RENAME, MOVED_FROM and MOVED_TO are paired by
// adjacency: the kernel queues both within rename(2), so a MOVED_TO pairs with the oldest pending
// MOVED_FROM of the same pid and kind (dir or not) within rename_pair_window (default 50 ms); an
// unpaired MOVED_TO is a CREATE, an unpaired MOVED_FROM a DELETE. (Two threads of one process
// renaming at the same instant could be mispaired; renames never cross filesystems, so both halves
// are always seen.) The kernel merges queued events on the same name from the same pid into one
// mask: CREATE|DELETE is ordered by whether the name exists now.
//
// Threads: a reader thread reads the fanotify descriptor, parses, attributes the pid with
// ProcessAttributor::AttributeProcess (procfs only, memoised per read batch; with process
// tracking on it batches its reads, see Tuning::reader_batch_delay) and queues raw
// events in a bounded ring (ring_capacity); it never touches the disk or the network. A worker
// thread resolves paths, stats, updates the snapshot and reports (FileReporter); a hashing thread
// hashes. FAN_Q_OVERFLOW or a full ring -> an EventsLost event (count 0 when the kernel lost them,
// the exact count when the ring did; window = last event before the loss .. the loss) and a
// rescan of the roots against the snapshot (at most one rescan per rescan_min_interval; further
// losses in between are reported and coalesced into the next rescan).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/pipeline/attribution.h"
#include "agent/sources/file/bounded_queue.h"
#include "agent/sources/file/file_reporter.h"
#include "agent/sources/file/file_source.h"
#include "agent/sources/file/loss_tracker.h"
#include "agent/sources/file/path_filter.h"
#include "agent/sources/file/rename_pairer.h"
#include "agent/sources/source.h"
#include "common/time/clock.h"

namespace custos::agent::file {

class FanotifyFileSource : public Source {
 public:
  // Knobs for tests and tuning; the defaults are what production uses.
  struct Tuning {
    bool use_fan_rename = true;    // false: exercise MOVED_FROM/MOVED_TO pairing
    bool use_target_fid = true;    // false: no FAN_REPORT_TARGET_FID / FAN_REPORT_FID
    size_t ring_capacity = 16384;  // raw events between reader and worker (~400 B each)
    std::chrono::milliseconds rename_pair_window{50};
    // The worker gathers a trickle of events this long before handling them: one wake-up per
    // gather instead of one per kernel read (attribution already happened in the reader).
    // 25 ms: the worker costs 1.3% of a core at 1,000 events/s instead of 1.7-2.2% at 10 ms
    // (docs/performance.md); the spool's 50 ms group delay is the larger wait anyway.
    std::chrono::milliseconds worker_gather{25};
    // While the attributor tracks processes (ProcEventTracker: facts read at exec, kept past
    // exit), the reader sleeps this long after a read that did not fill half its buffer, so a
    // trickle of events costs one wake-up per batch instead of one per event. Without tracking
    // it reads at once: a short-lived process must still be in /proc when its event is read.
    // fanotify events carry no time: an event's time is its read's, so up to this much late.
    std::chrono::milliseconds reader_batch_delay{10};
    std::chrono::milliseconds rescan_min_interval{5000};
  };

  // Checks that fanotify works for these roots here (init + marks, then closes). The error says
  // which call failed and why, e.g. "file: fanotify_init: Operation not permitted".
  static Status Probe(const FileSourceOptions& options);
  static Result<std::unique_ptr<FanotifyFileSource>> Create(const FileSourceOptions& options,
                                                            pipeline::ProcessAttributor* attributor,
                                                            Clock* clock, Tuning tuning);
  static Result<std::unique_ptr<FanotifyFileSource>> Create(const FileSourceOptions& options,
                                                            pipeline::ProcessAttributor* attributor,
                                                            Clock* clock) {
    return Create(options, attributor, clock, Tuning{});
  }
  ~FanotifyFileSource() override;

  std::string name() const override { return "file"; }
  // Initialises fanotify, marks the roots' filesystems and starts the threads; the marks are in
  // place when it returns. The startup scan runs on the worker.
  Status Start(EventSink* sink) override;
  void Stop() override;
  SourceHealth Health() const override;

  // Raw event from the reader (public for the implementation's helpers only).
  struct FidName {
    bool present = false;
    std::string key;   // fsid (8 bytes) + handle_type (4) + handle bytes: the cache key
    std::string name;  // entry name; "." = the directory itself; empty for plain FID records
  };
  struct RawEvent {
    uint64_t mask = 0;
    uint32_t pid = 0;
    int64_t time_ns = 0;
    custos::v1::Actor actor;
    FidName dir;      // DFID_NAME, or OLD_DFID_NAME of a FAN_RENAME
    FidName new_dir;  // NEW_DFID_NAME of a FAN_RENAME
    FidName object;   // FID: the object itself (FAN_REPORT_FID)
  };

 private:
  FanotifyFileSource(const FileSourceOptions& options, PathFilter filter,
                     pipeline::ProcessAttributor* attributor, Clock* clock, Tuning tuning);

  struct Pending {  // a MOVED_FROM waiting for its MOVED_TO
    std::string path;
    bool is_dir = false;
    custos::v1::Actor actor;
    int64_t time_ns = 0;
  };

  void ReaderLoop();
  void WorkerLoop();
  void Process(RawEvent& raw);
  void HandleLoss(bool* rescan_pending);
  // Directory path of a handle record ("" when it cannot be resolved).
  std::string ResolveDir(const FidName& fid);
  std::string ResolvePath(const FidName& fid);
  void CacheDirHandle(const std::string& dir, int dir_fd);
  void CacheDir(const std::string& key, const std::string& dir, bool from_scan);
  void RenameCachedDirs(const std::string& from, const std::string& to);
  int OpenByHandle(const std::string& key, int flags) const;

  const FileSourceOptions options_;
  const PathFilter filter_;
  pipeline::ProcessAttributor* const attributor_;
  Clock* const clock_;
  const Tuning tuning_;
  FileReporter reporter_;

  int fan_fd_ = -1;
  bool target_fid_ = false;
  bool fan_rename_ = false;
  std::unordered_map<uint64_t, int> mount_fds_;               // fsid -> descriptor of a root on it
  std::vector<std::pair<std::string, uint64_t>> root_fsids_;  // root -> fsid
  std::mutex lifecycle_mu_;                                   // serialises Start/Stop

  BoundedQueue<RawEvent> ring_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reader_done_{false};  // ReaderLoop returned
  int64_t watch_began_ns_ = 0;            // Unix ns (kernel clock) when the watch was in place
  LossTracker loss_;                      // reader records, worker reports
  std::thread reader_;
  std::thread worker_;
  bool started_ = false;

  // Worker state.
  std::unordered_map<std::string, std::string> dir_cache_;  // handle key -> directory path
  RenamePairer<Pending> pairer_;
};

}  // namespace custos::agent::file
