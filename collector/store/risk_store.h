// collector/store/risk_store.h: what risk scoring keeps — the directory (people and their
// logins), policies, triggers (HR rows, external alerts, manual starts), alerts and the API's
// bearer tokens — and the ordered event feed scoring reads.
//
// One interface, engines by mechanism (SqliteRiskStore beside SqliteStore, same database file).
// Contract for every engine:
//  - Each call is one transaction: an import or a batch of alert updates lands whole or not at
//    all.
//  - Thread-safe: any thread may call any method; writes are serialised inside the engine and
//    with ingest's writer by the database's own lock (they are small and short).
//  - Alerts: at most one OPEN alert (needs_review or confirmed) per (person, policy); the
//    database enforces it.
// Schema: docs/storage.md ("Risk tables").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/store/store.h"
#include "common/status/status.h"

namespace custos::collector::store {

struct PersonRecord {
  std::string id;  // email, lower-case
  std::string display_name;
  std::string department;
  std::string manager;
  std::vector<std::string> groups;
};

struct LoginRecord {
  std::string login;
  std::string host;  // "" = any host
  std::string person;
};

struct PolicyRecord {
  std::string id;
  std::string name;
  std::string template_id;
  std::string body_json;  // scoring::PolicyToJson
  int64_t created_at_ns = 0;
};

struct TriggerRecord {
  int64_t id = 0;
  std::string person;
  std::string kind;  // scoring::TriggerKindName
  int64_t time_ns = 0;
  int64_t end_ns = 0;
  std::string detail;
  std::string source;  // "hr-import", "external-alert:<source>", "manual:<token name>"
  int64_t created_at_ns = 0;
  // Rows with the same non-empty key are stored once (re-importing a file adds nothing).
  std::string dedup_key;
};

// Alert statuses as stored and shown.
inline constexpr std::string_view kNeedsReview = "needs_review";
inline constexpr std::string_view kConfirmed = "confirmed";
inline constexpr std::string_view kDismissed = "dismissed";
inline constexpr std::string_view kResolved = "resolved";

struct AlertRecord {
  int64_t id = 0;
  std::string person;
  std::string policy_id;
  std::string status;
  std::string severity;
  uint32_t score = 0;
  int64_t created_at_ns = 0;
  int64_t updated_at_ns = 0;
  int64_t first_activity_ns = 0;
  int64_t last_activity_ns = 0;
  std::string explanation_json;
  std::string status_reason;
  std::string status_by;
  int64_t status_changed_at_ns = 0;
  std::string close_snapshot;  // scoring::ScoringEngine::CloseAlert's snapshot
  uint32_t updates = 0;        // times the score was revised
};

struct AlertQuery {
  std::optional<std::string> status;
  bool open_only = false;  // needs_review or confirmed
  std::optional<std::string> severity;
  std::optional<std::string> person;
  std::optional<std::string> policy_id;
  std::optional<uint32_t> min_score;
  std::optional<int64_t> updated_since_ns;
  std::optional<int64_t> before_id;  // paging: ids below this
  uint32_t limit = 100;
};

struct ApiTokenRecord {
  std::string id;
  std::string role;  // "admin", "analyst", ...
  std::string name;
  int64_t created_at_ns = 0;
  std::optional<int64_t> revoked_at_ns;
};

// An event in the order it was stored (id ascending) — scoring's feed. The views are valid only
// during the visitor call.
struct FeedEventView {
  int64_t id = 0;
  std::string_view agent_id;
  std::string_view hostname;
  bool host_confirmed = true;  // AgentRecord::host_confirmed
  uint64_t epoch = 0;
  uint64_t seq = 0;
  int64_t time_ns = 0;
  EventType type = EventType::kUnknown;
  std::string_view user;     // "" when the event names no user
  std::string_view payload;  // serialized custos.v1.Event
};

class RiskStore {
 public:
  virtual ~RiskStore() = default;

  // ---- event feed ----
  // Calls `visit` for the events with id > after_id, by id, at most `limit` (an index range scan:
  // cheap however large the table; no copies). Returns how many were visited.
  virtual Result<uint32_t> ScanEventsAfter(
      int64_t after_id, uint32_t limit, const std::function<void(const FeedEventView&)>& visit) = 0;
  // The smallest id of an event with time_ns >= min_time_ns (every such event has an id at
  // least this), or LastEventId() + 1 when there is none.
  virtual Result<int64_t> FirstEventIdSince(int64_t min_time_ns) = 0;
  virtual Result<int64_t> LastEventId() = 0;

  // ---- directory: an import replaces the whole directory ----
  virtual Status ReplaceDirectory(std::span<const PersonRecord> people,
                                  std::span<const LoginRecord> logins) = 0;
  virtual Result<std::vector<PersonRecord>> ListPeople() = 0;
  virtual Result<std::vector<LoginRecord>> ListLogins() = 0;

  // ---- policies ----
  // AlreadyExists when the name is taken.
  virtual Status InsertPolicy(const PolicyRecord& policy) = 0;
  virtual Status DeletePolicy(std::string_view id) = 0;  // NotFound
  virtual Result<std::vector<PolicyRecord>> ListPolicies() = 0;

  // ---- triggers ----
  // Returns how many were new (rows whose dedup_key exists are skipped).
  virtual Result<uint32_t> InsertTriggers(std::span<const TriggerRecord> triggers) = 0;
  virtual Result<std::vector<TriggerRecord>> ListTriggers(std::optional<std::string> person) = 0;

  // ---- alerts ----
  // For each update: revises the open alert of (person, policy_id) — score, severity,
  // activity times, explanation, updated_at — or creates one (status needs_review). Fills ids.
  virtual Status ApplyAlertUpdates(std::span<AlertRecord> updates, int64_t now_ns) = 0;
  virtual Result<std::vector<AlertRecord>> QueryAlerts(const AlertQuery& query) = 0;
  virtual Result<AlertRecord> GetAlert(int64_t id) = 0;  // NotFound
  // Moves an alert to `status`. FailedPrecondition when it is already dismissed or resolved
  // (closed alerts are final; new activity raises a new alert).
  virtual Result<AlertRecord> SetAlertStatus(int64_t id, std::string_view status,
                                             std::string_view reason, std::string_view by,
                                             int64_t now_ns, std::string_view close_snapshot) = 0;

  // ---- API tokens (only SHA-256 of the secret is stored) ----
  virtual Status CreateApiToken(const ApiTokenRecord& token, std::string_view token_sha256) = 0;
  virtual Result<ApiTokenRecord> FindApiToken(std::string_view token_sha256) = 0;  // NotFound
  virtual Result<std::vector<ApiTokenRecord>> ListApiTokens() = 0;
  virtual Status RevokeApiToken(std::string_view id, int64_t now_ns) = 0;
};

}  // namespace custos::collector::store
