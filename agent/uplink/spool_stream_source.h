// SpoolStreamSource: the uplink's view of the spool. Builds BATCH bodies from durable spool
// records without re-parsing them (each record already is a serialized custos.v1.Event, so the
// EventBatch is the records framed as field 1), compresses them with zstd, and turns the
// collector's cumulative ACKs into Spool::Ack. Called on the uplink's strand only.
#pragma once

#include <memory>
#include <optional>

#include "agent/spool/spool.h"
#include "agent/uplink/uplink.h"
#include "common/wire/wire.h"

namespace custos::agent::uplink {

class SpoolStreamSource final : public StreamSource {
 public:
  explicit SpoolStreamSource(spool::Spool* spool, int zstd_level = 3);
  uint64_t Epoch() override;
  uint64_t OldestUnackedSeq() override;
  std::optional<OutgoingBatch> NextBatch(uint64_t from_seq, uint32_t max_events,
                                         uint64_t max_uncompressed_bytes) override;
  void OnAcked(uint64_t committed_seq) override;

  // Encodes records (consecutive seqs from records[0].seq) as a serialized custos.v1.Batch.
  // The scratch buffers keep their capacity from batch to batch (no fresh multi-megabyte
  // allocation, page faults and zero-fill per batch).
  Status EncodeBatch(const std::vector<spool::RecordOut>& records, OutgoingBatch* out);

 private:
  spool::Spool* spool_;
  std::optional<wire::ZstdCompressor> zstd_;
  std::string raw_;         // the EventBatch before compression
  std::string compressed_;  // zstd output
  uint64_t last_ack_error_logged_ = 0;
};

}  // namespace custos::agent::uplink
