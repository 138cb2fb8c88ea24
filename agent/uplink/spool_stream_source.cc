#include "agent/uplink/spool_stream_source.h"

#include "common/log/log.h"
#include "custos/v1/session.pb.h"

namespace custos::agent::uplink {
namespace {

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace

SpoolStreamSource::SpoolStreamSource(spool::Spool* spool, int zstd_level) : spool_(spool) {
  auto z = wire::ZstdCompressor::Create(zstd_level);
  if (z.ok()) zstd_.emplace(std::move(*z));
}

uint64_t SpoolStreamSource::Epoch() { return spool_->Stats().epoch; }

uint64_t SpoolStreamSource::OldestUnackedSeq() { return spool_->OldestUnacked(); }

Status SpoolStreamSource::EncodeBatch(const std::vector<spool::RecordOut>& records,
                                      OutgoingBatch* out) {
  size_t total = 0;
  for (const auto& r : records) total += r.payload.size() + 6;
  raw_.clear();
  raw_.reserve(total);
  for (const auto& r : records) {
    raw_.push_back(0x0a);  // field 1 (events), wire type 2 (length-delimited)
    AppendVarint(r.payload.size(), &raw_);
    raw_ += r.payload;
  }
  // The Batch without its records, then the records field appended by hand (field order does
  // not matter on the wire), so the compressed bytes are copied once, into the body.
  custos::v1::Batch batch;
  batch.set_first_seq(records.front().seq);
  batch.set_count(static_cast<uint32_t>(records.size()));
  batch.set_uncompressed_size(raw_.size());
  const std::string* payload = &raw_;
  if (zstd_) {
    CUSTOS_RETURN_IF_ERROR(zstd_->Compress(raw_, &compressed_));
    batch.set_codec(custos::v1::CODEC_ZSTD);
    payload = &compressed_;
  } else {
    batch.set_codec(custos::v1::CODEC_NONE);
  }
  out->first_seq = records.front().seq;
  out->count = static_cast<uint32_t>(records.size());
  out->body.clear();
  out->body.reserve(payload->size() + 64);
  batch.AppendToString(&out->body);
  constexpr uint32_t kRecordsTag =
      (custos::v1::Batch::kRecordsFieldNumber << 3) | 2;  // length-delimited
  AppendVarint(kRecordsTag, &out->body);
  AppendVarint(payload->size(), &out->body);
  out->body += *payload;
  return OkStatus();
}

std::optional<OutgoingBatch> SpoolStreamSource::NextBatch(uint64_t from_seq, uint32_t max_events,
                                                          uint64_t max_uncompressed_bytes) {
  auto records = spool_->Read(from_seq, max_events, max_uncompressed_bytes);
  if (!records.ok()) {
    logging::Warn("uplink: spool read failed",
                  {{"seq", from_seq}, {"error", records.status().ToString()}});
    return std::nullopt;
  }
  if (records->empty()) return std::nullopt;
  // Records lost to spool corruption leave a hole: send from the first readable record on;
  // the uplink then starts the batch at that seq. Keep only a consecutive run.
  size_t n = 1;
  while (n < records->size() && (*records)[n].seq == (*records)[n - 1].seq + 1) ++n;
  records->resize(n);
  OutgoingBatch out;
  if (Status s = EncodeBatch(*records, &out); !s.ok()) {
    logging::Warn("uplink: encode batch failed", {{"error", s.ToString()}});
    return std::nullopt;
  }
  return out;
}

void SpoolStreamSource::OnAcked(uint64_t committed_seq) {
  Status s = spool_->Ack(committed_seq);
  if (!s.ok() && committed_seq != last_ack_error_logged_) {
    last_ack_error_logged_ = committed_seq;
    logging::Warn("uplink: spool ack failed", {{"seq", committed_seq}, {"error", s.ToString()}});
  }
}

}  // namespace custos::agent::uplink
