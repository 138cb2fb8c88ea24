// Internal to agent/sources/file: the file snapshot (path -> size, mtime, inode, mode), the tree
// walk that builds it, the comparison of two snapshots, and its persisted form.
//
// Persisted format "file-snapshot.v2" (little-endian, written atomically with
// fs::WriteFileAtomic, mode 0600); "CFSNAP01" (v1, without generation) is still read:
//   magic      8 bytes  "CFSNAP02"
//   generation u64      (v2 only) matches the journal that continues it (snapshot_store.h)
//   root_count u32, then per root: u32 length, bytes
//   count      u64, then per entry, in strictly increasing byte order of path:
//              u32 shared (bytes shared with the previous path), u32 suffix length, suffix bytes,
//              u64 size, i64 mtime_ns, u64 inode, u32 mode (st_mode)
//   crc        u32 CRC32C of everything before it
// Journal entries (what a Snapshot that journals records for each change, replayed in order by
// ApplyJournal; framed into records by snapshot_store.h):
//   'U' u32 length, path, u64 size, i64 mtime_ns, u64 inode, u32 mode   Upsert
//   'E' u32 length, path                                               EraseTree
//   'M' u32 length, from, u32 length, to                               MoveTree
// Unconfirmed entries are left out, so a crash before their events were handled makes the next
// start report them. Decode rejects (DataLoss) anything that does not parse exactly, is out of
// order, exceeds the entry cap or fails the CRC; the caller then treats the snapshot as absent.
// Never crashes.
//
// Thread-safety: none; a Snapshot belongs to the source's worker thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/sources/file/path_filter.h"
#include "common/status/status.h"

namespace custos::agent::file {

struct FileState {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  uint32_t mode = 0;  // st_mode, type bits included
  // In memory only: a scan reported this entry as created, so the kernel's own CREATE for it
  // (queued before the scan finished) is a duplicate. Cleared by the next live update.
  bool created_by_scan = false;
  // In memory only: the startup scan saw it changed after the kernel watch began (ctime), so its
  // CREATE may still be queued, or lost. A rescan reports it as created unless a live event
  // confirmed it first (any live update clears the flag).
  bool unconfirmed = false;
  bool is_dir() const;
};

// The clock inode timestamps come from (CLOCK_REALTIME_COARSE): anything changed after this
// call has a ctime at or after its result. Not the injected Clock: it is compared with ctime,
// never used for event times.
int64_t KernelNowNs();

// lstat(2) into a FileState; false when the path is gone or unreadable.
bool StatPath(const std::string& path, FileState* state);

using SnapshotMap = std::map<std::string, FileState>;

class Snapshot {
 public:
  // `journal`: Upsert, EraseTree and MoveTree also append a journal entry (format above) for
  // TakeJournal, so a persisted view can follow the in-memory one change by change.
  explicit Snapshot(size_t max_entries, bool journal = false)
      : max_entries_(max_entries), journaling_(journal) {}

  const FileState* Find(const std::string& path) const;
  // Inserts or replaces; false (and counted as untracked) when the cap is reached.
  bool Upsert(const std::string& path, const FileState& state);
  // Removes `path` and, for a directory, everything below it.
  void EraseTree(const std::string& path);
  // Moves `from` and everything below it to `to` (replacing what was there).
  void MoveTree(const std::string& from, const std::string& to);
  // Not journaled: a caller that replaces the map journals the differences itself.
  void Replace(SnapshotMap entries, uint64_t untracked);
  // The journal entries of the changes since the last call (empty when not journaling).
  std::string TakeJournal() { return std::move(journal_); }
  // Appends entries (e.g. the differences a Replace brings) to the pending journal.
  void Journal(std::string_view entries);
  // Replays journal entries; false (the snapshot then holds a prefix of them) when they do not
  // parse. Bytes from disk: never crashes.
  bool ApplyJournal(std::string_view entries);

  const SnapshotMap& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  size_t max_entries() const { return max_entries_; }
  uint64_t untracked() const { return untracked_; }
  bool dirty() const { return dirty_; }
  void set_clean() { dirty_ = false; }

 private:
  bool UpsertEntry(const std::string& path, const FileState& state);
  void EraseTreeEntries(const std::string& path);

  const size_t max_entries_;
  const bool journaling_;
  std::string journal_;
  SnapshotMap entries_;
  uint64_t untracked_ = 0;
  bool dirty_ = false;
};

// Called for every directory a walk enters, before its entries are listed, with an open
// descriptor of it (inotify adds its watch here, fanotify records its file handle).
using DirVisitor = std::function<void(const std::string& dir, int dir_fd)>;

// Walks the tree below `dir` (not `dir` itself): no symlinks followed, no other filesystems
// entered, excluded entries pruned. Entries go into *out until it holds max_entries, then are
// counted in *untracked; those whose ctime is at or after `unconfirmed_since_ns` (Unix ns,
// kernel clock) are marked unconfirmed. Returns false when `stop` became true (the result is
// incomplete).
inline constexpr int64_t kNeverUnconfirmed = INT64_MAX;
bool ScanTree(const std::string& dir, const PathFilter& filter, size_t max_entries,
              const std::atomic<bool>& stop, const DirVisitor& visit, SnapshotMap* out,
              uint64_t* untracked, int64_t unconfirmed_since_ns = kNeverUnconfirmed);

enum class ChangeKind { kCreated, kModified, kAttrib, kDeleted };
// Calls `change` for every difference between `before` and `after` (sorted merge). Directories
// only appear or disappear; a file whose size, mtime or inode changed is modified; one whose mode
// alone changed is kAttrib. An entry still unconfirmed in `before` that exists in `after` is
// reported as created.
void DiffSnapshots(
    const SnapshotMap& before, const SnapshotMap& after,
    const std::function<void(ChangeKind, const std::string& path, const FileState& state)>& change);

// Journal entries, as a journaling Snapshot appends them.
void AppendUpsertEntry(std::string* out, const std::string& path, const FileState& state);
void AppendEraseEntry(std::string* out, const std::string& path);
void AppendMoveEntry(std::string* out, const std::string& from, const std::string& to);

std::string EncodeSnapshot(const std::vector<std::string>& roots, const SnapshotMap& entries,
                           uint64_t generation);
struct DecodedSnapshot {
  uint64_t generation = 0;  // 0 for v1
  std::vector<std::string> roots;
  SnapshotMap entries;
};
Result<DecodedSnapshot> DecodeSnapshot(std::string_view bytes, size_t max_entries);

}  // namespace custos::agent::file
