// Test and benchmark helpers for agent/sources/replay. Only tests, the benchmark and the fuzzer
// link this (library custos_replay_testing); the agent does not.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::replay_testing {

// The former ReplaySource::ParseBenchLine, kept verbatim as the reference: one nlohmann DOM per
// line, hex through sscanf. The fast parser must map every line as this one does.
Status ParseBenchLineDom(std::string_view line, custos::v1::Event* event);

struct BenchCorpusOptions {
  size_t lines = 10000;
  int hosts = 500;
  uint64_t seed = 11;
  // Emit the members of each object in a random order (the generator's order otherwise).
  bool shuffle_keys = false;
};

// Lines shaped like /work/shared/bench/gen_events.py output (same types and weights, members,
// Windows and Linux hosts, Zipf-like file popularity, 40% of sizes with a sha256), generated
// in-process and deterministically for a seed, so tests need neither Python nor a file.
std::vector<std::string> GenerateBenchCorpus(const BenchCorpusOptions& options);

}  // namespace custos::agent::replay_testing
