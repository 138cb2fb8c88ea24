#include "collector/ingest/batch_decoder.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <unordered_map>

#include "custos/v1/event.pb.h"
#include "custos/v1/session.pb.h"

namespace custos::collector::ingest {

namespace {

using google::protobuf::internal::WireFormatLite;

// What a refusal keeps of the refused event.
struct RefusedEvent {
  int64_t time_ns = 0;
  std::string host;
  std::string type = "unknown";  // the payload's field name, e.g. "file"
};

// Reads an event's time, host and payload kind without parsing (and copying) the rest: an
// event over the size cap is never materialised.
bool PeekEvent(std::string_view payload, RefusedEvent* out) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(payload.data()),
                                            static_cast<int>(payload.size()));
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire_type = WireFormatLite::GetTagWireType(tag);
    if (field == custos::v1::Event::kTimeNsFieldNumber &&
        wire_type == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t v = 0;
      if (!in.ReadVarint64(&v)) return false;
      out->time_ns = static_cast<int64_t>(v);
      continue;
    }
    if (field == custos::v1::Event::kHostFieldNumber &&
        wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t n = 0;
      if (!in.ReadVarint32(&n)) return false;
      if (n <= 255) {
        if (!in.ReadString(&out->host, static_cast<int>(n))) return false;
      } else if (!in.Skip(static_cast<int>(n))) {
        return false;
      }
      continue;
    }
    const auto* fd = custos::v1::Event::descriptor()->FindFieldByNumber(field);
    if (fd != nullptr && fd->containing_oneof() != nullptr) out->type = fd->name();
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
  return in.ConsumedEntireMessage();
}

// What is stored instead of an event over a size cap: small, and says what was refused.
std::string RefusedEventPayload(const RefusedEvent& original, size_t bytes, std::string_view why) {
  custos::v1::Event sub;
  sub.set_time_ns(original.time_ns);
  sub.set_host(original.host);
  auto* lost = sub.mutable_events_lost();
  lost->set_source("collector");
  lost->set_count(1);
  lost->set_window_start_ns(original.time_ns);
  lost->set_window_end_ns(original.time_ns);
  lost->set_reason("refused a " + original.type + " event of " + std::to_string(bytes) +
                   " bytes: " + std::string(why));
  return sub.SerializeAsString();
}

}  // namespace

Status DecodeBatch(std::string_view body, const BatchLimits& limits,
                   wire::ZstdDecompressor* decompressor, store::BatchWrite* out,
                   uint32_t* refused) {
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
  if (refused != nullptr) *refused = 0;
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
  // (row, payload) of refused events, in row order; their rows are rewritten at the end.
  std::vector<std::pair<size_t, std::string>> replaced;
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
    store::EventRow row;
    if (len > limits.max_event_bytes) {
      RefusedEvent refused_event;
      if (!PeekEvent(payload, &refused_event)) {
        return InvalidArgumentError("batch: event " + std::to_string(out->rows.size()) +
                                    ": invalid protobuf");
      }
      const std::string why =
          "over the collector's limit of " + std::to_string(limits.max_event_bytes) + " bytes";
      replaced.emplace_back(out->rows.size(), RefusedEventPayload(refused_event, len, why));
      row.time_ns = refused_event.time_ns;
      row.type = events::EventType::kEventsLost;
      out->rows.push_back(row);
      if (!in.Skip(static_cast<int>(len))) return InvalidArgumentError("batch: truncated event");
      continue;
    }
    if (!event.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return InvalidArgumentError("batch: event " + std::to_string(out->rows.size()) +
                                  ": invalid protobuf");
    }
    if (!event.agent_id().empty() || event.stream_epoch() != 0 || event.seq() != 0) {
      return InvalidArgumentError("batch: event " + std::to_string(out->rows.size()) +
                                  ": sets agent_id, stream_epoch or seq, which the collector owns");
    }
    row.time_ns = event.time_ns();
    row.type = events::TypeOf(event);
    row.payload = payload;
    const std::string& user = !event.actor().login_user().empty() ? event.actor().login_user()
                                                                  : event.actor().user_name();
    if (user.size() > limits.max_user_bytes) {
      const std::string why = "its user name is over the collector's limit of " +
                              std::to_string(limits.max_user_bytes) + " bytes";
      RefusedEvent refused_event{event.time_ns(), event.host().size() <= 255 ? event.host() : "",
                                 std::string(events::EventTypeName(row.type))};
      replaced.emplace_back(out->rows.size(), RefusedEventPayload(refused_event, len, why));
      row.type = events::EventType::kEventsLost;
      out->rows.push_back(row);
      if (!in.Skip(static_cast<int>(len))) return InvalidArgumentError("batch: truncated event");
      continue;
    }
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
  if (!replaced.empty()) {
    // Keep only what is stored: the kept events and the refusals, so the refused bytes are
    // freed now rather than held in the commit queue.
    size_t total = 0;
    for (const auto& r : out->rows) total += r.payload.size();
    for (const auto& r : replaced) total += r.second.size();
    std::string compact;
    compact.reserve(total);
    size_t next = 0;
    std::vector<std::pair<size_t, size_t>> spans;  // (offset, size) per row
    spans.reserve(out->rows.size());
    for (size_t i = 0; i < out->rows.size(); ++i) {
      std::string_view p = out->rows[i].payload;
      if (next < replaced.size() && replaced[next].first == i) p = replaced[next++].second;
      spans.emplace_back(compact.size(), p.size());
      compact.append(p);
    }
    out->buffer = std::move(compact);
    for (size_t i = 0; i < out->rows.size(); ++i) {
      out->rows[i].payload = std::string_view(out->buffer).substr(spans[i].first, spans[i].second);
    }
    if (refused != nullptr) *refused = static_cast<uint32_t>(replaced.size());
  }
  return OkStatus();
}

}  // namespace custos::collector::ingest
