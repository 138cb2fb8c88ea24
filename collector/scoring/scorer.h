// collector/scoring/scorer.h: the streaming scorer service — ScoringEngine fed from the store.
//
// One thread tails the stored events in commit order (RiskStore::ReadEventsAfter), feeds them to
// the engine and writes changed scores to the alerts table, so an event that crosses a threshold
// raises or updates its alert within about poll_interval of its commit (Notify() wakes it at
// once). Alerts, triggers, policies and the directory live in the store; the engine's per-person
// state is rebuilt at Start (and after Reload) by replaying the retained days of events, so a
// crash loses nothing: scoring restarts from stored facts.
//
// Threading: every public method may be called from any thread (API handlers, ingest); the
// engine is touched only by the scorer's thread. The store, registry and clock must outlive the
// Scorer.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collector/scoring/scoring.h"
#include "collector/store/risk_store.h"
#include "common/metrics/metrics.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::collector::scoring {

struct ScorerOptions {
  std::chrono::milliseconds poll_interval{100};
  uint32_t batch_events = 10'000;
  // Under load, scores are recomputed and alerts written at most this often.
  std::chrono::milliseconds flush_interval{200};
  EngineOptions engine;
};

class Scorer {
 public:
  static Result<std::unique_ptr<Scorer>> Start(const ScorerOptions& options,
                                               store::RiskStore* store, metrics::Registry* registry,
                                               Clock* clock);
  virtual ~Scorer() = default;

  // New events were committed: score them now rather than at the next poll.
  virtual void Notify() = 0;
  // Policies or the directory changed in the store: rebuild the engine from the store (replays
  // the retained events). Returns when the rebuild is done.
  virtual Status Reload() = 0;
  // Triggers already stored: apply them (rescoring their people). Returns when applied.
  virtual Status AddTriggers(std::vector<store::TriggerRecord> triggers) = 0;
  // Closes the alert in the store (dismissed or resolved) together with the engine's snapshot,
  // or records confirmed / needs_review; updates prior-case boosters. Returns the stored alert.
  virtual Result<store::AlertRecord> SetAlertStatus(int64_t alert_id, std::string_view status,
                                                    std::string_view reason,
                                                    std::string_view by) = 0;
  virtual void Stop() = 0;  // idempotent; joins
};

}  // namespace custos::collector::scoring
