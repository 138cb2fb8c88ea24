// One full probe round of the settings source on this machine (real /etc, /proc, /sys, dpkg
// status and `nft list ruleset` or `iptables-save` when present). The figure that matters is
// cpu_ms_per_round: process CPU (user+sys) including the firewall command's child process, per
// round. Probe cost at the default interval = cpu_ms_per_round / 60000 ms.
//   "warm": steady state (unchanged files are skipped by their stat signature).
//   "cold": a fresh source each round (every file read and hashed, the first round at start).
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "agent/sources/settings/settings_source.h"
#include "common/time/clock.h"

namespace custos::agent::settings {
namespace {

class CountingSink : public EventSink {
 public:
  bool Push(custos::v1::Event&&) override { return true; }
};

double CpuSeconds() {
  double total = 0;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage ru{};
    getrusage(who, &ru);
    total += static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
             static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  return total;
}

SettingsSourceOptions BenchOptions() {
  SettingsSourceOptions o;
  o.probe_interval = std::chrono::hours(1);  // only the rounds the benchmark runs
  o.agent_config_path = "/etc/custos/agent.yaml";
  o.agent_binary_path = "/proc/self/exe";
  o.agent_spool_dir = "/var/lib/custos/agent/spool";
  return o;
}

void Report(benchmark::State& state, double cpu_s) {
  const double per_round_ms = cpu_s * 1e3 / static_cast<double>(state.iterations());
  state.counters["cpu_ms_per_round"] = per_round_ms;
  state.counters["core_pct_at_60s"] = per_round_ms / 60'000.0 * 100.0;
}

void BM_ProbeRoundWarm(benchmark::State& state) {
  auto created = SettingsSource::Create(BenchOptions(), RealClock());
  if (!created.ok()) {
    state.SkipWithError(created.status().ToString().c_str());
    return;
  }
  auto source = std::move(*created);
  CountingSink sink;
  if (!source->Start(&sink).ok()) {
    state.SkipWithError("start failed");
    return;
  }
  const double start = CpuSeconds();
  for (auto _ : state) source->ProbeNow();
  Report(state, CpuSeconds() - start);
  source->Stop();
}
BENCHMARK(BM_ProbeRoundWarm)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

void BM_ProbeRoundCold(benchmark::State& state) {
  double cpu = 0;
  for (auto _ : state) {
    auto created = SettingsSource::Create(BenchOptions(), RealClock());
    if (!created.ok()) {
      state.SkipWithError(created.status().ToString().c_str());
      return;
    }
    auto source = std::move(*created);
    CountingSink sink;
    const double start = CpuSeconds();
    if (!source->Start(&sink).ok()) {  // Start runs the first (cold) round
      state.SkipWithError("start failed");
      return;
    }
    cpu += CpuSeconds() - start;
    source->Stop();
  }
  Report(state, cpu);
}
BENCHMARK(BM_ProbeRoundCold)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();

}  // namespace
}  // namespace custos::agent::settings

BENCHMARK_MAIN();
