// Spool benchmarks on the real file system (a temp dir under $TMPDIR or /tmp): what capture ->
// spool costs per record with a Sync (fdatasync) per batch, the CPU cost without it, and how
// fast the uplink can read back. Budget (DESIGN.md): >= 100k events/s on one core with a Sync
// every ~1000 records. Run: build/ci/bin/spool_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/spool/spool.h"
#include "common/fs/file_system.h"
#include "common/testing/testing.h"
#include "common/time/clock.h"

namespace custos::agent::spool {
namespace {

constexpr size_t kPayloadBytes = 150;

std::vector<std::string> Payloads(size_t n) {
  std::vector<std::string> payloads;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < n; ++i) {
    std::string p(kPayloadBytes, '\0');
    for (char& c : p) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x);
    }
    payloads.push_back(std::move(p));
  }
  return payloads;
}

std::vector<RecordIn> Records(const std::vector<std::string>& payloads) {
  std::vector<RecordIn> records;
  for (const std::string& p : payloads) records.push_back({1, 100, p});
  return records;
}

std::unique_ptr<Spool> OpenSpool(const testing::TempDir& dir) {
  SpoolOptions options;
  options.dir = dir.Sub("spool");
  auto spool = Spool::Open(fs::Posix(), options, RealClock());
  if (!spool.ok()) {
    std::fprintf(stderr, "%s\n", spool.status().ToString().c_str());
    std::abort();
  }
  return std::move(*spool);
}

// Append a batch, then Sync: what the pipeline does. Acks (the uplink's work, untimed) keep the
// spool from filling up.
void BM_AppendSync(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  testing::TempDir dir;
  auto spool = OpenSpool(dir);
  const auto payloads = Payloads(batch);
  const auto records = Records(payloads);
  int64_t n = 0;
  for (auto _ : state) {
    if (!spool->Append(records).ok() || !spool->Sync().ok()) state.SkipWithError("append/sync");
    if (++n % 256 == 0) {
      state.PauseTiming();
      if (!spool->Ack(spool->DurableSeq()).ok()) state.SkipWithError("ack");
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch * kPayloadBytes));
}
BENCHMARK(BM_AppendSync)->Arg(100)->Arg(1000)->Arg(10000)->UseRealTime();

// Append alone (write(2) into the page cache, no fdatasync): the CPU cost per record.
void BM_AppendNoSync(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  testing::TempDir dir;
  auto spool = OpenSpool(dir);
  const auto payloads = Payloads(batch);
  const auto records = Records(payloads);
  int64_t n = 0;
  for (auto _ : state) {
    if (!spool->Append(records).ok()) state.SkipWithError("append");
    if (++n % 256 == 0) {
      state.PauseTiming();
      if (!spool->Sync().ok() || !spool->Ack(spool->DurableSeq()).ok()) {
        state.SkipWithError("sync/ack");
      }
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}
BENCHMARK(BM_AppendNoSync)->Arg(1000);

// Sequential reads of 1000 records (the uplink's batches) over 200k durable records (two
// segments), wrapping around.
void BM_Read(benchmark::State& state) {
  constexpr uint64_t kRecords = 200'000;
  testing::TempDir dir;
  auto spool = OpenSpool(dir);
  const auto payloads = Payloads(1000);
  const auto records = Records(payloads);
  for (uint64_t i = 0; i < kRecords / 1000; ++i) {
    if (!spool->Append(records).ok()) std::abort();
  }
  if (!spool->Sync().ok()) std::abort();
  uint64_t from = 1;
  int64_t read = 0;
  for (auto _ : state) {
    auto batch = spool->Read(from, 1000, 1 << 20);
    if (!batch.ok()) state.SkipWithError("read");
    if (batch->empty()) {
      from = 1;
      continue;
    }
    read += static_cast<int64_t>(batch->size());
    from = batch->back().seq + 1;
  }
  state.SetItemsProcessed(read);
}
BENCHMARK(BM_Read)->UseRealTime();

}  // namespace
}  // namespace custos::agent::spool

BENCHMARK_MAIN();
