// agent/sources/file/linux: InotifyFileSource — the fallback when fanotify is unavailable (no
// CAP_SYS_ADMIN, kernel before 5.9, filesystem without file handles). Internal: create it through
// CreateFileSource (file_source.h).
//
// inotify reports no pid: every event's actor is empty with partial=true (and login_uid unset),
// so nothing is attributed to a person. Use fanotify where attribution matters.
//
// Watches: one per directory under the roots (excluded directories are not watched), placed by
// Start before it returns and, for directories that appear later, by the worker as their
// IN_CREATE / IN_MOVED_TO arrives. A new directory is walked right after its watch is placed, and
// everything found there is reported as CREATE (actor unknown): its content may predate the
// watch (mkdir -p a/b/c, tar x). A kernel CREATE for an entry the walk already reported is
// dropped as a duplicate. At most inotify_watch_budget watches are used; past the budget, or when
// inotify_add_watch fails with ENOSPC (fs.inotify.max_user_watches), the directory stays
// unwatched, Health() turns DEGRADED naming the limit, and an AgentHealth event (level DEGRADED,
// facts: limit, directory, unwatched) is pushed for the first directory and then at most once a
// minute with the running count. Watches freed later are not re-offered to unwatched directories
// until the next rescan.
//
// Renames: IN_MOVED_FROM / IN_MOVED_TO are paired by cookie (window 50 ms); an unpaired
// MOVED_FROM is reported as DELETE (moved out of the roots), an unpaired MOVED_TO as CREATE
// (moved in; a directory's content enters the snapshot and gets watches without events).
//
// Threads: a reader thread reads the inotify descriptor into a bounded ring (never touching disk
// or network); a worker thread maps watch descriptors to paths, places watches, stats and reports
// (FileReporter). IN_Q_OVERFLOW or a full ring -> EventsLost (count 0 = unknown) and a rescan of
// the roots that also re-places missing watches.
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

#include "agent/sources/file/bounded_queue.h"
#include "agent/sources/file/file_reporter.h"
#include "agent/sources/file/file_source.h"
#include "agent/sources/file/loss_tracker.h"
#include "agent/sources/file/path_filter.h"
#include "agent/sources/file/rename_pairer.h"
#include "agent/sources/source.h"
#include "common/time/clock.h"

namespace custos::agent::file {

class InotifyFileSource : public Source {
 public:
  struct Tuning {
    size_t ring_capacity = 16384;
    std::chrono::milliseconds rename_pair_window{50};
    // The worker gathers a trickle of events this long before handling them: one wake-up per
    // gather instead of one per kernel read (attribution already happened in the reader).
    std::chrono::milliseconds worker_gather{10};
    std::chrono::milliseconds rescan_min_interval{5000};
    std::chrono::seconds health_event_interval{60};
  };

  // `fallback_reason`: why fanotify is not used (empty when inotify was asked for); it makes
  // Health() DEGRADED with that reason.
  static Result<std::unique_ptr<InotifyFileSource>> Create(const FileSourceOptions& options,
                                                           Clock* clock, Tuning tuning,
                                                           const std::string& fallback_reason);
  static Result<std::unique_ptr<InotifyFileSource>> Create(const FileSourceOptions& options,
                                                           Clock* clock) {
    return Create(options, clock, Tuning{}, "");
  }
  ~InotifyFileSource() override;

  std::string name() const override { return "file"; }
  // Places the watches (walking the roots: this is also the startup scan, so it takes as long as
  // the tree is large) and starts the threads.
  Status Start(EventSink* sink) override;
  void Stop() override;
  SourceHealth Health() const override;

  struct RawEvent {
    int wd = -1;
    uint32_t mask = 0;
    uint32_t cookie = 0;
    std::string name;
    int64_t time_ns = 0;
  };

 private:
  InotifyFileSource(const FileSourceOptions& options, PathFilter filter, Clock* clock,
                    Tuning tuning);

  struct Pending {
    std::string path;
    bool is_dir = false;
    int64_t time_ns = 0;
  };

  void ReaderLoop();
  void WorkerLoop();
  void Process(const RawEvent& raw);
  void HandleLoss(bool* rescan_pending);
  void AddWatch(const std::string& dir);
  void Unwatched(const std::string& dir, const std::string& limit);
  void RenameWatches(const std::string& from, const std::string& to);
  void RemoveWatchesUnder(const std::string& dir);
  void Report(custos::v1::FileOp op, const std::string& path, bool is_dir, int64_t time_ns,
              const std::string& old_path = "");

  const FileSourceOptions options_;
  const PathFilter filter_;
  Clock* const clock_;
  const Tuning tuning_;
  FileReporter reporter_;

  int in_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex lifecycle_mu_;
  bool started_ = false;

  BoundedQueue<RawEvent> ring_;
  std::atomic<bool> stopping_{false};
  int64_t watch_began_ns_ = 0;  // Unix ns (kernel clock) when the watch was in place
  LossTracker loss_;            // reader records, worker reports
  std::thread reader_;
  std::thread worker_;

  // Start, then worker state.
  std::unordered_map<int, std::string> wd_to_path_;
  std::unordered_map<std::string, int> path_to_wd_;
  uint64_t unwatched_ = 0;
  std::chrono::steady_clock::time_point next_health_event_{};
  RenamePairer<Pending> pairer_;
};

}  // namespace custos::agent::file
