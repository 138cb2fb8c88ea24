// HashPassword and VerifyPassword at the default Argon2id parameters (PasswordParams{}): the
// cost of one sign-in's password check (docs/performance.md). Single-threaded; wall time.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "collector/access/password.h"

namespace custos::collector::access {
namespace {

void BM_HashPassword(benchmark::State& state) {
  for (auto _ : state) {
    auto h = HashPassword("correct horse battery staple", PasswordParams{});
    if (!h.ok()) state.SkipWithError(h.status().ToString().c_str());
    benchmark::DoNotOptimize(h);
  }
}
BENCHMARK(BM_HashPassword)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_VerifyPassword(benchmark::State& state) {
  auto h = HashPassword("correct horse battery staple", PasswordParams{});
  if (!h.ok()) {
    std::fprintf(stderr, "password_bench: %s\n", h.status().ToString().c_str());
    std::abort();
  }
  for (auto _ : state) {
    auto ok = VerifyPassword("correct horse battery staple", *h);
    if (!ok.ok() || !*ok) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_VerifyPassword)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace custos::collector::access

BENCHMARK_MAIN();
