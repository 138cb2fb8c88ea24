// Byte format of spool segment and state files: docs/spool-format.md.
#include "agent/spool/segment.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/crypto/crypto.h"

namespace custos::agent::spool {
namespace {

constexpr std::string_view kSegmentPrefix = "seg-";
constexpr std::string_view kSegmentSuffix = ".log";
constexpr size_t kSeqDigits = 20;

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Highest seq of an intact record at any byte offset in [from, end) of `bytes`, the tail of a
// segment file of `file_size` bytes, that is plausibly one of the records lost after
// `last_good`. The work is bounded (CRC bytes) so hostile input cannot make recovery quadratic.
uint64_t ResyncHighestSeq(std::string_view bytes, size_t from, uint64_t last_good,
                          uint64_t file_size) {
  const size_t size = bytes.size();
  if (size < kRecordHeaderSize || file_size < kSegmentHeaderSize) return 0;
  const uint64_t max_records = (file_size - kSegmentHeaderSize) / kRecordHeaderSize + 1;
  uint64_t budget = 4 * file_size + (1u << 20);
  uint64_t highest = 0;
  for (size_t p = from; p + kRecordHeaderSize <= size; ++p) {
    const char* h = bytes.data() + p;
    const uint32_t len = GetU32(h);
    if (len > kMaxPayloadBytes || len > size - p - kRecordHeaderSize) continue;
    const uint64_t seq = GetU64(h + 8);
    if (seq <= last_good || seq - last_good > max_records || seq <= highest) continue;
    const uint64_t crc_bytes = kRecordHeaderSize - 8 + uint64_t{len};
    if (budget < crc_bytes) break;
    budget -= crc_bytes;
    if (crypto::Crc32c(h + 8, crc_bytes) == GetU32(h + 4)) highest = seq;
  }
  return highest;
}

}  // namespace

std::string SegmentFileName(uint64_t first_seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "seg-%020llu.log", static_cast<unsigned long long>(first_seq));
  return buf;
}

bool ParseSegmentFileName(std::string_view name, uint64_t* first_seq) {
  if (name.size() != kSegmentPrefix.size() + kSeqDigits + kSegmentSuffix.size()) return false;
  if (name.substr(0, kSegmentPrefix.size()) != kSegmentPrefix) return false;
  if (name.substr(name.size() - kSegmentSuffix.size()) != kSegmentSuffix) return false;
  uint64_t v = 0;
  for (char c : name.substr(kSegmentPrefix.size(), kSeqDigits)) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v == 0 || v > kMaxSeq) return false;
  *first_seq = v;
  return true;
}

void AppendSegmentHeader(uint64_t epoch, std::string* out) {
  const size_t at = out->size();
  out->resize(at + kSegmentHeaderSize);
  char* p = out->data() + at;
  std::memcpy(p, kSegmentMagic, 4);
  PutU32(p + 4, kFormatVersion);
  PutU64(p + 8, epoch);
}

HeaderCheck ParseSegmentHeader(std::string_view bytes, uint32_t* version, uint64_t* epoch) {
  if (bytes.size() < kSegmentHeaderSize) return HeaderCheck::kTooShort;
  if (std::memcmp(bytes.data(), kSegmentMagic, 4) != 0) return HeaderCheck::kBadMagic;
  *version = GetU32(bytes.data() + 4);
  *epoch = GetU64(bytes.data() + 8);
  if (*version != kFormatVersion) return HeaderCheck::kUnknownVersion;
  return HeaderCheck::kOk;
}

void AppendRecord(uint64_t seq, uint8_t type, uint8_t priority, std::string_view payload,
                  std::string* out) {
  const size_t at = out->size();
  out->resize(at + kRecordHeaderSize + payload.size());
  char* p = out->data() + at;
  PutU32(p, static_cast<uint32_t>(payload.size()));
  PutU64(p + 8, seq);
  p[16] = static_cast<char>(type);
  p[17] = static_cast<char>(priority);
  if (!payload.empty()) std::memcpy(p + kRecordHeaderSize, payload.data(), payload.size());
  PutU32(p + 4, crypto::Crc32c(p + 8, kRecordHeaderSize - 8 + payload.size()));
}

std::string_view RecordCheckName(RecordCheck check) {
  switch (check) {
    case RecordCheck::kOk:
      return "ok";
    case RecordCheck::kTruncatedHeader:
      return "torn record header";
    case RecordCheck::kBadLength:
      return "impossible length";
    case RecordCheck::kTruncatedPayload:
      return "torn payload";
    case RecordCheck::kBadCrc:
      return "crc mismatch";
  }
  return "unknown";
}

uint32_t PeekPayloadLength(std::string_view bytes) { return GetU32(bytes.data()); }

RecordCheck DecodeRecord(std::string_view bytes, RecordView* out) {
  if (bytes.size() < kRecordHeaderSize) return RecordCheck::kTruncatedHeader;
  const char* p = bytes.data();
  const uint32_t len = GetU32(p);
  if (len > kMaxPayloadBytes) return RecordCheck::kBadLength;
  if (len > bytes.size() - kRecordHeaderSize) return RecordCheck::kTruncatedPayload;
  if (crypto::Crc32c(p + 8, kRecordHeaderSize - 8 + len) != GetU32(p + 4)) {
    return RecordCheck::kBadCrc;
  }
  out->seq = GetU64(p + 8);
  out->type = static_cast<uint8_t>(p[16]);
  out->priority = static_cast<uint8_t>(p[17]);
  out->payload = bytes.substr(kRecordHeaderSize, len);
  out->size = kRecordHeaderSize + len;
  return RecordCheck::kOk;
}

SegmentScanner::SegmentScanner(uint64_t first_seq, uint64_t index_interval, uint8_t collect_type,
                               RecordHook on_record, void* ctx)
    : first_seq_(first_seq),
      index_interval_(index_interval),
      collect_type_(collect_type),
      on_record_(on_record),
      ctx_(ctx),
      offset_(kSegmentHeaderSize) {
  scan_.last_seq = first_seq - 1;
  scan_.valid_bytes = kSegmentHeaderSize;
}

SegmentScanner::Step SegmentScanner::Feed(std::string_view bytes, bool at_eof) {
  size_t off = 0;
  while (off < bytes.size()) {
    RecordView rec;
    const std::string_view rest = bytes.substr(off);
    const RecordCheck check = DecodeRecord(rest, &rec);
    const uint64_t expected = scan_.last_seq + 1;
    if (!at_eof &&
        (check == RecordCheck::kTruncatedHeader || check == RecordCheck::kTruncatedPayload)) {
      // Complete in the file, perhaps, but not in this piece.
      offset_ += off;
      needed_ = check == RecordCheck::kTruncatedHeader
                    ? kRecordHeaderSize
                    : kRecordHeaderSize + size_t{PeekPayloadLength(rest)};
      return Step::kNeedMore;
    }
    if (check != RecordCheck::kOk || rec.seq != expected) {
      offset_ += off;
      if (!at_eof) return Step::kNeedRest;
      scan_.corrupt = true;
      scan_.reason =
          "record " + std::to_string(expected) + " at offset " + std::to_string(offset_) + ": ";
      if (check != RecordCheck::kOk) {
        scan_.reason += RecordCheckName(check);
      } else {
        scan_.reason += "unexpected seq " + std::to_string(rec.seq);
      }
      // Offsets in `rest` are relative to the bad record; the resync looks past its first byte.
      scan_.highest_seq_after_corruption =
          ResyncHighestSeq(rest, 1, scan_.last_seq, offset_ + rest.size());
      scan_.valid_bytes = offset_;
      return Step::kDone;
    }
    const uint64_t at = offset_ + off;
    const bool indexed = (rec.seq - first_seq_) % index_interval_ == 0;
    const bool typed = rec.type == collect_type_;
    if (indexed) scan_.index.emplace_back(rec.seq, at);
    if (typed) scan_.typed.emplace_back(rec.seq, at);
    if ((indexed || typed) && on_record_ != nullptr) on_record_(ctx_, rec, at, indexed, typed);
    scan_.max_priority = std::max(scan_.max_priority, rec.priority);
    scan_.last_seq = rec.seq;
    off += rec.size;
  }
  offset_ += off;
  scan_.valid_bytes = offset_;
  needed_ = kRecordHeaderSize;
  return at_eof ? Step::kDone : Step::kNeedMore;
}

SegmentScan ScanSegment(std::string_view segment, uint64_t first_seq, uint64_t index_interval,
                        uint8_t collect_type) {
  SegmentScanner scanner(first_seq, index_interval, collect_type);
  if (segment.size() > kSegmentHeaderSize) {
    scanner.Feed(segment.substr(kSegmentHeaderSize), /*at_eof=*/true);
  }
  return std::move(scanner.scan());
}

std::string EncodeState(const SpoolState& state) {
  std::string out(kStateFileSize, '\0');
  char* p = out.data();
  std::memcpy(p, kStateMagic, 4);
  PutU32(p + 4, kFormatVersion);
  PutU64(p + 8, state.epoch);
  PutU64(p + 16, state.acked_seq);
  PutU32(p + 24, crypto::Crc32c(p, 24));
  return out;
}

Status DecodeState(std::string_view bytes, SpoolState* out) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kStateMagic, 4) != 0) {
    return DataLossError("not a spool state file (bad magic)");
  }
  const uint32_t version = GetU32(bytes.data() + 4);
  if (version != kFormatVersion) {
    return DataLossError("unknown state format version " + std::to_string(version));
  }
  if (bytes.size() != kStateFileSize) {
    return DataLossError("bad size " + std::to_string(bytes.size()));
  }
  if (crypto::Crc32c(bytes.data(), 24) != GetU32(bytes.data() + 24)) {
    return DataLossError("checksum mismatch");
  }
  out->epoch = GetU64(bytes.data() + 8);
  out->acked_seq = GetU64(bytes.data() + 16);
  if (out->epoch == 0) return DataLossError("epoch 0");
  if (out->acked_seq > kMaxSeq) return DataLossError("acked seq out of range");
  return OkStatus();
}

}  // namespace custos::agent::spool
