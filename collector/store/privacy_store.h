// collector/store/privacy_store.h: what pseudonymisation keeps — identity reveal requests and
// their decisions, and the organisation's settings (the `pseudonymisation` switch). The rules
// (who may request, approve, withdraw; expiry) live in collector/access/reveals.h; this is
// storage only.
//
// One interface, engines by mechanism (SqlitePrivacyStore beside SqliteRiskStore, same
// database file). Contract for every engine:
//  - Each call is one transaction.
//  - Thread-safe: any thread may call any method.
//  - At most one pending ("requested") reveal per (requester, person); the database enforces it.
//  - Decisions are compare-and-set on the status, so two approvers racing cannot both decide.
// Schema: docs/storage.md ("Privacy tables").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::collector::store {

// Reveal statuses as stored and shown.
inline constexpr std::string_view kRevealRequested = "requested";
inline constexpr std::string_view kRevealApproved = "approved";
inline constexpr std::string_view kRevealRefused = "refused";
inline constexpr std::string_view kRevealExpired = "expired";
inline constexpr std::string_view kRevealWithdrawn = "withdrawn";

struct RevealRecord {
  std::string id = {};              // "rvl_" + 16 hex digits
  std::string person = {};          // canonical person id (e-mail or login)
  std::string requester = {};       // account id of the requester (Principal::id)
  std::string requester_name = {};  // their username at the time
  std::string justification = {};
  std::string status = {};           // kReveal*
  std::string decided_by = {};       // account id of who approved, refused or withdrew
  std::string decided_by_name = {};  // their username at the time
  int64_t decided_at_ns = 0;         // 0 while requested
  std::string decision_note = {};
  int64_t created_at_ns = 0;
  int64_t expires_at_ns = 0;  // approved: end of the reveal; 0 until approved
};

struct RevealQuery {
  std::optional<std::string> status = std::nullopt;
  std::optional<std::string> requester = std::nullopt;
  std::optional<std::string> person = std::nullopt;
  uint32_t limit = 200;  // newest first
};

// A decision on one reveal: moves it from `from_status` to `to_status`.
struct RevealDecision {
  std::string id = {};
  std::string from_status = {};
  std::string to_status = {};
  std::string decided_by = {};
  std::string decided_by_name = {};
  std::string note = {};
  int64_t decided_at_ns = 0;
  int64_t expires_at_ns = 0;  // written as given (0 keeps a refused request unexpiring)
};

struct SettingRecord {
  std::string key = {};
  std::string value = {};
  int64_t updated_at_ns = 0;
  std::string updated_by = {};  // the audit actor, "user:alice"
};

// The setting that turns pseudonymisation on ("on", the default when absent) or off ("off").
inline constexpr std::string_view kPseudonymisationSetting = "pseudonymisation";

class PrivacyStore {
 public:
  virtual ~PrivacyStore() = default;

  // AlreadyExists when the requester already has a pending request for the person (or the id is
  // taken).
  virtual Status InsertReveal(const RevealRecord& reveal) = 0;
  virtual Result<RevealRecord> GetReveal(std::string_view id) = 0;  // NotFound
  // Applies `decision` when the reveal's status is still decision.from_status and returns the
  // updated record; NotFound, or FailedPrecondition naming the status it has now.
  virtual Result<RevealRecord> DecideReveal(const RevealDecision& decision) = 0;
  virtual Result<std::vector<RevealRecord>> ListReveals(const RevealQuery& query) = 0;
  // The approved reveals of `requester` with expires_at_ns > now_ns (one indexed range scan).
  virtual Result<std::vector<RevealRecord>> LiveReveals(std::string_view requester,
                                                        int64_t now_ns) = 0;
  // Marks every approved reveal with expires_at_ns <= now_ns, and every request still pending
  // that was made before pending_created_before_ns, as expired and returns them.
  virtual Result<std::vector<RevealRecord>> ExpireReveals(int64_t now_ns,
                                                          int64_t pending_created_before_ns) = 0;

  virtual Result<std::optional<SettingRecord>> GetSetting(std::string_view key) = 0;
  // Inserts or replaces; returns the previous record, if any.
  virtual Result<std::optional<SettingRecord>> PutSetting(const SettingRecord& setting) = 0;
};

}  // namespace custos::collector::store
