#include "agent/sources/file/file_reporter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "agent/pipeline/utf8.h"
#include "common/fs/file_system.h"
#include "common/log/log.h"

namespace custos::agent::file {
namespace {

using custos::v1::FileOp;
using custos::v1::HealthLevel;

// How long a checkpoint waits for pushed events to become durable (the spool groups for 50 ms).
constexpr std::chrono::milliseconds kCheckpointWait{250};
constexpr std::chrono::milliseconds kStopWait{5000};

}  // namespace

FileReporter::FileReporter(const FileSourceOptions& options, const PathFilter& filter,
                           pipeline::ProcessAttributor* attributor, Clock* clock,
                           std::string mechanism)
    : options_(options),
      filter_(filter),
      attributor_(attributor),
      clock_(clock),
      mechanism_(std::move(mechanism)),
      snapshot_(options.snapshot_max_entries, /*journal=*/!options.state_dir.empty()),
      store_(options.state_dir.empty()
                 ? nullptr
                 : std::make_unique<SnapshotStore>(fs::Posix(), options.state_dir,
                                                   options.snapshot_max_entries)),
      hasher_(
          options.hash_max_bytes, options.hash_rate_bytes_per_s, clock,
          [this](custos::v1::Event&& e, uint64_t journal_op) { Push(std::move(e), journal_op); }) {}

FileReporter::~FileReporter() { Stop(); }

custos::v1::Actor FileReporter::UnknownActor() {
  custos::v1::Actor actor;
  actor.set_login_uid(pipeline::kUnsetLoginUid);
  actor.set_partial(true);
  return actor;
}

void FileReporter::SetCondition(const std::string& key, HealthLevel level, std::string message) {
  std::lock_guard<std::mutex> lock(health_mu_);
  if (level == custos::v1::HEALTH_LEVEL_OK) {
    conditions_.erase(key);
  } else {
    conditions_[key] = {level, std::move(message)};
  }
}

SourceHealth FileReporter::Health() const {
  SourceHealth h;
  h.mechanism = mechanism_;
  h.events = events_.load();
  h.lost = lost_.load();
  std::string message;
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    for (const auto& [key, condition] : conditions_) {
      if (condition.first > h.level) h.level = condition.first;
      if (!message.empty()) message += "; ";
      message += condition.second;
    }
  }
  std::string counters;
  auto add = [&](const char* name, uint64_t n) {
    if (n == 0) return;
    counters += (counters.empty() ? "" : " ") + std::string(name) + "=" + std::to_string(n);
  };
  add("kernel_overflows", overflows_.load());
  add("unresolved_paths", unresolved_.load());
  add("reads_dropped", reads_dropped_.load());
  const Hasher::Stats hs = hasher_.stats();
  add("hashed", hs.hashed);
  add("hash_too_big", hs.too_big);
  add("hash_skipped_rate", hs.skipped_rate);
  add("hash_skipped_queue", hs.skipped_queue);
  add("hash_failed", hs.failed);
  if (!counters.empty()) message += (message.empty() ? "" : "; ") + counters;
  h.message = std::move(message);
  return h;
}

void FileReporter::Start(EventSink* sink) {
  sink_.store(sink);
  baseline_ready_ = false;  // until this run's startup scan completes
  checkpoint_due_ = false;
  started_ = true;
  if (store_) sink->AddDurabilityListener(store_.get());
  hasher_.Start();
  next_persist_ = clock_->SteadyNow() + options_.snapshot_persist_interval;
}

void FileReporter::Stop() {
  if (!started_) return;
  started_ = false;
  hasher_.Stop();  // pushes what it still holds
  EventSink* sink = sink_.load();
  if (store_) {
    // The last checkpoint: once everything pushed is durable, the snapshot is the persisted view.
    Release(SealJournal());
    if (baseline_ready_ && store_->WaitIdle(kStopWait)) {
      MaybePersist(/*force=*/true);
    } else if (baseline_ready_) {
      logging::Warn(
          "file: events not durable within 5 s of stop; the next start reports them "
          "again as scan findings");
    }
    if (sink != nullptr) sink->RemoveDurabilityListener(store_.get());
    store_->Abandon();
  }
}

uint64_t FileReporter::SealJournal() {
  std::string entries = snapshot_.TakeJournal();
  if (!store_) return SnapshotStore::kNoOp;
  return store_->Seal(std::move(entries));
}

void FileReporter::Release(uint64_t journal_op) {
  if (store_) store_->SetMark(journal_op, 0);
}

void FileReporter::Push(custos::v1::Event&& event, uint64_t journal_op) {
  EventSink* sink = sink_.load();
  if (sink == nullptr) {
    Release(journal_op);
    return;
  }
  std::lock_guard<std::mutex> lock(push_mu_);
  const int64_t now_ns = clock_->NowUnixNs();
  if (refused_ > 0) {
    custos::v1::Event lost =
        MakeEventsLost("file", refused_, refused_since_ns_, now_ns, "event sink full");
    if (sink->Push(std::move(lost))) {
      events_.fetch_add(1, std::memory_order_relaxed);
      refused_ = 0;
    }
  }
  if (sink->Push(std::move(event))) {
    events_.fetch_add(1, std::memory_order_relaxed);
  } else {
    lost_.fetch_add(1, std::memory_order_relaxed);
    if (refused_++ == 0) refused_since_ns_ = now_ns;
  }
  // Refused or not, the change is recorded once what was accepted so far is durable: a refused
  // event is reported as lost (EventsLost), never silently.
  if (store_ && journal_op != SnapshotStore::kNoOp) {
    store_->SetMark(journal_op, sink->DurabilityMark());
  }
}

void FileReporter::Emit(FileOp op, const std::string& path, const std::string& old_path,
                        bool is_dir, const FileState* state, custos::v1::Actor actor,
                        int64_t time_ns, std::function<int(int flags)> open_object,
                        uint64_t journal_op, bool scan) {
  custos::v1::Event event;
  event.set_time_ns(time_ns);
  if (!scan) {
    if (attributor_ != nullptr) attributor_->ResolveUserNames(&actor);
    *event.mutable_actor() = std::move(actor);
  }
  auto* f = event.mutable_file();
  f->set_op(op);
  f->set_observed_by(scan ? custos::v1::OBSERVED_BY_SCAN : custos::v1::OBSERVED_BY_WATCH);
  f->set_path(pipeline::EscapeToUtf8(path));
  if (!old_path.empty()) f->set_old_path(pipeline::EscapeToUtf8(old_path));
  f->set_is_dir(is_dir);
  const bool regular = state != nullptr && S_ISREG(state->mode);
  if (state != nullptr) {
    if (regular) f->set_size(state->size);
    f->set_mode(state->mode & 07777);
  }
  for (const std::string& label : filter_.Classify(path)) f->add_classifications(label);
  if (!old_path.empty()) {
    for (const std::string& label : filter_.Classify(old_path)) {
      const auto& have = f->classifications();
      if (std::find(have.begin(), have.end(), label) == have.end()) f->add_classifications(label);
    }
  }
  if (op == custos::v1::FILE_OP_MODIFY && regular && options_.hash_max_bytes > 0) {
    Hasher::Opener opener;
    if (open_object) {
      opener = [open_object = std::move(open_object)] {
        return open_object(O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
      };
    } else {
      opener = [path] { return Hasher::OpenPath(path); };
    }
    hasher_.Submit(std::move(event), std::move(opener), journal_op);
    return;
  }
  Push(std::move(event), journal_op);
}

bool FileReporter::StatChange(const Change& change, const std::string& path, FileState* state) {
  if (StatPath(path, state)) return true;
  if (!change.open_object) return false;
  const int fd = change.open_object(O_PATH | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  const bool ok = fstat(fd, &st) == 0;
  close(fd);
  if (!ok) return false;
  *state = FileState{};
  state->size = static_cast<uint64_t>(st.st_size);
  state->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  state->inode = static_cast<uint64_t>(st.st_ino);
  state->mode = static_cast<uint32_t>(st.st_mode);
  return true;
}

bool FileReporter::Report(Change change) {
  if (change.op == custos::v1::FILE_OP_RENAME) return ReportRename(change);
  if (!filter_.Watched(change.path)) return false;
  FileState state;
  const bool have =
      change.op != custos::v1::FILE_OP_DELETE && StatChange(change, change.path, &state);
  std::optional<FileState> previous;
  if (const FileState* p = snapshot_.Find(change.path)) previous = *p;
  // Duplicates of what a walk reported (the kernel's events were queued before it finished).
  if (previous && previous->created_by_scan && have && previous->inode == state.inode) {
    if (change.op == custos::v1::FILE_OP_CREATE) return false;
    if (change.op == custos::v1::FILE_OP_MODIFY && previous->size == state.size &&
        previous->mtime_ns == state.mtime_ns) {
      return false;
    }
  }
  if (change.op == custos::v1::FILE_OP_DELETE) {
    snapshot_.EraseTree(change.path);
  } else if (have && (previous || change.op == custos::v1::FILE_OP_CREATE)) {
    snapshot_.Upsert(change.path, state);
  }
  const uint64_t journal_op = SealJournal();
  if (!filter_.Reported(change.path)) {
    Release(journal_op);
    return true;
  }
  const FileState* reported_state = have ? &state : (previous ? &*previous : nullptr);
  Emit(change.op, change.path, "", change.is_dir, reported_state, std::move(change.actor),
       change.time_ns, std::move(change.open_object), journal_op);
  return true;
}

void FileReporter::ReportRead(Change change) {
  if (change.is_dir || !filter_.Reported(change.path)) return;
  FileState state;
  if (!StatChange(change, change.path, &state) || !S_ISREG(state.mode)) return;
  Emit(custos::v1::FILE_OP_READ, change.path, "", false, &state, std::move(change.actor),
       change.time_ns, nullptr, SnapshotStore::kNoOp);
}

bool FileReporter::ReportRename(Change& change) {
  const std::string& from = change.old_path;
  const std::string& to = change.path;
  const bool from_watched = filter_.Watched(from);
  const bool to_watched = filter_.Watched(to);
  if (!from_watched && !to_watched) return false;
  FileState state;
  const bool have = StatChange(change, to, &state);
  std::optional<FileState> previous;
  if (const FileState* p = snapshot_.Find(from)) previous = *p;
  if (from_watched && to_watched) {
    snapshot_.MoveTree(from, to);
    if (have) snapshot_.Upsert(to, state);
  } else if (from_watched) {
    snapshot_.EraseTree(from);
  } else {
    if (change.is_dir) AbsorbTree(to);
    if (have) snapshot_.Upsert(to, state);
  }
  const uint64_t journal_op = SealJournal();
  if (!filter_.Reported(from) && !filter_.Reported(to)) {
    Release(journal_op);
    return true;
  }
  const FileState* reported_state = have ? &state : (previous ? &*previous : nullptr);
  Emit(custos::v1::FILE_OP_RENAME, to, from, change.is_dir, reported_state, std::move(change.actor),
       change.time_ns, nullptr, journal_op);
  return true;
}

void FileReporter::ReportNewTree(const std::string& dir) {
  SnapshotMap found;
  uint64_t untracked = 0;
  const std::atomic<bool> never{false};
  ScanTree(dir, filter_, snapshot_.max_entries(), never, visit_, &found, &untracked);
  const int64_t now_ns = clock_->NowUnixNs();
  for (auto& [path, state] : found) {
    const FileState* previous = snapshot_.Find(path);
    if (previous != nullptr && previous->inode == state.inode) continue;
    state.created_by_scan = true;  // the kernel's own CREATE/MODIFY for it are duplicates
    snapshot_.Upsert(path, state);
    // Live activity (the kernel just named the new directory), found by a walk because its
    // content may predate the watch: reported as observed by the watch, actor unknown.
    if (filter_.Reported(path)) {
      Emit(custos::v1::FILE_OP_CREATE, path, "", state.is_dir(), &state, UnknownActor(), now_ns,
           nullptr, SealJournal());
    }
  }
  Release(SealJournal());
  UpdateSnapshotCondition();
}

void FileReporter::AbsorbTree(const std::string& dir) {
  SnapshotMap found;
  uint64_t untracked = 0;
  const std::atomic<bool> never{false};
  ScanTree(dir, filter_, snapshot_.max_entries(), never, visit_, &found, &untracked);
  for (const auto& [path, state] : found) snapshot_.Upsert(path, state);
  Release(SealJournal());
  UpdateSnapshotCondition();
}

bool FileReporter::ScanRoots(const std::atomic<bool>& stop, SnapshotMap* out, uint64_t* untracked,
                             int64_t unconfirmed_since_ns) {
  for (const std::string& root : filter_.roots()) {
    if (!ScanTree(root, filter_, options_.snapshot_max_entries, stop, visit_, out, untracked,
                  unconfirmed_since_ns)) {
      return false;
    }
  }
  return true;
}

void FileReporter::JournalChange(ChangeKind kind, const std::string& path, const FileState& state) {
  if (!store_) return;
  std::string entry;
  if (kind == ChangeKind::kDeleted) {
    AppendEraseEntry(&entry, path);
  } else {
    AppendUpsertEntry(&entry, path, state);
  }
  snapshot_.Journal(entry);
}

void FileReporter::EmitScanChange(ChangeKind kind, const std::string& path, const FileState& state,
                                  int64_t time_ns, uint64_t journal_op) {
  FileOp op = custos::v1::FILE_OP_UNSPECIFIED;
  switch (kind) {
    case ChangeKind::kCreated:
      op = custos::v1::FILE_OP_CREATE;
      break;
    case ChangeKind::kModified:
      op = custos::v1::FILE_OP_MODIFY;
      break;
    case ChangeKind::kAttrib:
      op = custos::v1::FILE_OP_ATTRIB;
      break;
    case ChangeKind::kDeleted:
      op = custos::v1::FILE_OP_DELETE;
      break;
  }
  Emit(op, path, "", state.is_dir(), &state, custos::v1::Actor(), time_ns, nullptr, journal_op,
       /*scan=*/true);
}

bool FileReporter::StartupScan(const std::atomic<bool>& stop, int64_t watch_began_ns) {
  SnapshotMap fresh;
  uint64_t untracked = 0;
  if (!ScanRoots(stop, &fresh, &untracked, watch_began_ns)) return false;

  std::optional<SnapshotStore::Loaded> previous;
  if (store_) {
    // Journal records whose events the spool did not keep (power loss) are left out.
    EventSink* sink = sink_.load();
    auto loaded = store_->Load(sink != nullptr ? sink->RecoveredPosition() : std::nullopt);
    if (loaded.ok()) {
      previous = std::move(*loaded);
      if (previous->journal_beyond_log) {
        logging::Warn(
            "file: snapshot journal is ahead of the spool (power loss?); those changes "
            "are reported again as scan findings",
            {{"path", store_->journal_path()}});
      }
      if (previous->journal_torn) {
        logging::Warn(
            "file: snapshot journal ends in a torn record (power loss?); changes after "
            "it are reported again as scan findings",
            {{"path", store_->journal_path()}});
      }
    } else if (loaded.status().code() != StatusCode::kNotFound) {
      logging::Warn("file: ignoring persisted snapshot",
                    {{"path", store_->checkpoint_path()}, {"error", loaded.status().ToString()}});
    }
  }
  Status persisted;
  if (previous) {
    // The persisted view (checkpoint + journal) becomes a checkpoint of its own with an empty
    // journal, which then follows the changes reported below as they become durable.
    persisted = store_->Checkpoint(previous->roots, previous->entries);
    checkpoint_due_ = previous->roots != filter_.roots();
    const int64_t now_ns = clock_->NowUnixNs();
    DiffSnapshots(previous->entries, fresh,
                  [&](ChangeKind kind, const std::string& path, const FileState& state) {
                    JournalChange(kind, path, state);
                    bool covered = false;
                    for (const std::string& r : previous->roots) covered |= IsUnder(path, r);
                    if (!covered || !filter_.Reported(path)) return;
                    if (kind == ChangeKind::kCreated) {
                      fresh[path].created_by_scan = true;
                      fresh[path].unconfirmed = false;  // reported now
                    }
                    EmitScanChange(kind, path, state, now_ns, SealJournal());
                  });
    Release(SealJournal());
  }
  snapshot_.Replace(std::move(fresh), untracked);
  baseline_ready_ = true;
  UpdateSnapshotCondition();
  // Without a persisted view a first baseline is written at once: a crash before the first
  // periodic write would otherwise leave no reference, and everything made meanwhile would never
  // be reported.
  if (store_ && !previous) persisted = store_->Checkpoint(filter_.roots(), snapshot_.entries());
  if (!persisted.ok()) {
    SetCondition("persist", custos::v1::HEALTH_LEVEL_DEGRADED,
                 "file: persist snapshot: " + persisted.message());
    logging::Warn("file: persist snapshot failed", {{"error", persisted.ToString()}});
  }
  return true;
}

bool FileReporter::Rescan(const std::atomic<bool>& stop) {
  SnapshotMap fresh;
  uint64_t untracked = 0;
  if (!ScanRoots(stop, &fresh, &untracked)) return false;
  const int64_t now_ns = clock_->NowUnixNs();
  DiffSnapshots(snapshot_.entries(), fresh,
                [&](ChangeKind kind, const std::string& path, const FileState& state) {
                  JournalChange(kind, path, state);
                  if (!filter_.Reported(path)) return;
                  if (kind == ChangeKind::kCreated) fresh[path].created_by_scan = true;
                  EmitScanChange(kind, path, state, now_ns, SealJournal());
                });
  Release(SealJournal());
  snapshot_.Replace(std::move(fresh), untracked);
  UpdateSnapshotCondition();
  return true;
}

void FileReporter::ReportLost(uint64_t count, int64_t window_start_ns, int64_t window_end_ns,
                              const std::string& reason) {
  lost_.fetch_add(count, std::memory_order_relaxed);
  custos::v1::Event event = MakeEventsLost("file", count, window_start_ns, window_end_ns, reason);
  logging::Warn("file: events lost, rescanning roots",
                {{"mechanism", mechanism_}, {"count", count}, {"reason", reason}});
  Push(std::move(event));
}

void FileReporter::PushHealthEvent(HealthLevel level, const std::string& message,
                                   const std::map<std::string, std::string>& facts) {
  custos::v1::Event event;
  event.set_time_ns(clock_->NowUnixNs());
  auto* h = event.mutable_health();
  h->set_component("source.file");
  h->set_level(level);
  h->set_message(pipeline::EscapeToUtf8(message));
  for (const auto& [key, value] : facts) {
    (*h->mutable_facts())[key] = pipeline::EscapeToUtf8(value);
  }
  Push(std::move(event));
}

void FileReporter::UpdateSnapshotCondition() {
  if (snapshot_.untracked() == 0) {
    SetCondition("snapshot_cap", custos::v1::HEALTH_LEVEL_OK, "");
    return;
  }
  SetCondition("snapshot_cap", custos::v1::HEALTH_LEVEL_DEGRADED,
               "snapshot_max_entries (" + std::to_string(snapshot_.max_entries()) +
                   ") reached: " + std::to_string(snapshot_.untracked()) +
                   " files not tracked across restarts and overflows");
}

void FileReporter::MaybePersist(bool force) {
  if (!store_ || !baseline_ready_) return;
  const auto now = clock_->SteadyNow();
  const uint64_t journaled = store_->journal_bytes();
  const bool due =
      checkpoint_due_ || journaled > kCheckpointJournalBytes ||
      ((force || now >= next_persist_) && journaled > SnapshotStore::kJournalHeaderBytes);
  if (!due || (!force && now < next_checkpoint_try_)) return;
  Release(SealJournal());
  // The snapshot equals the persisted view only once every change in it is journaled. Under a
  // steady stream (or a slow hasher) that may not happen at once: try again a second later.
  if (!store_->WaitIdle(kCheckpointWait)) {
    next_checkpoint_try_ = now + std::chrono::seconds(1);
    return;
  }
  next_persist_ = now + options_.snapshot_persist_interval;
  Status status = store_->Checkpoint(filter_.roots(), snapshot_.entries(), kCheckpointWait);
  if (status.code() == StatusCode::kUnavailable) {
    // The spool has not synced the last journaled changes yet: a checkpoint now could outlive
    // their events after power loss. The journal keeps following; try again a second later.
    next_checkpoint_try_ = now + std::chrono::seconds(1);
    return;
  }
  if (status.ok()) status = store_->journal_status();
  if (!status.ok()) {
    SetCondition("persist", custos::v1::HEALTH_LEVEL_DEGRADED,
                 "file: persist snapshot: " + status.message());
    logging::Warn("file: persist snapshot failed", {{"error", status.ToString()}});
    next_checkpoint_try_ = now + options_.snapshot_persist_interval;
    return;
  }
  checkpoint_due_ = false;
  SetCondition("persist", custos::v1::HEALTH_LEVEL_OK, "");
}

}  // namespace custos::agent::file
