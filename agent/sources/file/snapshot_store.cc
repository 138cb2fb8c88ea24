#include "agent/sources/file/snapshot_store.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string_view>

#include "common/crypto/crypto.h"
#include "common/log/log.h"

namespace custos::agent::file {
namespace {

constexpr char kCheckpointFile[] = "file-snapshot.v2";
constexpr char kJournalFile[] = "file-snapshot.v2.journal";
constexpr char kLegacyFile[] = "file-snapshot.v1";
constexpr char kJournalMagic[8] = {'C', 'F', 'S', 'J', 'R', 'N', '0', '1'};
constexpr size_t kHeaderBytes = sizeof(kJournalMagic) + 8 + 4;
static_assert(kHeaderBytes == SnapshotStore::kJournalHeaderBytes);

template <typename T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only, as snapshot.cc
  out->append(b, sizeof(T));
}

template <typename T>
T Get(std::string_view in, size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof(T));
  return v;
}

std::string JournalHeader(uint64_t generation) {
  std::string out(kJournalMagic, sizeof(kJournalMagic));
  Put<uint64_t>(&out, generation);
  Put<uint32_t>(&out, crypto::Crc32c(out.data(), out.size()));
  return out;
}

std::string Join(const std::string& dir, const char* name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

SnapshotStore::SnapshotStore(fs::FileSystem* fs, std::string dir, size_t max_entries,
                             size_t max_pending_ops)
    : fs_(fs), dir_(std::move(dir)), max_entries_(max_entries), max_pending_ops_(max_pending_ops) {}

SnapshotStore::~SnapshotStore() {
  std::lock_guard<std::mutex> lock(mu_);
  if (journal_) (void)journal_->Close();
}

std::string SnapshotStore::checkpoint_path() const { return Join(dir_, kCheckpointFile); }
std::string SnapshotStore::journal_path() const { return Join(dir_, kJournalFile); }

Result<SnapshotStore::Loaded> SnapshotStore::Load(std::optional<SinkPosition> recovered) {
  auto bytes = fs_->ReadFile(checkpoint_path());
  if (!bytes.ok() && bytes.status().code() == StatusCode::kNotFound) {
    bytes = fs_->ReadFile(Join(dir_, kLegacyFile));
  }
  if (!bytes.ok()) return bytes.status();
  CUSTOS_ASSIGN_OR_RETURN(DecodedSnapshot decoded, DecodeSnapshot(*bytes, max_entries_));
  generation_ = decoded.generation;
  Loaded out;
  out.roots = std::move(decoded.roots);
  Snapshot view(max_entries_);
  view.Replace(std::move(decoded.entries), 0);
  if (decoded.generation != 0) {
    auto journal = fs_->ReadFile(journal_path());
    const std::string_view j = journal.ok() ? std::string_view(*journal) : std::string_view();
    if (j.size() >= kHeaderBytes && j.substr(0, kHeaderBytes) == JournalHeader(generation_)) {
      size_t at = kHeaderBytes;
      while (at < j.size()) {
        if (j.size() - at < 8) {
          out.journal_torn = true;
          break;
        }
        const auto length = Get<uint32_t>(j, at);
        const auto crc = Get<uint32_t>(j, at + 4);
        if (length > j.size() - at - 8) {
          out.journal_torn = true;
          break;
        }
        const std::string_view body = j.substr(at + 8, length);
        // A record that fails its CRC or does not parse ends the journal: what follows it was
        // written after it, so it cannot be applied without it.
        if (length < 16 || crypto::Crc32c(body.data(), body.size()) != crc) {
          out.journal_torn = true;
          break;
        }
        const SinkPosition position{Get<uint64_t>(body, 0), Get<uint64_t>(body, 8)};
        const bool no_log = position == SinkPosition{};
        if (recovered && !no_log &&
            (position.epoch != recovered->epoch || position.seq > recovered->seq)) {
          out.journal_beyond_log = true;  // and so are the later ones
          break;
        }
        // Every entry of a record was logged already: a prefix applied is still safe.
        if (!view.ApplyJournal(body.substr(16))) {
          out.journal_torn = true;
          break;
        }
        ++out.journal_records;
        at += 8 + length;
      }
    }
  }
  out.entries = view.entries();
  return out;
}

Status SnapshotStore::Checkpoint(const std::vector<std::string>& roots, const SnapshotMap& entries,
                                 std::chrono::milliseconds sync_wait) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stalled_) {
      return FailedPreconditionError(
          "file: snapshot journal stalled: " + std::to_string(max_pending_ops_) +
          " changes waited for the spool; the view is frozen until restart");
    }
    CUSTOS_CHECK(pending_.empty()) << "file: snapshot checkpoint with changes pending";
    // Nothing is pending, so every change in `entries` was journaled with a mark at or below
    // journaled_mark_ (the worker seals and pushes them; ops only leave pending_ committed).
    // The checkpoint is fsynced: its changes' events must be synced in the spool first.
    const uint64_t needed = journaled_mark_;
    if (!synced_cv_.wait_for(lock, sync_wait, [&] { return synced_ >= needed; })) {
      return UnavailableError("file: snapshot checkpoint deferred: spool not yet synced to mark " +
                              std::to_string(needed) + " (synced " + std::to_string(synced_) + ")");
    }
  }
  uint64_t generation = generation_ + 1;
  if (generation_ == 0) {
    // No earlier checkpoint here: a journal left by another install must never match.
    std::random_device rd;
    generation = (static_cast<uint64_t>(rd()) << 32 | rd()) | 1;
  }
  CUSTOS_RETURN_IF_ERROR(fs_->CreateDirs(dir_, 0700));
  CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(fs_, checkpoint_path(),
                                             EncodeSnapshot(roots, entries, generation), 0600));
  generation_ = generation;
  // A crash here leaves the old journal: its generation no longer matches, so it is ignored.
  const std::string header = JournalHeader(generation);
  CUSTOS_RETURN_IF_ERROR(fs::WriteFileAtomic(fs_, journal_path(), header, 0600));
  CUSTOS_ASSIGN_OR_RETURN(auto journal, fs_->OpenAppend(journal_path(), 0600));
  if (fs_->Exists(Join(dir_, kLegacyFile))) (void)fs_->Remove(Join(dir_, kLegacyFile));
  std::lock_guard<std::mutex> lock(mu_);
  if (journal_) (void)journal_->Close();
  journal_ = std::move(journal);
  journal_bytes_ = header.size();
  journal_status_ = OkStatus();
  return OkStatus();
}

uint64_t SnapshotStore::Seal(std::string entries) {
  if (entries.empty()) return kNoOp;
  std::lock_guard<std::mutex> lock(mu_);
  if (stalled_) return kNoOp;
  if (pending_.size() >= max_pending_ops_) {
    stalled_ = true;
    pending_.clear();
    idle_cv_.notify_all();
    logging::Warn(
        "file: the spool has not taken the file events for a long time; the persisted "
        "snapshot stops following until restart (changes since are reported again)",
        {{"pending", static_cast<uint64_t>(max_pending_ops_)}});
    return kNoOp;
  }
  Op op;
  op.id = next_op_++;
  op.entries = std::move(entries);
  pending_.push_back(std::move(op));
  return pending_.back().id;
}

void SnapshotStore::SetMark(uint64_t op, uint64_t mark) {
  if (op == kNoOp) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_.empty() || op < pending_.front().id) return;
  const uint64_t index = op - pending_.front().id;
  if (index >= pending_.size()) return;
  pending_[index].mark = mark;
  pending_[index].marked = true;
  if (index == 0) CommitLocked();
}

void SnapshotStore::OnLogged(uint64_t mark, SinkPosition position) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mark >= durable_) {
    durable_ = mark;
    position_ = position;
  }
  CommitLocked();
}

void SnapshotStore::OnSynced(uint64_t mark) {
  std::lock_guard<std::mutex> lock(mu_);
  if (mark <= synced_) return;
  synced_ = mark;
  synced_cv_.notify_all();
}

void SnapshotStore::CommitLocked() {
  record_.clear();
  bool any = false;
  while (!pending_.empty() && pending_.front().marked && pending_.front().mark <= durable_) {
    if (!any) {
      record_.assign(8, '\0');
      Put<uint64_t>(&record_, position_.epoch);
      Put<uint64_t>(&record_, position_.seq);
    }
    any = true;
    journaled_mark_ = std::max(journaled_mark_, pending_.front().mark);
    record_.append(pending_.front().entries);
    pending_.pop_front();
  }
  if (!any) return;
  if (pending_.empty()) idle_cv_.notify_all();
  if (!journal_ || !journal_status_.ok()) return;
  const auto length = static_cast<uint32_t>(record_.size() - 8);
  const uint32_t crc = crypto::Crc32c(record_.data() + 8, length);
  std::memcpy(record_.data(), &length, 4);
  std::memcpy(record_.data() + 4, &crc, 4);
  Status s = journal_->Append(record_);
  if (!s.ok()) {
    journal_status_ = s;
    logging::Warn(
        "file: snapshot journal write failed; a crash now re-reports changes as scan "
        "findings",
        {{"path", journal_path()}, {"error", s.ToString()}});
    return;
  }
  journal_bytes_ += record_.size();
}

void SnapshotStore::Abandon() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.clear();
  stalled_ = false;
  if (journal_) (void)journal_->Close();
  journal_.reset();
  idle_cv_.notify_all();
}

bool SnapshotStore::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return pending_.empty(); });
}

uint64_t SnapshotStore::journal_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return journal_bytes_;
}

Status SnapshotStore::journal_status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return journal_status_;
}

}  // namespace custos::agent::file
