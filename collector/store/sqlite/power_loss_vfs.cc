#include "collector/store/sqlite/power_loss_vfs.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <random>
#include <vector>

#include "common/status/status.h"

namespace custos::collector::store::sqlite {
namespace {

constexpr int kCachedFiles = SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL;
constexpr size_t kTearBytes = 512;

struct PendingOp {
  int64_t offset = 0;  // where a write starts, or the size a truncate leaves
  bool truncate = false;
  std::string data;
};

// What the process sees of one path beyond the real file: writes and truncates not yet synced.
struct CachedFile {
  int open_flags = 0;          // of the first open, to reopen the real file at a power loss
  std::vector<PendingOp> ops;  // in the order they were issued
};

int64_t LogicalSize(int64_t real_size, const std::vector<PendingOp>& ops) {
  int64_t size = real_size;
  for (const PendingOp& op : ops) {
    size =
        op.truncate ? op.offset : std::max(size, op.offset + static_cast<int64_t>(op.data.size()));
  }
  return size;
}

}  // namespace

class PowerLossVfs::Cache {
 public:
  // One open file: SQLite allocates szOsFile bytes; File sits first, the real VFS's file after.
  struct File {
    sqlite3_file base;
    Cache* cache;
    std::shared_ptr<CachedFile> cached;  // null: every call passes through
    std::string path;
    sqlite3_file* real() {
      return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(this) + kRealOffset);
    }
  };
  static constexpr size_t kRealOffset = (sizeof(File) + 15) & ~size_t{15};

  explicit Cache(const std::string& name) : real_(sqlite3_vfs_find(nullptr)) {
    CUSTOS_CHECK(real_ != nullptr) << "no default SQLite VFS";
    vfs_.iVersion = 2;
    vfs_.szOsFile = static_cast<int>(kRealOffset) + real_->szOsFile;
    vfs_.mxPathname = real_->mxPathname;
    vfs_.zName = name.c_str();
    vfs_.pAppData = this;
    vfs_.xOpen = &Cache::Open;
    vfs_.xDelete = &Cache::Delete;
    vfs_.xAccess = &Cache::Access;
    vfs_.xFullPathname = [](sqlite3_vfs* v, const char* n, int size, char* out) {
      return Real(v)->xFullPathname(Real(v), n, size, out);
    };
    vfs_.xDlOpen = [](sqlite3_vfs* v, const char* n) { return Real(v)->xDlOpen(Real(v), n); };
    vfs_.xDlError = [](sqlite3_vfs* v, int n, char* out) { Real(v)->xDlError(Real(v), n, out); };
    vfs_.xDlSym = [](sqlite3_vfs* v, void* h, const char* s) {
      return Real(v)->xDlSym(Real(v), h, s);
    };
    vfs_.xDlClose = [](sqlite3_vfs* v, void* h) { Real(v)->xDlClose(Real(v), h); };
    vfs_.xRandomness = [](sqlite3_vfs* v, int n, char* out) {
      return Real(v)->xRandomness(Real(v), n, out);
    };
    vfs_.xSleep = [](sqlite3_vfs* v, int us) { return Real(v)->xSleep(Real(v), us); };
    vfs_.xCurrentTime = [](sqlite3_vfs* v, double* out) {
      return Real(v)->xCurrentTime(Real(v), out);
    };
    vfs_.xGetLastError = [](sqlite3_vfs* v, int n, char* out) {
      return Real(v)->xGetLastError(Real(v), n, out);
    };
    vfs_.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
      return Real(v)->xCurrentTimeInt64(Real(v), out);
    };
    CUSTOS_CHECK(sqlite3_vfs_find(name.c_str()) == nullptr) << "VFS " << name << " exists";
    CUSTOS_CHECK(sqlite3_vfs_register(&vfs_, /*makeDflt=*/0) == SQLITE_OK)
        << "cannot register VFS " << name;
  }
  ~Cache() { sqlite3_vfs_unregister(&vfs_); }

  void Lose(const uint64_t* seed) {
    std::lock_guard<std::mutex> l(mu_);
    LoseLocked(seed);
  }
  void CutPowerAfter(uint64_t n, std::optional<uint64_t> tear_seed) {
    std::lock_guard<std::mutex> l(mu_);
    cut_after_ = n;
    cut_tear_seed_ = tear_seed;
  }
  bool LostPower() const {
    std::lock_guard<std::mutex> l(mu_);
    return frozen_;
  }
  LossStats LastLoss() const {
    std::lock_guard<std::mutex> l(mu_);
    return last_loss_;
  }
  void Restore() {
    std::lock_guard<std::mutex> l(mu_);
    frozen_ = false;
    cut_after_ = 0;
    std::erase_if(files_, [](const auto& kv) { return kv.second.use_count() == 1; });
  }
  uint64_t PendingOps() const {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t n = 0;
    for (const auto& [path, f] : files_) n += f->ops.size();
    return n;
  }

 private:
  static sqlite3_vfs* Real(sqlite3_vfs* v) { return static_cast<Cache*>(v->pAppData)->real_; }
  static File* AsFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
  static const sqlite3_io_methods kIoMethods;

  // Requires mu_.
  void LoseLocked(const uint64_t* seed) {
    last_loss_ = {};
    std::mt19937_64 rng(seed ? *seed : 0);
    for (auto& [path, file] : files_) {
      std::vector<PendingOp> survivors;
      for (PendingOp& op : file->ops) {
        const uint64_t fate = seed ? rng() % 3 : 0;  // 0 dropped, 1 whole, 2 torn
        if (fate == 1) {
          ++last_loss_.kept_writes;
          survivors.push_back(std::move(op));
        } else if (fate == 2 && !op.truncate && op.data.size() > kTearBytes) {
          ++last_loss_.torn_writes;
          const size_t sectors = (op.data.size() - 1) / kTearBytes;
          op.data.resize(kTearBytes * (1 + rng() % sectors));
          survivors.push_back(std::move(op));
        } else {
          ++last_loss_.dropped_writes;
        }
      }
      file->ops.clear();
      if (!survivors.empty()) WriteThrough(path, file->open_flags, survivors);
    }
    frozen_ = true;
    cut_after_ = 0;
  }

  // What reached the disk before the power went: written through a handle of the real VFS
  // (which, unlike a plain close(), keeps the process's POSIX locks on the file).
  void WriteThrough(const std::string& path, int open_flags, const std::vector<PendingOp>& ops) {
    std::vector<char> mem(static_cast<size_t>(real_->szOsFile));
    auto* f = reinterpret_cast<sqlite3_file*>(mem.data());
    int flags = (open_flags & kCachedFiles) | SQLITE_OPEN_READWRITE;
    if (real_->xOpen(real_, path.c_str(), f, flags, &flags) == SQLITE_OK) {
      for (const PendingOp& op : ops) {
        if (op.truncate) {
          f->pMethods->xTruncate(f, op.offset);
        } else {
          f->pMethods->xWrite(f, op.data.data(), static_cast<int>(op.data.size()), op.offset);
        }
      }
      f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
    }
    if (f->pMethods != nullptr) f->pMethods->xClose(f);
  }

  // Counts one cached write, truncate or sync that has just happened; cuts the power when it
  // is the armed one. Requires mu_.
  void CountOpLocked() {
    if (cut_after_ > 0 && --cut_after_ == 0) {
      LoseLocked(cut_tear_seed_ ? &*cut_tear_seed_ : nullptr);
    }
  }

  static int Open(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    Cache* self = static_cast<Cache*>(v->pAppData);
    File* file = new (f) File{};
    file->cache = self;
    sqlite3_file* real = file->real();
    real->pMethods = nullptr;
    int rc = self->real_->xOpen(self->real_, name, real, flags, out_flags);
    if (rc != SQLITE_OK) {
      if (real->pMethods != nullptr) real->pMethods->xClose(real);
      file->~File();
      f->pMethods = nullptr;
      return rc;
    }
    if (name != nullptr && (flags & kCachedFiles) != 0) {
      file->path = name;
      std::lock_guard<std::mutex> l(self->mu_);
      auto& cached = self->files_[file->path];
      if (!cached) {
        cached = std::make_shared<CachedFile>();
        cached->open_flags = flags;
      }
      file->cached = cached;
    }
    f->pMethods = &kIoMethods;
    return SQLITE_OK;
  }

  static int Delete(sqlite3_vfs* v, const char* name, int sync_dir) {
    Cache* self = static_cast<Cache*>(v->pAppData);
    {
      std::lock_guard<std::mutex> l(self->mu_);
      if (self->frozen_) return SQLITE_OK;
      auto it = self->files_.find(name);
      if (it != self->files_.end()) it->second->ops.clear();
    }
    return self->real_->xDelete(self->real_, name, sync_dir);
  }

  // A file whose only content is still in the cache exists for this process.
  static int Access(sqlite3_vfs* v, const char* name, int flags, int* out) {
    Cache* self = static_cast<Cache*>(v->pAppData);
    int rc = self->real_->xAccess(self->real_, name, flags, out);
    if (rc != SQLITE_OK || *out != 0 || flags != SQLITE_ACCESS_EXISTS) return rc;
    std::lock_guard<std::mutex> l(self->mu_);
    auto it = self->files_.find(name);
    if (it == self->files_.end() || it->second->ops.empty()) return rc;
    struct stat st {};
    int64_t real_size = ::stat(name, &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
    *out = LogicalSize(real_size, it->second->ops) > 0 ? 1 : 0;
    return rc;
  }

  static int Close(sqlite3_file* f) {
    File* file = AsFile(f);
    sqlite3_file* real = file->real();
    int rc = real->pMethods->xClose(real);
    file->~File();
    return rc;
  }

  static int Read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
    File* file = AsFile(f);
    sqlite3_file* real = file->real();
    if (!file->cached) return real->pMethods->xRead(real, buf, amount, offset);
    std::lock_guard<std::mutex> l(file->cache->mu_);
    const std::vector<PendingOp>& ops = file->cached->ops;
    int rc = real->pMethods->xRead(real, buf, amount, offset);  // zero-fills a short read
    if (ops.empty() || (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)) return rc;
    sqlite3_int64 real_size = 0;
    if (int s = real->pMethods->xFileSize(real, &real_size); s != SQLITE_OK) return s;
    auto* out = static_cast<char*>(buf);
    const int64_t end = offset + amount;
    for (const PendingOp& op : ops) {
      if (op.truncate) {
        if (op.offset < end) {
          const int64_t from = std::max<int64_t>(op.offset, offset);
          std::memset(out + (from - offset), 0, static_cast<size_t>(end - from));
        }
        continue;
      }
      const int64_t op_end = op.offset + static_cast<int64_t>(op.data.size());
      const int64_t from = std::max<int64_t>(op.offset, offset);
      const int64_t to = std::min(op_end, end);
      if (from < to) {
        std::memcpy(out + (from - offset), op.data.data() + (from - op.offset),
                    static_cast<size_t>(to - from));
      }
    }
    const int64_t size = LogicalSize(real_size, ops);
    if (size >= end) return SQLITE_OK;
    const int64_t from = std::max<int64_t>(size, offset);
    std::memset(out + (from - offset), 0, static_cast<size_t>(end - from));
    return SQLITE_IOERR_SHORT_READ;
  }

  static int Write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
    File* file = AsFile(f);
    sqlite3_file* real = file->real();
    std::lock_guard<std::mutex> l(file->cache->mu_);
    if (file->cache->frozen_) return SQLITE_OK;
    if (!file->cached) return real->pMethods->xWrite(real, buf, amount, offset);
    file->cached->ops.push_back(
        {offset, false, std::string(static_cast<const char*>(buf), static_cast<size_t>(amount))});
    file->cache->CountOpLocked();
    return SQLITE_OK;
  }

  static int Truncate(sqlite3_file* f, sqlite3_int64 size) {
    File* file = AsFile(f);
    sqlite3_file* real = file->real();
    std::lock_guard<std::mutex> l(file->cache->mu_);
    if (file->cache->frozen_) return SQLITE_OK;
    if (!file->cached) return real->pMethods->xTruncate(real, size);
    file->cached->ops.push_back({size, true, {}});
    file->cache->CountOpLocked();
    return SQLITE_OK;
  }

  // The only way cached writes reach the real file (besides a tearing power loss).
  static int Sync(sqlite3_file* f, int flags) {
    File* file = AsFile(f);
    sqlite3_file* real = file->real();
    std::lock_guard<std::mutex> l(file->cache->mu_);
    if (file->cache->frozen_) return SQLITE_OK;
    if (!file->cached) return real->pMethods->xSync(real, flags);
    std::vector<PendingOp>& ops = file->cached->ops;
    size_t applied = 0;
    int rc = SQLITE_OK;
    for (; applied < ops.size() && rc == SQLITE_OK; ++applied) {
      const PendingOp& op = ops[applied];
      rc = op.truncate ? real->pMethods->xTruncate(real, op.offset)
                       : real->pMethods->xWrite(real, op.data.data(),
                                                static_cast<int>(op.data.size()), op.offset);
    }
    ops.erase(ops.begin(), ops.begin() + static_cast<std::ptrdiff_t>(applied));
    if (rc == SQLITE_OK) rc = real->pMethods->xSync(real, flags);
    file->cache->CountOpLocked();
    return rc;
  }

  static int FileSize(sqlite3_file* f, sqlite3_int64* size) {
    File* file = AsFile(f);
    sqlite3_file* real = file->real();
    int rc = real->pMethods->xFileSize(real, size);
    if (rc != SQLITE_OK || !file->cached) return rc;
    std::lock_guard<std::mutex> l(file->cache->mu_);
    *size = LogicalSize(*size, file->cached->ops);
    return SQLITE_OK;
  }

  static int FileControl(sqlite3_file* f, int op, void* arg) {
    File* file = AsFile(f);
    // A size hint would grow the real file behind the cache's back; it is only a hint.
    if (op == SQLITE_FCNTL_SIZE_HINT && file->cached) return SQLITE_OK;
    sqlite3_file* real = file->real();
    return real->pMethods->xFileControl(real, op, arg);
  }

  // Reads through a memory map would bypass the cache: never map.
  static int Fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
    *out = nullptr;
    return SQLITE_OK;
  }
  static int Unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_{};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<CachedFile>> files_;  // by full path; guarded by mu_
  bool frozen_ = false;                                       // guarded by mu_
  uint64_t cut_after_ = 0;                                    // 0: not armed; guarded by mu_
  std::optional<uint64_t> cut_tear_seed_;                     // guarded by mu_
  LossStats last_loss_;                                       // guarded by mu_
};

const sqlite3_io_methods PowerLossVfs::Cache::kIoMethods = {
    /*iVersion=*/3,
    &Cache::Close,
    &Cache::Read,
    &Cache::Write,
    &Cache::Truncate,
    &Cache::Sync,
    &Cache::FileSize,
    [](sqlite3_file* f, int lock) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xLock(r, lock);
    },
    [](sqlite3_file* f, int lock) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xUnlock(r, lock);
    },
    [](sqlite3_file* f, int* out) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xCheckReservedLock(r, out);
    },
    &Cache::FileControl,
    [](sqlite3_file* f) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xSectorSize(r);
    },
    [](sqlite3_file* f) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xDeviceCharacteristics(r);
    },
    [](sqlite3_file* f, int region, int size, int extend, void volatile** out) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xShmMap(r, region, size, extend, out);
    },
    [](sqlite3_file* f, int offset, int n, int flags) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xShmLock(r, offset, n, flags);
    },
    [](sqlite3_file* f) {
      sqlite3_file* r = AsFile(f)->real();
      r->pMethods->xShmBarrier(r);
    },
    [](sqlite3_file* f, int delete_flag) {
      sqlite3_file* r = AsFile(f)->real();
      return r->pMethods->xShmUnmap(r, delete_flag);
    },
    &Cache::Fetch,
    &Cache::Unfetch,
};

PowerLossVfs::PowerLossVfs(std::string name)
    : name_(std::move(name)), cache_(std::make_unique<Cache>(name_)) {}
PowerLossVfs::~PowerLossVfs() = default;

void PowerLossVfs::PowerLoss() { cache_->Lose(nullptr); }
void PowerLossVfs::PowerLossTearing(uint64_t seed) { cache_->Lose(&seed); }
void PowerLossVfs::CutPowerAfter(uint64_t n, std::optional<uint64_t> tear_seed) {
  cache_->CutPowerAfter(n, tear_seed);
}
bool PowerLossVfs::LostPower() const { return cache_->LostPower(); }
PowerLossVfs::LossStats PowerLossVfs::LastLoss() const { return cache_->LastLoss(); }
void PowerLossVfs::Restore() { cache_->Restore(); }
uint64_t PowerLossVfs::PendingOps() const { return cache_->PendingOps(); }

}  // namespace custos::collector::store::sqlite
