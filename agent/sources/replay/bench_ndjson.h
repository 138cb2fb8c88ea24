// Internal to agent/sources/replay (the front door is replay_source.h): the bench-ndjson line
// parser behind ReplaySource::ParseBenchLine, with its seams exposed for tests, the benchmark and
// the fuzzer.
//
// A line is scanned once, without a DOM: a hand-written scanner handles the shape the corpus
// generator writes (compact objects, ASCII or valid UTF-8 text, simple escapes, non-negative
// integers) and feeds the record; on anything it is not sure of (\u escapes, fractions, negative
// numbers, a BOM, deep nesting, any syntax error) it gives up and the line is parsed again with
// nlohmann::json::sax_parse, which decides and names the error. Both feed the same record, so the
// mapping onto custos.v1.Event is one piece of code. Thread-safe: per-thread scratch buffers.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status/status.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::replay_internal {

enum class BenchScanner {
  kFastThenNlohmann,  // what ReplaySource::ParseBenchLine uses
  kNlohmannOnly,      // the fallback alone: lets tests and the fuzzer compare both paths
};

Status ParseBenchLine(std::string_view line, custos::v1::Event* event, BenchScanner scanner);

// "YYYY-MM-DDTHH:MM:SS.ffffffZ" (the corpus shape) without timegm; any other text goes to
// ParseTimeSpec (common/time/clock.h) with now = 0, so results are identical to it.
bool ParseBenchTimestamp(std::string_view text, int64_t* unix_ns);

}  // namespace custos::agent::replay_internal
