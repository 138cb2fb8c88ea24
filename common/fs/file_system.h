// File-system seam. Code that must survive crashes (spool, state files, key material) does its
// I/O through FileSystem so tests can simulate power loss and I/O errors without a kernel:
//  - PosixFileSystem: the real thing (POSIX calls, O_CLOEXEC, fsync/fdatasync).
//  - FaultInjectionFileSystem: an in-memory file system that tracks what is durable. Data
//    written to a file is durable only after Sync(); a created, renamed or deleted name is
//    durable only after SyncDir() of its directory. DropUnsyncedData() simulates power loss by
//    reverting everything to its durable state. Errors can be injected by operation kind, and
//    a capacity makes it a full disk (ENOSPC).
// Thread-safety: PosixFileSystem is thread-safe; FaultInjectionFileSystem is thread-safe (one
// mutex). A WritableFile is used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::fs {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Makes appended data durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  virtual uint64_t size() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Opens for appending, creating with `mode` if missing (existing content kept).
  virtual Result<std::unique_ptr<WritableFile>> OpenAppend(const std::string& path,
                                                           uint32_t mode) = 0;
  // Creates or truncates.
  virtual Result<std::unique_ptr<WritableFile>> OpenTruncate(const std::string& path,
                                                             uint32_t mode) = 0;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Reads up to `max_bytes` from `offset` into `*out`, replacing its content and keeping its
  // capacity (a caller reading a large file piece by piece reuses one buffer). Fewer bytes at
  // end of file; none when `offset` is at or past it. The file's size, not `max_bytes`, bounds
  // what is allocated.
  virtual Status ReadAt(const std::string& path, uint64_t offset, size_t max_bytes,
                        std::string* out) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  // mkdir -p with `mode` for created directories.
  virtual Status CreateDirs(const std::string& path, uint32_t mode) = 0;
  // Names (not paths) of entries in a directory, sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Makes the directory's entries (creates, renames, removes) durable.
  virtual Status SyncDir(const std::string& path) = 0;
};

// Replaces `path` with `content` atomically and durably: write a temp file in the same
// directory, fsync it, rename over `path`, fsync the directory. Readers see old or new, never a
// mix; after a crash the file is old or new. With durable=false the two fsyncs are skipped:
// still atomic for readers, for files that are rewritten often and need not survive a crash
// (e.g. the agent's status file).
Status WriteFileAtomic(FileSystem* fs, const std::string& path, std::string_view content,
                       uint32_t mode, bool durable = true);

std::string DirName(const std::string& path);

// The process-wide real file system.
FileSystem* Posix();

class FaultInjectionFileSystem : public FileSystem {
 public:
  enum class Op { kAppend, kSync, kRename, kRemove, kOpen, kSyncDir, kRead, kTruncate };

  Result<std::unique_ptr<WritableFile>> OpenAppend(const std::string& path, uint32_t mode) override;
  Result<std::unique_ptr<WritableFile>> OpenTruncate(const std::string& path,
                                                     uint32_t mode) override;
  Result<std::string> ReadFile(const std::string& path) override;
  Status ReadAt(const std::string& path, uint64_t offset, size_t max_bytes,
                std::string* out) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Status CreateDirs(const std::string& path, uint32_t mode) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  bool Exists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Status SyncDir(const std::string& path) override;

  // Power loss: every file reverts to its last synced content, every directory to its last
  // synced entries. Open WritableFiles keep working on the reverted files.
  void DropUnsyncedData();
  // The next `count` operations of kind `op` fail with `error` (then succeed again).
  void FailNext(Op op, Status error, int count = 1);
  // Disk full: the files' current contents may hold at most `bytes` in total; an Append that
  // does not fit writes what still fits and fails with ENOSPC (ResourceExhausted), as write(2)
  // does on a full disk. 0 (the default) is unlimited. Raising it (or removing files) is space
  // returning: later appends succeed again.
  void SetCapacity(uint64_t bytes);
  // Flips one byte in a file's current and durable content (corruption on disk).
  Status CorruptByte(const std::string& path, uint64_t offset);

 private:
  friend class FaultFile;
  struct Node {
    std::string data;          // what readers see now
    std::string durable_data;  // what survives power loss
    uint32_t mode = 0644;
  };
  Status MaybeFail(Op op);     // requires mu_
  uint64_t LiveBytes() const;  // requires mu_
  std::mutex mu_;
  // Live namespace and durable namespace map paths to shared nodes.
  std::map<std::string, std::shared_ptr<Node>> live_;
  std::map<std::string, std::shared_ptr<Node>> durable_;
  std::set<std::string> dirs_{"/"};
  std::map<Op, std::pair<int, Status>> failures_;
  uint64_t capacity_ = 0;  // guarded by mu_; 0 = unlimited
};

}  // namespace custos::fs
