// What RevealedTo costs on every API request (docs/performance.md, "Pseudonymisation"): from the
// cache, and from the database (cache off) with 1,000 reveals of 100 requesters in the table.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "collector/access/reveals.h"
#include "collector/store/sqlite/sqlite_privacy_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"

namespace custos::collector::access {
namespace {

struct Fixture {
  Fixture() {
    auto db = store::OpenSqliteStore({.path = dir.Sub("custos.db")});
    CUSTOS_CHECK(db.ok()) << db.status().ToString();
    main = std::move(*db);
    auto p = store::OpenSqlitePrivacyStore(dir.Sub("custos.db"));
    CUSTOS_CHECK(p.ok()) << p.status().ToString();
    privacy = std::move(*p);
    Reveals setup(privacy.get(), &clock);
    Principal approver;
    approver.id = "usr_approver";
    approver.via = Principal::Via::kSession;
    approver.roles = {Role::kApprover};
    for (int u = 0; u < 100; ++u) {
      Principal analyst;
      analyst.id = "usr_" + std::to_string(u);
      analyst.roles = {Role::kAnalyst};
      for (int k = 0; k < 10; ++k) {
        auto r = setup.Request(analyst, "person" + std::to_string(k) + "@example.com",
                               "benchmark justification");
        CUSTOS_CHECK(r.ok()) << r.status().ToString();
        if (k % 2 == 0) {
          CUSTOS_CHECK(setup.Approve(approver, r->id, "").ok());
        }
      }
    }
  }
  testing::TempDir dir;
  FakeClock clock;
  std::unique_ptr<store::Store> main;
  std::unique_ptr<store::PrivacyStore> privacy;
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

void RevealedTo(benchmark::State& state, std::chrono::nanoseconds cache_ttl) {
  Fixture& f = F();
  Reveals reveals(f.privacy.get(), &f.clock, {.cache_ttl = cache_ttl});
  Principal viewer;
  viewer.id = "usr_42";
  viewer.roles = {Role::kAnalyst};
  for (auto _ : state) {
    auto r = reveals.RevealedTo(viewer, f.clock.NowUnixNs());
    CUSTOS_CHECK(r.ok() && r->size() == 5);
    benchmark::DoNotOptimize(r);
  }
}

void BM_RevealedToCached(benchmark::State& state) { RevealedTo(state, std::chrono::seconds(5)); }
BENCHMARK(BM_RevealedToCached);

void BM_RevealedToUncached(benchmark::State& state) { RevealedTo(state, {}); }
BENCHMARK(BM_RevealedToUncached);

void BM_IsPseudonymisationOnCached(benchmark::State& state) {
  Reveals reveals(F().privacy.get(), &F().clock);
  for (auto _ : state) benchmark::DoNotOptimize(reveals.IsPseudonymisationOn());
}
BENCHMARK(BM_IsPseudonymisationOnCached);

}  // namespace
}  // namespace custos::collector::access

BENCHMARK_MAIN();
