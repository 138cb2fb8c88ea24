// agent/spool: the agent's durable buffer between capture and the uplink.
//
// An append-only log of segment files in one directory. Each record carries length, CRC32C,
// sequence number, type and priority (byte format: docs/spool-format.md). Sequence numbers are
// consecutive within a stream epoch; the epoch is chosen when the spool is created (or recreated
// after it was lost) and persisted in the state file. The acked cursor (highest seq the collector
// has durably stored) lives in a small state file replaced atomically (write, fsync, rename, fsync
// the directory). Fully acked segments are deleted.
//
// Durability: Append() writes to the OS; Sync() makes everything appended so far durable
// (fdatasync, plus a directory fsync when a segment was created). The agent calls Sync() on a
// timer and before records are offered to the uplink, so nothing unsynced is ever sent: a record
// the collector acked is always durable locally first. fsync policy: docs/spool-format.md.
//
// Recovery (Open): segments are scanned; a torn or corrupt tail (bad length, CRC or seq) is
// truncated at the first bad record and the number of dropped bytes/records is reported in
// Stats(); a corrupt middle record ends that segment's readable range likewise (the later
// segments stay readable; the seq hole is what the uplink reports). A missing or corrupt state
// file is rebuilt from the segments (epoch from their headers, every record unacked); segments
// that cannot belong to this stream (bad magic, unknown version, other epoch) are renamed
// `*.quarantined` and never read. Never crashes on bad bytes. Rules: docs/spool-format.md.
//
// Capacity (counting segment bytes against max_bytes):
//  1. Once the spool reaches max_bytes * high_watermark it sheds: new records with priority
//     below shed_below_priority are refused (they get no seq). Shedding stops when the spool is
//     back to max_bytes * low_watermark or below (after Acks or step 2).
//  2. A record that is admitted but would not fit under max_bytes (minus a small reserve for the
//     gap record) makes the spool delete whole oldest segments (never the one being written),
//     unacked records included, until it is back to the low watermark. A record that cannot fit
//     even then (larger than the spool) is refused.
//  3. Every Append that refused or deleted anything appends one Gap record (type kGapRecordType,
//     priority 255) after its accepted records: how many were dropped, the seq range of deleted
//     records (0..0 when only never-numbered new records were refused), their max priority, why.
//     Gap records deleted by step 2 before they were acked hand their counts and ranges on to it
//     (a deleted gap record is not itself counted as dropped). A gap record counts against the
//     cap like an admitted record (step 2 makes room for it), so however long the spool sheds,
//     it stays under max_bytes.
// Dropped records are counted in Stats(), never silent.
//
// Threading: one writer thread (the pipeline) calls Append/Sync; one reader (the uplink) calls
// Read/Ack/OldestUnacked; Stats from any thread. Internally synchronised with a mutex that is
// never held across an fsync or a whole-segment read, so the writer and reader do not stall each
// other on disk latency. `fs` and `clock` must outlive the Spool.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs/file_system.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::agent::spool {

// Record type used for the spool's own gap records (payload: serialized custos.v1.Event with a
// Gap payload, built by the spool).
inline constexpr uint8_t kGapRecordType = 7;

struct SpoolOptions {
  std::string dir;                       // created 0700 if missing
  uint64_t max_bytes = 1ull << 30;       // cap on segment bytes on disk
  uint64_t segment_bytes = 16ull << 20;  // roll to a new segment past this size
  double high_watermark = 0.95;
  double low_watermark = 0.85;
  // Above the high watermark, new records with priority below this are refused (capacity step 1).
  uint8_t shed_below_priority = 128;
  // How stale the persisted ack cursor may get. 0: every Ack replaces the state file before it
  // returns (two fsyncs). Above 0: an Ack persists the cursor only when it lets a segment be
  // deleted or when this long has passed since the last persist; PersistAck() catches up. A
  // crash then forgets at most this much of the acks, and those records are offered again
  // (the collector's HELLO_ACK resume point skips them; it deduplicates by seq anyway).
  std::chrono::milliseconds ack_persist_interval{0};
  // Segment files are read this many bytes at a time, by Read and by the recovery scan at Open,
  // into one buffer the spool keeps: that is the memory reading costs, however large the
  // backlog. A record larger than this is read whole. At least 64 bytes (tests cut small).
  size_t read_window_bytes = 1u << 20;
};
// Open fails with InvalidArgument unless dir is set, max_bytes >= 64 KiB and
// 0 < low_watermark < high_watermark <= 1. segment_bytes is clamped to [4 KiB, max_bytes / 8] so
// that deleting one segment frees a bounded share of the spool.

struct RecordIn {
  uint8_t type = 0;          // store::EventType numbering (1 file, 2 usb, 3 setting, ... 7 gap)
  uint8_t priority = 0;      // 0 lowest .. 255 highest; security/tamper events are high
  std::string_view payload;  // serialized custos.v1.Event (agent_id/epoch/seq empty)
};

struct RecordOut {
  uint64_t seq = 0;
  uint8_t type = 0;
  uint8_t priority = 0;
  std::string payload;
};

struct SpoolStats {
  uint64_t epoch = 0;
  uint64_t next_seq = 0;   // seq the next appended record gets
  uint64_t acked_seq = 0;  // highest acked seq
  uint64_t unacked_records = 0;
  uint64_t bytes_on_disk = 0;
  // Append time of the oldest unacked record, 0 if none. Approximate: dated by the nearest of the
  // index entries kept every 1024 records; records recovered at Open are dated by their event's
  // time_ns (the format stores no append time).
  int64_t oldest_unacked_time_ns = 0;
  uint64_t dropped_records = 0;            // by the capacity policy since open
  uint64_t recovered_truncated_bytes = 0;  // torn/corrupt tails cut, segments set aside at open
  uint64_t recovered_dropped_records = 0;  // records lost to corruption at open (best estimate)
  uint32_t segments = 0;
  // Added to the original contract:
  uint64_t gap_records = 0;           // gap records appended since open
  uint64_t read_dropped_records = 0;  // records skipped because Read found them corrupt
  bool shedding = false;              // above the high watermark, refusing low priority
  // What Open (or a Read finding bit rot) found wrong and did about it; at most 64 entries.
  std::vector<std::string> recovery_warnings;
};

class Spool {
 public:
  // Opens or creates the spool in options.dir, recovering as described above.
  static Result<std::unique_ptr<Spool>> Open(fs::FileSystem* fs, const SpoolOptions& options,
                                             Clock* clock);
  virtual ~Spool() = default;

  // Appends records in order, assigning consecutive seqs; returns the seq of the first record
  // this call wrote (records dropped by the capacity policy consume no seq: the gap record, which
  // follows the accepted ones, says what). The whole batch goes to the OS in one write unless it
  // crosses a segment boundary. Errors: InvalidArgument (a payload over 16 MiB; nothing is
  // appended), or the file system's error (nothing of the failed write is kept and the next
  // Append starts a new segment; when the batch crossed a segment boundary the records before it
  // stay appended).
  virtual Result<uint64_t> Append(std::span<const RecordIn> records) = 0;
  // Makes all appended records durable (fdatasync of the files written since the last Sync, plus
  // a directory fsync when segments were created or deleted). On error DurableSeq() does not
  // move and the next Append starts a new segment.
  virtual Status Sync() = 0;
  // Highest seq that is durable (Sync completed); the uplink never reads past it.
  virtual uint64_t DurableSeq() const = 0;

  // Up to max_records (and about max_bytes of payload: at least one record) records starting at
  // from_seq (a from_seq <= acked seq reads from acked seq + 1); fewer or none when not yet
  // durable. The records returned have consecutive seqs: a hole (records lost to corruption or
  // deleted by the capacity policy) is skipped when it is at from_seq (the next readable seq is
  // returned) and otherwise ends the batch. A record found corrupt by Read ends its segment's
  // readable range and is counted in read_dropped_records. Errors: the file system's.
  virtual Result<std::vector<RecordOut>> Read(uint64_t from_seq, size_t max_records,
                                              size_t max_bytes) = 0;
  // The collector stored everything <= seq: persist the cursor (state file replaced atomically:
  // two fsyncs, so the uplink should not call it more often than it needs), then delete the
  // segments whose records are all <= seq (not the one being written). seq <= acked is a no-op;
  // seq > DurableSeq() is InvalidArgument. If deleting a segment fails the cursor is still
  // persisted, the error is returned and the next Ack retries the deletion.
  // With ack_persist_interval > 0 the cursor may only be held in memory (see SpoolOptions);
  // it is always persisted before a segment is deleted, so the seqs on disk stay above it.
  virtual Status Ack(uint64_t seq) = 0;
  // Persists the ack cursor if an Ack left it in memory only; call periodically and before a
  // clean exit. A no-op when the state file is current.
  virtual Status PersistAck() = 0;
  // Oldest unacked seq, 0 when everything is acked.
  virtual uint64_t OldestUnacked() const = 0;

  virtual SpoolStats Stats() const = 0;
};

}  // namespace custos::agent::spool
