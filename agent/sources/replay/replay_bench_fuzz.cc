// Fuzz target: arbitrary bytes as one bench-ndjson line (a recorded corpus is read back from
// disk, so it may be truncated, corrupt or hostile). ReplaySource::ParseBenchLine must never
// crash or throw, and must agree with
//  - its own fallback path alone (nlohmann sax_parse): same status, same event, which checks that
//    the fast scanner only accepts what nlohmann accepts, with the same values;
//  - the former DOM parser (replay_testing.h): same verdict and, when it parses, the same event.
//    Only the syntax-error and unknown-type texts may differ (see SameKindOfError).
// Seed corpus: tests/fuzz/corpus/replay_bench (one real line per type, and broken ones).
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/sources/replay/bench_ndjson.h"
#include "agent/sources/replay/replay_source.h"
#include "agent/sources/replay/replay_testing.h"

namespace {

using custos::Status;
using google::protobuf::util::MessageDifferencer;
namespace replay = custos::agent::replay_internal;

// The errors whose text changed: syntax errors now say what is wrong, unknown types are quoted
// printable and bounded.
bool SameKindOfError(const Status& a, const Status& b) {
  for (const char* prefix : {"not a JSON object", "unknown type '"}) {
    if (a.message().rfind(prefix, 0) == 0 && b.message().rfind(prefix, 0) == 0) return true;
  }
  return a.message() == b.message();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  custos::v1::Event fast, sax, dom;
  const Status fast_status = custos::agent::ReplaySource::ParseBenchLine(line, &fast);
  const Status sax_status = replay::ParseBenchLine(line, &sax, replay::BenchScanner::kNlohmannOnly);
  const Status dom_status = custos::agent::replay_testing::ParseBenchLineDom(line, &dom);

  CUSTOS_CHECK(fast_status.code() == sax_status.code() &&
               fast_status.message() == sax_status.message())
      << "fast: " << fast_status.ToString() << " sax: " << sax_status.ToString();
  CUSTOS_CHECK(fast_status.ok() == dom_status.ok())
      << "fast: " << fast_status.ToString() << " dom: " << dom_status.ToString();
  if (fast_status.ok()) {
    CUSTOS_CHECK(MessageDifferencer::Equals(fast, sax)) << "fast and sax events differ";
    CUSTOS_CHECK(MessageDifferencer::Equals(fast, dom)) << "fast and dom events differ";
    CUSTOS_CHECK(fast.has_actor() && fast.payload_case() != custos::v1::Event::PAYLOAD_NOT_SET)
        << "parsed event without actor or payload";
    std::string wire;
    CUSTOS_CHECK(fast.SerializeToString(&wire)) << "parsed event does not serialise";
  } else {
    CUSTOS_CHECK(fast_status.code() == custos::StatusCode::kInvalidArgument)
        << fast_status.ToString();
    CUSTOS_CHECK(SameKindOfError(fast_status, dom_status))
        << "fast: " << fast_status.ToString() << " dom: " << dom_status.ToString();
  }
  return 0;
}
