// collector/access/audit.h: the tamper-evident audit log (issue 18; format: docs/audit.md).
//
// Every change an operator makes is appended as an AuditEntry to the `audit_log` table of the
// collector's SQLite database (schema version 5, collector/store/sqlite/sqlite_store.cc). The
// entries form a hash chain:
//   hash(e) = SHA-256(prev_hash || CanonicalBytes(e)),  prev_hash of seq 1 = 32 zero bytes,
// and a checkpoint — an Ed25519 signature over (seq, hash) — is stored in `audit_checkpoints`
// every `checkpoint_interval` entries and whenever Checkpoint() is called.
//
// What VerifyAuditLog detects, naming the first bad seq:
//   - an entry whose fields were edited (its recomputed hash differs: "altered");
//   - an entry removed from the middle (a gap in seq: "missing");
//   - entries reordered or replaced (prev_hash does not link to the entry before: "reordered");
//   - a chain rewritten with recomputed hashes from entry k on: found at the first checkpoint at
//     or after k (its signed hash differs), not at k itself;
//   - entries removed from the tail up to or below a checkpoint (the checkpoint names a seq the
//     log no longer has: "truncated");
//   - a forged or altered checkpoint (its signature does not verify) and, with the interval
//     known, a periodic checkpoint that was deleted.
// What it cannot detect: entries removed after the last checkpoint, together with any
// checkpoint deleted with them below the next periodic one (nothing signed mentions them), and
// anything done by someone holding the signing key. Shipping checkpoints off the machine (later)
// closes the first gap.
//
// Threading: AuditLog is thread-safe; appends are serialised by a mutex and, across processes
// (the CLI and a running collector share the file), by SQLite's write lock: the chain's tail is
// read inside the appending transaction. Secrets (tokens, passwords) never go into an entry.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::collector::access {

inline constexpr int64_t kDefaultCheckpointInterval = 1000;
inline constexpr size_t kAuditHashBytes = 32;

// One entry. seq, time_ns, prev_hash and hash are assigned by AuditLog::Append.
struct AuditEntry {
  int64_t seq = 0;             // 1, 2, 3, ... with no gaps
  int64_t time_ns = 0;         // Unix time
  std::string actor = {};      // "local-admin:alice", "token:atk_1234"
  std::string action = {};     // "token.create", "agent.revoke"
  std::string object = {};     // what was acted on: "tok_ab12", "agt_..."
  std::string summary = {};    // before/after in words; never a secret
  std::string source = {};     // "cli" or the client's address
  std::string prev_hash = {};  // 32 raw bytes
  std::string hash = {};       // 32 raw bytes
};

// The bytes the hash commits to, after prev_hash: u64 big-endian seq, i64 big-endian time_ns,
// then actor, action, object, summary, source each as u32 big-endian length + bytes.
std::string CanonicalBytes(const AuditEntry& e);
// SHA-256(prev_hash || CanonicalBytes(e)) with e.prev_hash.
std::string EntryHash(const AuditEntry& e);
// What a checkpoint signs: "custos-audit-checkpoint-v1" || u64 big-endian seq || hash.
std::string CheckpointMessage(int64_t seq, std::string_view hash);
// What a pruning record signs: "custos-audit-prune-v1" || u64 big-endian seq || hash ||
// i64 big-endian cutoff_ns.
std::string PruneMessage(int64_t seq, std::string_view hash, int64_t cutoff_ns);

// The shortest retention `audit.retention` accepts (issue 18: at least 180 days).
inline constexpr int64_t kMinAuditRetentionDays = 180;

struct AuditLogOptions {
  std::string db_path = {};          // the collector's database, migrated to schema version >= 5
  std::string signing_key_pem = {};  // Ed25519 private key (pki/audit_signing.key)
  int64_t checkpoint_interval = kDefaultCheckpointInterval;
  Clock* clock = RealClock();  // must outlive the log
};

// A filter over the log for listing (`custos audit`, GET /api/v1/audit). Every field narrows.
struct AuditQuery {
  std::optional<std::string> actor = std::nullopt;   // exact: "user:alice"
  std::optional<std::string> action = std::nullopt;  // exact ("alert.status") or a prefix
                                                     // ending in '.' ("alert.")
  std::optional<std::string> object = std::nullopt;  // exact
  std::optional<int64_t> since_ns = std::nullopt;    // inclusive
  std::optional<int64_t> until_ns = std::nullopt;    // exclusive
  std::optional<int64_t> before_seq = std::nullopt;  // paging: entries below this seq
  uint32_t limit = 100;                              // newest first
};

class AuditLog {
 public:
  // FailedPrecondition when the schema is older than version 5 (run `custos-collector init`),
  // InvalidArgument when the key is not an Ed25519 private key.
  static Result<std::unique_ptr<AuditLog>> Open(AuditLogOptions options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // How an append reaches the disk. kDurable (changes): fsynced before Append returns, like
  // every store commit. kRelaxed (sensitive reads, which are many): committed into the chain at
  // once but fsynced with the next durable commit of any connection (WAL, synchronous=NORMAL):
  // a power cut can lose the newest relaxed entries from the tail, never reorder or corrupt the
  // chain. Reads are refused when even that cannot be written.
  enum class Durability { kDurable, kRelaxed };

  // Appends one entry (actor, action, object, summary, source taken from `entry`; the rest
  // assigned) in its own transaction, with a checkpoint when seq is a multiple of the interval.
  // Returns the entry as stored. Unavailable when the database stays locked.
  Result<AuditEntry> Append(AuditEntry entry, Durability durability = Durability::kDurable);

  // Signs the current tail (no-op on an empty log or when the tail is already checkpointed).
  Status Checkpoint();

  // Retention: removes the entries older than `cutoff_ns` (never the newest entry, which the
  // chain continues from), with the checkpoints they had, and records the last removed entry's
  // seq and hash in a signed pruning record that the first kept entry links to, in one
  // transaction. Returns how many entries were removed. VerifyAuditLog accepts a log that
  // starts after a pruning record and still finds any other removal at the front.
  Result<int64_t> Prune(int64_t cutoff_ns);

  // Entries matching `query`, newest first (hashes included, for display).
  Result<std::vector<AuditEntry>> Query(const AuditQuery& query);

 private:
  struct Connection;
  AuditLog(AuditLogOptions options, std::unique_ptr<Connection> conn);
  Status CheckpointLocked(int64_t seq, const std::string& hash);

  const AuditLogOptions options_;
  std::mutex mu_;
  std::unique_ptr<Connection> conn_;  // CUSTOS_GUARDED_BY(mu_)
};

// The result of a verification: ok, or the first bad seq and what is wrong with it.
struct AuditVerifyReport {
  int64_t entries = 0;
  int64_t checkpoints = 0;
  int64_t pruned_through = 0;  // entries up to this seq were removed by retention (0: none)
  bool ok = true;
  int64_t first_bad_seq = 0;
  std::string problem = {};  // "entry 17 altered: ..." when !ok
};

struct AuditVerifyOptions {
  std::string db_path = {};
  std::string public_key_pem = {};  // pki/audit_signing.pub
  // The interval the log was written with; 0: do not check that periodic checkpoints exist.
  int64_t checkpoint_interval = kDefaultCheckpointInterval;
};

// Reads the whole chain read-only and checks every hash, link, seq and checkpoint signature.
// A broken chain is an ok Result with report.ok == false; the Status is for I/O failures.
Result<AuditVerifyReport> VerifyAuditLog(const AuditVerifyOptions& options);

}  // namespace custos::collector::access
