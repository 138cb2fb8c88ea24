// Fuzz target: arbitrary bytes as a spool segment file (as found on disk after a crash, bit rot
// or tampering). Opening the spool, reading everything, appending, acking and reopening must
// never crash, never allocate from a bad length, and leave a spool that reopens clean; with a
// small read window as with the default; and scanning the file piece by piece must find what
// scanning it whole finds.
// Seed corpus: tests/fuzz/corpus/spool_segment (written by spool_test's seed test).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/spool/segment.h"
#include "agent/spool/spool.h"
#include "common/fs/file_system.h"
#include "common/time/clock.h"

namespace {

using custos::agent::spool::EncodeState;
using custos::agent::spool::HeaderCheck;
using custos::agent::spool::kSegmentHeaderSize;
using custos::agent::spool::ParseSegmentHeader;
using custos::agent::spool::RecordIn;
using custos::agent::spool::RecordOut;
using custos::agent::spool::ScanSegment;
using custos::agent::spool::SegmentFileName;
using custos::agent::spool::SegmentScan;
using custos::agent::spool::SegmentScanner;
using custos::agent::spool::Spool;
using custos::agent::spool::SpoolOptions;

constexpr char kDir[] = "/spool";
// The seed segments' epoch (see spool_test.cc), so the state-file pass reads them.
constexpr uint64_t kSeedEpoch = 0x5EED'0000'0001;

// Reads every readable record; checks each batch is consecutive and batches ascend.
uint64_t Drain(Spool& spool) {
  uint64_t from = 1;
  uint64_t count = 0;
  while (true) {
    auto batch = spool.Read(from, 256, 1 << 20);
    if (!batch.ok() || batch->empty()) return count;
    CUSTOS_CHECK(batch->front().seq >= from) << "read went backwards";
    for (size_t i = 1; i < batch->size(); ++i) {
      CUSTOS_CHECK((*batch)[i].seq == (*batch)[i - 1].seq + 1) << "batch not consecutive";
    }
    CUSTOS_CHECK(batch->back().seq <= spool.DurableSeq()) << "read past the durable seq";
    count += batch->size();
    from = batch->back().seq + 1;
  }
}

// The windowed scan (as the spool's recovery drives it) agrees with the whole-file scan.
void CheckScannerCuts(std::string_view bytes, size_t window) {
  uint32_t version = 0;
  uint64_t epoch = 0;
  if (ParseSegmentHeader(bytes, &version, &epoch) != HeaderCheck::kOk) return;
  const SegmentScan whole = ScanSegment(bytes, 1, 4, 7);
  SegmentScanner scanner(1, 4, 7);
  SegmentScanner::Step step = SegmentScanner::Step::kNeedMore;
  while (step != SegmentScanner::Step::kDone) {
    const size_t offset = static_cast<size_t>(scanner.offset());
    CUSTOS_CHECK(offset >= kSegmentHeaderSize && offset <= bytes.size()) << "scanner offset";
    const std::string_view rest = bytes.substr(offset);
    if (step == SegmentScanner::Step::kNeedRest) {
      step = scanner.Feed(rest, true);
      continue;
    }
    const size_t want = std::max(window, scanner.needed());
    const std::string_view piece = rest.substr(0, want);
    step = scanner.Feed(piece, piece.size() < want || piece.size() == rest.size());
  }
  const SegmentScan& cut = scanner.scan();
  CUSTOS_CHECK(cut.last_seq == whole.last_seq && cut.valid_bytes == whole.valid_bytes &&
               cut.max_priority == whole.max_priority && cut.index == whole.index &&
               cut.typed == whole.typed && cut.corrupt == whole.corrupt &&
               cut.reason == whole.reason &&
               cut.highest_seq_after_corruption == whole.highest_seq_after_corruption)
      << "windowed scan differs from the whole-file scan";
}

// Returns how many records the first open could read.
uint64_t RunOnce(std::string_view bytes, bool with_state, size_t read_window) {
  custos::fs::FaultInjectionFileSystem fs;
  custos::FakeClock clock;
  if (!fs.CreateDirs(kDir, 0700).ok()) return 0;
  if (with_state) {
    custos::fs::WriteFileAtomic(&fs, std::string(kDir) + "/state", EncodeState({kSeedEpoch, 0}),
                                0600)
        .IgnoreError();
  }
  {
    auto file = fs.OpenTruncate(std::string(kDir) + "/" + SegmentFileName(1), 0600);
    if (!file.ok() || !(*file)->Append(bytes).ok() || !(*file)->Sync().ok()) return 0;
    fs.SyncDir(kDir).IgnoreError();
  }
  SpoolOptions options;
  options.dir = kDir;
  options.max_bytes = 1 << 20;
  options.segment_bytes = 64 << 10;
  options.read_window_bytes = read_window;
  uint64_t readable = 0;
  {
    auto spool = Spool::Open(&fs, options, &clock);
    if (!spool.ok()) return 0;
    readable = Drain(**spool);
    const uint64_t next = (*spool)->Stats().next_seq;
    const std::string payload = "after recovery";
    std::vector<RecordIn> records = {{1, 200, payload}};
    auto seq = (*spool)->Append(records);
    CUSTOS_CHECK(seq.ok() && *seq == next) << "append after recovery";
    CUSTOS_CHECK((*spool)->Sync().ok()) << "sync after recovery";
    auto got = (*spool)->Read(next, 10, 1 << 20);
    CUSTOS_CHECK(got.ok() && got->size() == 1 && (*got)[0].payload == payload) << "read back";
  }
  // Recovery is idempotent: what the first open repaired is durable and clean.
  fs.DropUnsyncedData();
  auto spool = Spool::Open(&fs, options, &clock);
  CUSTOS_CHECK(spool.ok()) << spool.status().ToString();
  CUSTOS_CHECK((*spool)->Stats().recovered_truncated_bytes == 0) << "second open cut bytes";
  CUSTOS_CHECK(Drain(**spool) == readable + 1) << "second open lost records";
  CUSTOS_CHECK((*spool)->Ack((*spool)->DurableSeq()).ok()) << "ack";
  return readable;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  RunOnce(bytes, /*with_state=*/false, 1 << 20);
  // The read window changes how the file is read, never what is read.
  const uint64_t whole = RunOnce(bytes, /*with_state=*/true, 1 << 20);
  const uint64_t windowed = RunOnce(bytes, /*with_state=*/true, 64 + size % 193);
  CUSTOS_CHECK(whole == windowed) << "the read window changed what was readable";
  CheckScannerCuts(bytes, 1 + size % 61);
  return 0;
}
