// collector/store: where the collector keeps events, agents and enrollment tokens.
//
// One interface, engines by mechanism: SqliteStore (embedded default, collector/store/sqlite/)
// and, later, PostgresStore. Contract for every engine:
//  - CommitBatches writes many agents' batches in ONE durable transaction (group commit) and
//    returns only after it is durable (SQLite: WAL + synchronous=FULL). Events are keyed by
//    (agent, epoch, seq): rows already stored are ignored, so retries never duplicate. The
//    stream cursor (last committed seq per agent and epoch) moves in the same transaction.
//  - Either the whole call commits or none of it does.
//  - Thread-safe: any thread may call any method; writes are serialised inside the engine.
//    Queries run on their own connection and never block commits for long.
// Spec of the schema: docs/storage.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/events/event_type.h"
#include "common/status/status.h"

namespace custos::collector::store {

// Event type as stored: the shared enum of common/events/event_type.h.
using EventType = events::EventType;
using events::EventTypeName;
using events::ParseEventType;

// One event inside a batch. `payload` is the serialized custos.v1.Event as the agent sent it
// (agent id, epoch and seq omitted); it points into BatchWrite::buffer.
struct EventRow {
  int64_t time_ns = 0;
  EventType type = EventType::kUnknown;
  int32_t user_index = -1;  // into BatchWrite::users, -1 when the event names no user
  std::string_view payload;
};

// One BATCH from one agent, decoded and validated. Owns the bytes its rows point into.
struct BatchWrite {
  int64_t agent_key = 0;  // AgentRecord::key
  uint64_t epoch = 0;
  uint64_t first_seq = 0;  // rows[i] has seq first_seq + i
  std::string buffer;
  std::vector<std::string> users;  // distinct login users in this batch
  std::vector<EventRow> rows;
  uint64_t last_seq() const { return first_seq + rows.size() - 1; }
  // Memory held, for backpressure by bytes.
  uint64_t bytes() const { return buffer.size() + rows.size() * sizeof(EventRow); }
};

struct StoredEvent {
  std::string agent_id;
  std::string hostname;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  int64_t time_ns = 0;
  EventType type = EventType::kUnknown;
  std::string user;
  std::string payload;  // serialized custos.v1.Event
};

struct EventQuery {
  std::optional<int64_t> since_ns;  // inclusive
  std::optional<int64_t> until_ns;  // exclusive
  std::optional<std::string> agent_id;
  std::optional<std::string> user;
  std::optional<EventType> type;
  uint32_t limit = 100;
  bool newest_first = true;
};

struct AgentRecord {
  int64_t key = 0;  // internal row id
  std::string agent_id;
  std::string hostname;
  std::string os;
  std::string machine_id;
  std::string agent_version;
  int64_t enrolled_at_ns = 0;
  std::string cert_serial;
  int64_t cert_not_after_ns = 0;
  std::optional<int64_t> revoked_at_ns;
  std::string revoke_reason;
  int64_t last_seen_ns = 0;
  std::string enrollment_token_id;
  // The certificate a renewal replaced: accepted until the agent first uses the new one.
  std::string prev_cert_serial;
  // False when the agent enrolled claiming the host name of another live agent: its events are
  // then not mapped to that host's people until an admin confirms it (ConfirmAgentHost).
  bool host_confirmed = true;
};

struct EnrollmentTokenRecord {
  std::string id;  // public handle, e.g. "tok_3f9a1c2b"
  int64_t created_at_ns = 0;
  int64_t expires_at_ns = 0;
  uint32_t max_uses = 0;
  uint32_t uses = 0;
  std::optional<int64_t> revoked_at_ns;
  std::string note;
};

struct StoreStats {
  uint64_t events = 0;
  uint64_t agents = 0;
  uint64_t bytes_on_disk = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- events ----
  virtual Status CommitBatches(std::span<BatchWrite* const> batches) = 0;
  // 0 when nothing is stored for the stream.
  virtual Result<uint64_t> LastCommittedSeq(int64_t agent_key, uint64_t epoch) = 0;
  virtual Result<std::vector<StoredEvent>> QueryEvents(const EventQuery& query) = 0;
  // Counts every stored row with this key (tests use it to prove exactly-once).
  virtual Result<uint64_t> CountEvents(std::optional<std::string> agent_id) = 0;

  // ---- enrollment tokens ----
  // Stores only SHA-256(token); the secret token itself is never stored.
  virtual Status CreateEnrollmentToken(const EnrollmentTokenRecord& record,
                                       std::string_view token_sha256) = 0;
  // Atomically checks the token (exists, not revoked, not expired at now_ns, uses left) and
  // uses it once. PermissionDenied with the reason ("expired", "used up", "revoked", "unknown").
  virtual Result<EnrollmentTokenRecord> ConsumeEnrollmentToken(std::string_view token_sha256,
                                                               int64_t now_ns) = 0;
  virtual Status RevokeEnrollmentToken(std::string_view id, int64_t now_ns) = 0;
  virtual Result<std::vector<EnrollmentTokenRecord>> ListEnrollmentTokens() = 0;

  // ---- agents ----
  virtual Result<AgentRecord> RegisterAgent(const AgentRecord& record) = 0;
  virtual Result<AgentRecord> FindAgent(std::string_view agent_id) = 0;
  // Records a renewed certificate; the replaced one becomes prev_cert_serial.
  virtual Status UpdateAgentCertificate(std::string_view agent_id, std::string_view serial,
                                        int64_t not_after_ns) = 0;
  // The agent used its current certificate: the previous one is no longer accepted.
  virtual Status ForgetPreviousCertificate(int64_t agent_key) = 0;
  // An admin vouches for the host name an agent claimed at enrollment.
  virtual Status ConfirmAgentHost(std::string_view agent_id) = 0;
  // Keys of every revoked agent (live sessions are checked against it).
  virtual Result<std::vector<int64_t>> RevokedAgentKeys() = 0;
  virtual Status RevokeAgent(std::string_view agent_id, std::string_view reason,
                             int64_t now_ns) = 0;
  virtual Status TouchAgent(int64_t agent_key, int64_t now_ns) = 0;
  virtual Result<std::vector<AgentRecord>> ListAgents() = 0;

  virtual Result<StoreStats> Stats() = 0;
  // Runs the engine's integrity check; Ok when the store is sound.
  virtual Status CheckIntegrity() = 0;
};

}  // namespace custos::collector::store
