// collector/alerts/alerts.h: the one owner of alert state changes (front door of
// collector/alerts/).
//
// Scoring raises and revises alerts (collector/scoring); people move them through triage here:
//   needs_review <-> confirmed  -> dismissed | resolved   (closed alerts are final: new activity
//                                                           raises a new alert)
// Rules enforced here, for every client (API, console, CLI):
//  - the status is one of needs_review, confirmed, dismissed, resolved;
//  - dismissing needs a reason (it is the record of why the activity was acceptable);
//  - a closed alert does not move again (FailedPrecondition from the store).
// Closing goes through the scoring engine when it runs, so the activity behind the alert is not
// scored again; without it (scoring disabled) the close time alone is stored as the floor.
// Threading: thread-safe (the store and scorer are). The store, scorer and clock must outlive it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/scoring/scorer.h"
#include "collector/store/risk_store.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::collector::alerts {

// True for the four statuses an alert can be set to.
bool IsAlertStatus(std::string_view status);
inline constexpr std::string_view kStatusChoices = "needs_review, confirmed, dismissed, resolved";

class Alerts {
 public:
  // `scorer` may be null (scoring disabled).
  Alerts(store::RiskStore* risk, scoring::Scorer* scorer, Clock* clock);

  Result<std::vector<store::AlertRecord>> Query(const store::AlertQuery& query) const;
  Result<store::AlertRecord> Get(int64_t id) const;  // NotFound

  // Moves alert `id` to `status` on behalf of `by` (the audit log's actor). InvalidArgument for
  // an unknown status or a dismissal without a reason; NotFound; FailedPrecondition when closed.
  Result<store::AlertRecord> SetStatus(int64_t id, std::string_view status, std::string_view reason,
                                       std::string_view by) const;

 private:
  store::RiskStore* risk_;
  scoring::Scorer* scorer_;
  Clock* clock_;
};

}  // namespace custos::collector::alerts
