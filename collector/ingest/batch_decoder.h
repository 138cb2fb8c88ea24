// Decodes and validates one BATCH frame body into a store::BatchWrite. Internal to ingest;
// a fuzz target (batch_decoder_fuzz.cc) feeds it arbitrary bytes.
//
// Checks: the Batch message parses; 1 <= count <= max_events; codec is NONE or ZSTD;
// uncompressed_size <= max_uncompressed_bytes and matches the zstd frame exactly; the payload is
// an EventBatch holding exactly `count` events and nothing else; every Event parses and leaves
// agent_id, stream_epoch and seq empty (the collector sets them); first_seq >= 1 and the range
// does not overflow. On error nothing of *out is meaningful.
//
// Size caps: an event larger than max_event_bytes, or naming a login user longer than
// max_user_bytes, is not stored as sent: its row carries an events_lost event (source
// "collector", the original's time and host, the reason with the original's type and size), so
// its seq is still accounted for and the refusal is visible; out->buffer then keeps only what
// is stored, so the refused bytes are not held until the commit.
#pragma once

#include <cstdint>
#include <string_view>

#include "collector/store/store.h"
#include "common/status/status.h"
#include "common/wire/wire.h"

namespace custos::collector::ingest {

struct BatchLimits {
  uint32_t max_events = 20000;
  uint64_t max_uncompressed_bytes = 32u << 20;
  uint32_t max_event_bytes = 1u << 20;
  uint32_t max_user_bytes = 256;
};

// Fills out->first_seq, buffer, users and rows (not agent_key or epoch).
// `refused`, when given, receives the number of events replaced for being over a cap.
Status DecodeBatch(std::string_view body, const BatchLimits& limits,
                   wire::ZstdDecompressor* decompressor, store::BatchWrite* out,
                   uint32_t* refused = nullptr);

}  // namespace custos::collector::ingest
