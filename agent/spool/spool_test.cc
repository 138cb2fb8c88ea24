#include "agent/spool/spool.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <thread>

#include "agent/spool/segment.h"
#include "common/testing/testing.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::spool {
namespace {

using fs::FaultInjectionFileSystem;

constexpr char kDir[] = "/spool";
// The epoch of the committed seed segments (tests/fuzz/corpus/spool_segment); segment_fuzz.cc
// uses the same value.
constexpr uint64_t kSeedEpoch = 0x5EED'0000'0001;

std::string SegPath(uint64_t first_seq) {
  return std::string(kDir) + "/" + SegmentFileName(first_seq);
}
std::string StatePath() { return std::string(kDir) + "/state"; }

std::string Payload(uint64_t i, size_t size = 0) {
  std::string p = "event-" + std::to_string(i);
  if (p.size() < size) p.resize(size, static_cast<char>('a' + i % 26));
  return p;
}

std::string EventPayload(int64_t time_ns, const std::string& path) {
  custos::v1::Event event;
  event.set_time_ns(time_ns);
  event.mutable_file()->set_path(path);
  return event.SerializeAsString();
}

// Appends records first..last (payload Payload(i, size)) one batch, returns the first seq.
uint64_t AppendRange(Spool& spool, uint64_t first, uint64_t last, size_t size = 0,
                     uint8_t priority = 100) {
  std::vector<std::string> payloads;
  for (uint64_t i = first; i <= last; ++i) payloads.push_back(Payload(i, size));
  std::vector<RecordIn> records;
  for (const std::string& p : payloads) records.push_back({1, priority, p});
  Result<uint64_t> seq = spool.Append(records);
  EXPECT_TRUE(seq.ok()) << seq.status().ToString();
  return seq.value_or(0);
}

// Every readable record from `from` on, following holes.
std::vector<RecordOut> ReadAll(Spool& spool, uint64_t from = 1) {
  std::vector<RecordOut> all;
  while (true) {
    Result<std::vector<RecordOut>> batch = spool.Read(from, 100, 1 << 20);
    EXPECT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch.ok() || batch->empty()) return all;
    for (size_t i = 1; i < batch->size(); ++i) {
      EXPECT_EQ((*batch)[i].seq, (*batch)[i - 1].seq + 1) << "a batch must be consecutive";
    }
    from = batch->back().seq + 1;
    for (RecordOut& r : *batch) all.push_back(std::move(r));
  }
}

std::vector<uint64_t> Seqs(const std::vector<RecordOut>& records) {
  std::vector<uint64_t> seqs;
  for (const RecordOut& r : records) seqs.push_back(r.seq);
  return seqs;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> v;
  for (uint64_t i = first; i <= last; ++i) v.push_back(i);
  return v;
}

std::vector<uint64_t> Concat(std::vector<uint64_t> a, const std::vector<uint64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Offset of record `seq` in a segment whose records all have payload size `payload`.
uint64_t RecordOffset(uint64_t first_seq, uint64_t seq, size_t payload) {
  return kSegmentHeaderSize + (seq - first_seq) * (kRecordHeaderSize + payload);
}

// Every SpoolTest runs with the default read window and with windows far smaller than the
// records and segments, so reads and the recovery scan cross window boundaries everywhere.
class SpoolTest : public ::testing::TestWithParam<size_t> {
 protected:
  SpoolOptions Options() const {
    SpoolOptions options;
    options.dir = kDir;
    options.read_window_bytes = GetParam();
    return options;
  }
  // Small segments: with 1000-byte payloads, five records per segment.
  SpoolOptions SmallSegments() const {
    SpoolOptions options = Options();
    options.segment_bytes = 4096;
    return options;
  }
  std::unique_ptr<Spool> Open(const SpoolOptions& options) {
    Result<std::unique_ptr<Spool>> spool = Spool::Open(&fs_, options, &clock_);
    EXPECT_TRUE(spool.ok()) << spool.status().ToString();
    return spool.ok() ? std::move(*spool) : nullptr;
  }
  std::unique_ptr<Spool> Open() { return Open(Options()); }
  void WriteRaw(const std::string& path, const std::string& bytes) {
    ASSERT_TRUE(fs_.CreateDirs(kDir, 0700).ok());
    auto file = fs_.OpenTruncate(path, 0600);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append(bytes).ok());
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE(fs_.SyncDir(kDir).ok());
  }
  std::vector<std::string> ListDir() { return fs_.ListDir(kDir).value_or({}); }

  FaultInjectionFileSystem fs_;
  FakeClock clock_;
};

TEST_P(SpoolTest, AppendsAssignConsecutiveSeqs) {
  auto spool = Open();
  EXPECT_EQ(AppendRange(*spool, 1, 3), 1u);
  EXPECT_EQ(AppendRange(*spool, 4, 5), 4u);
  EXPECT_EQ(spool->Stats().next_seq, 6u);
  ASSERT_TRUE(spool->Sync().ok());
  std::vector<RecordOut> all = ReadAll(*spool);
  EXPECT_EQ(Seqs(all), Range(1, 5));
  for (const RecordOut& r : all) EXPECT_EQ(r.payload, Payload(r.seq));
}

TEST_P(SpoolTest, ReadsBackWhatWasAppendedAfterReopen) {
  const uint64_t epoch = [&] {
    auto spool = Open(SmallSegments());
    std::vector<RecordIn> records = {{1, 10, "file"}, {2, 200, "usb"}, {3, 50, ""}};
    EXPECT_EQ(*spool->Append(records), 1u);
    AppendRange(*spool, 4, 30, 1000);
    EXPECT_TRUE(spool->Sync().ok());
    EXPECT_GT(spool->Stats().segments, 1u);
    return spool->Stats().epoch;
  }();
  auto spool = Open(SmallSegments());
  EXPECT_EQ(spool->Stats().epoch, epoch);
  EXPECT_TRUE(spool->Stats().recovery_warnings.empty());
  std::vector<RecordOut> all = ReadAll(*spool);
  ASSERT_EQ(Seqs(all), Range(1, 30));
  EXPECT_EQ(all[0].type, 1);
  EXPECT_EQ(all[0].priority, 10);
  EXPECT_EQ(all[0].payload, "file");
  EXPECT_EQ(all[1].type, 2);
  EXPECT_EQ(all[1].priority, 200);
  EXPECT_EQ(all[1].payload, "usb");
  EXPECT_EQ(all[2].payload, "");
  for (uint64_t i = 4; i <= 30; ++i) EXPECT_EQ(all[i - 1].payload, Payload(i, 1000));
}

TEST_P(SpoolTest, AppendsAfterReopenContinueTheSeq) {
  {
    auto spool = Open();
    AppendRange(*spool, 1, 7);
    ASSERT_TRUE(spool->Sync().ok());
  }
  auto spool = Open();
  EXPECT_EQ(spool->Stats().next_seq, 8u);
  EXPECT_EQ(spool->DurableSeq(), 7u);
  EXPECT_EQ(AppendRange(*spool, 8, 9), 8u);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 9));
  EXPECT_EQ(spool->Stats().segments, 1u) << "the last segment is continued";
}

TEST_P(SpoolTest, ReplaysUnackedRecordsAfterRestart) {
  {
    auto spool = Open();
    AppendRange(*spool, 1, 10);
    ASSERT_TRUE(spool->Sync().ok());
    ASSERT_TRUE(spool->Ack(4).ok());
    EXPECT_EQ(spool->OldestUnacked(), 5u);
  }
  fs_.DropUnsyncedData();
  auto spool = Open();
  EXPECT_EQ(spool->Stats().acked_seq, 4u);
  EXPECT_EQ(spool->Stats().unacked_records, 6u);
  EXPECT_EQ(spool->OldestUnacked(), 5u);
  EXPECT_EQ(Seqs(ReadAll(*spool, spool->OldestUnacked())), Range(5, 10));
  EXPECT_EQ(Seqs(ReadAll(*spool, 1)), Range(5, 10)) << "reads never go below the cursor";
  ASSERT_TRUE(spool->Ack(10).ok());
  EXPECT_EQ(spool->OldestUnacked(), 0u);
  EXPECT_EQ(spool->Stats().unacked_records, 0u);
}

TEST_P(SpoolTest, AckDeletesFullyAckedSegmentsAndPersistsCursor) {
  {
    auto spool = Open(SmallSegments());
    AppendRange(*spool, 1, 20, 1000);
    ASSERT_TRUE(spool->Sync().ok());
    ASSERT_EQ(spool->Stats().segments, 4u);  // 1-5, 6-10, 11-15, 16-20
    const uint64_t before = spool->Stats().bytes_on_disk;
    ASSERT_TRUE(spool->Ack(12).ok());
    EXPECT_EQ(spool->Stats().segments, 2u);
    EXPECT_LT(spool->Stats().bytes_on_disk, before);
    std::vector<std::string> names = ListDir();
    EXPECT_EQ(std::count(names.begin(), names.end(), SegmentFileName(1)), 0);
    EXPECT_EQ(std::count(names.begin(), names.end(), SegmentFileName(6)), 0);
    EXPECT_EQ(std::count(names.begin(), names.end(), SegmentFileName(11)), 1);
    ASSERT_TRUE(spool->Ack(20).ok());
    EXPECT_EQ(spool->Stats().segments, 1u) << "the segment being written stays";
  }
  fs_.DropUnsyncedData();  // the cursor was durable when Ack returned
  auto spool = Open(SmallSegments());
  EXPECT_EQ(spool->Stats().acked_seq, 20u);
  EXPECT_EQ(spool->Stats().segments, 0u) << "fully acked segments are deleted at open";
  EXPECT_EQ(spool->OldestUnacked(), 0u);
  EXPECT_EQ(AppendRange(*spool, 21, 21), 21u);
}

TEST_P(SpoolTest, LazyAckCursorIsPersistedBeforeSegmentsGoAndByPersistAck) {
  SpoolOptions options = SmallSegments();  // five 1000-byte records per segment
  options.ack_persist_interval = std::chrono::seconds(10);
  {
    auto spool = Open(options);
    AppendRange(*spool, 1, 12, 1000);  // segments 1-5, 6-10, 11-12 (being written)
    ASSERT_TRUE(spool->Sync().ok());
    ASSERT_TRUE(spool->Ack(3).ok());  // frees nothing, interval not reached: memory only
    EXPECT_EQ(spool->Stats().acked_seq, 3u);
    EXPECT_EQ(Seqs(ReadAll(*spool, 1)), Range(4, 12)) << "reads follow the in-memory cursor";
  }
  fs_.DropUnsyncedData();  // power loss: the ack of 3 was never written
  {
    auto spool = Open(options);
    EXPECT_EQ(spool->Stats().acked_seq, 0u) << "a lost ack means records are offered again";
    EXPECT_EQ(Seqs(ReadAll(*spool, 1)), Range(1, 12));
    ASSERT_TRUE(spool->Ack(7).ok());  // frees segment 1-5: persisted first
    EXPECT_EQ(spool->Stats().segments, 2u);
    ASSERT_TRUE(spool->Sync().ok());  // makes the deletion durable
  }
  fs_.DropUnsyncedData();
  {
    auto spool = Open(options);
    EXPECT_EQ(spool->Stats().acked_seq, 7u) << "an ack that deletes a segment is durable";
    ASSERT_TRUE(spool->Ack(9).ok());
    ASSERT_TRUE(spool->PersistAck().ok());
    ASSERT_TRUE(spool->PersistAck().ok()) << "nothing new: a no-op";
  }
  fs_.DropUnsyncedData();
  {
    auto spool = Open(options);
    EXPECT_EQ(spool->Stats().acked_seq, 9u) << "PersistAck wrote the cursor held in memory";
    ASSERT_TRUE(spool->Ack(10).ok());
    clock_.Advance(std::chrono::seconds(10));
    ASSERT_TRUE(spool->Ack(11).ok());  // the interval has passed: this one is written
    EXPECT_EQ(spool->Stats().segments, 1u) << "segment 6-10 went once 10 was persisted";
  }
  fs_.DropUnsyncedData();
  auto spool = Open(options);
  EXPECT_EQ(spool->Stats().acked_seq, 11u);
  EXPECT_EQ(AppendRange(*spool, 13, 13), 13u) << "seqs are never reused after lazy acks";
}

TEST_P(SpoolTest, LazyAckNeverDeletesPastThePersistedCursor) {
  SpoolOptions options = SmallSegments();
  options.ack_persist_interval = std::chrono::seconds(10);
  {
    auto spool = Open(options);
    AppendRange(*spool, 1, 5, 1000);  // segment 1-5
    ASSERT_TRUE(spool->Sync().ok());
    AppendRange(*spool, 6, 6, 1000);  // rolls: 1-5 sealed, 6 being written
    ASSERT_TRUE(spool->Sync().ok());
    ASSERT_TRUE(spool->Ack(6).ok());  // frees 1-5, persisted as 6
    EXPECT_EQ(spool->Stats().segments, 1u);
    ASSERT_TRUE(spool->Sync().ok());
    AppendRange(*spool, 7, 11, 1000);  // 6-10 rolls at 11
    ASSERT_TRUE(spool->Sync().ok());
    ASSERT_TRUE(spool->Ack(8).ok());   // frees nothing: memory only
    ASSERT_TRUE(spool->Ack(10).ok());  // frees 6-10: persisted, then deleted
    ASSERT_TRUE(spool->Sync().ok());
  }
  fs_.DropUnsyncedData();
  auto spool = Open(options);
  EXPECT_EQ(spool->Stats().acked_seq, 10u);
  EXPECT_EQ(Seqs(ReadAll(*spool, 1)), Range(11, 11));
  EXPECT_EQ(AppendRange(*spool, 12, 12), 12u);
}

TEST_P(SpoolTest, AckBeyondDurableSeqIsRejected) {
  auto spool = Open();
  AppendRange(*spool, 1, 5);
  Status st = spool->Ack(3);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_TRUE(spool->Ack(3).ok());
  EXPECT_TRUE(spool->Ack(2).ok()) << "an old ack is a no-op";
  EXPECT_EQ(spool->Stats().acked_seq, 3u);
}

TEST_P(SpoolTest, PowerLossLosesOnlyUnsyncedRecords) {
  {
    auto spool = Open(SmallSegments());
    AppendRange(*spool, 1, 12, 1000);
    ASSERT_TRUE(spool->Sync().ok());
    AppendRange(*spool, 13, 30, 1000);  // fills the active segment and creates new ones
    EXPECT_EQ(spool->DurableSeq(), 12u);
  }
  fs_.DropUnsyncedData();
  auto spool = Open(SmallSegments());
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 12));
  EXPECT_EQ(spool->Stats().recovered_dropped_records, 0u);
  EXPECT_EQ(spool->Stats().recovered_truncated_bytes, 0u);
  EXPECT_EQ(AppendRange(*spool, 13, 13, 1000), 13u) << "unsynced seqs were never sent: reused";
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(ReadAll(*spool).back().payload, Payload(13, 1000));
}

// A power cut with part of the unsynced tail on disk (the cache flushed some of it, the last
// record torn anywhere): the synced records and the ack cursor survive, whole flushed records
// come back, the torn one is truncated and counted, and appends continue after it.
TEST_P(SpoolTest, PowerCutWithAPartlyFlushedTailKeepsSyncedRecordsAndCountsTheTornOne) {
  constexpr size_t kPayload = 100;
  constexpr uint64_t kRecordBytes = kRecordHeaderSize + kPayload;
  std::mt19937_64 rng(17);
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    SpoolOptions options = Options();
    options.dir = "/cut" + std::to_string(round);
    const std::string segment = options.dir + "/" + SegmentFileName(1);
    const uint64_t synced = 1 + rng() % 10;
    const uint64_t acked = rng() % (synced + 1);
    {
      auto spool = Open(options);
      AppendRange(*spool, 1, synced, kPayload);
      ASSERT_TRUE(spool->Sync().ok());
      if (acked > 0) {
        ASSERT_TRUE(spool->Ack(acked).ok());
      }
      AppendRange(*spool, synced + 1, synced + 1 + rng() % 5, kPayload);  // never synced
    }
    const std::string live = *fs_.ReadFile(segment);
    fs_.DropUnsyncedData();
    const std::string durable = *fs_.ReadFile(segment);
    ASSERT_TRUE(live.starts_with(durable));
    const uint64_t flushed = rng() % (live.size() - durable.size());
    {
      auto file = fs_.OpenAppend(segment, 0600);
      ASSERT_TRUE(file.ok());
      ASSERT_TRUE((*file)->Append(live.substr(durable.size(), flushed)).ok());
      ASSERT_TRUE((*file)->Sync().ok());
    }
    auto spool = Open(options);
    const uint64_t last = synced + flushed / kRecordBytes;  // whole records that reached disk
    const SpoolStats stats = spool->Stats();
    EXPECT_EQ(stats.acked_seq, acked);
    EXPECT_EQ(stats.recovered_truncated_bytes, flushed % kRecordBytes);
    EXPECT_EQ(stats.recovered_dropped_records, 0u);
    EXPECT_EQ(stats.recovery_warnings.empty(), flushed % kRecordBytes == 0);
    EXPECT_EQ(Seqs(ReadAll(*spool)), Range(acked + 1, last));
    EXPECT_EQ(AppendRange(*spool, last + 1, last + 1, kPayload), last + 1);
    ASSERT_TRUE(spool->Sync().ok());
    EXPECT_EQ(Seqs(ReadAll(*spool)), Range(acked + 1, last + 1));
  }
}

TEST_P(SpoolTest, ReadNeverReturnsUnsyncedRecords) {
  auto spool = Open();
  AppendRange(*spool, 1, 5);
  EXPECT_EQ(spool->DurableSeq(), 0u);
  EXPECT_TRUE(ReadAll(*spool).empty());
  ASSERT_TRUE(spool->Sync().ok());
  AppendRange(*spool, 6, 10);
  EXPECT_EQ(spool->DurableSeq(), 5u);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 5));
  EXPECT_TRUE(spool->Read(6, 100, 1 << 20)->empty());
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(Seqs(*spool->Read(6, 100, 1 << 20)), Range(6, 10));
}

TEST_P(SpoolTest, ReadRespectsRecordAndByteLimits) {
  auto spool = Open();
  AppendRange(*spool, 1, 10, 100);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(Seqs(*spool->Read(1, 3, 1 << 20)), Range(1, 3));
  EXPECT_EQ(Seqs(*spool->Read(4, 100, 250)), Range(4, 5));
  EXPECT_EQ(Seqs(*spool->Read(6, 100, 10)), Range(6, 6)) << "at least one record";
  EXPECT_TRUE(spool->Read(1, 0, 1 << 20)->empty());
  EXPECT_EQ(Seqs(*spool->Read(9, 100, 1 << 20)), Range(9, 10)) << "random access";
  EXPECT_EQ(Seqs(*spool->Read(2, 2, 1 << 20)), Range(2, 3)) << "backwards";
  EXPECT_TRUE(spool->Read(11, 100, 1 << 20)->empty());
}

TEST_P(SpoolTest, TornTailIsTruncatedAndCounted) {
  {
    auto spool = Open();
    AppendRange(*spool, 1, 5, 100);
    ASSERT_TRUE(spool->Sync().ok());
  }
  const uint64_t full = *fs_.FileSize(SegPath(1));
  ASSERT_TRUE(fs_.Truncate(SegPath(1), full - 7).ok());  // record 5 half written
  auto spool = Open();
  SpoolStats stats = spool->Stats();
  EXPECT_EQ(stats.recovered_truncated_bytes, kRecordHeaderSize + 100 - 7);
  EXPECT_EQ(stats.recovered_dropped_records, 0u) << "nothing intact was lost";
  EXPECT_FALSE(stats.recovery_warnings.empty());
  EXPECT_EQ(*fs_.FileSize(SegPath(1)), RecordOffset(1, 5, 100));
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 4));
  EXPECT_EQ(AppendRange(*spool, 5, 5, 100), 5u);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 5));
}

TEST_P(SpoolTest, GarbageAfterLastRecordIsTruncatedAndCounted) {
  {
    auto spool = Open();
    AppendRange(*spool, 1, 3, 100);
    ASSERT_TRUE(spool->Sync().ok());
  }
  auto file = fs_.OpenAppend(SegPath(1), 0600);
  ASSERT_TRUE((*file)->Append(std::string(10, '\0')).ok());  // a zero-filled torn block
  auto spool = Open();
  EXPECT_EQ(spool->Stats().recovered_truncated_bytes, 10u);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 3));
  EXPECT_EQ(spool->Stats().next_seq, 4u);
}

TEST_P(SpoolTest, CorruptMiddleRecordIsSkippedAndCounted) {
  {
    auto spool = Open(SmallSegments());
    AppendRange(*spool, 1, 15, 1000);  // segments 1-5, 6-10, 11-15
    ASSERT_TRUE(spool->Sync().ok());
  }
  ASSERT_TRUE(fs_.CorruptByte(SegPath(1), RecordOffset(1, 3, 1000) + kRecordHeaderSize + 10).ok());
  auto spool = Open(SmallSegments());
  SpoolStats stats = spool->Stats();
  EXPECT_EQ(stats.recovered_dropped_records, 3u);  // 3, 4, 5
  EXPECT_EQ(stats.recovered_truncated_bytes, 3 * (kRecordHeaderSize + 1000));
  EXPECT_EQ(*fs_.FileSize(SegPath(1)), RecordOffset(1, 3, 1000));
  EXPECT_EQ(Seqs(*spool->Read(1, 100, 1 << 20)), Range(1, 2)) << "a hole ends the batch";
  EXPECT_EQ(Seqs(*spool->Read(3, 100, 1 << 20)), Range(6, 15)) << "a hole at from_seq is skipped";
  EXPECT_EQ(Seqs(ReadAll(*spool)), Concat(Range(1, 2), Range(6, 15)));
  EXPECT_EQ(AppendRange(*spool, 16, 16, 1000), 16u);
  // The cut is durable: a second open finds nothing more to repair.
  spool.reset();
  fs_.DropUnsyncedData();
  spool = Open(SmallSegments());
  EXPECT_EQ(spool->Stats().recovered_truncated_bytes, 0u);
  EXPECT_TRUE(spool->Stats().recovery_warnings.empty());
}

TEST_P(SpoolTest, CorruptRecordInLastSegmentNeverReusesItsSeqs) {
  {
    auto spool = Open();
    AppendRange(*spool, 1, 10, 100);
    ASSERT_TRUE(spool->Sync().ok());
  }
  ASSERT_TRUE(fs_.CorruptByte(SegPath(1), RecordOffset(1, 4, 100) + kRecordHeaderSize + 5).ok());
  auto spool = Open();
  EXPECT_EQ(spool->Stats().recovered_dropped_records, 7u);  // 4..10, found intact past the cut
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 3));
  // 4..10 may have been sent already: the collector must not mistake new records for them.
  EXPECT_EQ(AppendRange(*spool, 11, 11), 11u);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(Seqs(ReadAll(*spool)), Concat(Range(1, 3), {11}));
}

TEST_P(SpoolTest, CorruptLengthFieldIsCutWithoutAllocatingIt) {
  {
    auto spool = Open();
    AppendRange(*spool, 1, 4, 100);
    ASSERT_TRUE(spool->Sync().ok());
  }
  // Turn record 2's length into ~4 GiB.
  ASSERT_TRUE(fs_.CorruptByte(SegPath(1), RecordOffset(1, 2, 100) + 3).ok());
  auto spool = Open();
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 1));
  EXPECT_EQ(spool->Stats().recovered_dropped_records, 3u);
}

TEST_P(SpoolTest, CorruptionFoundByReadSkipsRestOfSegment) {
  {
    auto spool = Open(SmallSegments());
    AppendRange(*spool, 1, 12, 1000);  // 1-5, 6-10, 11-12 (being written)
    ASSERT_TRUE(spool->Sync().ok());
  }
  auto spool = Open(SmallSegments());
  // Bit rot after the open-time scan, in a full segment and in the one being written.
  ASSERT_TRUE(fs_.CorruptByte(SegPath(1), RecordOffset(1, 3, 1000) + kRecordHeaderSize).ok());
  ASSERT_TRUE(fs_.CorruptByte(SegPath(11), RecordOffset(11, 12, 1000) + kRecordHeaderSize).ok());
  EXPECT_EQ(Seqs(ReadAll(*spool)), Concat(Range(1, 2), Range(6, 11)));
  EXPECT_EQ(spool->Stats().read_dropped_records, 4u);  // 3, 4, 5 and 12
  // The damaged segment is no longer appended to; seqs continue after the lost ones.
  EXPECT_EQ(AppendRange(*spool, 13, 13, 1000), 13u);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(Seqs(*spool->Read(12, 100, 1 << 20)), Range(13, 13));
}

TEST_P(SpoolTest, SegmentShortenedAfterOpenEndsItsReadableRange) {
  {
    auto spool = Open(SmallSegments());
    AppendRange(*spool, 1, 7, 1000);  // 1-5, 6-7 (being written)
    ASSERT_TRUE(spool->Sync().ok());
  }
  auto spool = Open(SmallSegments());
  // Something cut the full segment in the middle of record 3 after the open-time scan.
  ASSERT_TRUE(fs_.Truncate(SegPath(1), RecordOffset(1, 3, 1000) + 500).ok());
  EXPECT_EQ(Seqs(ReadAll(*spool)), Concat(Range(1, 2), Range(6, 7)));
  EXPECT_EQ(spool->Stats().read_dropped_records, 3u);  // 3, 4 and 5
  EXPECT_EQ(AppendRange(*spool, 8, 8, 1000), 8u);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(Seqs(*spool->Read(8, 100, 1 << 20)), Range(8, 8));
}

TEST_P(SpoolTest, FirstReadFarIntoASegmentOfLargeRecordsIsNotEmpty) {
  {
    auto spool = Open();
    AppendRange(*spool, 1, 1500, 1000);  // one segment; index entries at 1 and 1025
    ASSERT_TRUE(spool->Sync().ok());
  }
  // After a restart the reader knows only the index: reaching 1400 walks 375 records of 1 KiB,
  // one window load each with the smallest window, and a small max_bytes.
  auto spool = Open();
  Result<std::vector<RecordOut>> got = spool->Read(1400, 10, 100);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_FALSE(got->empty());
  EXPECT_EQ(got->front().seq, 1400u);
  EXPECT_EQ(got->front().payload, Payload(1400, 1000));
  // And back to an earlier record (a replay after a reconnect), then onwards to the end.
  got = spool->Read(3, 2, 1 << 20);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Seqs(*got), Range(3, 4));
  EXPECT_EQ((*got)[1].payload, Payload(4, 1000));
  EXPECT_EQ(Seqs(ReadAll(*spool, 1490)), Range(1490, 1500));
}

TEST_P(SpoolTest, CorruptStateFileRecoversFromSegments) {
  uint64_t epoch = 0;
  {
    auto spool = Open();
    AppendRange(*spool, 1, 10);
    ASSERT_TRUE(spool->Sync().ok());
    ASSERT_TRUE(spool->Ack(4).ok());
    epoch = spool->Stats().epoch;
  }
  ASSERT_TRUE(fs_.CorruptByte(StatePath(), 12).ok());
  auto spool = Open();
  SpoolStats stats = spool->Stats();
  EXPECT_EQ(stats.epoch, epoch) << "the stream continues: epoch from the segment header";
  EXPECT_EQ(stats.acked_seq, 0u) << "the cursor is unknown: everything is sent again";
  ASSERT_FALSE(stats.recovery_warnings.empty());
  EXPECT_NE(stats.recovery_warnings[0].find("state file"), std::string::npos)
      << stats.recovery_warnings[0];
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 10));
  EXPECT_EQ(AppendRange(*spool, 11, 11), 11u);

  // Garbage of any size is handled the same way, and the rebuilt state file is valid.
  spool.reset();
  WriteRaw(StatePath(), "not a state file at all, just text");
  spool = Open();
  EXPECT_EQ(spool->Stats().epoch, epoch);
  spool.reset();
  spool = Open();
  EXPECT_TRUE(spool->Stats().recovery_warnings.empty());
  EXPECT_EQ(spool->Stats().epoch, epoch);
}

TEST_P(SpoolTest, MissingStateFileRecoversEpochFromSegments) {
  uint64_t epoch = 0;
  {
    auto spool = Open(SmallSegments());
    AppendRange(*spool, 1, 12, 1000);
    ASSERT_TRUE(spool->Sync().ok());
    ASSERT_TRUE(spool->Ack(7).ok());  // deletes 1-5
    epoch = spool->Stats().epoch;
  }
  ASSERT_TRUE(fs_.Remove(StatePath()).ok());
  auto spool = Open(SmallSegments());
  EXPECT_EQ(spool->Stats().epoch, epoch);
  EXPECT_EQ(spool->Stats().acked_seq, 5u) << "everything still on disk is unacked";
  EXPECT_EQ(spool->OldestUnacked(), 6u);
  EXPECT_FALSE(spool->Stats().recovery_warnings.empty());
}

TEST_P(SpoolTest, NewSpoolsGetDifferentEpochs) {
  FaultInjectionFileSystem other;
  auto a = Open();
  auto b = Spool::Open(&other, Options(), &clock_);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->Stats().epoch, 0u);
  EXPECT_NE(a->Stats().epoch, (*b)->Stats().epoch) << "same clock, different random bits";
  EXPECT_EQ(a->Stats().next_seq, 1u);
}

TEST_P(SpoolTest, LosingEverythingStartsANewEpoch) {
  uint64_t epoch = 0;
  {
    auto spool = Open();
    AppendRange(*spool, 1, 3);
    ASSERT_TRUE(spool->Sync().ok());
    epoch = spool->Stats().epoch;
  }
  ASSERT_TRUE(fs_.Remove(StatePath()).ok());
  ASSERT_TRUE(fs_.Remove(SegPath(1)).ok());
  clock_.Advance(std::chrono::seconds(1));
  auto spool = Open();
  EXPECT_NE(spool->Stats().epoch, epoch);
  EXPECT_EQ(spool->Stats().next_seq, 1u);
}

TEST_P(SpoolTest, SegmentsThatCannotBelongToTheStreamAreQuarantined) {
  uint64_t epoch = 0;
  {
    auto spool = Open();
    AppendRange(*spool, 1, 3);
    ASSERT_TRUE(spool->Sync().ok());
    epoch = spool->Stats().epoch;
  }
  std::string foreign;
  AppendSegmentHeader(epoch + 1, &foreign);
  AppendRecord(100, 1, 1, "other stream", &foreign);
  WriteRaw(SegPath(100), foreign);
  std::string newer = foreign;
  newer[4] = 2;  // format version 2
  WriteRaw(SegPath(200), newer);
  WriteRaw(SegPath(300), "XXXX" + foreign.substr(4));
  WriteRaw(SegPath(400), "CSP");  // torn header: removed
  auto spool = Open();
  std::vector<std::string> names = ListDir();
  for (uint64_t seq : {100, 200, 300}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), SegmentFileName(seq) + ".quarantined"), 1)
        << seq;
    EXPECT_EQ(std::count(names.begin(), names.end(), SegmentFileName(seq)), 0) << seq;
  }
  EXPECT_EQ(std::count(names.begin(), names.end(), SegmentFileName(400)), 0);
  EXPECT_EQ(spool->Stats().recovery_warnings.size(), 4u);
  EXPECT_EQ(spool->Stats().recovered_truncated_bytes, 3 * foreign.size() + 3);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 3));
  EXPECT_EQ(AppendRange(*spool, 4, 4), 4u);
}

TEST_P(SpoolTest, OverlappingLaterSegmentSupersedesEarlierRecords) {
  // A write that failed and could not be cut back leaves records 4-5 in segment 1 that the
  // writer then wrote again, differently, to segment 4.
  std::string first;
  AppendSegmentHeader(kSeedEpoch, &first);
  for (uint64_t seq = 1; seq <= 5; ++seq)
    AppendRecord(seq, 1, 1, "old-" + std::to_string(seq), &first);
  std::string second;
  AppendSegmentHeader(kSeedEpoch, &second);
  for (uint64_t seq = 4; seq <= 6; ++seq)
    AppendRecord(seq, 1, 1, "new-" + std::to_string(seq), &second);
  WriteRaw(StatePath(), EncodeState({kSeedEpoch, 0}));
  WriteRaw(SegPath(1), first);
  WriteRaw(SegPath(4), second);
  auto spool = Open();
  std::vector<RecordOut> all = ReadAll(*spool);
  ASSERT_EQ(Seqs(all), Range(1, 6));
  EXPECT_EQ(all[2].payload, "old-3");
  EXPECT_EQ(all[3].payload, "new-4");
  EXPECT_EQ(all[5].payload, "new-6");
  // Segment 1 was cut exactly after record 3: a reopen finds nothing more to repair.
  EXPECT_EQ(fs_.FileSize(SegPath(1)).value_or(0), RecordOffset(1, 4, std::string("old-1").size()));
  spool.reset();
  auto again = Open();
  EXPECT_EQ(again->Stats().recovered_truncated_bytes, 0u);
  EXPECT_EQ(Seqs(ReadAll(*again)), Range(1, 6));
}

TEST_P(SpoolTest, FullSpoolDropsLowPriorityAndWritesGapRecord) {
  SpoolOptions options = Options();
  options.max_bytes = 64 << 10;  // high watermark ~62 KB, low ~56 KB
  options.segment_bytes = 8 << 10;
  auto spool = Open(options);
  uint64_t i = 1;
  while (spool->Stats().dropped_records == 0) {
    ASSERT_LT(i, 1000u);
    AppendRange(*spool, i, i, 500, /*priority=*/10);
    ++i;
  }
  EXPECT_TRUE(spool->Stats().shedding);
  EXPECT_EQ(spool->Stats().dropped_records, 1u);
  EXPECT_EQ(spool->Stats().gap_records, 1u);

  // A mixed batch: the low-priority records are refused, the high-priority one is kept and the
  // gap record follows it.
  std::vector<std::string> payloads = {"low-a", "tamper", "low-b"};
  std::vector<RecordIn> batch = {{1, 10, payloads[0]}, {3, 200, payloads[1]}, {1, 20, payloads[2]}};
  const uint64_t first = *spool->Append(batch);
  ASSERT_TRUE(spool->Sync().ok());
  std::vector<RecordOut> got = *spool->Read(first, 10, 1 << 20);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].payload, "tamper");
  EXPECT_EQ(got[1].type, kGapRecordType);
  EXPECT_EQ(got[1].priority, 255);
  custos::v1::Event gap_event;
  ASSERT_TRUE(gap_event.ParseFromString(got[1].payload));
  ASSERT_TRUE(gap_event.has_gap());
  EXPECT_EQ(gap_event.time_ns(), clock_.NowUnixNs());
  EXPECT_EQ(gap_event.gap().dropped_count(), 2u);
  EXPECT_EQ(gap_event.gap().max_dropped_priority(), 20u);
  EXPECT_EQ(gap_event.gap().first_dropped_seq(), 0u) << "refused records never got seqs";
  EXPECT_NE(gap_event.gap().reason().find("priority below 128"), std::string::npos)
      << gap_event.gap().reason();
  EXPECT_EQ(spool->Stats().dropped_records, 3u);
  EXPECT_LE(spool->Stats().bytes_on_disk, options.max_bytes);
}

TEST_P(SpoolTest, FullSpoolDeletesOldestSegmentsAndEveryLostSeqIsReported) {
  SpoolOptions options = Options();
  options.max_bytes = 64 << 10;
  options.segment_bytes = 8 << 10;
  auto spool = Open(options);
  for (uint64_t i = 1; i <= 400; ++i) {
    AppendRange(*spool, i, i, 500, /*priority=*/200);
    ASSERT_LE(spool->Stats().bytes_on_disk, options.max_bytes) << i;
  }
  ASSERT_TRUE(spool->Sync().ok());
  SpoolStats stats = spool->Stats();
  EXPECT_GT(stats.dropped_records, 0u);
  EXPECT_GT(stats.gap_records, 0u);
  EXPECT_GT(spool->OldestUnacked(), 1u);
  // Every seq ever assigned is either still readable or inside a gap record's range.
  std::vector<bool> accounted(stats.next_seq, false);
  uint64_t reported = 0;
  for (const RecordOut& r : ReadAll(*spool)) {
    accounted[r.seq] = true;
    if (r.type != kGapRecordType) continue;
    custos::v1::Event e;
    ASSERT_TRUE(e.ParseFromString(r.payload));
    EXPECT_GE(e.gap().max_dropped_priority(), 200u);
    reported += e.gap().dropped_count();
    for (uint64_t s = e.gap().first_dropped_seq(); s <= e.gap().last_dropped_seq(); ++s) {
      accounted[s] = true;
    }
  }
  for (uint64_t s = 1; s < stats.next_seq; ++s) EXPECT_TRUE(accounted[s]) << s;
  // Gap records deleted before they were acked hand their counts and ranges on to a later one.
  EXPECT_EQ(reported, stats.dropped_records);
}

// A long outage with only low-priority records: every Append past the high watermark is shed
// and writes a gap record. The gap records count against the cap like any record (before the
// fix they were appended unchecked and grew the spool past max_bytes by one per Append), and a
// gap record deleted to make room is not itself counted as a lost record: its report is
// carried. So what is kept plus what the gap records report is exactly what was appended.
TEST_P(SpoolTest, LongSheddingStaysUnderTheCapAndCountsEveryDropOnce) {
  SpoolOptions options = Options();
  options.max_bytes = 64 << 10;
  options.segment_bytes = 8 << 10;
  auto spool = Open(options);
  constexpr uint64_t kAppended = 5000;
  for (uint64_t i = 1; i <= kAppended; ++i) {
    AppendRange(*spool, i, i, 200, /*priority=*/10);
    ASSERT_LE(spool->Stats().bytes_on_disk, options.max_bytes) << i;
  }
  ASSERT_TRUE(spool->Sync().ok());
  uint64_t kept = 0, reported = 0;
  for (const RecordOut& r : ReadAll(*spool)) {
    if (r.type != kGapRecordType) {
      ++kept;
      continue;
    }
    custos::v1::Event e;
    ASSERT_TRUE(e.ParseFromString(r.payload));
    reported += e.gap().dropped_count();
  }
  EXPECT_GT(kept, 0u);
  EXPECT_EQ(kept + reported, kAppended);
  EXPECT_EQ(reported, spool->Stats().dropped_records);
}

TEST_P(SpoolTest, SheddingStopsWhenAcksFreeSpace) {
  SpoolOptions options = Options();
  options.max_bytes = 64 << 10;
  options.segment_bytes = 8 << 10;
  auto spool = Open(options);
  for (uint64_t i = 1; !spool->Stats().shedding; ++i) {
    ASSERT_LT(i, 1000u);
    AppendRange(*spool, i, i, 500, 10);
  }
  ASSERT_TRUE(spool->Sync().ok());
  ASSERT_TRUE(spool->Ack(spool->DurableSeq()).ok());
  EXPECT_FALSE(spool->Stats().shedding);
  const uint64_t dropped = spool->Stats().dropped_records;
  AppendRange(*spool, 1, 1, 500, 10);
  EXPECT_EQ(spool->Stats().dropped_records, dropped);
}

TEST_P(SpoolTest, RecordLargerThanTheSpoolIsRefusedAndReported) {
  SpoolOptions options = Options();
  options.max_bytes = 64 << 10;
  auto spool = Open(options);
  const std::string big(70 << 10, 'x');
  std::vector<RecordIn> batch = {{1, 255, big}};
  const uint64_t seq = *spool->Append(batch);
  ASSERT_TRUE(spool->Sync().ok());
  std::vector<RecordOut> got = *spool->Read(seq, 10, 1 << 20);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, kGapRecordType);
  EXPECT_EQ(spool->Stats().dropped_records, 1u);
}

TEST_P(SpoolTest, OversizedPayloadIsRejected) {
  auto spool = Open();
  const std::string big(kMaxPayloadBytes + 1, 'x');
  std::vector<RecordIn> batch = {{1, 1, "ok"}, {1, 1, big}};
  Result<uint64_t> seq = spool->Append(batch);
  EXPECT_EQ(seq.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(spool->Stats().next_seq, 1u) << "nothing of the batch is appended";
}

TEST_P(SpoolTest, InjectedWriteErrorIsReturnedAndSpoolStaysUsable) {
  auto spool = Open(SmallSegments());
  AppendRange(*spool, 1, 3, 1000);
  ASSERT_TRUE(spool->Sync().ok());
  fs_.FailNext(FaultInjectionFileSystem::Op::kAppend,
               ResourceExhaustedError("No space left on device"));
  std::vector<RecordIn> batch = {{1, 1, "lost-a"}, {1, 1, "lost-b"}};
  Result<uint64_t> failed = spool->Append(batch);
  EXPECT_EQ(failed.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(failed.status().message().find("spool: append"), std::string::npos)
      << failed.status().ToString();
  EXPECT_EQ(spool->Stats().next_seq, 4u) << "a failed batch takes no seqs";
  EXPECT_EQ(AppendRange(*spool, 4, 5, 1000), 4u);
  EXPECT_EQ(spool->Stats().segments, 2u) << "the failed file is not written again";

  // Creating the next segment fails: same contract.
  fs_.FailNext(FaultInjectionFileSystem::Op::kOpen, PermissionDeniedError("Permission denied"));
  const std::string big(1000, 'b');
  std::vector<RecordIn> big_batch = {{1, 1, big}};
  Result<uint64_t> no_segment = spool->Append(big_batch);
  for (int i = 0; i < 10 && no_segment.ok(); ++i) no_segment = spool->Append(big_batch);
  EXPECT_EQ(no_segment.status().code(), StatusCode::kPermissionDenied)
      << "rolling past segment 4 must have failed";
  EXPECT_NE(no_segment.status().message().find("spool: create segment"), std::string::npos)
      << no_segment.status().ToString();
  const uint64_t next = spool->Stats().next_seq;
  EXPECT_EQ(AppendRange(*spool, next, next, 1000), next);
  ASSERT_TRUE(spool->Sync().ok());

  std::vector<RecordOut> all = ReadAll(*spool);
  EXPECT_EQ(Seqs(all), Range(1, next));
  for (uint64_t seq = 1; seq <= 5; ++seq) EXPECT_EQ(all[seq - 1].payload, Payload(seq, 1000));
  spool.reset();
  fs_.DropUnsyncedData();
  spool = Open(SmallSegments());
  EXPECT_TRUE(spool->Stats().recovery_warnings.empty());
  EXPECT_EQ(spool->Stats().next_seq, next + 1);
}

TEST_P(SpoolTest, InjectedSyncErrorKeepsDurableSeqAndSpoolStaysUsable) {
  auto spool = Open();
  AppendRange(*spool, 1, 3);
  fs_.FailNext(FaultInjectionFileSystem::Op::kSync, InternalError("Input/output error"));
  EXPECT_FALSE(spool->Sync().ok());
  EXPECT_EQ(spool->DurableSeq(), 0u);
  EXPECT_TRUE(ReadAll(*spool).empty());
  AppendRange(*spool, 4, 4);
  fs_.FailNext(FaultInjectionFileSystem::Op::kSyncDir, InternalError("Input/output error"));
  EXPECT_FALSE(spool->Sync().ok());
  EXPECT_EQ(spool->DurableSeq(), 0u);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(spool->DurableSeq(), 4u);
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 4));
  spool.reset();
  fs_.DropUnsyncedData();
  spool = Open();
  EXPECT_EQ(Seqs(ReadAll(*spool)), Range(1, 4));
}

TEST_P(SpoolTest, FailedStateWriteLeavesCursorUnchanged) {
  auto spool = Open();
  AppendRange(*spool, 1, 3);
  ASSERT_TRUE(spool->Sync().ok());
  fs_.FailNext(FaultInjectionFileSystem::Op::kRename, InternalError("Input/output error"));
  EXPECT_FALSE(spool->Ack(2).ok());
  EXPECT_EQ(spool->Stats().acked_seq, 0u);
  ASSERT_TRUE(spool->Ack(2).ok());
  EXPECT_EQ(spool->OldestUnacked(), 3u);
}

TEST_P(SpoolTest, StatsDateTheOldestUnackedRecord) {
  auto spool = Open();
  const int64_t t0 = clock_.NowUnixNs();
  AppendRange(*spool, 1, 1);
  clock_.Advance(std::chrono::seconds(5));
  AppendRange(*spool, 2, 2);
  ASSERT_TRUE(spool->Sync().ok());
  EXPECT_EQ(spool->Stats().oldest_unacked_time_ns, t0);
  ASSERT_TRUE(spool->Ack(2).ok());
  EXPECT_EQ(spool->Stats().oldest_unacked_time_ns, 0);
  spool.reset();
  // After a restart the records' own event times date them.
  spool = Open();
  const std::string payload = EventPayload(42'000, "/home/alice/a.txt");
  std::vector<RecordIn> batch = {{1, 1, payload}};
  ASSERT_TRUE(spool->Append(batch).ok());
  ASSERT_TRUE(spool->Sync().ok());
  spool.reset();
  spool = Open();
  AppendRange(*spool, 4, 4);  // newer records do not change the date
  EXPECT_EQ(spool->Stats().oldest_unacked_time_ns, 42'000);
}

TEST_P(SpoolTest, InvalidOptionsAreRejected) {
  SpoolOptions options = Options();
  options.dir = "";
  EXPECT_EQ(Spool::Open(&fs_, options, &clock_).status().code(), StatusCode::kInvalidArgument);
  options = Options();
  options.max_bytes = 1000;
  EXPECT_EQ(Spool::Open(&fs_, options, &clock_).status().code(), StatusCode::kInvalidArgument);
  options = Options();
  options.low_watermark = 0.99;
  EXPECT_EQ(Spool::Open(&fs_, options, &clock_).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(SpoolTest, HostileSegmentBytesNeverCrash) {
  std::mt19937_64 rng(20240601);
  std::string valid;
  AppendSegmentHeader(kSeedEpoch, &valid);
  for (uint64_t seq = 1; seq <= 20; ++seq) AppendRecord(seq, 1, 5, Payload(seq, 40), &valid);
  for (int round = 0; round < 300; ++round) {
    FaultInjectionFileSystem fs;
    std::string bytes;
    switch (round % 4) {
      case 0:  // pure noise
        bytes.resize(rng() % 2048);
        for (char& c : bytes) c = static_cast<char>(rng());
        break;
      case 1:  // a valid header, then noise
        AppendSegmentHeader(kSeedEpoch, &bytes);
        for (size_t n = rng() % 2048; n > 0; --n) bytes.push_back(static_cast<char>(rng()));
        break;
      default:  // valid records with flipped bytes, cut anywhere
        bytes = valid.substr(0, rng() % (valid.size() + 1));
        for (int flips = static_cast<int>(rng() % 4); flips > 0 && !bytes.empty(); --flips) {
          bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255);
        }
        break;
    }
    ASSERT_TRUE(fs.CreateDirs(kDir, 0700).ok());
    if (round % 3 == 0) {
      ASSERT_TRUE(fs::WriteFileAtomic(&fs, StatePath(), EncodeState({kSeedEpoch, 0}), 0600).ok());
    }
    auto file = fs.OpenTruncate(SegPath(1 + rng() % 3), 0600);
    ASSERT_TRUE((*file)->Append(bytes).ok());
    auto spool = Spool::Open(&fs, Options(), &clock_);
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    std::vector<RecordOut> all = ReadAll(**spool);
    for (size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i].seq, all[i - 1].seq);
    const uint64_t next = (*spool)->Stats().next_seq;
    EXPECT_EQ(AppendRange(**spool, 0, 0), next);
    ASSERT_TRUE((*spool)->Sync().ok());
    EXPECT_EQ((*spool)->Read(next, 10, 1 << 20)->size(), 1u);
  }
}

TEST_P(SpoolTest, ConcurrentWriterAndReaderDeliverEveryRecordInOrder) {
  constexpr uint64_t kRecords = 20'000;
  auto spool = Open(SmallSegments());
  std::thread writer([&] {
    for (uint64_t i = 1; i <= kRecords; i += 100) {
      AppendRange(*spool, i, i + 99, 100);
      EXPECT_TRUE(spool->Sync().ok());
    }
  });
  // EXPECT, not ASSERT, until the writer is joined.
  uint64_t next = 1;
  bool ok = true;
  while (ok && next <= kRecords) {
    Result<std::vector<RecordOut>> batch = spool->Read(next, 500, 1 << 20);
    ok = batch.ok();
    EXPECT_TRUE(ok) << batch.status().ToString();
    if (!ok) break;
    if (batch->empty()) {
      std::this_thread::yield();
      continue;
    }
    for (const RecordOut& r : *batch) {
      ok = ok && r.seq == next && r.payload == Payload(r.seq, 100);
      ++next;
    }
    EXPECT_TRUE(ok) << "out of order or wrong payload before seq " << next;
    EXPECT_TRUE(spool->Ack(next - 1).ok());
  }
  writer.join();
  EXPECT_EQ(spool->Stats().unacked_records, 0u);
  EXPECT_LE(spool->Stats().segments, 1u);
}

INSTANTIATE_TEST_SUITE_P(ReadWindows, SpoolTest,
                         ::testing::Values(size_t{1} << 20, size_t{64}, size_t{1500}),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return "window" + std::to_string(info.param);
                         });

// Feeds `segment` to a SegmentScanner `window` bytes at a time, as the spool's recovery does.
SegmentScan ScanInWindows(std::string_view segment, size_t window) {
  SegmentScanner scanner(1, 3, 7);
  SegmentScanner::Step step = SegmentScanner::Step::kNeedMore;
  int feeds = 0;
  while (step != SegmentScanner::Step::kDone && ++feeds < 100000) {
    const std::string_view rest = segment.substr(scanner.offset());
    if (step == SegmentScanner::Step::kNeedRest) {
      step = scanner.Feed(rest, true);
      continue;
    }
    const size_t want = std::max(window, scanner.needed());
    const std::string_view piece = rest.substr(0, want);
    step = scanner.Feed(piece, piece.size() == rest.size());
  }
  EXPECT_EQ(step, SegmentScanner::Step::kDone);
  return std::move(scanner.scan());
}

TEST(SegmentScannerTest, FindsWhatTheWholeFileScanFindsHoweverTheFileIsCut) {
  std::string clean;
  AppendSegmentHeader(kSeedEpoch, &clean);
  for (uint64_t seq = 1; seq <= 40; ++seq) {
    AppendRecord(seq, seq % 5 == 0 ? 7 : 1, static_cast<uint8_t>(seq * 7), Payload(seq, seq * 13),
                 &clean);
  }
  const uint64_t record20 = [&] {
    uint64_t off = kSegmentHeaderSize;
    for (uint64_t seq = 1; seq < 20; ++seq) off += kRecordHeaderSize + seq * 13;
    return off;
  }();
  std::string bad_crc = clean;
  bad_crc[record20 + kRecordHeaderSize + 3] ^= 1;  // record 20's payload: later ones are intact
  std::string torn = clean.substr(0, clean.size() - 5);
  std::string garbage = clean + std::string(7, '\x5a');
  for (const std::string* segment : {&clean, &bad_crc, &torn, &garbage}) {
    const SegmentScan whole = ScanSegment(*segment, 1, 3, 7);
    for (size_t window : {1, 17, 18, 100, 513, 4096, 1 << 20}) {
      SCOPED_TRACE("window " + std::to_string(window));
      const SegmentScan cut = ScanInWindows(*segment, window);
      EXPECT_EQ(cut.last_seq, whole.last_seq);
      EXPECT_EQ(cut.valid_bytes, whole.valid_bytes);
      EXPECT_EQ(cut.max_priority, whole.max_priority);
      EXPECT_EQ(cut.index, whole.index);
      EXPECT_EQ(cut.typed, whole.typed);
      EXPECT_EQ(cut.corrupt, whole.corrupt);
      EXPECT_EQ(cut.reason, whole.reason);
      EXPECT_EQ(cut.highest_seq_after_corruption, whole.highest_seq_after_corruption);
    }
  }
  const SegmentScan scan = ScanSegment(bad_crc, 1, 3, 7);
  EXPECT_EQ(scan.last_seq, 19u);
  EXPECT_TRUE(scan.corrupt);
  EXPECT_EQ(scan.highest_seq_after_corruption, 40u);
  EXPECT_EQ(scan.index.size(), 7u);  // seqs 1, 4, ..., 19
  EXPECT_EQ(scan.typed.size(), 3u);  // seqs 5, 10, 15
  EXPECT_FALSE(ScanSegment(clean, 1, 3, 7).corrupt);
  EXPECT_TRUE(ScanSegment(torn, 1, 3, 7).corrupt);
  EXPECT_EQ(ScanSegment(garbage, 1, 3, 7).last_seq, 40u);
}

TEST(SpoolPosixTest, WorksOnTheRealFileSystem) {
  testing::TempDir dir;
  SpoolOptions options;
  options.dir = dir.Sub("spool");
  options.segment_bytes = 4096;
  FakeClock clock;
  {
    auto spool = Spool::Open(fs::Posix(), options, &clock);
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    AppendRange(**spool, 1, 50, 200);
    ASSERT_TRUE((*spool)->Sync().ok());
    ASSERT_TRUE((*spool)->Ack(10).ok());
  }
  auto spool = Spool::Open(fs::Posix(), options, &clock);
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  EXPECT_TRUE((*spool)->Stats().recovery_warnings.empty());
  std::vector<RecordOut> all = ReadAll(**spool);
  ASSERT_EQ(Seqs(all), Range(11, 50));
  for (const RecordOut& r : all) EXPECT_EQ(r.payload, Payload(r.seq, 200));
  EXPECT_EQ(AppendRange(**spool, 51, 51), 51u);
}

// The committed seed corpus of the segment fuzzer is what this code writes today. A change here
// is a format change: bump kFormatVersion and follow "Evolving the format" in
// docs/spool-format.md. Regenerate with CUSTOS_UPDATE_SPOOL_SEEDS=1.
TEST(SpoolSeedCorpusTest, CommittedSeedsAreWhatTheSpoolWrites) {
  FaultInjectionFileSystem fs;
  FakeClock clock(1'763'700'000'000'000'000);
  ASSERT_TRUE(fs.CreateDirs(kDir, 0700).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(&fs, StatePath(), EncodeState({kSeedEpoch, 0}), 0600).ok());
  SpoolOptions options;
  options.dir = kDir;
  std::map<std::string, std::string> seeds;
  {
    auto spool = Spool::Open(&fs, options, &clock);
    ASSERT_TRUE(spool.ok());
    std::vector<std::string> payloads = {
        EventPayload(clock.NowUnixNs(), "/media/alice/USB/customer-list.xlsx"),
        EventPayload(clock.NowUnixNs() + 1, "/home/alice/notes.txt"), std::string(),
        EventPayload(clock.NowUnixNs() + 2, "/etc/sudoers"), "opaque bytes \x01\x02\xff"};
    std::vector<RecordIn> records = {{1, 100, payloads[0]},
                                     {1, 10, payloads[1]},
                                     {4, 0, payloads[2]},
                                     {3, 250, payloads[3]},
                                     {9, 1, payloads[4]}};
    ASSERT_TRUE((*spool)->Append(records).ok());
    ASSERT_TRUE((*spool)->Sync().ok());
  }
  const std::string valid = *fs.ReadFile(SegPath(1));
  seeds["valid_5_records.seg"] = valid;
  seeds["header_only.seg"] = valid.substr(0, kSegmentHeaderSize);
  seeds["torn_tail.seg"] = valid.substr(0, valid.size() - 7);
  std::string corrupt = valid;
  corrupt[valid.size() / 2] ^= 0x5A;
  seeds["corrupt_middle.seg"] = corrupt;
  RecordView first_record;
  ASSERT_EQ(DecodeRecord(std::string_view(valid).substr(kSegmentHeaderSize), &first_record),
            RecordCheck::kOk);
  std::string bad_length = valid;
  bad_length.replace(kSegmentHeaderSize + first_record.size, 4, "\xf0\xff\xff\xff");
  seeds["bad_length.seg"] = bad_length;
  {
    std::string many;
    AppendSegmentHeader(kSeedEpoch, &many);
    for (uint64_t seq = 1; seq <= 1100; ++seq) AppendRecord(seq, 1, seq % 256, "r", &many);
    seeds["index_boundary_1100_records.seg"] = many;
  }
  const char* update = std::getenv("CUSTOS_UPDATE_SPOOL_SEEDS");
  const std::string corpus = testing::SourcePath("tests/fuzz/corpus/spool_segment");
  for (const auto& [name, bytes] : seeds) {
    const std::string path = corpus + "/" + name;
    if (update != nullptr && *update) {
      ASSERT_TRUE(testing::WriteFile(path, bytes).ok()) << path;
      continue;
    }
    Result<std::string> committed = testing::ReadFile(path);
    ASSERT_TRUE(committed.ok()) << "seed corpus not found at " << corpus
                                << " (committed under tests/fuzz/corpus/spool_segment)";
    EXPECT_EQ(*committed, bytes) << name << " differs from what the spool writes";
  }
}

}  // namespace
}  // namespace custos::agent::spool
