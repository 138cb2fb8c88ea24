// collector/scoring/scoring.h: the scoring engine (front door of collector/scoring/).
//
// ScoringEngine turns a stream of stored events into per-person, per-policy risk scores that
// explain themselves. It is a deterministic state machine driven by EVENT time (the agent's
// clock), so recorded scenarios (tests/scenarios/) always give the same alerts:
//   - Identity: an event's login user on its host is mapped to a person through the directory
//     ((login, host), then (login, any host)); unmapped logins are people named by the login.
//     Events without a login user (USB plugs, probes, telemetry gaps) are attributed to the
//     host's most recent user, and the explanation says so. The host is the one the agent
//     enrolled with; an agent that claimed the host name of another live agent is scored under
//     "<host> (unconfirmed agent <id>)" until an admin confirms it (collector/scoring/scorer.cc).
//     File changes the agent found by a scan (FileEvent.observed_by SCAN: made while it was
//     down, or lost in a queue overflow) are never attributed to anyone and count toward no
//     indicator: nobody is known to have made them.
//   - Every event is mapped to indicators (indicators.h); per person and UTC day the engine
//     counts each indicator (and each policy's priority content), keeping a few sample events.
//   - A policy scores a person in scope once triggered: by an HR row, an external alert, a manual
//     trigger, or the person's first hit of a trigger indicator. The window runs from
//     historic_days before the first trigger to activation_days after the last, and never
//     starts before the person's last alert for that policy was dismissed or resolved.
//   - Score (0-100) = min(100, base x boosters + sequences + cumulative exfiltration), where base
//     = sum over enabled indicators of weight x tier factor of the indicator's busiest day in the
//     window; boosters x1.25 each: above the person's own baseline, priority user, prior
//     confirmed alerts; sequences +15 for collection->obfuscation->exfiltration->clean-up linked
//     by file name (+8 for three stages ending in exfiltration); cumulative exfiltration +10 when
//     the person's bytes out exceed 3x the organisation's per-person norm. Severity: High >= 70,
//     Medium >= 40, else Low. docs/indicators.md documents each number.
//
// Threading: not thread-safe; one owner (the Scorer service) calls everything.
// Memory: per person, one small record per active UTC day for retain_days, and at most
// max_tracked_names file names for sequences.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/scoring/indicators.h"
#include "collector/scoring/policy.h"
#include "custos/v1/event.pb.h"

namespace custos::collector::scoring {

struct Person {
  std::string id;  // email (lower-case) for directory people, else the login name
  std::string display_name;
  std::string department;
  std::string manager;
  std::vector<std::string> groups;
};

struct DirectoryLogin {
  std::string login;
  std::string host;  // "" = any host
  std::string email;
};

struct Trigger {
  std::string person;  // email or login, as Person::id
  TriggerKind kind = TriggerKind::kManual;
  int64_t time_ns = 0;
  int64_t end_ns = 0;  // manual triggers: scoring stops here; 0 = the policy's activation window
  std::string detail;  // shown in explanations ("HR import 2026-11-20: resignation ...")
};

// One stored event as the engine sees it; the views and the event are only read during Observe.
struct EngineEvent {
  std::string_view agent_id;
  std::string_view host;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::string_view login;  // the event's login user ("" when none)
  const custos::v1::Event* event = nullptr;
};

// A score that changed: what the alert for (person, policy) should now say.
struct AlertUpdate {
  std::string person;
  std::string policy_id;
  uint32_t score = 0;
  std::string severity;  // "low", "medium", "high"
  int64_t first_activity_ns = 0;
  int64_t last_activity_ns = 0;
  std::string explanation_json;  // docs/indicators.md "Explanations"
};

struct EngineOptions {
  uint32_t retain_days = 90;  // per-day counts older than this (before the newest day) are dropped
  uint32_t baseline_days = 30;     // the person's own baseline: the days before the busiest day
  uint32_t min_baseline_days = 7;  // no above-baseline booster for people seen fewer days
  std::chrono::hours sequence_window{72};
  size_t max_tracked_names = 10'000;  // per person
  uint32_t samples_per_indicator = 5;
  MappingOptions mapping;
};

class ScoringEngine {
 public:
  explicit ScoringEngine(EngineOptions options);
  ~ScoringEngine();

  // Configuration. Changing policies or the directory does not rescore the past by itself: the
  // owner replays events (Scorer does) so every score follows the current configuration.
  void SetPolicies(std::vector<Policy> policies);
  void SetDirectory(std::vector<Person> people, std::vector<DirectoryLogin> logins);
  void AddTrigger(const Trigger& trigger);
  // For the prior-cases booster of (person, policy): the person's confirmed or resolved alerts,
  // not counting the open alert of that policy itself.
  void SetPriorConfirmed(const std::string& person, const std::string& policy_id, uint32_t count);
  // The alert for (person, policy) was dismissed or resolved at time_ns: later scores count only
  // activity after it. Returns a snapshot (JSON) to keep with the alert; RestoreClose with it
  // after replaying the events (restart) puts the engine back in the same state. A policy
  // triggered by its own indicators needs a new trigger hit after the close.
  std::string CloseAlert(const std::string& person, const std::string& policy_id, int64_t time_ns);
  void RestoreClose(const std::string& person, const std::string& policy_id,
                    std::string_view snapshot_json);

  // After a restart: what the stored open alert already says, so an unchanged score is not
  // reported again.
  void SeedExplanation(const std::string& person, const std::string& policy_id,
                       std::string explanation_json);

  // Resolves a login on a host to a person id (directory, else the login).
  std::string PersonFor(const std::string& login, const std::string& host) const;

  void Observe(const EngineEvent& event);
  // Scores everyone touched since the last call and returns the (person, policy) pairs whose
  // score or explanation changed and whose score reaches the policy's alert threshold.
  std::vector<AlertUpdate> TakeUpdates();
  // Recomputes one person (after a trigger or status change) and returns its updates.
  void MarkDirty(const std::string& person);

  size_t people() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace custos::collector::scoring
