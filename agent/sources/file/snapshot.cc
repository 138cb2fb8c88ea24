#include "agent/sources/file/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "common/crypto/crypto.h"

namespace custos::agent::file {
namespace {

constexpr char kMagicV1[8] = {'C', 'F', 'S', 'N', 'A', 'P', '0', '1'};
constexpr char kMagic[8] = {'C', 'F', 'S', 'N', 'A', 'P', '0', '2'};
constexpr char kUpsert = 'U';
constexpr char kErase = 'E';
constexpr char kMove = 'M';

FileState FromStat(const struct stat& st) {
  FileState s;
  s.size = static_cast<uint64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.inode = static_cast<uint64_t>(st.st_ino);
  s.mode = static_cast<uint32_t>(st.st_mode);
  return s;
}

// The keys strictly below `dir` ("dir/..."): contiguous in byte order, unlike "dir" itself,
// which "dir-x" and "dir.x" separate from them.
std::pair<SnapshotMap::iterator, SnapshotMap::iterator> ChildRange(SnapshotMap& m,
                                                                   const std::string& dir) {
  const std::string prefix = dir == "/" ? dir : dir + "/";
  auto first = m.lower_bound(prefix);
  auto last = first;
  while (last != m.end() && last->first.compare(0, prefix.size(), prefix) == 0) ++last;
  return {first, last};
}

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out->append(b, sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (in_.size() - pos_ < n) return false;
    *out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t Remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

bool FileState::is_dir() const { return S_ISDIR(mode); }

int64_t KernelNowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool StatPath(const std::string& path, FileState* state) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return false;
  *state = FromStat(st);
  return true;
}

const FileState* Snapshot::Find(const std::string& path) const {
  auto it = entries_.find(path);
  return it == entries_.end() ? nullptr : &it->second;
}

bool Snapshot::Upsert(const std::string& path, const FileState& state) {
  if (!UpsertEntry(path, state)) return false;
  if (journaling_) AppendUpsertEntry(&journal_, path, state);
  return true;
}

void Snapshot::EraseTree(const std::string& path) {
  EraseTreeEntries(path);
  if (journaling_) AppendEraseEntry(&journal_, path);
}

void Snapshot::Journal(std::string_view entries) {
  if (journaling_) journal_.append(entries);
}

bool Snapshot::UpsertEntry(const std::string& path, const FileState& state) {
  auto it = entries_.find(path);
  if (it != entries_.end()) {
    it->second = state;
    dirty_ = true;
    return true;
  }
  if (entries_.size() >= max_entries_) {
    ++untracked_;
    return false;
  }
  entries_.emplace(path, state);
  dirty_ = true;
  return true;
}

void Snapshot::EraseTreeEntries(const std::string& path) {
  if (entries_.erase(path) > 0) dirty_ = true;
  auto [first, last] = ChildRange(entries_, path);
  if (first != last) dirty_ = true;
  entries_.erase(first, last);
}

void Snapshot::MoveTree(const std::string& from, const std::string& to) {
  if (from == to) return;
  std::vector<std::pair<std::string, FileState>> moved;
  if (auto it = entries_.find(from); it != entries_.end()) {
    moved.emplace_back(to, it->second);
    entries_.erase(it);
  }
  auto [first, last] = ChildRange(entries_, from);
  for (auto it = first; it != last; ++it) {
    moved.emplace_back(to + it->first.substr(from.size()), it->second);
  }
  entries_.erase(first, last);
  EraseTreeEntries(to);  // a rename replaces what was at the destination
  for (auto& [path, state] : moved) UpsertEntry(path, state);
  dirty_ = true;
  if (journaling_) AppendMoveEntry(&journal_, from, to);
}

bool Snapshot::ApplyJournal(std::string_view entries) {
  Reader in(entries);
  while (in.Remaining() > 0) {
    char kind = 0;
    uint32_t len = 0;
    std::string_view path;
    if (!in.Get(&kind) || !in.Get(&len) || !in.Bytes(len, &path)) return false;
    switch (kind) {
      case kUpsert: {
        FileState state;
        if (!in.Get(&state.size) || !in.Get(&state.mtime_ns) || !in.Get(&state.inode) ||
            !in.Get(&state.mode)) {
          return false;
        }
        Upsert(std::string(path), state);
        break;
      }
      case kErase:
        EraseTree(std::string(path));
        break;
      case kMove: {
        std::string_view to;
        if (!in.Get(&len) || !in.Bytes(len, &to)) return false;
        MoveTree(std::string(path), std::string(to));
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

void Snapshot::Replace(SnapshotMap entries, uint64_t untracked) {
  entries_ = std::move(entries);
  untracked_ = untracked;
  dirty_ = true;
}

bool ScanTree(const std::string& dir, const PathFilter& filter, size_t max_entries,
              const std::atomic<bool>& stop, const DirVisitor& visit, SnapshotMap* out,
              uint64_t* untracked, int64_t unconfirmed_since_ns) {
  struct stat top;
  if (lstat(dir.c_str(), &top) != 0 || !S_ISDIR(top.st_mode)) return true;
  const dev_t dev = top.st_dev;
  std::vector<std::string> pending{dir};
  while (!pending.empty()) {
    if (stop.load(std::memory_order_relaxed)) return false;
    const std::string current = std::move(pending.back());
    pending.pop_back();
    const int fd = open(current.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;  // vanished or unreadable: nothing to track below it
    if (visit) visit(current, fd);
    DIR* d = fdopendir(fd);
    if (d == nullptr) {
      close(fd);
      continue;
    }
    while (struct dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      std::string path = JoinPath(current, e->d_name);
      if (filter.ExcludesEntry(path)) continue;
      struct stat st;
      if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (out->size() < max_entries) {
        FileState state = FromStat(st);
        const int64_t ctime_ns =
            static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
        state.unconfirmed = ctime_ns >= unconfirmed_since_ns;
        out->insert_or_assign(path, state);
      } else {
        ++*untracked;
      }
      if (S_ISDIR(st.st_mode) && st.st_dev == dev) pending.push_back(std::move(path));
    }
    closedir(d);
  }
  return true;
}

void DiffSnapshots(
    const SnapshotMap& before, const SnapshotMap& after,
    const std::function<void(ChangeKind, const std::string&, const FileState&)>& change) {
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      change(ChangeKind::kDeleted, b->first, b->second);
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      change(ChangeKind::kCreated, a->first, a->second);
      ++a;
    } else {
      const FileState& old_state = b->second;
      const FileState& new_state = a->second;
      if (old_state.unconfirmed) {
        change(ChangeKind::kCreated, a->first, new_state);
      } else if (old_state.is_dir() != new_state.is_dir()) {
        change(ChangeKind::kDeleted, b->first, old_state);
        change(ChangeKind::kCreated, a->first, new_state);
      } else if (!new_state.is_dir() &&
                 (old_state.size != new_state.size || old_state.mtime_ns != new_state.mtime_ns ||
                  old_state.inode != new_state.inode)) {
        change(ChangeKind::kModified, a->first, new_state);
      } else if ((old_state.mode & 07777) != (new_state.mode & 07777)) {
        change(ChangeKind::kAttrib, a->first, new_state);
      }
      ++a;
      ++b;
    }
  }
}

void AppendUpsertEntry(std::string* out, const std::string& path, const FileState& state) {
  out->push_back(kUpsert);
  Put<uint32_t>(out, static_cast<uint32_t>(path.size()));
  out->append(path);
  Put<uint64_t>(out, state.size);
  Put<int64_t>(out, state.mtime_ns);
  Put<uint64_t>(out, state.inode);
  Put<uint32_t>(out, state.mode);
}

void AppendEraseEntry(std::string* out, const std::string& path) {
  out->push_back(kErase);
  Put<uint32_t>(out, static_cast<uint32_t>(path.size()));
  out->append(path);
}

void AppendMoveEntry(std::string* out, const std::string& from, const std::string& to) {
  out->push_back(kMove);
  Put<uint32_t>(out, static_cast<uint32_t>(from.size()));
  out->append(from);
  Put<uint32_t>(out, static_cast<uint32_t>(to.size()));
  out->append(to);
}

std::string EncodeSnapshot(const std::vector<std::string>& roots, const SnapshotMap& entries,
                           uint64_t generation) {
  std::string out(kMagic, sizeof(kMagic));
  Put<uint64_t>(&out, generation);
  Put<uint32_t>(&out, static_cast<uint32_t>(roots.size()));
  for (const std::string& root : roots) {
    Put<uint32_t>(&out, static_cast<uint32_t>(root.size()));
    out += root;
  }
  uint64_t count = 0;
  for (const auto& [path, state] : entries) count += !state.unconfirmed;
  Put<uint64_t>(&out, count);
  std::string_view previous;
  for (const auto& [path, state] : entries) {
    if (state.unconfirmed) continue;  // not reported yet: the next start must report it
    size_t shared = 0;
    while (shared < previous.size() && shared < path.size() && previous[shared] == path[shared]) {
      ++shared;
    }
    Put<uint32_t>(&out, static_cast<uint32_t>(shared));
    Put<uint32_t>(&out, static_cast<uint32_t>(path.size() - shared));
    out.append(path, shared, std::string::npos);
    Put<uint64_t>(&out, state.size);
    Put<int64_t>(&out, state.mtime_ns);
    Put<uint64_t>(&out, state.inode);
    Put<uint32_t>(&out, state.mode);
    previous = path;
  }
  Put<uint32_t>(&out, crypto::Crc32c(out.data(), out.size()));
  return out;
}

Result<DecodedSnapshot> DecodeSnapshot(std::string_view bytes, size_t max_entries) {
  const auto corrupt = [](const std::string& why) {
    return DataLossError("file: snapshot: " + why);
  };
  if (bytes.size() < sizeof(kMagic) + 4) return corrupt("bad magic");
  const bool v1 = std::memcmp(bytes.data(), kMagicV1, sizeof(kMagicV1)) == 0;
  if (!v1 && std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return corrupt("bad magic");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  if (crypto::Crc32c(body.data(), body.size()) != stored_crc) return corrupt("CRC mismatch");
  Reader in(body.substr(sizeof(kMagic)));
  DecodedSnapshot out;
  if (!v1 && !in.Get(&out.generation)) return corrupt("truncated generation");
  uint32_t root_count = 0;
  if (!in.Get(&root_count) || root_count > 4096) return corrupt("bad root count");
  for (uint32_t i = 0; i < root_count; ++i) {
    uint32_t len = 0;
    std::string_view root;
    if (!in.Get(&len) || !in.Bytes(len, &root)) return corrupt("truncated root");
    out.roots.emplace_back(root);
  }
  uint64_t count = 0;
  if (!in.Get(&count)) return corrupt("truncated count");
  if (count > max_entries) return corrupt("more entries than snapshot_max_entries");
  std::string path;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t shared = 0, suffix_len = 0;
    std::string_view suffix;
    FileState state;
    if (!in.Get(&shared) || !in.Get(&suffix_len) || shared > path.size() ||
        !in.Bytes(suffix_len, &suffix) || !in.Get(&state.size) || !in.Get(&state.mtime_ns) ||
        !in.Get(&state.inode) || !in.Get(&state.mode)) {
      return corrupt("truncated entry " + std::to_string(i));
    }
    std::string next = path.substr(0, shared);
    next.append(suffix);
    if (i > 0 && !(path < next)) return corrupt("entries out of order");
    path = std::move(next);
    out.entries.emplace_hint(out.entries.end(), path, state);
  }
  if (in.Remaining() != 0) return corrupt("trailing bytes");
  return out;
}

}  // namespace custos::agent::file
