// bench-ndjson parsing, lines/s (items_per_second): the former DOM parser (the baseline, from
// replay_testing.h) against ReplaySource::ParseBenchLine, in one run on one corpus.
//   - Dom:                 nlohmann DOM per line, sscanf hex (the former parser)
//   - Fast:                ReplaySource::ParseBenchLine, one Event reused (steady state)
//   - FastFreshEvent:      the same with a new Event per line, as ReplaySource::Run does
//   - NlohmannSax:         the fallback path alone (nlohmann::json::sax_parse)
// Corpus: the file named by $CUSTOS_REPLAY_BENCH_CORPUS (gen_events.py output; at most
// $CUSTOS_REPLAY_BENCH_LINES lines, default 200000), else 100000 lines generated in-process.
// Run: build/ci/bin/replay_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "agent/sources/replay/bench_ndjson.h"
#include "agent/sources/replay/replay_source.h"
#include "agent/sources/replay/replay_testing.h"

namespace custos::agent {
namespace {

const std::vector<std::string>& Corpus() {
  static const std::vector<std::string>* corpus = [] {
    auto* lines = new std::vector<std::string>();
    if (const char* path = std::getenv("CUSTOS_REPLAY_BENCH_CORPUS")) {
      size_t limit = 200000;
      if (const char* n = std::getenv("CUSTOS_REPLAY_BENCH_LINES"))
        limit = std::strtoull(n, nullptr, 10);
      std::ifstream in(path);
      if (!in) {
        std::fprintf(stderr, "replay_bench: cannot read %s\n", path);
        std::exit(1);
      }
      for (std::string line; lines->size() < limit && std::getline(in, line);) {
        if (!line.empty()) lines->push_back(std::move(line));
      }
    } else {
      replay_testing::BenchCorpusOptions options;
      options.lines = 100000;
      *lines = replay_testing::GenerateBenchCorpus(options);
    }
    if (lines->empty()) {
      std::fprintf(stderr, "replay_bench: empty corpus\n");
      std::exit(1);
    }
    return lines;
  }();
  return *corpus;
}

template <typename Parse>
void ParseLines(benchmark::State& state, Parse parse, bool fresh_event) {
  const std::vector<std::string>& corpus = Corpus();
  custos::v1::Event event;
  size_t i = 0, bytes = 0, bad = 0;
  for (auto _ : state) {
    if (fresh_event) event = custos::v1::Event();
    const std::string& line = corpus[i];
    Status s = parse(line, &event);
    bad += !s.ok();
    bytes += line.size();
    benchmark::DoNotOptimize(event);
    if (++i == corpus.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["bad_lines"] = static_cast<double>(bad);
  state.counters["corpus_lines"] = static_cast<double>(corpus.size());
}

void BM_Dom(benchmark::State& state) {
  ParseLines(state, replay_testing::ParseBenchLineDom, /*fresh_event=*/false);
}
void BM_Fast(benchmark::State& state) {
  ParseLines(state, ReplaySource::ParseBenchLine, /*fresh_event=*/false);
}
void BM_FastFreshEvent(benchmark::State& state) {
  ParseLines(state, ReplaySource::ParseBenchLine, /*fresh_event=*/true);
}
void BM_NlohmannSax(benchmark::State& state) {
  ParseLines(
      state,
      [](std::string_view line, custos::v1::Event* e) {
        return replay_internal::ParseBenchLine(line, e,
                                               replay_internal::BenchScanner::kNlohmannOnly);
      },
      /*fresh_event=*/false);
}

BENCHMARK(BM_Dom);
BENCHMARK(BM_Fast);
BENCHMARK(BM_FastFreshEvent);
BENCHMARK(BM_NlohmannSax);

}  // namespace
}  // namespace custos::agent

BENCHMARK_MAIN();
