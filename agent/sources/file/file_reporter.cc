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

constexpr char kSnapshotFile[] = "file-snapshot.v1";

}  // namespace

FileReporter::FileReporter(const FileSourceOptions& options, const PathFilter& filter,
                           pipeline::ProcessAttributor* attributor, Clock* clock,
                           std::string mechanism)
    : options_(options),
      filter_(filter),
      attributor_(attributor),
      clock_(clock),
      mechanism_(std::move(mechanism)),
      snapshot_(options.snapshot_max_entries),
      hasher_(options.hash_max_bytes, options.hash_rate_bytes_per_s, clock,
              [this](custos::v1::Event&& e) { Push(std::move(e)); }) {}

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
  hasher_.Start();
  next_persist_ = clock_->SteadyNow() + options_.snapshot_persist_interval;
}

void FileReporter::Stop() { hasher_.Stop(); }

void FileReporter::Push(custos::v1::Event&& event) {
  EventSink* sink = sink_.load();
  if (sink == nullptr) return;
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
}

void FileReporter::Emit(FileOp op, const std::string& path, const std::string& old_path,
                        bool is_dir, const FileState* state, custos::v1::Actor actor,
                        int64_t time_ns, std::function<int(int flags)> open_object) {
  custos::v1::Event event;
  event.set_time_ns(time_ns);
  if (attributor_ != nullptr) attributor_->ResolveUserNames(&actor);
  *event.mutable_actor() = std::move(actor);
  auto* f = event.mutable_file();
  f->set_op(op);
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
    hasher_.Submit(std::move(event), std::move(opener));
    return;
  }
  Push(std::move(event));
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
  if (!filter_.Reported(change.path)) return true;
  const FileState* reported_state = have ? &state : (previous ? &*previous : nullptr);
  Emit(change.op, change.path, "", change.is_dir, reported_state, std::move(change.actor),
       change.time_ns, std::move(change.open_object));
  return true;
}

void FileReporter::ReportRead(Change change) {
  if (change.is_dir || !filter_.Reported(change.path)) return;
  FileState state;
  if (!StatChange(change, change.path, &state) || !S_ISREG(state.mode)) return;
  Emit(custos::v1::FILE_OP_READ, change.path, "", false, &state, std::move(change.actor),
       change.time_ns, nullptr);
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
  if (!filter_.Reported(from) && !filter_.Reported(to)) return true;
  const FileState* reported_state = have ? &state : (previous ? &*previous : nullptr);
  Emit(custos::v1::FILE_OP_RENAME, to, from, change.is_dir, reported_state, std::move(change.actor),
       change.time_ns, nullptr);
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
    if (filter_.Reported(path)) {
      Emit(custos::v1::FILE_OP_CREATE, path, "", state.is_dir(), &state, UnknownActor(), now_ns,
           nullptr);
    }
  }
  UpdateSnapshotCondition();
}

void FileReporter::AbsorbTree(const std::string& dir) {
  SnapshotMap found;
  uint64_t untracked = 0;
  const std::atomic<bool> never{false};
  ScanTree(dir, filter_, snapshot_.max_entries(), never, visit_, &found, &untracked);
  for (const auto& [path, state] : found) snapshot_.Upsert(path, state);
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

void FileReporter::EmitScanChange(ChangeKind kind, const std::string& path, const FileState& state,
                                  int64_t time_ns) {
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
  Emit(op, path, "", state.is_dir(), &state, UnknownActor(), time_ns, nullptr);
}

bool FileReporter::StartupScan(const std::atomic<bool>& stop, int64_t watch_began_ns) {
  SnapshotMap fresh;
  uint64_t untracked = 0;
  if (!ScanRoots(stop, &fresh, &untracked, watch_began_ns)) return false;

  std::optional<DecodedSnapshot> previous;
  if (!options_.state_dir.empty()) {
    auto bytes = fs::Posix()->ReadFile(SnapshotPath());
    if (bytes.ok()) {
      auto decoded = DecodeSnapshot(*bytes, options_.snapshot_max_entries);
      if (decoded.ok()) {
        previous = std::move(*decoded);
      } else {
        logging::Warn("file: ignoring persisted snapshot",
                      {{"path", SnapshotPath()}, {"error", decoded.status().ToString()}});
      }
    }
  }
  if (previous) {
    const int64_t now_ns = clock_->NowUnixNs();
    DiffSnapshots(previous->entries, fresh,
                  [&](ChangeKind kind, const std::string& path, const FileState& state) {
                    bool covered = false;
                    for (const std::string& r : previous->roots) covered |= IsUnder(path, r);
                    if (!covered || !filter_.Reported(path)) return;
                    if (kind == ChangeKind::kCreated) {
                      fresh[path].created_by_scan = true;
                      fresh[path].unconfirmed = false;  // reported now
                    }
                    EmitScanChange(kind, path, state, now_ns);
                  });
  }
  snapshot_.Replace(std::move(fresh), untracked);
  baseline_ready_ = true;
  UpdateSnapshotCondition();
  // A first baseline is written at once: a crash before the first periodic write would otherwise
  // leave no reference, and everything made meanwhile would never be reported. After a
  // comparison, the old file stays until the changes just pushed had time to reach the spool
  // (periodic write or Stop); a crash before that reports them again rather than never.
  if (!previous) MaybePersist(/*force=*/true);
  return true;
}

bool FileReporter::Rescan(const std::atomic<bool>& stop) {
  SnapshotMap fresh;
  uint64_t untracked = 0;
  if (!ScanRoots(stop, &fresh, &untracked)) return false;
  const int64_t now_ns = clock_->NowUnixNs();
  DiffSnapshots(snapshot_.entries(), fresh,
                [&](ChangeKind kind, const std::string& path, const FileState& state) {
                  if (!filter_.Reported(path)) return;
                  if (kind == ChangeKind::kCreated) fresh[path].created_by_scan = true;
                  EmitScanChange(kind, path, state, now_ns);
                });
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

std::string FileReporter::SnapshotPath() const {
  return JoinPath(options_.state_dir, kSnapshotFile);
}

void FileReporter::MaybePersist(bool force) {
  if (options_.state_dir.empty() || !baseline_ready_ || !snapshot_.dirty()) return;
  const auto now = clock_->SteadyNow();
  if (!force && now < next_persist_) return;
  next_persist_ = now + options_.snapshot_persist_interval;
  Status status = fs::Posix()->CreateDirs(options_.state_dir, 0700);
  if (status.ok()) {
    status = fs::WriteFileAtomic(fs::Posix(), SnapshotPath(),
                                 EncodeSnapshot(filter_.roots(), snapshot_.entries()), 0600);
  }
  if (!status.ok()) {
    SetCondition("persist", custos::v1::HEALTH_LEVEL_DEGRADED,
                 "file: persist snapshot: " + status.message());
    logging::Warn("file: persist snapshot failed", {{"error", status.ToString()}});
    return;
  }
  SetCondition("persist", custos::v1::HEALTH_LEVEL_OK, "");
  snapshot_.set_clean();
}

}  // namespace custos::agent::file
