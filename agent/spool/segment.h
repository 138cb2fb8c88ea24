// agent/spool internal: the on-disk byte format of segment and state files (specified in
// docs/spool-format.md; keep the two in step). Pure functions over bytes, no I/O, so they are
// shared by the spool, its tests and its fuzzer. Every decoder accepts arbitrary bytes: it never
// reads out of bounds and never allocates from a length it read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::agent::spool {

inline constexpr char kSegmentMagic[4] = {'C', 'S', 'P', 'L'};
inline constexpr char kStateMagic[4] = {'C', 'S', 'S', 'T'};
inline constexpr uint32_t kFormatVersion = 1;
// "CSPL", u32 version, u64 epoch.
inline constexpr size_t kSegmentHeaderSize = 16;
// u32 payload length, u32 crc32c, u64 seq, u8 type, u8 priority.
inline constexpr size_t kRecordHeaderSize = 18;
// Largest payload a record may carry; a larger length field is corruption.
inline constexpr uint32_t kMaxPayloadBytes = 16u << 20;
// Seqs above this are never valid (a file name or state file claiming one is corrupt), so
// seq + 1 never overflows.
inline constexpr uint64_t kMaxSeq = uint64_t{1} << 62;
// "CSST", u32 version, u64 epoch, u64 acked seq, u32 crc32c of the preceding 24 bytes.
inline constexpr size_t kStateFileSize = 28;

// "seg-00000000000000000042.log": the seq of the segment's first record, 20 digits.
std::string SegmentFileName(uint64_t first_seq);
// True (and *first_seq set) when `name` is exactly a segment file name with 1 <= seq <= kMaxSeq.
bool ParseSegmentFileName(std::string_view name, uint64_t* first_seq);

void AppendSegmentHeader(uint64_t epoch, std::string* out);
enum class HeaderCheck { kOk, kTooShort, kBadMagic, kUnknownVersion };
HeaderCheck ParseSegmentHeader(std::string_view bytes, uint32_t* version, uint64_t* epoch);

// Appends one encoded record to `out` (payload.size() <= kMaxPayloadBytes).
void AppendRecord(uint64_t seq, uint8_t type, uint8_t priority, std::string_view payload,
                  std::string* out);

struct RecordView {
  uint64_t seq = 0;
  uint8_t type = 0;
  uint8_t priority = 0;
  std::string_view payload;  // points into the decoded bytes
  size_t size = 0;           // header + payload
};
enum class RecordCheck { kOk, kTruncatedHeader, kBadLength, kTruncatedPayload, kBadCrc };
std::string_view RecordCheckName(RecordCheck check);
// Decodes the record at the start of `bytes`. Does not check the seq against an expectation.
RecordCheck DecodeRecord(std::string_view bytes, RecordView* out);
// The payload length field of the record at the start of `bytes` (which must hold a header).
uint32_t PeekPayloadLength(std::string_view bytes);

// The result of scanning a whole segment file (header included) whose name says `first_seq`.
struct SegmentScan {
  uint64_t last_seq = 0;     // seq of the last valid record; first_seq - 1 when none
  uint64_t valid_bytes = 0;  // header + the valid records: where the file is cut
  uint8_t max_priority = 0;  // over the valid records
  std::vector<std::pair<uint64_t, uint64_t>> index;  // (seq, offset) every index_interval records
  std::vector<std::pair<uint64_t, uint64_t>> typed;  // (seq, offset) of records of collect_type
  bool corrupt = false;  // bytes after valid_bytes that are not a valid next record
  std::string reason;    // why the scan stopped early ("record 12 at offset 300: ...")
  // Highest seq of an intact record found after the corruption (a bounded resynchronising scan;
  // those records are not recovered, only counted and never reused), 0 when none.
  uint64_t highest_seq_after_corruption = 0;
};
// Requires a valid header (ParseSegmentHeader == kOk). Records must start at `first_seq` and be
// consecutive; the scan stops at the first record that is torn, fails its CRC, has an impossible
// length or an unexpected seq.
SegmentScan ScanSegment(std::string_view segment, uint64_t first_seq, uint64_t index_interval,
                        uint8_t collect_type);

// ScanSegment over a file read piece by piece, so a segment is checked without holding all of
// it in memory. Feed it the file's bytes from offset() on; it consumes whole records:
//   kNeedMore  the next record is not complete in what was fed: feed the bytes from offset()
//              on again, at least needed() of them (the file has more; else say at_eof);
//   kNeedRest  a bad record was found: feed everything from offset() to the end of the file with
//              at_eof, so the lost records after it can be counted (rare: corruption only);
//   kDone      scan() is final (corrupt or not), as ScanSegment would have returned it.
// The result is the same however the file is cut into pieces. `on_record`, when set, sees each
// valid record that is indexed or of collect_type while its payload is still in memory, and
// which of the two it is.
class SegmentScanner {
 public:
  enum class Step { kNeedMore, kNeedRest, kDone };
  using RecordHook = void (*)(void* ctx, const RecordView& rec, uint64_t offset, bool indexed,
                              bool typed);
  SegmentScanner(uint64_t first_seq, uint64_t index_interval, uint8_t collect_type,
                 RecordHook on_record = nullptr, void* ctx = nullptr);
  // `bytes` are the file's bytes [offset(), offset() + bytes.size()); `at_eof`: nothing follows.
  Step Feed(std::string_view bytes, bool at_eof);
  uint64_t offset() const { return offset_; }
  size_t needed() const { return needed_; }
  const SegmentScan& scan() const { return scan_; }
  SegmentScan& scan() { return scan_; }

 private:
  uint64_t first_seq_;
  uint64_t index_interval_;
  uint8_t collect_type_;
  RecordHook on_record_;
  void* ctx_;
  uint64_t offset_;
  size_t needed_ = kRecordHeaderSize;
  SegmentScan scan_;
};

struct SpoolState {
  uint64_t epoch = 0;
  uint64_t acked_seq = 0;
};
std::string EncodeState(const SpoolState& state);
// DataLoss with the reason when the bytes are not a valid state file of a known version.
Status DecodeState(std::string_view bytes, SpoolState* out);

}  // namespace custos::agent::spool
