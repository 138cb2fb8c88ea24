#include "collector/ingest/batch_decoder.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <unordered_map>

#include "custos/v1/event.pb.h"
#include "custos/v1/session.pb.h"

namespace custos::collector::ingest {

namespace {

using google::protobuf::internal::WireFormatLite;

}  // namespace

Status DecodeBatch(std::string_view body, const BatchLimits& limits,
                   wire::ZstdDecompressor* decompressor, store::BatchWrite* out) {
  custos::v1::Batch batch;
  if (!batch.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return InvalidArgumentError("batch: invalid protobuf");
  }
  if (batch.count() == 0 || batch.count() > limits.max_events) {
    return InvalidArgumentError("batch: count " + std::to_string(batch.count()) + " outside 1.." +
                                std::to_string(limits.max_events));
  }
  if (batch.first_seq() == 0 || batch.first_seq() > UINT64_MAX / 2) {
    return InvalidArgumentError("batch: first_seq " + std::to_string(batch.first_seq()) +
                                " out of range");
  }
  if (batch.uncompressed_size() > limits.max_uncompressed_bytes) {
    return ResourceExhaustedError(
        "batch: uncompressed size " + std::to_string(batch.uncompressed_size()) +
        " exceeds the maximum of " + std::to_string(limits.max_uncompressed_bytes));
  }
  out->first_seq = batch.first_seq();
  out->users.clear();
  out->rows.clear();
  switch (batch.codec()) {
    case custos::v1::CODEC_ZSTD:
      CUSTOS_RETURN_IF_ERROR(decompressor->Decompress(batch.records(), batch.uncompressed_size(),
                                                      limits.max_uncompressed_bytes, &out->buffer));
      break;
    case custos::v1::CODEC_NONE:
      if (batch.records().size() != batch.uncompressed_size()) {
        return InvalidArgumentError("batch: uncompressed_size does not match the records");
      }
      out->buffer = std::move(*batch.mutable_records());
      break;
    default:
      return InvalidArgumentError("batch: unknown codec " + std::to_string(batch.codec()));
  }

  // Walk the EventBatch by hand so each stored payload is the agent's own bytes (no
  // re-serialisation), while still parsing every event to validate it.
  const auto* data = reinterpret_cast<const uint8_t*>(out->buffer.data());
  google::protobuf::io::CodedInputStream in(data, static_cast<int>(out->buffer.size()));
  in.SetTotalBytesLimit(static_cast<int>(out->buffer.size()));
  out->rows.reserve(batch.count());
  std::unordered_map<std::string, int32_t> user_index;
  custos::v1::Event event;
  while (true) {
    uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (!in.ConsumedEntireMessage() ||
          in.CurrentPosition() != static_cast<int>(out->buffer.size())) {
        return InvalidArgumentError("batch: malformed event list");
      }
      break;
    }
    if (tag != WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED)) {
      return InvalidArgumentError("batch: unexpected field in event list (tag " +
                                  std::to_string(tag) + ")");
    }
    uint32_t len;
    if (!in.ReadVarint32(&len)) return InvalidArgumentError("batch: truncated event length");
    int pos = in.CurrentPosition();
    if (len > out->buffer.size() - static_cast<size_t>(pos)) {
      return InvalidArgumentError("batch: event length beyond the end of the batch");
    }
    if (out->rows.size() >= batch.count()) {
      return InvalidArgumentError("batch: more events than count " + std::to_string(batch.count()));
    }
    std::string_view payload(out->buffer.data() + pos, len);
    if (!event.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return InvalidArgumentError("batch: event " + std::to_string(out->rows.size()) +
                                  ": invalid protobuf");
    }
    if (!event.agent_id().empty() || event.stream_epoch() != 0 || event.seq() != 0) {
      return InvalidArgumentError("batch: event " + std::to_string(out->rows.size()) +
                                  ": sets agent_id, stream_epoch or seq, which the collector owns");
    }
    store::EventRow row;
    row.time_ns = event.time_ns();
    row.type = events::TypeOf(event);
    row.payload = payload;
    const std::string& user = !event.actor().login_user().empty() ? event.actor().login_user()
                                                                  : event.actor().user_name();
    if (!user.empty()) {
      auto [it, inserted] = user_index.try_emplace(user, static_cast<int32_t>(out->users.size()));
      if (inserted) out->users.push_back(user);
      row.user_index = it->second;
    }
    out->rows.push_back(row);
    if (!in.Skip(static_cast<int>(len))) return InvalidArgumentError("batch: truncated event");
  }
  if (out->rows.size() != batch.count()) {
    return InvalidArgumentError("batch: count says " + std::to_string(batch.count()) + " but " +
                                std::to_string(out->rows.size()) + " events arrived");
  }
  return OkStatus();
}

}  // namespace custos::collector::ingest
