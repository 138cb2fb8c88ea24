#include "agent/sources/file/linux/inotify_file_source.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/log/log.h"

namespace custos::agent::file {
namespace {

using custos::v1::FileOp;

constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK;
constexpr size_t kReadBufferBytes = 256 * 1024;

std::string MaxUserWatches() {
  std::ifstream in("/proc/sys/fs/inotify/max_user_watches");
  std::string value;
  in >> value;
  return value.empty() ? "?" : value;
}

}  // namespace

Result<std::unique_ptr<InotifyFileSource>> InotifyFileSource::Create(
    const FileSourceOptions& options, Clock* clock, Tuning tuning,
    const std::string& fallback_reason) {
  CUSTOS_ASSIGN_OR_RETURN(PathFilter filter, PathFilter::Create(options));
  std::unique_ptr<InotifyFileSource> source(
      new InotifyFileSource(options, std::move(filter), clock ? clock : RealClock(), tuning));
  if (!fallback_reason.empty()) {
    source->reporter_.SetCondition(
        "fallback", custos::v1::HEALTH_LEVEL_DEGRADED,
        "fanotify unavailable (" + fallback_reason + "): inotify has no process attribution");
  }
  return source;
}

InotifyFileSource::InotifyFileSource(const FileSourceOptions& options, PathFilter filter,
                                     Clock* clock, Tuning tuning)
    : options_(options),
      filter_(std::move(filter)),
      clock_(clock),
      tuning_(tuning),
      reporter_(options_, filter_, /*attributor=*/nullptr, clock, "inotify"),
      ring_(tuning.ring_capacity),
      pairer_(tuning.rename_pair_window) {}

InotifyFileSource::~InotifyFileSource() { Stop(); }

SourceHealth InotifyFileSource::Health() const { return reporter_.Health(); }

Status InotifyFileSource::Start(EventSink* sink) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_) return FailedPreconditionError("file: already started");
  in_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in_fd_ < 0) return ErrnoError("file: inotify_init1", errno);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    const int err = errno;
    close(in_fd_);
    in_fd_ = -1;
    return ErrnoError("file: eventfd", err);
  }
  wd_to_path_.clear();
  path_to_wd_.clear();
  unwatched_ = 0;
  reporter_.set_dir_visitor([this](const std::string& dir, int) { AddWatch(dir); });
  reporter_.Start(sink);
  ring_.Reopen();
  stopping_ = false;
  started_ = true;
  // The reader drains the kernel queue into the ring while the walk places watches.
  reader_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "file-reader");
    ReaderLoop();
  });
  watch_began_ns_ = KernelNowNs();  // each directory's watch is placed before it is listed
  reporter_.StartupScan(stopping_, watch_began_ns_);
  std::string roots;
  for (const std::string& r : filter_.roots()) roots += (roots.empty() ? "" : ",") + r;
  logging::Info("file: capturing with inotify",
                {{"roots", roots},
                 {"watches", static_cast<uint64_t>(wd_to_path_.size())},
                 {"budget", options_.inotify_watch_budget},
                 {"unwatched", unwatched_}});
  worker_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "file-worker");
    WorkerLoop();
  });
  return OkStatus();
}

void InotifyFileSource::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (!started_) return;
  stopping_ = true;
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // Cannot fail for a fresh eventfd; the reader also checks stopping_.
  }
  reader_.join();
  ring_.Close();
  worker_.join();
  reporter_.Stop();
  close(in_fd_);
  close(wake_fd_);
  in_fd_ = wake_fd_ = -1;
  started_ = false;
}

void InotifyFileSource::ReaderLoop() {
  std::vector<char> buffer(kReadBufferBytes);
  std::vector<RawEvent> batch;
  while (!stopping_.load()) {
    struct pollfd fds[2] = {{in_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      reporter_.SetCondition("reader", custos::v1::HEALTH_LEVEL_FAILED,
                             std::string("file: poll inotify: ") + std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    const ssize_t n = read(in_fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      reporter_.SetCondition("reader", custos::v1::HEALTH_LEVEL_FAILED,
                             std::string("file: read inotify: ") + std::strerror(errno));
      return;
    }
    const int64_t now_ns = clock_->NowUnixNs();
    bool overflow = false;
    size_t off = 0;
    const size_t len = static_cast<size_t>(n);
    while (len - off >= sizeof(struct inotify_event)) {
      struct inotify_event ev;
      std::memcpy(&ev, buffer.data() + off, sizeof(ev));
      if (ev.len > len - off - sizeof(ev)) break;
      const char* name = buffer.data() + off + sizeof(ev);
      off += sizeof(ev) + ev.len;
      if (ev.mask & IN_Q_OVERFLOW) {
        overflow = true;
        continue;
      }
      RawEvent raw;
      raw.wd = ev.wd;
      raw.mask = ev.mask;
      raw.cookie = ev.cookie;
      raw.name.assign(name, strnlen(name, ev.len));
      raw.time_ns = now_ns;
      batch.push_back(std::move(raw));
    }
    ring_.PushSome(&batch);
    if (loss_.AfterPush(batch.size(), overflow, now_ns)) {
      if (overflow) reporter_.CountKernelOverflow();
      batch.clear();
      ring_.Wake();
    }
  }
}

void InotifyFileSource::HandleLoss(bool* rescan_pending) {
  auto loss = loss_.Take(clock_->NowUnixNs(), "inotify queue");
  if (!loss) return;
  reporter_.ReportLost(loss->count, loss->start_ns, loss->end_ns, loss->reason);
  *rescan_pending = true;
}

void InotifyFileSource::WorkerLoop() {
  bool rescan_pending = false;
  auto next_rescan = clock_->SteadyNow();
  std::vector<RawEvent> items;
  while (true) {
    auto now = clock_->SteadyNow();
    std::chrono::nanoseconds wait = std::chrono::seconds(1);
    if (auto deadline = pairer_.NextDeadline()) {
      wait = std::max<std::chrono::nanoseconds>(
          std::chrono::nanoseconds(0), std::min<std::chrono::nanoseconds>(wait, *deadline - now));
    }
    if (rescan_pending) {
      wait = std::max<std::chrono::nanoseconds>(
          std::chrono::nanoseconds(0), std::min<std::chrono::nanoseconds>(wait, next_rescan - now));
    }
    items.clear();
    const bool open = ring_.PopAll(&items, wait, tuning_.worker_gather);
    for (const RawEvent& raw : items) Process(raw);
    HandleLoss(&rescan_pending);
    now = clock_->SteadyNow();
    if (rescan_pending && now >= next_rescan && !stopping_.load()) {
      // The rescan's walk also re-places watches for directories whose IN_CREATE was lost.
      if (reporter_.Rescan(stopping_)) rescan_pending = false;
      next_rescan = clock_->SteadyNow() + tuning_.rescan_min_interval;
    }
    for (Pending& p : pairer_.TakeExpired(clock_->SteadyNow())) {
      Report(custos::v1::FILE_OP_DELETE, p.path, p.is_dir, p.time_ns);
      if (p.is_dir) RemoveWatchesUnder(p.path);
    }
    reporter_.MaybePersist(/*force=*/false);
    if (!open) break;
  }
  for (Pending& p : pairer_.TakeAll())
    Report(custos::v1::FILE_OP_DELETE, p.path, p.is_dir, p.time_ns);
  // The final checkpoint is FileReporter::Stop's, once the hasher has pushed what it holds.
}

void InotifyFileSource::AddWatch(const std::string& dir) {
  if (path_to_wd_.count(dir) != 0) return;
  if (wd_to_path_.size() >= options_.inotify_watch_budget) {
    Unwatched(dir, "inotify_watch_budget=" + std::to_string(options_.inotify_watch_budget));
    return;
  }
  const int wd = inotify_add_watch(in_fd_, dir.c_str(), kWatchMask);
  if (wd < 0) {
    if (errno == ENOSPC) Unwatched(dir, "fs.inotify.max_user_watches=" + MaxUserWatches());
    return;  // vanished (ENOENT) or unreadable (EACCES): nothing to watch
  }
  if (auto it = wd_to_path_.find(wd); it != wd_to_path_.end()) path_to_wd_.erase(it->second);
  wd_to_path_[wd] = dir;
  path_to_wd_[dir] = wd;
}

void InotifyFileSource::Unwatched(const std::string& dir, const std::string& limit) {
  ++unwatched_;
  reporter_.SetCondition("watch_budget", custos::v1::HEALTH_LEVEL_DEGRADED,
                         "inotify watch limit reached (" + limit + "): " +
                             std::to_string(unwatched_) + " directories unwatched, latest " + dir);
  const auto now = clock_->SteadyNow();
  if (unwatched_ != 1 && now < next_health_event_) return;
  next_health_event_ = now + tuning_.health_event_interval;
  const std::string message = "inotify watch limit reached (" + limit + "): not watching " + dir;
  logging::Warn("file: inotify watch limit reached",
                {{"limit", limit}, {"directory", dir}, {"unwatched", unwatched_}});
  reporter_.PushHealthEvent(
      custos::v1::HEALTH_LEVEL_DEGRADED, message,
      {{"limit", limit}, {"directory", dir}, {"unwatched", std::to_string(unwatched_)}});
}

void InotifyFileSource::RenameWatches(const std::string& from, const std::string& to) {
  for (auto& [wd, path] : wd_to_path_) {
    if (!IsUnder(path, from)) continue;
    path_to_wd_.erase(path);
    std::string moved = to;
    moved.append(path, from.size(), std::string::npos);
    path = std::move(moved);
    path_to_wd_[path] = wd;
  }
}

void InotifyFileSource::RemoveWatchesUnder(const std::string& dir) {
  for (auto it = wd_to_path_.begin(); it != wd_to_path_.end();) {
    if (IsUnder(it->second, dir)) {
      inotify_rm_watch(in_fd_, it->first);
      path_to_wd_.erase(it->second);
      it = wd_to_path_.erase(it);
    } else {
      ++it;
    }
  }
}

void InotifyFileSource::Report(FileOp op, const std::string& path, bool is_dir, int64_t time_ns,
                               const std::string& old_path) {
  reporter_.Report({op, path, old_path, is_dir, FileReporter::UnknownActor(), time_ns, nullptr});
}

void InotifyFileSource::Process(const RawEvent& raw) {
  if (raw.mask & IN_IGNORED) {  // the watch is gone (directory deleted or unmounted)
    if (auto it = wd_to_path_.find(raw.wd); it != wd_to_path_.end()) {
      if (auto p = path_to_wd_.find(it->second); p != path_to_wd_.end() && p->second == raw.wd) {
        path_to_wd_.erase(p);
      }
      wd_to_path_.erase(it);
    }
    return;
  }
  auto it = wd_to_path_.find(raw.wd);
  if (it == wd_to_path_.end()) return;
  const std::string dir = it->second;
  const bool is_dir = (raw.mask & IN_ISDIR) != 0;
  if (raw.name.empty()) {
    // The watched directory itself: its parent's watch reports these with a name, roots excepted.
    if (!filter_.IsRoot(dir)) return;
    if (raw.mask & IN_ATTRIB) Report(custos::v1::FILE_OP_ATTRIB, dir, true, raw.time_ns);
    if (raw.mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
      reporter_.SetCondition("root:" + dir, custos::v1::HEALTH_LEVEL_DEGRADED,
                             "root " + dir + " was deleted or moved; it is no longer watched");
    }
    return;
  }
  const std::string path = JoinPath(dir, raw.name);
  if (raw.mask & IN_CREATE) {
    const bool created = reporter_.Report({custos::v1::FILE_OP_CREATE, path, "", is_dir,
                                           FileReporter::UnknownActor(), raw.time_ns, nullptr});
    if (is_dir && created && filter_.Watched(path)) reporter_.ReportNewTree(path);
  }
  if (raw.mask & IN_MOVED_TO) {
    if (auto from = pairer_.TakeFrom(raw.cookie)) {
      if (is_dir) RenameWatches(from->path, path);
      Report(custos::v1::FILE_OP_RENAME, path, is_dir, raw.time_ns, from->path);
    } else {
      Report(custos::v1::FILE_OP_CREATE, path, is_dir, raw.time_ns);
      if (is_dir && filter_.Watched(path)) reporter_.AbsorbTree(path);
    }
  }
  if (raw.mask & IN_ATTRIB) Report(custos::v1::FILE_OP_ATTRIB, path, is_dir, raw.time_ns);
  if (raw.mask & IN_CLOSE_WRITE) Report(custos::v1::FILE_OP_MODIFY, path, is_dir, raw.time_ns);
  if (raw.mask & IN_MOVED_FROM) {
    pairer_.AddFrom(raw.cookie, Pending{path, is_dir, raw.time_ns}, clock_->SteadyNow());
  }
  if (raw.mask & IN_DELETE) Report(custos::v1::FILE_OP_DELETE, path, is_dir, raw.time_ns);
}

}  // namespace custos::agent::file
