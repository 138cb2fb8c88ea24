// What masking costs per field on the API's hot path (docs/performance.md, "Pseudonymisation").
// A 10,000-person directory, two logins each, one host each; a viewer with no reveals.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "collector/access/pseudonym.h"

namespace custos::collector::access {
namespace {

struct Directory {
  Directory() : pseudonymizer(std::string(kPseudonymKeyBytes, 'k')) {
    for (int i = 0; i < 10'000; ++i) {
      const std::string n = std::to_string(i);
      store::PersonRecord person;
      person.id = "user" + n + "@example.com";
      person.display_name = "First" + n + " Last" + n;
      people.push_back(std::move(person));
      logins.push_back({.login = "user" + n, .host = "", .person = people.back().id});
      logins.push_back(
          {.login = "u" + n, .host = "ws-" + n + ".corp.example.com", .person = people.back().id});
    }
    masker = std::make_unique<IdentityMasker>(&pseudonymizer, people, logins);
  }
  Pseudonymizer pseudonymizer;
  std::vector<store::PersonRecord> people;
  std::vector<store::LoginRecord> logins;
  std::unique_ptr<IdentityMasker> masker;
};

const Directory& Dir() {
  static const Directory* d = new Directory();
  return *d;
}

void BM_Pseudonym(benchmark::State& state) {
  const Pseudonymizer& p = Dir().pseudonymizer;
  for (auto _ : state) benchmark::DoNotOptimize(p.Pseudonym("user42@example.com"));
}
BENCHMARK(BM_Pseudonym);

void BM_PersonKnownLogin(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) benchmark::DoNotOptimize(v.Person("user4242"));
}
BENCHMARK(BM_PersonKnownLogin);

void BM_PersonKnownEmailOtherCase(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) benchmark::DoNotOptimize(v.Person("User4242@Example.com"));
}
BENCHMARK(BM_PersonKnownEmailOtherCase);

void BM_PersonUnlisted(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) benchmark::DoNotOptimize(v.Person("svc-backup"));
}
BENCHMARK(BM_PersonUnlisted);

void BM_PersonRevealed(benchmark::State& state) {
  std::vector<std::string> revealed = {"user1@example.com", "user4242@example.com"};
  MaskView v = Dir().masker->ForViewer(revealed);
  for (auto _ : state) benchmark::DoNotOptimize(v.Person("user4242"));
}
BENCHMARK(BM_PersonRevealed);

void BM_HostDirectory(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) benchmark::DoNotOptimize(v.Host("ws-4242.corp.example.com"));
}
BENCHMARK(BM_HostDirectory);

void BM_TextShortNoMatch(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) benchmark::DoNotOptimize(v.Text("copy_to_usb"));
}
BENCHMARK(BM_TextShortNoMatch);

void BM_TextPathKnownHome(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) {
    benchmark::DoNotOptimize(v.Text("/home/user4242/projects/q3/customer-list-final.xlsx"));
  }
}
BENCHMARK(BM_TextPathKnownHome);

void BM_TextPathUnknownHome(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) {
    benchmark::DoNotOptimize(v.Text("C:\\Users\\svc-backup\\AppData\\Local\\Temp\\x.zip"));
  }
}
BENCHMARK(BM_TextPathUnknownHome);

void BM_TextPathNoHome(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) {
    benchmark::DoNotOptimize(v.Text("/srv/share/finance/2026/budget-v3-final.xlsx"));
  }
}
BENCHMARK(BM_TextPathNoHome);

void BM_TextSentence(benchmark::State& state) {
  MaskView v = Dir().masker->ForViewer({});
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        v.Text("First42 Last42 (user42@example.com) copied 120 files to USB on ws-42"));
  }
}
BENCHMARK(BM_TextSentence);

void BM_BuildMasker10k(benchmark::State& state) {
  const Directory& d = Dir();
  for (auto _ : state) {
    IdentityMasker m(&d.pseudonymizer, d.people, d.logins);
    benchmark::DoNotOptimize(m.people());
  }
}
BENCHMARK(BM_BuildMasker10k)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace custos::collector::access

BENCHMARK_MAIN();
