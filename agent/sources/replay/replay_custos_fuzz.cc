// Fuzz target: arbitrary bytes as one custos-jsonl line (protobuf JSON of a custos.v1.Event).
// ReplaySource::ParseCustosJsonLine must never crash or throw; what it accepts must serialise
// and survive a JSON round trip unchanged, with agent_id, stream_epoch and seq left empty.
// Seed corpus: tests/fuzz/corpus/replay_custos.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/sources/replay/replay_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using custos::agent::ReplaySource;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  custos::v1::Event event;
  const custos::Status status = ReplaySource::ParseCustosJsonLine(line, &event);
  if (!status.ok()) {
    CUSTOS_CHECK(status.code() == custos::StatusCode::kInvalidArgument) << status.ToString();
    return 0;
  }
  CUSTOS_CHECK(event.agent_id().empty() && event.stream_epoch() == 0 && event.seq() == 0)
      << "session fields not cleared";
  std::string wire;
  CUSTOS_CHECK(event.SerializeToString(&wire)) << "parsed event does not serialise";
  std::string json;
  CUSTOS_CHECK(google::protobuf::util::MessageToJsonString(event, &json).ok())
      << "parsed event does not print as JSON";
  custos::v1::Event again;
  const custos::Status again_status = ReplaySource::ParseCustosJsonLine(json, &again);
  CUSTOS_CHECK(again_status.ok()) << again_status.ToString() << " for " << json;
  CUSTOS_CHECK(google::protobuf::util::MessageDifferencer::Equals(event, again))
      << "round trip changed the event: " << json;
  return 0;
}
