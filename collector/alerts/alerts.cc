#include "collector/alerts/alerts.h"

namespace custos::collector::alerts {

bool IsAlertStatus(std::string_view s) {
  return s == store::kNeedsReview || s == store::kConfirmed || s == store::kDismissed ||
         s == store::kResolved;
}

Alerts::Alerts(store::RiskStore* risk, scoring::Scorer* scorer, Clock* clock)
    : risk_(risk), scorer_(scorer), clock_(clock) {}

Result<std::vector<store::AlertRecord>> Alerts::Query(const store::AlertQuery& query) const {
  return risk_->QueryAlerts(query);
}

Result<store::AlertRecord> Alerts::Get(int64_t id) const { return risk_->GetAlert(id); }

Result<store::AlertRecord> Alerts::SetStatus(int64_t id, std::string_view status,
                                             std::string_view reason, std::string_view by) const {
  if (!IsAlertStatus(status)) {
    return InvalidArgumentError("status: one of " + std::string(kStatusChoices));
  }
  if (status == store::kDismissed && reason.empty()) {
    return InvalidArgumentError("reason: dismissing an alert needs a reason");
  }
  if (scorer_ != nullptr) return scorer_->SetAlertStatus(id, status, reason, by);
  // Without the engine there is no snapshot; the close time alone still keeps a later rebuild
  // from scoring the closed activity again (floor at the close).
  const int64_t now = clock_->NowUnixNs();
  const bool closing = status == store::kDismissed || status == store::kResolved;
  return risk_->SetAlertStatus(id, status, reason, by, now,
                               closing ? "{\"floor_ns\":" + std::to_string(now) + "}" : "");
}

}  // namespace custos::collector::alerts
