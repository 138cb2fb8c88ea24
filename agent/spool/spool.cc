// agent/spool/spool.cc: SegmentFileSpool, the Spool over segment files. The byte format, the
// recovery rules, the fsync and capacity policies and how to evolve the format are specified in
// docs/spool-format.md; keep it in step with this file and segment.cc.
#include "agent/spool/spool.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <utility>

#include "agent/spool/segment.h"
#include "common/crypto/crypto.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::spool {
namespace {

constexpr uint32_t kDirMode = 0700;
constexpr uint32_t kFileMode = 0600;
// A sparse index entry (seq, offset, time) every this many records of a segment: positions
// reads without walking a whole segment and dates the oldest unacked record.
constexpr uint64_t kIndexInterval = 1024;
// Room kept under max_bytes for the gap record and a new segment's header.
constexpr uint64_t kGapReserveBytes = 1024;
constexpr uint64_t kMinMaxBytes = 64u << 10;
constexpr uint64_t kMinSegmentBytes = 4u << 10;
// The read cache follows the segment being written up to this many read windows; past it the
// reader reads the file when it gets there.
constexpr size_t kReadCacheFollowWindows = 2;
constexpr size_t kMinReadWindowBytes = 64;
// The write buffer keeps its capacity between batches unless it grew past this.
constexpr size_t kMaxRetainedBufferBytes = 4u << 20;
// Loads of the read cache one Read may do beyond those its max_bytes needs.
constexpr size_t kMaxReadReloads = 4;
constexpr size_t kMaxWarnings = 64;
constexpr uint8_t kGapPriority = 255;
constexpr std::string_view kStateFileName = "state";
constexpr std::string_view kQuarantineSuffix = ".quarantined";

struct IndexEntry {
  uint64_t seq = 0;
  uint64_t offset = 0;
  int64_t time_ns = 0;  // append time, or the event's own time for recovered records; 0 unknown
};

// A gap record held by a segment: if the segment is deleted before the gap record was acked,
// what it reported is carried into the next gap record so no report is lost.
struct GapInfo {
  uint64_t seq = 0;
  uint64_t dropped_count = 0;
  uint64_t first_dropped_seq = 0;
  uint64_t last_dropped_seq = 0;
  uint8_t max_priority = 0;
};

struct Segment {
  uint64_t first_seq = 0;  // from the file name
  uint64_t last_seq = 0;   // last readable record; first_seq - 1 when there is none
  uint64_t size = 0;       // bytes of the file this spool accounts for (header + records)
  uint8_t max_priority = 0;
  bool sealed = true;  // never appended to again (rolled, failed write or sync, found corrupt)
  std::vector<IndexEntry> index;
  std::vector<GapInfo> gaps;

  bool empty() const { return last_seq < first_seq; }
};

// What the capacity policy dropped and no gap record has reported yet.
struct Drops {
  uint64_t refused_low_priority = 0;
  uint64_t refused_no_room = 0;
  uint64_t deleted = 0;
  uint64_t carried = 0;  // reported by gap records that were deleted before being acked
  uint64_t first_deleted_seq = 0;
  uint64_t last_deleted_seq = 0;
  uint8_t max_priority = 0;

  uint64_t total() const { return refused_low_priority + refused_no_room + deleted + carried; }
  bool any() const { return total() > 0; }
  void AddRange(uint64_t lo, uint64_t hi) {
    if (lo == 0) return;
    if (first_deleted_seq == 0 || lo < first_deleted_seq) first_deleted_seq = lo;
    last_deleted_seq = std::max(last_deleted_seq, hi);
  }
  // Records lo..hi were deleted; `lost` of them held data (the others were gap records, whose
  // reports are carried, not lost).
  void Delete(uint64_t lo, uint64_t hi, uint64_t lost, uint8_t priority) {
    deleted += lost;
    AddRange(lo, hi);
    if (lost > 0) max_priority = std::max(max_priority, priority);
  }
  void Carry(const GapInfo& gap) {
    carried += gap.dropped_count;
    AddRange(gap.first_dropped_seq, gap.last_dropped_seq);
    max_priority = std::max(max_priority, gap.max_priority);
  }
};

std::string GapPayload(const Drops& drops, uint8_t shed_below_priority, int64_t now_ns) {
  std::string reason = "spool full:";
  if (drops.refused_low_priority > 0) {
    reason += " refused " + std::to_string(drops.refused_low_priority) +
              " new records with priority below " + std::to_string(shed_below_priority) + ";";
  }
  if (drops.refused_no_room > 0) {
    reason +=
        " refused " + std::to_string(drops.refused_no_room) + " new records that did not fit;";
  }
  if (drops.deleted > 0) {
    reason += " deleted " + std::to_string(drops.deleted) + " unacked records;";
  }
  if (drops.carried > 0) {
    reason +=
        " " + std::to_string(drops.carried) + " earlier drops whose gap record was deleted unsent;";
  }
  if (drops.first_deleted_seq != 0) {
    reason += " seq " + std::to_string(drops.first_deleted_seq) + ".." +
              std::to_string(drops.last_deleted_seq) + " lost;";
  }
  reason.pop_back();
  custos::v1::Event event;
  event.set_time_ns(now_ns);
  custos::v1::Gap* gap = event.mutable_gap();
  gap->set_dropped_count(drops.total());
  gap->set_first_dropped_seq(drops.first_deleted_seq);
  gap->set_last_dropped_seq(drops.last_deleted_seq);
  gap->set_max_dropped_priority(drops.max_priority);
  gap->set_reason(reason);
  return event.SerializeAsString();
}

// Epochs sort by creation time (Unix ms in the high 44 bits) and carry 20 random bits so two
// spools created in the same millisecond, or under a clock that was reset, still differ.
uint64_t NewEpoch(Clock* clock) {
  const int64_t now_ns = clock->NowUnixNs();
  const uint64_t ms = now_ns > 0 ? static_cast<uint64_t>(now_ns) / 1'000'000 : 0;
  uint32_t random = 0;
  if (Result<std::string> bytes = crypto::RandomBytes(sizeof random); bytes.ok()) {
    std::memcpy(&random, bytes->data(), sizeof random);
  } else {
    random = std::random_device{}();
  }
  const uint64_t epoch = (ms << 20) ^ (random & 0xFFFFFu);
  return epoch == 0 ? 1 : epoch;
}

int64_t EventTimeNs(std::string_view payload) {
  custos::v1::Event event;
  if (!event.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return 0;
  return event.time_ns();
}

class SegmentFileSpool final : public Spool {
 public:
  SegmentFileSpool(fs::FileSystem* fs, const SpoolOptions& options, Clock* clock)
      : fs_(fs), options_(options), clock_(clock) {
    state_path_ = options_.dir + "/" + std::string(kStateFileName);
    segment_bytes_ = std::clamp(options_.segment_bytes, kMinSegmentBytes,
                                std::max(kMinSegmentBytes, options_.max_bytes / 8));
    high_bytes_ =
        static_cast<uint64_t>(static_cast<double>(options_.max_bytes) * options_.high_watermark);
    low_bytes_ =
        static_cast<uint64_t>(static_cast<double>(options_.max_bytes) * options_.low_watermark);
    read_window_ = std::max(options_.read_window_bytes, kMinReadWindowBytes);
    hard_bytes_ = options_.max_bytes - kGapReserveBytes;
    high_bytes_ = std::min(high_bytes_, hard_bytes_);
    low_bytes_ = std::min(low_bytes_, high_bytes_);
  }

  Status Recover();

  Result<uint64_t> Append(std::span<const RecordIn> records) override;
  Status Sync() override;
  uint64_t DurableSeq() const override { return durable_seq_.load(std::memory_order_acquire); }
  Result<std::vector<RecordOut>> Read(uint64_t from_seq, size_t max_records,
                                      size_t max_bytes) override;
  Status Ack(uint64_t seq) override;
  Status PersistAck() override;
  uint64_t OldestUnacked() const override;
  SpoolStats Stats() const override;

 private:
  using SegmentMap = std::map<uint64_t, Segment>;

  struct PendingFile {
    uint64_t first_seq = 0;
    std::unique_ptr<fs::WritableFile> file;
  };

  // A window of one segment file's bytes, so sequential reads do not re-read the file. `data` is
  // the spool's one read buffer: reset keeps its capacity (ResetCacheLocked).
  struct ReadCache {
    uint64_t segment = 0;      // first_seq of the cached segment; 0 when empty
    uint64_t base_offset = 0;  // file offset of data[0], a record boundary
    uint64_t base_seq = 0;     // seq of the record at base_offset
    std::string data;
    bool short_file = false;  // the file held fewer bytes than the spool wrote to it
    uint64_t cursor_seq = 0;  // a known record boundary at or after base (where a Read stopped)
    uint64_t cursor_offset = 0;
    uint64_t end() const { return base_offset + data.size(); }
  };

  enum class ReadStep { kLimit, kSegmentEnd, kNeedLoad, kCorrupt };

  std::string PathOf(uint64_t first_seq) const {
    return options_.dir + "/" + SegmentFileName(first_seq);
  }
  void WarnLocked(std::string warning) {
    if (warnings_.size() < kMaxWarnings) warnings_.push_back(std::move(warning));
  }

  // Recovery.
  Result<std::optional<SpoolState>> ReadStateLocked(bool* rewrite);
  Status QuarantineLocked(uint64_t first_seq, const std::string& reason, uint64_t size);
  Status SupersedeOverlapLocked(uint64_t first_seq);
  Status MakeRecoveredStateDurableLocked();
  // ack_mu_ held: replaces the state file with cursor seq.
  Status PersistAckLocked(uint64_t seq, std::chrono::steady_clock::time_point now);

  // Writer side: writer_mu_ and mu_ held.
  bool AdmitLocked(uint8_t priority, uint64_t record_bytes);
  // Deletes oldest segments (capacity step 2) when a record of record_bytes would not fit under
  // the hard limit, down to the low watermark; returns the bytes then used.
  uint64_t MakeRoomLocked(uint64_t record_bytes);
  bool DeleteOldestLocked();
  Status EncodeLocked(uint8_t type, uint8_t priority, std::string_view payload, int64_t now_ns);
  Status RollLocked();
  Status FlushLocked();
  void DiscardBatchLocked();
  Segment* ActiveLocked();

  // Either side, mu_ held.
  Status RemoveSegmentLocked(SegmentMap::iterator it);
  void CutSegmentLocked(Segment& segment, uint64_t bad_seq, std::string_view why);

  // Reader side: reader_mu_ and mu_ held.
  ReadStep ReadSegmentLocked(Segment& segment, uint64_t* seq, uint64_t limit, size_t max_records,
                             size_t max_bytes, size_t* payload_bytes, std::vector<RecordOut>* out);
  Status LoadCacheLocked(std::unique_lock<std::mutex>& lock, uint64_t segment_seq, uint64_t seq);
  void TrimCacheLocked();
  void ResetCacheLocked();
  // Gives back a read buffer grown far past what the cache holds (after a large record).
  void ShrinkReadBufferLocked();
  // Scans one segment file window by window (recovery), the spool's read buffer as scratch.
  Status ScanSegmentFileLocked(const std::string& path, uint64_t file_size,
                               SegmentScanner* scanner);

  fs::FileSystem* const fs_;
  const SpoolOptions options_;
  Clock* const clock_;
  std::string state_path_;
  uint64_t segment_bytes_ = 0;
  size_t read_window_ = 0;
  uint64_t high_bytes_ = 0;
  uint64_t low_bytes_ = 0;
  uint64_t hard_bytes_ = 0;
  uint64_t epoch_ = 0;  // set by Recover, constant afterwards

  // Serialises Append and Sync; held across fsyncs, which mu_ never is.
  std::mutex writer_mu_;
  std::unique_ptr<fs::WritableFile> active_file_;  // guarded by writer_mu_
  uint64_t active_file_seq_ = 0;                   // guarded by writer_mu_
  std::vector<PendingFile> pending_sync_;          // guarded by writer_mu_; rolled, not yet synced
  // The batch being built (bytes not yet written): guarded by writer_mu_ and mu_.
  std::string buf_;
  uint64_t batch_records_ = 0;
  uint8_t batch_max_priority_ = 0;
  std::vector<IndexEntry> batch_index_;

  // Serialises Read (owner of the cache cursor) and Ack (the state file writer).
  std::mutex reader_mu_;
  std::mutex ack_mu_;
  // The cursor in the state file and when it was written: guarded by ack_mu_ (read under mu_
  // too, while ack_mu_ is held).
  uint64_t persisted_ack_seq_ = 0;
  std::chrono::steady_clock::time_point last_ack_persist_{};

  mutable std::mutex mu_;
  SegmentMap segments_;           // guarded by mu_; by first seq
  uint64_t next_seq_ = 1;         // guarded by mu_
  uint64_t acked_seq_ = 0;        // guarded by mu_
  uint64_t bytes_on_disk_ = 0;    // guarded by mu_; sum of segments_[*].size
  bool dir_dirty_ = false;        // guarded by mu_; segment names created/removed since SyncDir
  bool shedding_ = false;         // guarded by mu_
  Drops pending_drops_;           // guarded by mu_; not yet reported by a gap record
  ReadCache cache_;               // guarded by mu_
  uint64_t dropped_records_ = 0;  // guarded by mu_
  uint64_t gap_records_ = 0;      // guarded by mu_
  uint64_t recovered_truncated_bytes_ = 0;  // guarded by mu_
  uint64_t recovered_dropped_records_ = 0;  // guarded by mu_
  uint64_t read_dropped_records_ = 0;       // guarded by mu_
  std::vector<std::string> warnings_;       // guarded by mu_
  std::atomic<uint64_t> durable_seq_{0};
};

// ---- Recovery ----------------------------------------------------------------------------

Result<std::optional<SpoolState>> SegmentFileSpool::ReadStateLocked(bool* rewrite) {
  Result<std::string> raw = fs_->ReadFile(state_path_);
  if (!raw.ok()) {
    if (raw.status().code() != StatusCode::kNotFound) {
      return raw.status().WithContext("spool: read state file");
    }
    *rewrite = true;
    return std::optional<SpoolState>();
  }
  SpoolState state;
  if (Status st = DecodeState(*raw, &state); !st.ok()) {
    WarnLocked("spool: state file " + state_path_ + ": " + st.message() +
               "; rebuilt from the segments (epoch from their headers, every record unacked)");
    *rewrite = true;
    return std::optional<SpoolState>();
  }
  return std::optional<SpoolState>(state);
}

Status SegmentFileSpool::QuarantineLocked(uint64_t first_seq, const std::string& reason,
                                          uint64_t size) {
  const std::string path = PathOf(first_seq);
  CUSTOS_RETURN_IF_ERROR(fs_->Rename(path, path + std::string(kQuarantineSuffix))
                             .WithContext("spool: quarantine segment"));
  recovered_truncated_bytes_ += size;
  dir_dirty_ = true;
  WarnLocked("spool: segment " + SegmentFileName(first_seq) + ": " + reason + "; renamed to " +
             SegmentFileName(first_seq) + std::string(kQuarantineSuffix) + " and never read");
  return OkStatus();
}

// A later segment holds the records the writer last reported appended (see the overlap rule in
// docs/spool-format.md), so earlier segments give up the seqs it covers.
Status SegmentFileSpool::SupersedeOverlapLocked(uint64_t first_seq) {
  while (!segments_.empty()) {
    auto last = std::prev(segments_.end());
    Segment& prev = last->second;
    if (prev.last_seq < first_seq) return OkStatus();
    const std::string name = SegmentFileName(prev.first_seq);
    if (prev.first_seq >= first_seq) {
      WarnLocked("spool: segment " + name + ": superseded by segment " +
                 SegmentFileName(first_seq) + "; removed");
      recovered_truncated_bytes_ += prev.size;
      CUSTOS_RETURN_IF_ERROR(RemoveSegmentLocked(last));
      continue;
    }
    const std::string path = PathOf(prev.first_seq);
    // The records before first_seq were validated by the scan, so their lengths can be walked,
    // window by window through the spool's read buffer.
    std::string& window = cache_.data;
    window.clear();
    uint64_t window_offset = 0;
    uint64_t offset = kSegmentHeaderSize;
    for (uint64_t seq = prev.first_seq; seq < first_seq; ++seq) {
      if (offset + kRecordHeaderSize > window_offset + window.size()) {
        CUSTOS_RETURN_IF_ERROR(
            fs_->ReadAt(path, offset, read_window_, &window).WithContext("spool: read segment"));
        window_offset = offset;
        if (window.size() < kRecordHeaderSize) break;
      }
      offset += kRecordHeaderSize +
                PeekPayloadLength(std::string_view(window).substr(offset - window_offset));
    }
    window.clear();
    offset = std::min<uint64_t>(offset, prev.size);
    CUSTOS_RETURN_IF_ERROR(fs_->Truncate(path, offset).WithContext("spool: cut segment"));
    WarnLocked("spool: segment " + name + ": records from " + std::to_string(first_seq) +
               " superseded by segment " + SegmentFileName(first_seq) + "; cut " +
               std::to_string(prev.size - offset) + " bytes");
    recovered_truncated_bytes_ += prev.size - offset;
    bytes_on_disk_ -= prev.size - offset;
    prev.size = offset;
    prev.last_seq = first_seq - 1;
    std::erase_if(prev.index, [&](const IndexEntry& e) { return e.seq >= first_seq; });
    return OkStatus();
  }
  return OkStatus();
}

Status SegmentFileSpool::MakeRecoveredStateDurableLocked() {
  // Bytes recovered from the page cache after a process crash may not be on disk yet; they are
  // about to be offered to the uplink, so they must be durable first.
  for (auto& [first_seq, segment] : segments_) {
    CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<fs::WritableFile> file,
                            fs_->OpenAppend(PathOf(first_seq), kFileMode));
    CUSTOS_RETURN_IF_ERROR(file->Sync().WithContext("spool: sync recovered segment"));
    if (!segment.sealed) {
      active_file_ = std::move(file);
      active_file_seq_ = first_seq;
    } else {
      CUSTOS_RETURN_IF_ERROR(file->Close());
    }
  }
  CUSTOS_RETURN_IF_ERROR(fs_->SyncDir(options_.dir).WithContext("spool: sync directory"));
  dir_dirty_ = false;
  return OkStatus();
}

Status SegmentFileSpool::ScanSegmentFileLocked(const std::string& path, uint64_t file_size,
                                               SegmentScanner* scanner) {
  std::string& buffer = cache_.data;  // empty while recovering; kept for Read afterwards
  SegmentScanner::Step step = SegmentScanner::Step::kNeedMore;
  while (step != SegmentScanner::Step::kDone) {
    const uint64_t offset = scanner->offset();
    const uint64_t left = file_size > offset ? file_size - offset : 0;
    if (step == SegmentScanner::Step::kNeedRest) {
      // Corruption: the resynchronising count needs the rest of the file (rare).
      CUSTOS_RETURN_IF_ERROR(fs_->ReadAt(path, offset, static_cast<size_t>(left), &buffer)
                                 .WithContext("spool: read segment"));
      step = scanner->Feed(buffer, /*at_eof=*/true);
      continue;
    }
    // Never more than the file holds, whatever a length field claims.
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(std::max(read_window_, scanner->needed()), left));
    CUSTOS_RETURN_IF_ERROR(
        fs_->ReadAt(path, offset, want, &buffer).WithContext("spool: read segment"));
    const bool at_eof = buffer.size() < want || offset + buffer.size() >= file_size;
    step = scanner->Feed(buffer, at_eof);
  }
  buffer.clear();
  ShrinkReadBufferLocked();
  return OkStatus();
}

Status SegmentFileSpool::Recover() {
  std::lock_guard<std::mutex> writer(writer_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  CUSTOS_RETURN_IF_ERROR(
      fs_->CreateDirs(options_.dir, kDirMode).WithContext("spool: create directory"));

  bool rewrite_state = false;
  CUSTOS_ASSIGN_OR_RETURN(std::optional<SpoolState> state, ReadStateLocked(&rewrite_state));

  Result<std::vector<std::string>> names = fs_->ListDir(options_.dir);
  if (!names.ok()) return names.status().WithContext("spool: list directory");
  std::vector<uint64_t> seqs;
  for (const std::string& name : *names) {
    uint64_t seq = 0;
    if (ParseSegmentFileName(name, &seq)) seqs.push_back(seq);
  }
  std::sort(seqs.begin(), seqs.end());

  if (state) {
    epoch_ = state->epoch;
  } else {
    // The newest segment with a readable header names the stream being continued.
    for (auto it = seqs.rbegin(); it != seqs.rend() && epoch_ == 0; ++it) {
      std::string header;
      CUSTOS_RETURN_IF_ERROR(fs_->ReadAt(PathOf(*it), 0, kSegmentHeaderSize, &header)
                                 .WithContext("spool: read segment"));
      uint32_t version = 0;
      uint64_t epoch = 0;
      if (ParseSegmentHeader(header, &version, &epoch) == HeaderCheck::kOk && epoch != 0) {
        epoch_ = epoch;
      }
    }
    if (epoch_ == 0) {
      epoch_ = NewEpoch(clock_);
    } else {
      WarnLocked("spool: no valid state file; continuing epoch " + std::to_string(epoch_) +
                 " from the segment headers");
    }
  }

  struct Corruption {
    uint64_t last_good = 0;
    uint64_t highest_after = 0;
  };
  std::vector<Corruption> corruptions;
  for (uint64_t first_seq : seqs) {
    const std::string name = SegmentFileName(first_seq);
    const std::string path = PathOf(first_seq);
    Result<uint64_t> file_size = fs_->FileSize(path);
    if (!file_size.ok()) return file_size.status().WithContext("spool: read segment");
    std::string header_bytes;
    CUSTOS_RETURN_IF_ERROR(
        fs_->ReadAt(path, 0, kSegmentHeaderSize, &header_bytes).WithContext("spool: read segment"));
    uint32_t version = 0;
    uint64_t epoch = 0;
    const HeaderCheck header = ParseSegmentHeader(header_bytes, &version, &epoch);
    if (header == HeaderCheck::kTooShort) {
      // Created just before a crash, before its header reached the disk.
      if (*file_size > 0) {
        WarnLocked("spool: segment " + name + ": torn header; removed");
        recovered_truncated_bytes_ += *file_size;
      }
      CUSTOS_RETURN_IF_ERROR(fs_->Remove(path).WithContext("spool: remove torn segment"));
      dir_dirty_ = true;
      continue;
    }
    if (header == HeaderCheck::kBadMagic) {
      CUSTOS_RETURN_IF_ERROR(QuarantineLocked(first_seq, "bad magic", *file_size));
      continue;
    }
    if (header == HeaderCheck::kUnknownVersion) {
      CUSTOS_RETURN_IF_ERROR(QuarantineLocked(first_seq,
                                              "format version " + std::to_string(version) +
                                                  " (this agent reads " +
                                                  std::to_string(kFormatVersion) + ")",
                                              *file_size));
      continue;
    }
    if (epoch != epoch_) {
      CUSTOS_RETURN_IF_ERROR(QuarantineLocked(
          first_seq,
          "epoch " + std::to_string(epoch) + " is not the spool's " + std::to_string(epoch_),
          *file_size));
      continue;
    }

    // The index (with each entry's event time) and the gap records are collected while their
    // records are in the read window.
    Segment segment;
    segment.first_seq = first_seq;
    auto on_record = [](void* ctx, const RecordView& rec, uint64_t offset, bool indexed,
                        bool typed) {
      Segment& seg = *static_cast<Segment*>(ctx);
      if (indexed) seg.index.push_back({rec.seq, offset, EventTimeNs(rec.payload)});
      custos::v1::Event event;
      if (typed && event.ParseFromArray(rec.payload.data(), static_cast<int>(rec.payload.size())) &&
          event.has_gap()) {
        const custos::v1::Gap& gap = event.gap();
        seg.gaps.push_back(
            {rec.seq, gap.dropped_count(), gap.first_dropped_seq(), gap.last_dropped_seq(),
             static_cast<uint8_t>(std::min<uint32_t>(gap.max_dropped_priority(), 255))});
      }
    };
    SegmentScanner scanner(first_seq, kIndexInterval, kGapRecordType, on_record, &segment);
    CUSTOS_RETURN_IF_ERROR(ScanSegmentFileLocked(path, *file_size, &scanner));
    const SegmentScan& scan = scanner.scan();
    if (scan.corrupt) {
      const uint64_t cut = *file_size - scan.valid_bytes;
      WarnLocked("spool: segment " + name + ": " + scan.reason + "; cut " + std::to_string(cut) +
                 " bytes");
      recovered_truncated_bytes_ += cut;
      CUSTOS_RETURN_IF_ERROR(
          fs_->Truncate(path, scan.valid_bytes).WithContext("spool: cut corrupt segment"));
      corruptions.push_back({scan.last_seq, scan.highest_seq_after_corruption});
    }
    if (scan.last_seq < first_seq) {
      CUSTOS_RETURN_IF_ERROR(fs_->Remove(path).WithContext("spool: remove empty segment"));
      dir_dirty_ = true;
      continue;
    }
    CUSTOS_RETURN_IF_ERROR(SupersedeOverlapLocked(first_seq));
    segment.last_seq = scan.last_seq;
    segment.size = scan.valid_bytes;
    segment.max_priority = scan.max_priority;
    bytes_on_disk_ += segment.size;
    segments_.emplace(first_seq, std::move(segment));
  }

  // Records lost after a corrupt record: up to the next segment's first seq (exact), or up to
  // the highest intact record seen past the corruption. Their seqs are never reused.
  uint64_t highest_lost = 0;
  for (const Corruption& c : corruptions) {
    uint64_t hi = c.highest_after;
    if (auto next = segments_.upper_bound(c.last_good); next != segments_.end()) {
      hi = std::max(hi, next->first - 1);
    }
    if (hi > c.last_good) recovered_dropped_records_ += hi - c.last_good;
    highest_lost = std::max(highest_lost, hi);
  }

  uint64_t acked = 0;
  if (state) {
    acked = state->acked_seq;
  } else if (!segments_.empty()) {
    acked = segments_.begin()->first - 1;
    WarnLocked("spool: ack cursor unknown; every record from seq " + std::to_string(acked + 1) +
               " will be sent again");
  }
  while (!segments_.empty() && segments_.begin()->second.last_seq <= acked) {
    CUSTOS_RETURN_IF_ERROR(RemoveSegmentLocked(segments_.begin()));
  }
  acked_seq_ = acked;
  persisted_ack_seq_ = acked;  // written below if it differs from the file's
  last_ack_persist_ = clock_->SteadyNow();
  uint64_t next = std::max(acked + 1, highest_lost + 1);
  if (!segments_.empty()) next = std::max(next, segments_.rbegin()->second.last_seq + 1);
  next_seq_ = next;
  durable_seq_.store(next - 1, std::memory_order_release);
  if (!segments_.empty()) {
    Segment& last = segments_.rbegin()->second;
    last.sealed = !(last.last_seq + 1 == next && last.size < segment_bytes_);
  }
  CUSTOS_RETURN_IF_ERROR(MakeRecoveredStateDurableLocked());
  if (rewrite_state || !state || state->acked_seq != acked) {
    CUSTOS_RETURN_IF_ERROR(
        fs::WriteFileAtomic(fs_, state_path_, EncodeState({epoch_, acked}), kFileMode)
            .WithContext("spool: write state file"));
  }
  return OkStatus();
}

// ---- Writer ------------------------------------------------------------------------------

Segment* SegmentFileSpool::ActiveLocked() {
  if (segments_.empty()) return nullptr;
  Segment& last = segments_.rbegin()->second;
  return last.sealed ? nullptr : &last;
}

bool SegmentFileSpool::AdmitLocked(uint8_t priority, uint64_t record_bytes) {
  uint64_t used = bytes_on_disk_ + buf_.size();
  if (shedding_ && used <= low_bytes_) shedding_ = false;
  if (!shedding_ && used + record_bytes > high_bytes_) shedding_ = true;
  if (shedding_ && priority < options_.shed_below_priority) {
    ++pending_drops_.refused_low_priority;
    pending_drops_.max_priority = std::max(pending_drops_.max_priority, priority);
    ++dropped_records_;
    return false;
  }
  if (used + record_bytes > hard_bytes_) {
    used = MakeRoomLocked(record_bytes);
    if (used + record_bytes > hard_bytes_) {
      ++pending_drops_.refused_no_room;
      pending_drops_.max_priority = std::max(pending_drops_.max_priority, priority);
      ++dropped_records_;
      return false;
    }
  }
  return true;
}

uint64_t SegmentFileSpool::MakeRoomLocked(uint64_t record_bytes) {
  uint64_t used = bytes_on_disk_ + buf_.size();
  if (used + record_bytes <= hard_bytes_) return used;
  while (used + record_bytes > low_bytes_ && DeleteOldestLocked()) {
    used = bytes_on_disk_ + buf_.size();
  }
  return used;
}

bool SegmentFileSpool::DeleteOldestLocked() {
  if (segments_.size() < 2) return false;  // never the segment being written
  auto it = segments_.begin();
  const uint64_t lo = std::max(it->second.first_seq, acked_seq_ + 1);
  const uint64_t hi = it->second.last_seq;
  const uint8_t priority = it->second.max_priority;
  const std::vector<GapInfo> gaps = std::move(it->second.gaps);
  if (Status st = RemoveSegmentLocked(it); !st.ok()) {
    it->second.gaps = gaps;
    WarnLocked(st.ToString());
    return false;
  }
  uint64_t gap_records = 0;
  for (const GapInfo& gap : gaps) {
    if (gap.seq <= acked_seq_) continue;
    pending_drops_.Carry(gap);
    if (gap.seq >= lo && gap.seq <= hi) ++gap_records;
  }
  if (lo <= hi) {
    // A deleted gap record is not a lost record: what it reported is carried on (above).
    const uint64_t lost = hi - lo + 1 - gap_records;
    pending_drops_.Delete(lo, hi, lost, priority);
    dropped_records_ += lost;
  }
  return true;
}

Status SegmentFileSpool::RemoveSegmentLocked(SegmentMap::iterator it) {
  Status st = fs_->Remove(PathOf(it->first));
  if (!st.ok() && st.code() != StatusCode::kNotFound) {
    return st.WithContext("spool: remove segment");
  }
  bytes_on_disk_ -= it->second.size;
  if (cache_.segment == it->first) ResetCacheLocked();
  segments_.erase(it);
  dir_dirty_ = true;
  return OkStatus();
}

void SegmentFileSpool::DiscardBatchLocked() {
  if (buf_.capacity() > kMaxRetainedBufferBytes) {
    std::string().swap(buf_);
  } else {
    buf_.clear();
  }
  batch_records_ = 0;
  batch_max_priority_ = 0;
  batch_index_.clear();
}

Status SegmentFileSpool::RollLocked() {
  if (!segments_.empty()) segments_.rbegin()->second.sealed = true;
  if (active_file_) {
    pending_sync_.push_back({active_file_seq_, std::move(active_file_)});
    active_file_seq_ = 0;
  }
  const uint64_t seq = next_seq_;
  if (auto it = segments_.find(seq); it != segments_.end()) {
    CUSTOS_CHECK(it->second.empty()) << "a segment holds seqs at or past next_seq " << seq;
    bytes_on_disk_ -= it->second.size;
    segments_.erase(it);  // an empty leftover; OpenTruncate below reuses its name
  }
  Result<std::unique_ptr<fs::WritableFile>> file = fs_->OpenTruncate(PathOf(seq), kFileMode);
  if (!file.ok()) return file.status().WithContext("spool: create segment");
  Segment segment;
  segment.first_seq = seq;
  segment.last_seq = seq - 1;
  segment.sealed = false;
  segments_.emplace(seq, std::move(segment));
  active_file_ = std::move(*file);
  active_file_seq_ = seq;
  dir_dirty_ = true;
  AppendSegmentHeader(epoch_, &buf_);
  return OkStatus();
}

Status SegmentFileSpool::EncodeLocked(uint8_t type, uint8_t priority, std::string_view payload,
                                      int64_t now_ns) {
  Segment* segment = ActiveLocked();
  const bool full = segment != nullptr &&
                    (segment->last_seq + 1 - segment->first_seq) + batch_records_ > 0 &&
                    segment->size + buf_.size() >= segment_bytes_;
  if (segment == nullptr || full) {
    CUSTOS_RETURN_IF_ERROR(FlushLocked());
    CUSTOS_RETURN_IF_ERROR(RollLocked());
    segment = ActiveLocked();
  }
  const uint64_t seq = next_seq_ + batch_records_;
  if ((seq - segment->first_seq) % kIndexInterval == 0) {
    batch_index_.push_back({seq, segment->size + buf_.size(), now_ns});
  }
  AppendRecord(seq, type, priority, payload, &buf_);
  ++batch_records_;
  batch_max_priority_ = std::max(batch_max_priority_, priority);
  return OkStatus();
}

Status SegmentFileSpool::FlushLocked() {
  if (buf_.empty()) return OkStatus();
  // The batch always belongs to the newest segment, which EncodeLocked made writable.
  Segment& segment = segments_.rbegin()->second;
  const uint64_t first_seq = segment.first_seq;
  if (!active_file_) {
    Result<std::unique_ptr<fs::WritableFile>> file = fs_->OpenAppend(PathOf(first_seq), kFileMode);
    if (!file.ok()) {
      DiscardBatchLocked();
      return file.status().WithContext("spool: open segment");
    }
    active_file_ = std::move(*file);
    active_file_seq_ = first_seq;
  }
  if (Status st = active_file_->Append(buf_); !st.ok()) {
    // A failed write may have left part of the batch in the file: cut it back to the last
    // record boundary and never append to this file again (its good prefix is still synced).
    segment.sealed = true;
    pending_sync_.push_back({active_file_seq_, std::move(active_file_)});
    active_file_seq_ = 0;
    if (segment.size == 0) {
      fs_->Remove(PathOf(first_seq)).IgnoreError();
      segments_.erase(first_seq);
      dir_dirty_ = true;
    } else {
      fs_->Truncate(PathOf(first_seq), segment.size).IgnoreError();
    }
    DiscardBatchLocked();
    return st.WithContext("spool: append");
  }
  const uint64_t old_size = segment.size;
  segment.size += buf_.size();
  bytes_on_disk_ += buf_.size();
  segment.last_seq += batch_records_;
  next_seq_ += batch_records_;
  segment.max_priority = std::max(segment.max_priority, batch_max_priority_);
  segment.index.insert(segment.index.end(), batch_index_.begin(), batch_index_.end());
  if (cache_.segment == first_seq && !cache_.short_file && cache_.end() == old_size &&
      cache_.data.size() + buf_.size() <= kReadCacheFollowWindows * read_window_) {
    cache_.data.append(buf_);
  }
  DiscardBatchLocked();
  return OkStatus();
}

Result<uint64_t> SegmentFileSpool::Append(std::span<const RecordIn> records) {
  size_t total = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].payload.size() > kMaxPayloadBytes) {
      return InvalidArgumentError("spool: append: record " + std::to_string(i) + ": payload of " +
                                  std::to_string(records[i].payload.size()) +
                                  " bytes exceeds the limit of " +
                                  std::to_string(kMaxPayloadBytes));
    }
    total += kRecordHeaderSize + records[i].payload.size();
  }
  std::lock_guard<std::mutex> writer(writer_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t first = next_seq_;
  const int64_t now_ns = clock_->NowUnixNs();
  buf_.reserve(std::min<size_t>(total + kSegmentHeaderSize, segment_bytes_ + kSegmentHeaderSize));
  for (const RecordIn& record : records) {
    if (!AdmitLocked(record.priority, kRecordHeaderSize + record.payload.size())) continue;
    CUSTOS_RETURN_IF_ERROR(EncodeLocked(record.type, record.priority, record.payload, now_ns));
  }
  if (pending_drops_.any()) {
    // The gap record counts against the cap like any admitted record: while the spool sheds,
    // every Append writes one, and unchecked they would grow it past max_bytes for as long as an
    // outage lasts. Making room may delete segments, which the record then reports too (the
    // reserve under max_bytes covers its few bytes of growth).
    MakeRoomLocked(kRecordHeaderSize +
                   GapPayload(pending_drops_, options_.shed_below_priority, now_ns).size());
    const std::string gap = GapPayload(pending_drops_, options_.shed_below_priority, now_ns);
    CUSTOS_RETURN_IF_ERROR(EncodeLocked(kGapRecordType, kGapPriority, gap, now_ns));
    CUSTOS_RETURN_IF_ERROR(FlushLocked());
    segments_.rbegin()->second.gaps.push_back(
        {next_seq_ - 1, pending_drops_.total(), pending_drops_.first_deleted_seq,
         pending_drops_.last_deleted_seq, pending_drops_.max_priority});
    pending_drops_ = Drops();
    ++gap_records_;
    return first;
  }
  CUSTOS_RETURN_IF_ERROR(FlushLocked());
  return first;
}

Status SegmentFileSpool::Sync() {
  std::lock_guard<std::mutex> writer(writer_mu_);
  uint64_t target = 0;
  bool sync_dir = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    target = next_seq_ - 1;
    sync_dir = dir_dirty_;
    dir_dirty_ = false;
  }
  auto failed = [&](const Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    dir_dirty_ = dir_dirty_ || sync_dir;
    // Linux may drop the dirty pages of a failed fsync and report the next one clean, so this
    // file is not trusted with more records: the next Append starts a new segment.
    if (Segment* active = ActiveLocked(); active != nullptr) active->sealed = true;
    return st.WithContext("spool: sync");
  };
  for (PendingFile& pending : pending_sync_) {
    if (Status st = pending.file->Sync(); !st.ok()) return failed(st);
  }
  if (active_file_) {
    if (Status st = active_file_->Sync(); !st.ok()) return failed(st);
  }
  if (sync_dir) {
    if (Status st = fs_->SyncDir(options_.dir); !st.ok()) return failed(st);
  }
  for (PendingFile& pending : pending_sync_) pending.file->Close().IgnoreError();
  pending_sync_.clear();
  if (target > durable_seq_.load(std::memory_order_relaxed)) {
    durable_seq_.store(target, std::memory_order_release);
  }
  return OkStatus();
}

// ---- Reader ------------------------------------------------------------------------------

void SegmentFileSpool::CutSegmentLocked(Segment& segment, uint64_t bad_seq, std::string_view why) {
  if (bad_seq > segment.last_seq) return;
  const uint64_t lost = segment.last_seq - bad_seq + 1;
  read_dropped_records_ += lost;
  WarnLocked("spool: read: segment " + SegmentFileName(segment.first_seq) + ": record " +
             std::to_string(bad_seq) + ": " + std::string(why) + "; " + std::to_string(lost) +
             " records skipped");
  segment.last_seq = bad_seq - 1;
  std::erase_if(segment.index, [&](const IndexEntry& e) { return e.seq >= bad_seq; });
  segment.sealed = true;  // if it was being written, the writer moves to a new segment
  if (cache_.segment == segment.first_seq && cache_.cursor_seq > bad_seq) {
    cache_.cursor_seq = cache_.base_seq;
    cache_.cursor_offset = cache_.base_offset;
  }
}

Status SegmentFileSpool::LoadCacheLocked(std::unique_lock<std::mutex>& lock, uint64_t segment_seq,
                                         uint64_t seq) {
  auto it = segments_.find(segment_seq);
  if (it == segments_.end()) return OkStatus();
  const Segment& segment = it->second;
  // Start at the closest known record boundary at or before seq: where the last Read of this
  // segment stopped (sequential reads go on from there) or an index entry.
  uint64_t base_offset = kSegmentHeaderSize;
  uint64_t base_seq = segment.first_seq;
  for (const IndexEntry& e : segment.index) {
    if (e.seq > seq) break;
    if (e.offset <= segment.size) {
      base_offset = e.offset;
      base_seq = e.seq;
    }
  }
  if (cache_.segment == segment_seq && cache_.cursor_seq <= seq && cache_.cursor_seq >= base_seq &&
      cache_.cursor_offset <= segment.size) {
    base_offset = cache_.cursor_offset;
    base_seq = cache_.cursor_seq;
  }
  // Only bytes the spool had written before the read started are used, so a concurrent append
  // is harmless; the writer must not wait for the read, so the lock is released, and the buffer
  // is taken out of the cache meanwhile (the writer appends to a cache that ends where it writes).
  const uint64_t available = segment.size - base_offset;
  size_t want = static_cast<size_t>(std::min<uint64_t>(available, read_window_));
  const std::string path = PathOf(segment_seq);
  std::string data = std::move(cache_.data);
  ResetCacheLocked();
  lock.unlock();
  Status st = fs_->ReadAt(path, base_offset, want, &data);
  if (st.ok() && base_seq == seq && data.size() == want && data.size() >= kRecordHeaderSize) {
    // A wanted record larger than the window is read whole (a length over the limit is
    // corruption, which the read reports); one only skipped over needs just its header.
    const uint64_t record = kRecordHeaderSize + uint64_t{PeekPayloadLength(data)};
    if (record > want && record <= available && record <= kRecordHeaderSize + kMaxPayloadBytes) {
      want = static_cast<size_t>(record);
      st = fs_->ReadAt(path, base_offset, want, &data);
    }
  }
  lock.lock();
  it = segments_.find(segment_seq);
  const bool gone = it == segments_.end();  // deleted meanwhile; the caller looks again
  if (gone || !st.ok()) {
    data.clear();
    cache_.data = std::move(data);
    if (gone) return OkStatus();
    return st.WithContext("spool: read segment");
  }
  cache_.segment = segment_seq;
  cache_.base_seq = base_seq;
  cache_.base_offset = base_offset;
  cache_.short_file = data.size() < want;  // the file holds fewer bytes than were written
  cache_.data = std::move(data);
  cache_.cursor_seq = base_seq;
  cache_.cursor_offset = base_offset;
  return OkStatus();
}

void SegmentFileSpool::ShrinkReadBufferLocked() {
  const size_t keep = std::max(cache_.data.size(), kReadCacheFollowWindows * read_window_);
  if (cache_.data.capacity() > 2 * keep) cache_.data.shrink_to_fit();
}

void SegmentFileSpool::ResetCacheLocked() {
  std::string buffer = std::move(cache_.data);
  buffer.clear();
  cache_ = ReadCache();
  cache_.data = std::move(buffer);
}

SegmentFileSpool::ReadStep SegmentFileSpool::ReadSegmentLocked(Segment& segment, uint64_t* seq,
                                                               uint64_t limit, size_t max_records,
                                                               size_t max_bytes,
                                                               size_t* payload_bytes,
                                                               std::vector<RecordOut>* out) {
  if (cache_.segment != segment.first_seq || *seq < cache_.base_seq) return ReadStep::kNeedLoad;
  // Bytes missing from the cache are either not loaded yet or gone from the file.
  auto missing = [&](uint64_t at_seq) {
    if (!cache_.short_file && cache_.end() < segment.size) return ReadStep::kNeedLoad;
    CutSegmentLocked(segment, at_seq, "segment file shorter than written");
    return ReadStep::kCorrupt;
  };
  // Position at *seq: from the closest known record boundary at or before it.
  uint64_t at_seq = cache_.base_seq;
  uint64_t offset = cache_.base_offset;
  if (cache_.cursor_seq >= at_seq && cache_.cursor_seq <= *seq) {
    at_seq = cache_.cursor_seq;
    offset = cache_.cursor_offset;
  }
  for (const IndexEntry& e : segment.index) {
    if (e.seq > *seq) break;
    if (e.seq > at_seq && e.offset >= cache_.base_offset && e.offset <= cache_.end()) {
      at_seq = e.seq;
      offset = e.offset;
    }
  }
  std::string_view bytes(cache_.data);
  while (at_seq < *seq) {
    const uint64_t rel = offset - cache_.base_offset;
    if (rel + kRecordHeaderSize > bytes.size()) {
      cache_.cursor_seq = at_seq;  // the next load starts here
      cache_.cursor_offset = offset;
      return missing(at_seq);
    }
    const uint32_t len = PeekPayloadLength(bytes.substr(rel));
    if (len > kMaxPayloadBytes || offset + kRecordHeaderSize + len > segment.size) {
      CutSegmentLocked(segment, at_seq, "impossible length");
      return ReadStep::kCorrupt;
    }
    offset += kRecordHeaderSize + len;
    ++at_seq;
  }
  const uint64_t stop = std::min(limit, segment.last_seq);
  ReadStep step = ReadStep::kSegmentEnd;
  while (*seq <= stop) {
    if (out->size() >= max_records) {
      step = ReadStep::kLimit;
      break;
    }
    const uint64_t rel = offset - cache_.base_offset;
    RecordView rec;
    const RecordCheck check =
        DecodeRecord(bytes.substr(std::min<uint64_t>(rel, bytes.size())), &rec);
    if (check == RecordCheck::kTruncatedHeader || check == RecordCheck::kTruncatedPayload) {
      const uint32_t len =
          check == RecordCheck::kTruncatedPayload ? PeekPayloadLength(bytes.substr(rel)) : 0;
      if (offset + kRecordHeaderSize + len > segment.size) {
        CutSegmentLocked(segment, *seq, "record extends past the written size");
        return ReadStep::kCorrupt;
      }
      cache_.cursor_seq = *seq;
      cache_.cursor_offset = offset;
      return missing(*seq);
    }
    if (check != RecordCheck::kOk || rec.seq != *seq) {
      CutSegmentLocked(segment, *seq,
                       check != RecordCheck::kOk ? RecordCheckName(check) : "unexpected seq");
      return ReadStep::kCorrupt;
    }
    if (!out->empty() && *payload_bytes + rec.payload.size() > max_bytes) {
      step = ReadStep::kLimit;
      break;
    }
    out->push_back(RecordOut{rec.seq, rec.type, rec.priority, std::string(rec.payload)});
    *payload_bytes += rec.payload.size();
    offset += rec.size;
    ++*seq;
  }
  cache_.cursor_seq = *seq;
  cache_.cursor_offset = offset;
  if (step == ReadStep::kLimit || *seq > limit) return ReadStep::kLimit;
  return ReadStep::kSegmentEnd;
}

void SegmentFileSpool::TrimCacheLocked() {
  if (cache_.segment == 0) return;
  auto it = segments_.find(cache_.segment);
  if (it == segments_.end()) {
    ResetCacheLocked();
    return;
  }
  // Keep what a replay from the oldest unacked record would need.
  const uint64_t keep_from = std::min(acked_seq_ + 1, cache_.cursor_seq);
  const IndexEntry* cut = nullptr;
  for (const IndexEntry& e : it->second.index) {
    if (e.seq > keep_from) break;
    if (e.seq >= cache_.base_seq && e.offset >= cache_.base_offset && e.offset <= cache_.end()) {
      cut = &e;
    }
  }
  if (cut == nullptr || cut->offset - cache_.base_offset < read_window_ / 2) return;
  cache_.data.erase(0, cut->offset - cache_.base_offset);
  cache_.base_offset = cut->offset;
  cache_.base_seq = cut->seq;
}

Result<std::vector<RecordOut>> SegmentFileSpool::Read(uint64_t from_seq, size_t max_records,
                                                      size_t max_bytes) {
  std::lock_guard<std::mutex> reader(reader_mu_);
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<RecordOut> out;
  uint64_t seq = std::max(from_seq, acked_seq_ + 1);
  size_t payload_bytes = 0;
  size_t loads = 0;
  const size_t max_loads = kMaxReadReloads + max_bytes / read_window_;
  while (out.size() < max_records) {
    const uint64_t limit = durable_seq_.load(std::memory_order_acquire);
    if (seq > limit) break;
    auto it = segments_.upper_bound(seq);
    if (it != segments_.begin() && std::prev(it)->second.last_seq >= seq) {
      --it;
    } else {
      // seq is in a hole: skip it if nothing was read yet, else it ends the batch.
      while (it != segments_.end() && it->second.empty()) ++it;
      if (it == segments_.end() || !out.empty()) break;
      seq = it->second.first_seq;
      continue;
    }
    const ReadStep step =
        ReadSegmentLocked(it->second, &seq, limit, max_records, max_bytes, &payload_bytes, &out);
    if (step == ReadStep::kLimit) break;
    if (step == ReadStep::kNeedLoad) {
      // Each load moves the read on by at least one record. Positioning at the first record
      // (from an index entry, up to kIndexInterval records before it) may take a load per
      // record when records are larger than the window: a Read returns nothing only when it
      // must.
      if (++loads > (out.empty() ? max_loads + kIndexInterval : max_loads)) break;
      if (Status st = LoadCacheLocked(lock, it->first, seq); !st.ok()) {
        if (!out.empty()) break;  // return what was read; the error recurs on the next call
        return st;
      }
    }
    // kSegmentEnd and kCorrupt: look up the segment holding seq again.
  }
  TrimCacheLocked();
  ShrinkReadBufferLocked();
  return out;
}

Status SegmentFileSpool::Ack(uint64_t seq) {
  std::lock_guard<std::mutex> ack(ack_mu_);
  bool frees_segment = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (seq <= acked_seq_) return OkStatus();
    if (!segments_.empty()) {
      auto oldest = segments_.begin();
      const bool being_written = std::next(oldest) == segments_.end() && !oldest->second.sealed;
      frees_segment = !being_written && oldest->second.last_seq <= seq;
    }
  }
  const uint64_t durable = DurableSeq();
  if (seq > durable) {
    return InvalidArgumentError("spool: ack " + std::to_string(seq) + ": beyond durable seq " +
                                std::to_string(durable));
  }
  const auto now = clock_->SteadyNow();
  const bool due = options_.ack_persist_interval.count() <= 0 ||
                   now - last_ack_persist_ >= options_.ack_persist_interval;
  if (frees_segment || due) {
    CUSTOS_RETURN_IF_ERROR(PersistAckLocked(seq, now));
  }
  std::lock_guard<std::mutex> lock(mu_);
  acked_seq_ = seq;
  Status result;
  while (!segments_.empty()) {
    auto it = segments_.begin();
    const bool being_written = std::next(it) == segments_.end() && !it->second.sealed;
    // Never delete past the persisted cursor: recovery derives the next seq from what is on
    // disk, so records above it must stay until the cursor covering them is durable.
    if (being_written || it->second.last_seq > persisted_ack_seq_) break;
    result = RemoveSegmentLocked(it);
    if (!result.ok()) break;
  }
  if (shedding_ && bytes_on_disk_ <= low_bytes_) shedding_ = false;
  return result;
}

Status SegmentFileSpool::PersistAckLocked(uint64_t seq, std::chrono::steady_clock::time_point now) {
  CUSTOS_RETURN_IF_ERROR(
      fs::WriteFileAtomic(fs_, state_path_, EncodeState({epoch_, seq}), kFileMode)
          .WithContext("spool: persist ack cursor"));
  persisted_ack_seq_ = seq;
  last_ack_persist_ = now;
  return OkStatus();
}

Status SegmentFileSpool::PersistAck() {
  std::lock_guard<std::mutex> ack(ack_mu_);
  uint64_t acked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    acked = acked_seq_;
  }
  if (acked <= persisted_ack_seq_) return OkStatus();
  return PersistAckLocked(acked, clock_->SteadyNow());
}

uint64_t SegmentFileSpool::OldestUnacked() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [first_seq, segment] : segments_) {
    if (!segment.empty() && segment.last_seq > acked_seq_) {
      return std::max(first_seq, acked_seq_ + 1);
    }
  }
  return 0;
}

SpoolStats SegmentFileSpool::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SpoolStats stats;
  stats.epoch = epoch_;
  stats.next_seq = next_seq_;
  stats.acked_seq = acked_seq_;
  stats.bytes_on_disk = bytes_on_disk_;
  stats.segments = static_cast<uint32_t>(segments_.size());
  for (const auto& [first_seq, segment] : segments_) {
    if (segment.empty() || segment.last_seq <= acked_seq_) continue;
    const uint64_t lo = std::max(first_seq, acked_seq_ + 1);
    if (stats.unacked_records == 0) {
      // Dated by the closest index entry at or before the oldest unacked record (or the first
      // dated one after it).
      for (const IndexEntry& e : segment.index) {
        if (e.seq > lo && stats.oldest_unacked_time_ns != 0) break;
        if (e.time_ns != 0) stats.oldest_unacked_time_ns = e.time_ns;
      }
    }
    stats.unacked_records += segment.last_seq - lo + 1;
  }
  stats.dropped_records = dropped_records_;
  stats.recovered_truncated_bytes = recovered_truncated_bytes_;
  stats.recovered_dropped_records = recovered_dropped_records_;
  stats.gap_records = gap_records_;
  stats.read_dropped_records = read_dropped_records_;
  stats.shedding = shedding_;
  stats.recovery_warnings = warnings_;
  return stats;
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::Open(fs::FileSystem* fs, const SpoolOptions& options,
                                           Clock* clock) {
  if (options.dir.empty()) return InvalidArgumentError("spool: options: dir is empty");
  if (options.max_bytes < kMinMaxBytes) {
    return InvalidArgumentError("spool: options: max_bytes " + std::to_string(options.max_bytes) +
                                " is below the minimum of " + std::to_string(kMinMaxBytes));
  }
  if (!(options.low_watermark > 0 && options.low_watermark < options.high_watermark &&
        options.high_watermark <= 1)) {
    return InvalidArgumentError(
        "spool: options: watermarks must satisfy 0 < low_watermark < high_watermark <= 1");
  }
  auto spool = std::make_unique<SegmentFileSpool>(fs, options, clock);
  CUSTOS_RETURN_IF_ERROR(spool->Recover());
  return std::unique_ptr<Spool>(std::move(spool));
}

}  // namespace custos::agent::spool
