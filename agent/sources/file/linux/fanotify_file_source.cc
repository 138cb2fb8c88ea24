#include "agent/sources/file/linux/fanotify_file_source.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <mutex>
#include <unordered_map>

#include "common/log/log.h"

namespace custos::agent::file {
namespace {

using custos::v1::FileOp;

constexpr size_t kDirCacheMax = 65536;

// Interrupts the reader's blocking read(2) at Stop(): a handler that does nothing, installed
// without SA_RESTART, so read returns EINTR and the loop sees stopping_.
int ReaderWakeSignal() { return SIGRTMIN + 4; }
void InstallReaderWakeHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(ReaderWakeSignal(), &sa, nullptr);
  });
}
constexpr size_t kReadBufferBytes = 256 * 1024;

uint64_t FsidOf(const void* fsid) {
  uint64_t v;
  std::memcpy(&v, fsid, sizeof(v));
  return v;
}

std::string Hint(int err) {
  switch (err) {
    case EPERM:
      return " (needs CAP_SYS_ADMIN)";
    case EINVAL:
      return " (kernel lacks FAN_REPORT_DFID_NAME / FAN_MARK_FILESYSTEM: needs 5.9+)";
    case ENOSYS:
      return " (kernel built without fanotify)";
    case ENODEV:
    case EOPNOTSUPP:
    case EXDEV:
      return " (filesystem cannot report file handles)";
    default:
      return "";
  }
}

Status FanotifyError(const std::string& what, int err) {
  return Status(err == EPERM ? StatusCode::kPermissionDenied : StatusCode::kUnavailable,
                "file: " + what + ": " + std::strerror(err) + Hint(err));
}

// What fanotify_init and the marks produced.
struct Setup {
  int fd = -1;
  bool target_fid = false;
  bool fan_rename = false;
  std::unordered_map<uint64_t, int> mount_fds;
  std::vector<std::pair<std::string, uint64_t>> root_fsids;
  void Close() {
    for (auto& [fsid, fd2] : mount_fds) close(fd2);
    mount_fds.clear();
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

Result<Setup> SetUp(const PathFilter& filter, const FanotifyFileSource::Tuning& tuning,
                    bool report_reads) {
  Setup s;
  // Blocking reads: the reader sleeps in read(2) itself (one system call per wake-up instead of
  // poll + read); Stop() interrupts it with kReaderWakeSignal.
  const unsigned int base = FAN_CLASS_NOTIF | FAN_CLOEXEC;
  const unsigned int event_flags = O_RDONLY | O_LARGEFILE | O_CLOEXEC;
  if (tuning.use_target_fid) {
    s.fd = fanotify_init(base | FAN_REPORT_DFID_NAME_TARGET, event_flags);
    s.target_fid = s.fd >= 0;
  }
  if (s.fd < 0) s.fd = fanotify_init(base | FAN_REPORT_DFID_NAME, event_flags);
  if (s.fd < 0) return FanotifyError("fanotify_init", errno);

  const uint64_t common = FAN_CREATE | FAN_DELETE | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_ONDIR |
                          (report_reads ? FAN_CLOSE_NOWRITE : 0);
  bool decided = false;
  for (const std::string& root : filter.roots()) {
    struct statfs sfs;
    if (statfs(root.c_str(), &sfs) != 0) {
      const int err = errno;
      s.Close();
      return FanotifyError("statfs " + root, err);
    }
    const uint64_t fsid = FsidOf(&sfs.f_fsid);
    s.root_fsids.emplace_back(root, fsid);
    if (s.mount_fds.count(fsid) != 0) continue;  // this filesystem is already marked
    const unsigned int flags = FAN_MARK_ADD | FAN_MARK_FILESYSTEM;
    int rc = -1;
    if (tuning.use_fan_rename && (!decided || s.fan_rename)) {
      rc = fanotify_mark(s.fd, flags, common | FAN_RENAME, AT_FDCWD, root.c_str());
      if (rc == 0) s.fan_rename = true;
    }
    if (rc != 0 && (!decided || !s.fan_rename)) {
      rc = fanotify_mark(s.fd, flags, common | FAN_MOVED_FROM | FAN_MOVED_TO, AT_FDCWD,
                         root.c_str());
      if (rc == 0) s.fan_rename = false;
    }
    if (rc != 0) {
      const int err = errno;
      s.Close();
      return FanotifyError("fanotify_mark FAN_MARK_FILESYSTEM " + root, err);
    }
    decided = true;
    const int mount_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mount_fd < 0) {
      const int err = errno;
      s.Close();
      return FanotifyError("open " + root, err);
    }
    s.mount_fds[fsid] = mount_fd;
  }
  return s;
}

// Parses one FID-carrying info record (FID, DFID, *DFID_NAME). Bounds-checked: kernel bytes.
void ParseFid(const char* rec, size_t len, bool with_name, FanotifyFileSource::FidName* out) {
  constexpr size_t kHandleAt = offsetof(struct fanotify_event_info_fid, handle);
  constexpr size_t kHandleHeader = offsetof(struct file_handle, f_handle);
  if (len < kHandleAt + kHandleHeader) return;
  uint32_t handle_bytes;
  int32_t handle_type;
  std::memcpy(&handle_bytes, rec + kHandleAt + offsetof(struct file_handle, handle_bytes), 4);
  std::memcpy(&handle_type, rec + kHandleAt + offsetof(struct file_handle, handle_type), 4);
  if (handle_bytes > len - kHandleAt - kHandleHeader) return;
  out->key.assign(rec + offsetof(struct fanotify_event_info_fid, fsid), 8);
  out->key.append(reinterpret_cast<const char*>(&handle_type), 4);
  out->key.append(rec + kHandleAt + kHandleHeader, handle_bytes);
  out->name.clear();
  if (with_name) {
    const char* name = rec + kHandleAt + kHandleHeader + handle_bytes;
    const size_t room = len - kHandleAt - kHandleHeader - handle_bytes;
    out->name.assign(name, strnlen(name, room));
  }
  out->present = true;
}

void ParseInfo(const struct fanotify_event_metadata* meta, FanotifyFileSource::RawEvent* raw) {
  const char* p = reinterpret_cast<const char*>(meta) + meta->metadata_len;
  const char* end = reinterpret_cast<const char*>(meta) + meta->event_len;
  while (end - p >= static_cast<std::ptrdiff_t>(sizeof(struct fanotify_event_info_header))) {
    struct fanotify_event_info_header hdr;
    std::memcpy(&hdr, p, sizeof(hdr));
    if (hdr.len < sizeof(hdr) || hdr.len > static_cast<size_t>(end - p)) break;
    switch (hdr.info_type) {
      case FAN_EVENT_INFO_TYPE_FID:
        ParseFid(p, hdr.len, false, &raw->object);
        break;
      case FAN_EVENT_INFO_TYPE_DFID:
        ParseFid(p, hdr.len, false, &raw->dir);
        break;
      case FAN_EVENT_INFO_TYPE_DFID_NAME:
      case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
        ParseFid(p, hdr.len, true, &raw->dir);
        break;
      case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
        ParseFid(p, hdr.len, true, &raw->new_dir);
        break;
      default:
        break;  // pidfd, error records: not requested
    }
    p += hdr.len;
  }
}

}  // namespace

Status FanotifyFileSource::Probe(const FileSourceOptions& options) {
  CUSTOS_ASSIGN_OR_RETURN(PathFilter filter, PathFilter::Create(options));
  CUSTOS_ASSIGN_OR_RETURN(Setup setup, SetUp(filter, Tuning{}, options.report_reads));
  setup.Close();
  return OkStatus();
}

Result<std::unique_ptr<FanotifyFileSource>> FanotifyFileSource::Create(
    const FileSourceOptions& options, pipeline::ProcessAttributor* attributor, Clock* clock,
    Tuning tuning) {
  CUSTOS_ASSIGN_OR_RETURN(PathFilter filter, PathFilter::Create(options));
  return std::unique_ptr<FanotifyFileSource>(new FanotifyFileSource(
      options, std::move(filter), attributor, clock ? clock : RealClock(), tuning));
}

FanotifyFileSource::FanotifyFileSource(const FileSourceOptions& options, PathFilter filter,
                                       pipeline::ProcessAttributor* attributor, Clock* clock,
                                       Tuning tuning)
    : options_(options),
      filter_(std::move(filter)),
      attributor_(attributor),
      clock_(clock),
      tuning_(tuning),
      reporter_(options_, filter_, attributor, clock, "fanotify"),
      ring_(tuning.ring_capacity),
      pairer_(tuning.rename_pair_window) {}

FanotifyFileSource::~FanotifyFileSource() { Stop(); }

SourceHealth FanotifyFileSource::Health() const { return reporter_.Health(); }

Status FanotifyFileSource::Start(EventSink* sink) {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_) return FailedPreconditionError("file: already started");
  CUSTOS_ASSIGN_OR_RETURN(Setup setup, SetUp(filter_, tuning_, options_.report_reads));
  watch_began_ns_ = KernelNowNs();
  InstallReaderWakeHandler();
  fan_fd_ = setup.fd;
  target_fid_ = setup.target_fid;
  fan_rename_ = setup.fan_rename;
  mount_fds_ = std::move(setup.mount_fds);
  root_fsids_ = std::move(setup.root_fsids);
  reporter_.set_dir_visitor([this](const std::string& dir, int fd) { CacheDirHandle(dir, fd); });
  reporter_.Start(sink);
  std::string roots;
  for (const std::string& r : filter_.roots()) roots += (roots.empty() ? "" : ",") + r;
  logging::Info("file: capturing with fanotify",
                {{"roots", roots},
                 {"renames", fan_rename_ ? "FAN_RENAME" : "MOVED_FROM/MOVED_TO pairing"},
                 {"target_fid", target_fid_}});
  dir_cache_.clear();
  ring_.Reopen();
  stopping_ = false;
  reader_done_ = false;
  started_ = true;
  reader_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "file-reader");
    ReaderLoop();
    reader_done_ = true;
  });
  worker_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "file-worker");
    WorkerLoop();
  });
  return OkStatus();
}

void FanotifyFileSource::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (!started_) return;
  stopping_ = true;
  // The reader may be about to enter read(2) when the signal lands: repeat until it has left.
  while (!reader_done_.load()) {
    pthread_kill(reader_.native_handle(), ReaderWakeSignal());
    for (int i = 0; i < 50 && !reader_done_.load(); ++i) usleep(100);
  }
  reader_.join();
  ring_.Close();
  worker_.join();
  reporter_.Stop();
  for (auto& [fsid, fd] : mount_fds_) close(fd);
  mount_fds_.clear();
  close(fan_fd_);
  fan_fd_ = -1;
  started_ = false;
}

void FanotifyFileSource::ReaderLoop() {
  std::vector<char> buffer(kReadBufferBytes);
  std::vector<uint64_t> aligned(kReadBufferBytes / sizeof(uint64_t) + 1);
  std::vector<RawEvent> batch;
  std::unordered_map<uint32_t, custos::v1::Actor> memo;  // pid -> actor, per read batch
  const auto self = static_cast<uint32_t>(getpid());
  while (!stopping_.load()) {
    const ssize_t n = read(fan_fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;  // EINTR: Stop() (or any signal)
      reporter_.SetCondition("reader", custos::v1::HEALTH_LEVEL_FAILED,
                             std::string("file: read fanotify: ") + std::strerror(errno));
      return;
    }
    const int64_t now_ns = clock_->NowUnixNs();
    memo.clear();
    // The forks and execs that came before these events are applied before they are attributed
    // (one empty receive when the tracker is keeping up; a no-op without process events).
    if (attributor_ != nullptr) attributor_->SyncEvents();
    bool overflow = false;
    // Records carry names, so their lengths are not multiples of 8 and a record in the read
    // buffer may be misaligned for fanotify_event_metadata: copy each into aligned storage
    // before reading it as a struct.
    const auto total = static_cast<size_t>(n);
    size_t event_len = 0;
    for (size_t off = 0; off + sizeof(struct fanotify_event_metadata) <= total; off += event_len) {
      uint32_t len32 = 0;
      std::memcpy(&len32, buffer.data() + off, sizeof len32);  // event_len is the first field
      event_len = len32;
      if (event_len < sizeof(struct fanotify_event_metadata) || event_len > total - off) break;
      std::memcpy(aligned.data(), buffer.data() + off, event_len);
      const auto* meta = reinterpret_cast<const struct fanotify_event_metadata*>(aligned.data());
      if (meta->vers != FANOTIFY_METADATA_VERSION) {
        reporter_.SetCondition(
            "reader", custos::v1::HEALTH_LEVEL_FAILED,
            "file: fanotify metadata version " + std::to_string(meta->vers) + " unsupported");
        return;
      }
      if (meta->fd >= 0) close(meta->fd);
      if (meta->mask & FAN_Q_OVERFLOW) {
        overflow = true;
        continue;
      }
      // A read alone (report_reads) is for correlation only: never worth a loss or a rescan.
      if ((meta->mask & ~static_cast<uint64_t>(FAN_ONDIR)) == FAN_CLOSE_NOWRITE) {
        if ((meta->mask & FAN_ONDIR) != 0 || static_cast<uint32_t>(meta->pid) == self) continue;
        if (ring_.size() + batch.size() > ring_.capacity() / 2) {
          reporter_.CountReadDropped();
          continue;
        }
      }
      RawEvent raw;
      raw.mask = meta->mask;
      raw.pid = static_cast<uint32_t>(meta->pid);
      raw.time_ns = now_ns;
      ParseInfo(meta, &raw);
      auto it = memo.find(raw.pid);
      if (it == memo.end()) {
        custos::v1::Actor actor;
        if (attributor_ != nullptr) {
          actor = attributor_->AttributeProcess(raw.pid);
        } else {
          actor = FileReporter::UnknownActor();
          actor.set_pid(raw.pid);
        }
        it = memo.emplace(raw.pid, std::move(actor)).first;
      }
      raw.actor = it->second;
      batch.push_back(std::move(raw));
    }
    ring_.PushSome(&batch);
    if (loss_.AfterPush(batch.size(), overflow, now_ns)) {
      if (overflow) reporter_.CountKernelOverflow();
      batch.clear();
      ring_.Wake();
    }
    // A trickle: let events gather in the kernel queue (16,384 deep) for one read per batch.
    // The wake signal of Stop() cuts the sleep short.
    if (total < buffer.size() / 2 && tuning_.reader_batch_delay.count() > 0 &&
        attributor_ != nullptr && attributor_->tracking() && !stopping_.load()) {
      const auto ns = std::chrono::nanoseconds(tuning_.reader_batch_delay).count();
      struct timespec ts {
        static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)
      };
      nanosleep(&ts, nullptr);
    }
  }
}

void FanotifyFileSource::HandleLoss(bool* rescan_pending) {
  auto loss = loss_.Take(clock_->NowUnixNs(), "fanotify queue");
  if (!loss) return;
  reporter_.ReportLost(loss->count, loss->start_ns, loss->end_ns, loss->reason);
  *rescan_pending = true;
}

void FanotifyFileSource::WorkerLoop() {
  reporter_.StartupScan(stopping_, watch_began_ns_);
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
    // Gathering never delays a rename pair's expiry or a rescan past its time.
    const bool open =
        ring_.PopAll(&items, wait, std::min<std::chrono::nanoseconds>(tuning_.worker_gather, wait));
    for (RawEvent& raw : items) Process(raw);
    HandleLoss(&rescan_pending);
    now = clock_->SteadyNow();
    if (rescan_pending && now >= next_rescan && !stopping_.load()) {
      dir_cache_.clear();
      if (reporter_.Rescan(stopping_)) rescan_pending = false;
      next_rescan = clock_->SteadyNow() + tuning_.rescan_min_interval;
    }
    for (Pending& p : pairer_.TakeExpired(clock_->SteadyNow())) {
      reporter_.Report({custos::v1::FILE_OP_DELETE, p.path, "", p.is_dir, std::move(p.actor),
                        p.time_ns, nullptr});
    }
    reporter_.MaybePersist(/*force=*/false);
    if (!open) break;
  }
  for (Pending& p : pairer_.TakeAll()) {
    reporter_.Report(
        {custos::v1::FILE_OP_DELETE, p.path, "", p.is_dir, std::move(p.actor), p.time_ns, nullptr});
  }
  // The final checkpoint is FileReporter::Stop's, once the hasher has pushed what it holds.
}

int FanotifyFileSource::OpenByHandle(const std::string& key, int flags) const {
  if (key.size() < 12) return -1;
  auto it = mount_fds_.find(FsidOf(key.data()));
  if (it == mount_fds_.end()) return -1;
  const size_t bytes = key.size() - 12;
  std::vector<char> buf(sizeof(struct file_handle) + bytes);
  auto* fh = reinterpret_cast<struct file_handle*>(buf.data());
  fh->handle_bytes = static_cast<unsigned int>(bytes);
  std::memcpy(&fh->handle_type, key.data() + 8, 4);
  std::memcpy(fh->f_handle, key.data() + 12, bytes);
  return open_by_handle_at(it->second, fh, flags);
}

void FanotifyFileSource::CacheDir(const std::string& key, const std::string& dir, bool from_scan) {
  if (dir_cache_.size() >= kDirCacheMax) {
    if (from_scan) return;  // keep what live events resolved
    dir_cache_.clear();
  }
  dir_cache_[key] = dir;
}

void FanotifyFileSource::CacheDirHandle(const std::string& dir, int dir_fd) {
  uint64_t fsid = 0;
  bool found = false;
  for (const auto& [root, id] : root_fsids_) {
    if (IsUnder(dir, root)) {
      fsid = id;
      found = true;
      break;
    }
  }
  if (!found) return;
  std::vector<char> buf(sizeof(struct file_handle) + MAX_HANDLE_SZ);
  auto* fh = reinterpret_cast<struct file_handle*>(buf.data());
  fh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id = 0;
  if (name_to_handle_at(dir_fd, "", fh, &mount_id, AT_EMPTY_PATH) != 0) return;
  std::string key(reinterpret_cast<const char*>(&fsid), 8);
  key.append(reinterpret_cast<const char*>(&fh->handle_type), 4);
  key.append(reinterpret_cast<const char*>(fh->f_handle), fh->handle_bytes);
  CacheDir(key, dir, /*from_scan=*/true);
}

void FanotifyFileSource::RenameCachedDirs(const std::string& from, const std::string& to) {
  for (auto& [key, path] : dir_cache_) {
    if (!IsUnder(path, from)) continue;
    std::string moved = to;
    moved.append(path, from.size(), std::string::npos);
    path = std::move(moved);
  }
}

std::string FanotifyFileSource::ResolveDir(const FidName& fid) {
  if (!fid.present) return "";
  if (auto it = dir_cache_.find(fid.key); it != dir_cache_.end()) return it->second;
  const int fd = OpenByHandle(fid.key, O_PATH | O_CLOEXEC);
  if (fd < 0) return "";
  char link[PATH_MAX];
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(proc.c_str(), link, sizeof(link));
  std::string dir = n > 0 ? std::string(link, static_cast<size_t>(n)) : std::string();
  constexpr std::string_view kDeleted = " (deleted)";
  if (dir.size() > kDeleted.size() && dir.ends_with(kDeleted)) {
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_nlink == 0) dir.clear();
  }
  close(fd);
  if (dir.empty() || dir[0] != '/') return "";  // unreachable from our mount namespace
  CacheDir(fid.key, dir, /*from_scan=*/false);
  return dir;
}

std::string FanotifyFileSource::ResolvePath(const FidName& fid) {
  std::string dir = ResolveDir(fid);
  if (dir.empty() || fid.name.empty() || fid.name == ".") return dir;
  return JoinPath(dir, fid.name);
}

void FanotifyFileSource::Process(RawEvent& raw) {
  const bool is_dir = (raw.mask & FAN_ONDIR) != 0;
  auto change = [&](FileOp op, const std::string& path) {
    FileReporter::Change c;
    c.op = op;
    c.path = path;
    c.is_dir = is_dir;
    c.actor = raw.actor;
    c.time_ns = raw.time_ns;
    if (raw.object.present && op != custos::v1::FILE_OP_DELETE) {
      c.open_object = [this, key = raw.object.key](int flags) { return OpenByHandle(key, flags); };
    }
    return c;
  };

  if (raw.mask & FAN_RENAME) {
    const std::string from = ResolvePath(raw.dir);
    const std::string to = ResolvePath(raw.new_dir);
    if (from.empty() && to.empty()) {
      reporter_.CountUnresolved();
    } else if (from.empty()) {
      reporter_.Report(change(custos::v1::FILE_OP_CREATE, to));
      if (is_dir) reporter_.AbsorbTree(to);
    } else if (to.empty()) {
      reporter_.Report(change(custos::v1::FILE_OP_DELETE, from));
    } else {
      if (is_dir) RenameCachedDirs(from, to);
      FileReporter::Change c = change(custos::v1::FILE_OP_RENAME, to);
      c.old_path = from;
      reporter_.Report(std::move(c));
    }
    return;
  }

  const std::string path = ResolvePath(raw.dir);
  if (path.empty()) {
    reporter_.CountUnresolved();
    return;
  }
  const uint64_t m = raw.mask;
  // Merged CREATE|DELETE: if the name exists now, the delete came first.
  bool delete_first = false;
  if ((m & FAN_CREATE) && (m & FAN_DELETE)) {
    FileState st;
    delete_first = StatPath(path, &st);
  }
  if ((m & FAN_DELETE) && delete_first) reporter_.Report(change(custos::v1::FILE_OP_DELETE, path));
  if (m & FAN_MOVED_TO) {
    const uint64_t key = (static_cast<uint64_t>(raw.pid) << 1) | (is_dir ? 1 : 0);
    if (auto from = pairer_.TakeFrom(key)) {
      if (is_dir) RenameCachedDirs(from->path, path);
      FileReporter::Change c = change(custos::v1::FILE_OP_RENAME, path);
      c.old_path = from->path;
      reporter_.Report(std::move(c));
    } else {
      reporter_.Report(change(custos::v1::FILE_OP_CREATE, path));
      if (is_dir) reporter_.AbsorbTree(path);
    }
  }
  if (m & FAN_CREATE) {
    if (is_dir && raw.object.present) CacheDir(raw.object.key, path, /*from_scan=*/false);
    reporter_.Report(change(custos::v1::FILE_OP_CREATE, path));
  }
  if (m & FAN_ATTRIB) reporter_.Report(change(custos::v1::FILE_OP_ATTRIB, path));
  if (m & FAN_CLOSE_WRITE) reporter_.Report(change(custos::v1::FILE_OP_MODIFY, path));
  if ((m & FAN_CLOSE_NOWRITE) && !is_dir && raw.pid != static_cast<uint32_t>(getpid())) {
    reporter_.ReportRead(change(custos::v1::FILE_OP_READ, path));
  }
  if (m & FAN_MOVED_FROM) {
    const uint64_t key = (static_cast<uint64_t>(raw.pid) << 1) | (is_dir ? 1 : 0);
    pairer_.AddFrom(key, Pending{path, is_dir, raw.actor, raw.time_ns}, clock_->SteadyNow());
  }
  if ((m & FAN_DELETE) && !delete_first) reporter_.Report(change(custos::v1::FILE_OP_DELETE, path));
}

}  // namespace custos::agent::file
