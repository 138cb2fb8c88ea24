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

// Highest seq of an intact record at any byte offset in [from, end) of `segment` that is plausibly
// one of the records lost after `last_good`. The work is bounded (CRC bytes) so hostile input
// cannot make recovery quadratic.
uint64_t ResyncHighestSeq(std::string_view segment, size_t from, uint64_t last_good) {
  const size_t size = segment.size();
  if (size < kRecordHeaderSize) return 0;
  const uint64_t max_records = (size - kSegmentHeaderSize) / kRecordHeaderSize + 1;
  uint64_t budget = 4 * static_cast<uint64_t>(size) + (1u << 20);
  uint64_t highest = 0;
  for (size_t p = from; p + kRecordHeaderSize <= size; ++p) {
    const char* h = segment.data() + p;
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

SegmentScan ScanSegment(std::string_view segment, uint64_t first_seq, uint64_t index_interval,
                        uint8_t collect_type) {
  SegmentScan scan;
  scan.last_seq = first_seq - 1;
  size_t off = kSegmentHeaderSize;
  while (off < segment.size()) {
    RecordView rec;
    const RecordCheck check = DecodeRecord(segment.substr(off), &rec);
    const uint64_t expected = scan.last_seq + 1;
    if (check != RecordCheck::kOk || rec.seq != expected) {
      scan.corrupt = true;
      scan.reason =
          "record " + std::to_string(expected) + " at offset " + std::to_string(off) + ": ";
      if (check != RecordCheck::kOk) {
        scan.reason += RecordCheckName(check);
      } else {
        scan.reason += "unexpected seq " + std::to_string(rec.seq);
      }
      scan.highest_seq_after_corruption = ResyncHighestSeq(segment, off + 1, scan.last_seq);
      break;
    }
    if ((rec.seq - first_seq) % index_interval == 0) scan.index.emplace_back(rec.seq, off);
    if (rec.type == collect_type) scan.typed.emplace_back(rec.seq, off);
    scan.max_priority = std::max(scan.max_priority, rec.priority);
    scan.last_seq = rec.seq;
    off += rec.size;
  }
  scan.valid_bytes = off;
  return scan;
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
