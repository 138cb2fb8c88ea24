// collector/access/reveals.h: identity reveals with a second person's approval, and the
// organisation's pseudonymisation switch (issue 18; workflow: docs/privacy.md).
//
// People are pseudonymised (collector/access/pseudonym.h) for every viewer unless the viewer
// holds a live reveal for that person or an admin turned pseudonymisation off. A reveal:
//   1. Request: an analyst or investigator asks to reveal one person, with a justification
//      (10..2000 characters). One pending request per (requester, person).
//   2. Approve or Refuse: by a person (a session or personal token, never a service token)
//      holding the approver role who is not the requester.
//      An approved reveal is live for `reveal_ttl` (default 24 h) from the approval, for the
//      requester only (Principal::id), then expires.
//   3. Withdraw: the requester may withdraw a pending request or end a live reveal early.
// Only a pending request can be decided; two approvers racing cannot both decide (the store
// compares and sets the status).
//
// Auditing: every operation returns what its audit entry needs (the updated record, or the
// setting before and after); the caller appends the entry (collector/access/audit.h). Actions:
// reveal.request, reveal.approve, reveal.refuse, reveal.withdraw, reveal.expire,
// settings.pseudonymisation.
//
// Errors: PermissionDenied naming the missing role or the rule (approving one's own request);
// InvalidArgument for a bad person or justification; NotFound for an unknown id;
// FailedPrecondition when the request is no longer pending; AlreadyExists for a second pending
// request; store errors as they come.
//
// RevealedTo and IsPseudonymisationOn run on every API request: both are answered from a small
// cache, dropped on every change made through this object and re-read after `cache_ttl` (so
// changes made through another collector on the same database show within it).
//
// Threading: thread-safe. The store and the clock must outlive the object.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/access/roles.h"
#include "collector/store/privacy_store.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::collector::access {

inline constexpr size_t kMinJustificationChars = 10;
inline constexpr size_t kMaxJustificationChars = 2000;

struct RevealsOptions {
  std::chrono::nanoseconds reveal_ttl = std::chrono::hours(24);
  // A request nobody decided within this long expires (ExpireDue).
  std::chrono::nanoseconds request_ttl = std::chrono::hours(24 * 7);
  // How long a cached answer of RevealedTo / IsPseudonymisationOn may be reused; 0 = no cache.
  std::chrono::nanoseconds cache_ttl = std::chrono::seconds(5);
};

// What changing the switch did: for the audit entry and the UI.
struct PseudonymisationChange {
  bool was_on = true;
  store::SettingRecord setting;  // as written: value "on"/"off", updated_at_ns, updated_by
};

class Reveals {
 public:
  Reveals(store::PrivacyStore* store, Clock* clock, RevealsOptions options = {});

  // `person`: any person id (canonicalised: e-mail addresses lower-cased).
  Result<store::RevealRecord> Request(const Principal& requester, std::string_view person,
                                      std::string_view justification);
  Result<store::RevealRecord> Approve(const Principal& approver, std::string_view id,
                                      std::string_view note);
  Result<store::RevealRecord> Refuse(const Principal& approver, std::string_view id,
                                     std::string_view note);
  // By the requester only: a pending request, or a live reveal (which ends now).
  Result<store::RevealRecord> Withdraw(const Principal& requester, std::string_view id);

  // Canonical ids of the people revealed to `viewer` at `now_ns`, sorted; empty when the viewer
  // no longer holds the analyst or investigator role.
  Result<std::vector<std::string>> RevealedTo(const Principal& viewer, int64_t now_ns);

  // Approvers: every pending request; everyone: their own requests (any status), newest first.
  Result<std::vector<store::RevealRecord>> List(const Principal& who);

  // Marks approved reveals past their expiry as expired and returns them (one reveal.expire
  // audit entry each). RevealedTo never depends on this having run.
  Result<std::vector<store::RevealRecord>> ExpireDue();

  // Admin only.
  Result<PseudonymisationChange> SetPseudonymisation(const Principal& admin, bool on);
  // True unless an admin turned it off.
  Result<bool> IsPseudonymisationOn();

 private:
  Result<store::RevealRecord> Decide(const Principal& approver, std::string_view id,
                                     std::string_view note, std::string_view to_status);
  void Invalidate();

  struct CachedReveals {
    std::chrono::steady_clock::time_point fetched;
    std::vector<std::pair<std::string, int64_t>> live;  // (person, expires_at_ns)
  };

  store::PrivacyStore* store_;
  Clock* clock_;
  RevealsOptions options_;
  std::mutex mu_;
  // Bumped by every change, so an answer read from the store while a change ran is not cached.
  uint64_t generation_ = 0;                                   // guarded by mu_
  std::unordered_map<std::string, CachedReveals> by_viewer_;  // guarded by mu_
  bool setting_cached_ = false;                               // guarded by mu_
  bool pseudonymisation_on_ = true;                           // guarded by mu_
  std::chrono::steady_clock::time_point setting_fetched_;     // guarded by mu_
};

}  // namespace custos::collector::access
