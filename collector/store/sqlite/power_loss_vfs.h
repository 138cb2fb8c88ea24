// PowerLossVfs: a test-only SQLite VFS that models a disk with a volatile write cache, so
// tests can cut the power under a SqliteStore (the SQLite twin of fs::FaultInjectionFileSystem;
// the idea of LevelDB's db/fault_injection_test.cc). Linked only into tests
// (custos_store_power_loss_vfs); a store uses it through SqliteOptions::vfs = Name().
//
// It wraps the default (unix) VFS:
//  - For the files SQLite syncs (main database, -wal, rollback -journal) every xWrite and
//    xTruncate is kept in memory, per path and shared by every connection of the process (as
//    the OS page cache is): reads and xFileSize see it, the real file does not. xSync applies
//    the file's pending writes to the real file, in order, then fsyncs it.
//  - Everything else passes through: opening and deleting files (a delete is durable at once),
//    locks, the -shm wal-index (xShmMap, xShmLock, ...; rebuilt from the WAL by the next opener
//    after a crash, as after a reboot), temporary files. Memory-mapped reads are refused
//    (xFetch returns no mapping) so every read goes through the cache.
//  - PowerLoss() drops every unsynced write; PowerLossTearing(seed) lets each unsynced write
//    reach the disk whole, torn (a prefix cut at a 512-byte boundary) or not at all. Either
//    then freezes the VFS: every later xWrite, xTruncate, xSync and xDelete is a successful
//    no-op and reads see only the real files, so the crashed connections can be closed without
//    writing anything. Restore() unfreezes (the machine is back on).
//  - CutPowerAfter(n): the n-th write, truncate or sync from now on cuts the power once it is
//    done: a crash in the middle of a commit, or right after its fsync.
// Thread-safety: every method and every file operation may be called from any thread (one
// mutex). Lifetime: the VFS must outlive every connection opened through it; it registers
// itself (not as the default VFS) in the constructor and unregisters in the destructor.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace custos::collector::store::sqlite {

class PowerLossVfs {
 public:
  // What the last power loss did to the unsynced writes.
  struct LossStats {
    uint64_t dropped_writes = 0;  // lost whole (writes and truncates)
    uint64_t kept_writes = 0;     // reached the disk whole
    uint64_t torn_writes = 0;     // reached the disk in part (a prefix)
  };

  // Registers the VFS under `name`; CHECK-fails if the name is taken or SQLite refuses it.
  explicit PowerLossVfs(std::string name);
  ~PowerLossVfs();
  PowerLossVfs(const PowerLossVfs&) = delete;
  PowerLossVfs& operator=(const PowerLossVfs&) = delete;

  const std::string& Name() const { return name_; }

  // Power loss: every unsynced write is lost; then frozen until Restore().
  void PowerLoss();
  // Power loss with a partly flushed cache: each unsynced write (in order) is kept, torn or
  // dropped, chosen by an RNG seeded with `seed`; then frozen until Restore().
  void PowerLossTearing(uint64_t seed);
  // Cuts the power right after the n-th (n >= 1) cached write, truncate or sync from now on,
  // counted over all cached files: a crash in the middle of a commit. A write or truncate cut
  // that way is lost with the rest of the cache; a sync has reached the disk (the process dies
  // before it can act on it). With `tear_seed` the cut is PowerLossTearing(*tear_seed), else
  // PowerLoss(). n = 0 disarms.
  void CutPowerAfter(uint64_t n, std::optional<uint64_t> tear_seed = std::nullopt);
  // True from a power loss until Restore().
  bool LostPower() const;
  LossStats LastLoss() const;
  // Power is back: the VFS is a write-back cache over the real files again.
  void Restore();

  // Writes and truncates waiting for a sync, over all files (tests check the model with it).
  uint64_t PendingOps() const;

 private:
  // The volatile write cache and the VFS callbacks (power_loss_vfs.cc).
  class Cache;
  std::string name_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace custos::collector::store::sqlite
