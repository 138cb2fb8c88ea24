#include "common/fs/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace custos::fs {

std::string DirName(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(std::string_view data) override {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("write " + path_, errno);
      }
      p += n;
      left -= static_cast<size_t>(n);
      size_ += static_cast<uint64_t>(n);
    }
    return OkStatus();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return ErrnoError("fdatasync " + path_, errno);
    return OkStatus();
  }
  Status Close() override {
    if (fd_ < 0) return OkStatus();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoError("close " + path_, errno);
    return OkStatus();
  }
  uint64_t size() const override { return size_; }

 private:
  int fd_;
  std::string path_;
  uint64_t size_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> OpenAppend(const std::string& path,
                                                   uint32_t mode) override {
    return Open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
  }
  Result<std::unique_ptr<WritableFile>> OpenTruncate(const std::string& path,
                                                     uint32_t mode) override {
    return Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  }
  Result<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("open " + path, errno);
    // Sized from fstat, read in place: a 16 MiB spool segment costs 16 MiB, not the 32 MiB and
    // the copies of growing by appends. Files whose size is unknown (procfs: 0) or that grow
    // while read are read to EOF all the same.
    struct stat st;
    const size_t hint =
        ::fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
    std::string out(hint > 0 ? hint + 1 : 4096, '\0');  // + 1: EOF is seen without growing
    size_t len = 0;
    while (true) {
      if (len == out.size()) out.resize(out.size() * 2);
      ssize_t n = ::read(fd, out.data() + len, out.size() - len);
      if (n < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        return ErrnoError("read " + path, e);
      }
      if (n == 0) break;
      len += static_cast<size_t>(n);
    }
    ::close(fd);
    out.resize(len);
    return out;
  }
  Status ReadAt(const std::string& path, uint64_t offset, size_t max_bytes,
                std::string* out) override {
    out->clear();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("open " + path, errno);
    // A regular file's size bounds the buffer, whatever the caller asked for.
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      max_bytes =
          static_cast<size_t>(std::min<uint64_t>(max_bytes, size > offset ? size - offset : 0));
    }
    out->resize(max_bytes);
    size_t len = 0;
    while (len < max_bytes) {
      ssize_t n = ::pread(fd, out->data() + len, max_bytes - len, static_cast<off_t>(offset + len));
      if (n < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        out->clear();
        return ErrnoError("read " + path + " at offset " + std::to_string(offset + len), e);
      }
      if (n == 0) break;
      len += static_cast<size_t>(n);
    }
    ::close(fd);
    out->resize(len);
    return OkStatus();
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoError("rename " + from + " to " + to, errno);
    }
    return OkStatus();
  }
  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoError("remove " + path, errno);
    return OkStatus();
  }
  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return ErrnoError("truncate " + path, errno);
    }
    return OkStatus();
  }
  Status CreateDirs(const std::string& path, uint32_t mode) override {
    if (path.empty()) return InvalidArgumentError("mkdir: empty path");
    std::string cur;
    size_t pos = 0;
    while (pos <= path.size()) {
      size_t next = path.find('/', pos);
      if (next == std::string::npos) next = path.size();
      cur = path.substr(0, next);
      if (!cur.empty() && ::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
        return ErrnoError("mkdir " + cur, errno);
      }
      pos = next + 1;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return ErrnoError("mkdir " + path, errno);
    if (!S_ISDIR(st.st_mode)) return FailedPreconditionError("mkdir " + path + ": not a directory");
    return OkStatus();
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return ErrnoError("list " + path, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return ErrnoError("stat " + path, errno);
    return static_cast<uint64_t>(st.st_size);
  }
  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("open directory " + path, errno);
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    if (rc != 0) return ErrnoError("fsync directory " + path, e);
    return OkStatus();
  }

 private:
  Result<std::unique_ptr<WritableFile>> Open(const std::string& path, int flags, uint32_t mode) {
    int fd = ::open(path.c_str(), flags, mode);
    if (fd < 0) return ErrnoError("open " + path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return ErrnoError("stat " + path, e);
    }
    return std::unique_ptr<WritableFile>(
        new PosixWritableFile(fd, path, static_cast<uint64_t>(st.st_size)));
  }
};

}  // namespace

FileSystem* Posix() {
  static PosixFileSystem* fs = new PosixFileSystem();
  return fs;
}

Status WriteFileAtomic(FileSystem* fs, const std::string& path, std::string_view content,
                       uint32_t mode, bool durable) {
  std::string tmp = path + ".tmp";
  CUSTOS_ASSIGN_OR_RETURN(auto file, fs->OpenTruncate(tmp, mode));
  CUSTOS_RETURN_IF_ERROR(file->Append(content));
  if (durable) CUSTOS_RETURN_IF_ERROR(file->Sync());
  CUSTOS_RETURN_IF_ERROR(file->Close());
  CUSTOS_RETURN_IF_ERROR(fs->Rename(tmp, path));
  return durable ? fs->SyncDir(DirName(path)) : OkStatus();
}

// ---- FaultInjectionFileSystem ----------------------------------------------------------------

class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultInjectionFileSystem* fs, std::string path,
            std::shared_ptr<FaultInjectionFileSystem::Node> node)
      : fs_(fs), path_(std::move(path)), node_(std::move(node)) {}
  Status Append(std::string_view data) override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    CUSTOS_RETURN_IF_ERROR(
        fs_->MaybeFail(FaultInjectionFileSystem::Op::kAppend).WithContext("write " + path_));
    if (fs_->capacity_ > 0) {
      const uint64_t used = fs_->LiveBytes();
      const uint64_t room = used < fs_->capacity_ ? fs_->capacity_ - used : 0;
      if (data.size() > room) {
        node_->data.append(data.substr(0, room));
        return ErrnoError("write " + path_, ENOSPC);
      }
    }
    node_->data.append(data);
    return OkStatus();
  }
  Status Sync() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    CUSTOS_RETURN_IF_ERROR(
        fs_->MaybeFail(FaultInjectionFileSystem::Op::kSync).WithContext("fdatasync " + path_));
    node_->durable_data = node_->data;
    return OkStatus();
  }
  Status Close() override { return OkStatus(); }
  uint64_t size() const override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    return node_->data.size();
  }

 private:
  FaultInjectionFileSystem* fs_;
  std::string path_;
  std::shared_ptr<FaultInjectionFileSystem::Node> node_;
};

Status FaultInjectionFileSystem::MaybeFail(Op op) {
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.first <= 0) return OkStatus();
  --it->second.first;
  return it->second.second;
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::OpenAppend(const std::string& path,
                                                                           uint32_t mode) {
  std::lock_guard<std::mutex> l(mu_);
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kOpen).WithContext("open " + path));
  if (!dirs_.count(DirName(path))) return NotFoundError("open " + path + ": No such directory");
  auto& node = live_[path];
  if (!node) {
    node = std::make_shared<Node>();
    node->mode = mode;
  }
  return std::unique_ptr<WritableFile>(new FaultFile(this, path, node));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::OpenTruncate(
    const std::string& path, uint32_t mode) {
  std::lock_guard<std::mutex> l(mu_);
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kOpen).WithContext("open " + path));
  if (!dirs_.count(DirName(path))) return NotFoundError("open " + path + ": No such directory");
  // Truncation of an existing name takes effect on its data immediately (like O_TRUNC); the
  // durable content is what was last synced.
  auto& node = live_[path];
  if (!node) {
    node = std::make_shared<Node>();
    node->mode = mode;
  }
  node->data.clear();
  return std::unique_ptr<WritableFile>(new FaultFile(this, path, node));
}

Result<std::string> FaultInjectionFileSystem::ReadFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kRead).WithContext("read " + path));
  auto it = live_.find(path);
  if (it == live_.end()) return NotFoundError("open " + path + ": No such file or directory");
  return it->second->data;
}

Status FaultInjectionFileSystem::ReadAt(const std::string& path, uint64_t offset, size_t max_bytes,
                                        std::string* out) {
  std::lock_guard<std::mutex> l(mu_);
  out->clear();
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kRead).WithContext("read " + path));
  auto it = live_.find(path);
  if (it == live_.end()) return NotFoundError("open " + path + ": No such file or directory");
  const std::string& data = it->second->data;
  if (offset < data.size()) out->assign(data, static_cast<size_t>(offset), max_bytes);
  return OkStatus();
}

Status FaultInjectionFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kRename).WithContext("rename " + from));
  auto it = live_.find(from);
  if (it == live_.end()) return NotFoundError("rename " + from + ": No such file or directory");
  live_[to] = it->second;
  live_.erase(from);
  return OkStatus();
}

Status FaultInjectionFileSystem::Remove(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kRemove).WithContext("remove " + path));
  if (live_.erase(path) == 0)
    return NotFoundError("remove " + path + ": No such file or directory");
  return OkStatus();
}

Status FaultInjectionFileSystem::Truncate(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kTruncate).WithContext("truncate " + path));
  auto it = live_.find(path);
  if (it == live_.end()) return NotFoundError("truncate " + path + ": No such file or directory");
  it->second->data.resize(size);
  return OkStatus();
}

Status FaultInjectionFileSystem::CreateDirs(const std::string& path, uint32_t mode) {
  std::lock_guard<std::mutex> l(mu_);
  std::string cur;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    dirs_.insert(path.substr(0, next));
    pos = next + 1;
  }
  return OkStatus();
}

Result<std::vector<std::string>> FaultInjectionFileSystem::ListDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (!dirs_.count(path)) return NotFoundError("list " + path + ": No such file or directory");
  std::vector<std::string> names;
  std::string prefix = path == "/" ? "/" : path + "/";
  for (const auto& [p, node] : live_) {
    if (p.rfind(prefix, 0) == 0 && p.find('/', prefix.size()) == std::string::npos) {
      names.push_back(p.substr(prefix.size()));
    }
  }
  for (const auto& d : dirs_) {
    if (d.size() > prefix.size() && d.rfind(prefix, 0) == 0 &&
        d.find('/', prefix.size()) == std::string::npos) {
      names.push_back(d.substr(prefix.size()));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool FaultInjectionFileSystem::Exists(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  return live_.count(path) > 0 || dirs_.count(path) > 0;
}

Result<uint64_t> FaultInjectionFileSystem::FileSize(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = live_.find(path);
  if (it == live_.end()) return NotFoundError("stat " + path + ": No such file or directory");
  return static_cast<uint64_t>(it->second->data.size());
}

Status FaultInjectionFileSystem::SyncDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  CUSTOS_RETURN_IF_ERROR(MaybeFail(Op::kSyncDir).WithContext("fsync directory " + path));
  auto in_dir = [&](const std::string& p) { return DirName(p) == path; };
  for (auto it = durable_.begin(); it != durable_.end();) {
    it = in_dir(it->first) ? durable_.erase(it) : std::next(it);
  }
  for (const auto& [p, node] : live_) {
    if (in_dir(p)) durable_[p] = node;
  }
  return OkStatus();
}

void FaultInjectionFileSystem::DropUnsyncedData() {
  std::lock_guard<std::mutex> l(mu_);
  live_ = durable_;
  for (auto& [p, node] : live_) node->data = node->durable_data;
}

uint64_t FaultInjectionFileSystem::LiveBytes() const {
  uint64_t total = 0;
  for (const auto& [path, node] : live_) total += node->data.size();
  return total;
}

void FaultInjectionFileSystem::SetCapacity(uint64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  capacity_ = bytes;
}

void FaultInjectionFileSystem::FailNext(Op op, Status error, int count) {
  std::lock_guard<std::mutex> l(mu_);
  failures_[op] = {count, std::move(error)};
}

Status FaultInjectionFileSystem::CorruptByte(const std::string& path, uint64_t offset) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = live_.find(path);
  if (it == live_.end()) return NotFoundError("corrupt " + path);
  if (offset >= it->second->data.size()) return OutOfRangeError("corrupt " + path + ": offset");
  it->second->data[offset] ^= 0x5A;
  if (offset < it->second->durable_data.size()) it->second->durable_data[offset] ^= 0x5A;
  return OkStatus();
}

}  // namespace custos::fs
