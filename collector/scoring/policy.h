// collector/scoring/policy.h: policies, the templates they are created from, and their JSON
// form (the API's and the store's; docs/policies.md).
//
// A policy says whom it watches (users in scope), what it scores (indicators with weights and
// daily tiers, priority content), when it starts scoring a person (triggering events), over
// which window (historic days before a trigger, activation days after), what boosts a score,
// and from which score an alert is raised. Templates give every field a default; a policy is a
// template plus the fields the admin overrode.
//
// Pure values and functions, thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/scoring/indicators.h"
#include "common/status/status.h"

namespace custos::collector::scoring {

enum class TriggerKind : uint8_t {
  kResignation = 0,             // HR connector: resignation (ResignationDate)
  kJobLevelChange,              // HR connector
  kPerformanceReview,           // HR connector
  kPerformanceImprovementPlan,  // HR connector
  kExternalAlert,               // posted to the API (e.g. a DLP alert)
  kManual,                      // "start scoring this person for N days"
  kIndicator,                   // the person's first hit of one of the policy's trigger indicators
};
std::string_view TriggerKindName(TriggerKind kind);
std::optional<TriggerKind> ParseTriggerKind(std::string_view name);

struct IndicatorSetting {
  IndicatorId id;
  uint32_t weight = 0;
  Tiers tiers;
};

// Priority content: a file is priority content when its path (or, for a copy, its source path)
// matches a glob (fnmatch, e.g. "/srv/finance/*"), its extension is listed (".xlsx"), or it
// carries a listed classification label.
struct PriorityContent {
  std::vector<std::string> paths;
  std::vector<std::string> extensions;
  std::vector<std::string> labels;
  bool empty() const { return paths.empty() && extensions.empty() && labels.empty(); }
};

// Users in scope: everyone (all), or members of `groups` (directory groups) and the listed
// `people` (emails or unmapped login names); `excluded` always wins.
struct UserScope {
  bool all = true;
  std::vector<std::string> groups;
  std::vector<std::string> people;
  std::vector<std::string> excluded;
};

struct Policy {
  std::string id;    // "pol_<hex>", assigned by the store
  std::string name;  // unique, given by the admin
  std::string template_id;
  bool enabled = true;
  UserScope scope;
  std::vector<IndicatorSetting> indicators;
  PriorityContent priority_content;
  // Directory groups whose members are priority users (booster; scope of the priority-user
  // templates).
  std::vector<std::string> priority_groups;
  std::vector<TriggerKind> triggers;
  std::vector<IndicatorId> trigger_indicators;  // for TriggerKind::kIndicator
  uint32_t activation_days = 30;
  uint32_t historic_days = 30;
  uint32_t alert_threshold = 20;  // score at which an alert is raised
  bool boost_above_baseline = true;
  bool boost_priority_users = true;
  bool boost_prior_cases = true;
  bool detect_sequences = true;
  bool cumulative_exfiltration = true;
  int64_t created_at_ns = 0;

  const IndicatorSetting* Find(IndicatorId id) const;
  bool HasTrigger(TriggerKind kind) const;
};

struct PolicyTemplate {
  std::string_view id;
  std::string_view name;
  std::string_view description;
};
std::span<const PolicyTemplate> Templates();

// The template's defaults with `name` set. NotFound for an unknown template id.
Result<Policy> PolicyFromTemplate(std::string_view template_id, std::string_view name);

// JSON (a UTF-8 object). PolicyToJson gives every field. ApplyPolicyJson overrides the fields
// present in `json` (an object; unknown keys, wrong types, unknown indicators or triggers and
// inconsistent tiers are InvalidArgument naming the key). ValidatePolicy checks the whole policy.
std::string PolicyToJson(const Policy& policy);
Status ApplyPolicyJson(std::string_view json, Policy* policy);
Status ValidatePolicy(const Policy& policy);

}  // namespace custos::collector::scoring
