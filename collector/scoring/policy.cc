#include "collector/scoring/policy.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace custos::collector::scoring {
namespace {

using I = IndicatorId;
using T = TriggerKind;
using nlohmann::json;

constexpr std::array<std::string_view, 7> kTriggerNames = {
    "resignation",    "job_level_change", "performance_review", "performance_improvement_plan",
    "external_alert", "manual",           "indicator"};

constexpr std::array<PolicyTemplate, 9> kTemplates = {{
    {"data_theft_departing", "Data theft by departing users",
     "Scores data collection, obfuscation and exfiltration by people who resigned (HR "
     "connector), from the historic window before the resignation date on."},
    {"data_leaks", "Data leaks",
     "Scores exfiltration and what prepares it for everyone in scope; scoring starts with an "
     "external (DLP) alert, a manual trigger or the person's first exfiltration."},
    {"data_leaks_priority_users", "Data leaks by priority users",
     "Data leaks, limited to members of the priority user groups."},
    {"data_leaks_disgruntled", "Data leaks by disgruntled users",
     "Data leaks by people after a job level change, a poor performance review or a performance "
     "improvement plan (HR connector)."},
    {"security_violations", "Security policy violations",
     "Scores lowered defences: security controls disabled, privilege changes, unapproved "
     "software, agent tampering; starts with the first such event or an external alert."},
    {"security_violations_departing", "Security policy violations by departing users",
     "Security policy violations by people who resigned (HR connector)."},
    {"security_violations_priority_users", "Security policy violations by priority users",
     "Security policy violations, limited to members of the priority user groups."},
    {"security_violations_disgruntled", "Security policy violations by disgruntled users",
     "Security policy violations after a job level change, a poor performance review or a "
     "performance improvement plan (HR connector)."},
    {"patient_data_misuse", "Patient data misuse",
     "Scores access to and exfiltration of patient records (priority content: patient paths, "
     "health-record file types, PHI labels); starts with the first access."},
}};

std::vector<IndicatorSetting> Settings(std::initializer_list<IndicatorId> ids) {
  std::vector<IndicatorSetting> out;
  for (IndicatorId id : ids) out.push_back({id, Info(id).weight, Info(id).tiers});
  return out;
}

const std::initializer_list<IndicatorId> kDataIndicators = {
    I::kUsbCopy,           I::kCloudUpload,    I::kBulkCreate,       I::kBulkRename,
    I::kBulkDelete,        I::kArchiveCreated, I::kExtensionChanged, I::kPriorityContent,
    I::kHiddenFileCreated, I::kNewUsbDevice,   I::kTelemetryGap,     I::kAgentTampering};
const std::initializer_list<IndicatorId> kSecurityIndicators = {
    I::kSecurityControlDisabled, I::kPrivilegeChange, I::kUnapprovedSoftware,
    I::kAgentTampering,          I::kTelemetryGap,    I::kNewUsbDevice};
const std::vector<TriggerKind> kDisgruntled = {T::kJobLevelChange, T::kPerformanceReview,
                                               T::kPerformanceImprovementPlan, T::kManual};

std::string_view IndicatorKey(IndicatorId id) { return Info(id).key; }

Status Bad(std::string_view key, std::string_view why) {
  return InvalidArgumentError("policy: " + std::string(key) + ": " + std::string(why));
}

Status ReadStrings(const json& j, std::string_view key, std::vector<std::string>* out) {
  if (!j.is_array()) return Bad(key, "expected an array of strings");
  out->clear();
  for (const auto& e : j) {
    if (!e.is_string()) return Bad(key, "expected an array of strings");
    out->push_back(e.get<std::string>());
  }
  return OkStatus();
}

Status ReadBool(const json& j, std::string_view key, bool* out) {
  if (!j.is_boolean()) return Bad(key, "expected true or false");
  *out = j.get<bool>();
  return OkStatus();
}

Status ReadCount(const json& j, std::string_view key, uint32_t max, uint32_t* out) {
  if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() > max) {
    return Bad(key, "expected a whole number from 0 to " + std::to_string(max));
  }
  *out = static_cast<uint32_t>(j.get<int64_t>());
  return OkStatus();
}

}  // namespace

std::string_view TriggerKindName(TriggerKind kind) {
  return kTriggerNames[static_cast<size_t>(kind)];
}

std::optional<TriggerKind> ParseTriggerKind(std::string_view name) {
  for (size_t i = 0; i < kTriggerNames.size(); ++i) {
    if (kTriggerNames[i] == name) return static_cast<TriggerKind>(i);
  }
  return std::nullopt;
}

const IndicatorSetting* Policy::Find(IndicatorId id) const {
  for (const auto& s : indicators) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

bool Policy::HasTrigger(TriggerKind kind) const {
  return std::find(triggers.begin(), triggers.end(), kind) != triggers.end();
}

std::span<const PolicyTemplate> Templates() { return kTemplates; }

Result<Policy> PolicyFromTemplate(std::string_view template_id, std::string_view name) {
  Policy p;
  p.name = std::string(name);
  p.template_id = std::string(template_id);
  p.priority_groups = {"priority"};
  const std::string_view t = template_id;
  const bool security = t.starts_with("security_violations");
  if (t == "patient_data_misuse") {
    p.indicators =
        Settings({I::kPriorityContent, I::kUsbCopy, I::kCloudUpload, I::kBulkCreate, I::kBulkDelete,
                  I::kArchiveCreated, I::kExtensionChanged, I::kTelemetryGap});
    p.priority_content.paths = {"*/patients/*", "*/patient-records/*", "*/ehr/*"};
    p.priority_content.extensions = {".hl7", ".dcm", ".ccda"};
    p.priority_content.labels = {"PHI", "patient"};
    p.triggers = {T::kIndicator, T::kExternalAlert, T::kManual};
    p.trigger_indicators = {I::kPriorityContent};
  } else if (security) {
    p.indicators = Settings(kSecurityIndicators);
  } else if (t.starts_with("data_")) {
    p.indicators = Settings(kDataIndicators);
  } else {
    return NotFoundError("policy: unknown template '" + std::string(template_id) +
                         "' (see GET /api/v1/templates)");
  }
  if (t == "data_theft_departing" || t == "security_violations_departing") {
    p.triggers = {T::kResignation, T::kManual};
  } else if (t == "data_leaks_disgruntled" || t == "security_violations_disgruntled") {
    p.triggers = kDisgruntled;
  } else if (t == "data_leaks" || t == "data_leaks_priority_users") {
    p.triggers = {T::kExternalAlert, T::kManual, T::kIndicator};
    p.trigger_indicators = {I::kUsbCopy, I::kCloudUpload};
  } else if (t == "security_violations" || t == "security_violations_priority_users") {
    p.triggers = {T::kExternalAlert, T::kManual, T::kIndicator};
    p.trigger_indicators = {I::kSecurityControlDisabled, I::kUnapprovedSoftware, I::kAgentTampering,
                            I::kPrivilegeChange};
  }
  if (t.ends_with("_priority_users")) {
    p.scope.all = false;
    p.scope.groups = p.priority_groups;
  }
  return p;
}

std::string PolicyToJson(const Policy& p) {
  json j;
  j["id"] = p.id;
  j["name"] = p.name;
  j["template"] = p.template_id;
  j["enabled"] = p.enabled;
  j["scope"] = {{"all", p.scope.all},
                {"groups", p.scope.groups},
                {"people", p.scope.people},
                {"excluded", p.scope.excluded}};
  json ind = json::array();
  for (const auto& s : p.indicators) {
    ind.push_back(
        {{"id", std::string(Info(s.id).key)},
         {"weight", s.weight},
         {"tiers", {{"low", s.tiers.low}, {"medium", s.tiers.medium}, {"high", s.tiers.high}}}});
  }
  j["indicators"] = ind;
  j["priority_content"] = {{"paths", p.priority_content.paths},
                           {"extensions", p.priority_content.extensions},
                           {"labels", p.priority_content.labels}};
  j["priority_groups"] = p.priority_groups;
  json trig = json::array();
  for (auto k : p.triggers) trig.push_back(std::string(TriggerKindName(k)));
  j["triggers"] = trig;
  json ti = json::array();
  for (auto i : p.trigger_indicators) ti.push_back(std::string(IndicatorKey(i)));
  j["trigger_indicators"] = ti;
  j["activation_days"] = p.activation_days;
  j["historic_days"] = p.historic_days;
  j["alert_threshold"] = p.alert_threshold;
  j["boosters"] = {{"above_baseline", p.boost_above_baseline},
                   {"priority_users", p.boost_priority_users},
                   {"prior_cases", p.boost_prior_cases}};
  j["sequences"] = p.detect_sequences;
  j["cumulative_exfiltration"] = p.cumulative_exfiltration;
  j["created_at_ns"] = p.created_at_ns;
  return j.dump();
}

Status ApplyPolicyJson(std::string_view text, Policy* p) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError("policy: body is not valid JSON");
  if (!j.is_object()) return InvalidArgumentError("policy: expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "id" || k == "template" || k == "created_at_ns") {
      continue;  // set by the server
    } else if (k == "name") {
      if (!v.is_string() || v.get<std::string>().empty()) return Bad(k, "expected a name");
      p->name = v.get<std::string>();
    } else if (k == "enabled") {
      CUSTOS_RETURN_IF_ERROR(ReadBool(v, k, &p->enabled));
    } else if (k == "scope") {
      if (!v.is_object()) return Bad(k, "expected an object");
      for (auto s = v.begin(); s != v.end(); ++s) {
        const std::string sk = "scope." + s.key();
        if (s.key() == "all") {
          CUSTOS_RETURN_IF_ERROR(ReadBool(s.value(), sk, &p->scope.all));
        } else if (s.key() == "groups") {
          CUSTOS_RETURN_IF_ERROR(ReadStrings(s.value(), sk, &p->scope.groups));
        } else if (s.key() == "people") {
          CUSTOS_RETURN_IF_ERROR(ReadStrings(s.value(), sk, &p->scope.people));
        } else if (s.key() == "excluded") {
          CUSTOS_RETURN_IF_ERROR(ReadStrings(s.value(), sk, &p->scope.excluded));
        } else {
          return Bad(sk, "unknown key (all, groups, people, excluded)");
        }
      }
    } else if (k == "indicators") {
      if (!v.is_array()) return Bad(k, "expected an array");
      std::vector<IndicatorSetting> out;
      for (const auto& e : v) {
        std::string key;
        if (e.is_string()) {
          key = e.get<std::string>();
        } else if (e.is_object() && e.contains("id") && e["id"].is_string()) {
          key = e["id"].get<std::string>();
        } else {
          return Bad(
              k, "each entry is an indicator id or {\"id\":..., \"weight\":..., \"tiers\":...}");
        }
        auto id = ParseIndicator(key);
        if (!id) return Bad(k, "unknown indicator '" + key + "' (see docs/indicators.md)");
        IndicatorSetting s{*id, Info(*id).weight, Info(*id).tiers};
        if (e.is_object()) {
          for (auto f = e.begin(); f != e.end(); ++f) {
            const std::string fk = "indicators." + key + "." + f.key();
            if (f.key() == "id") continue;
            if (f.key() == "weight") {
              CUSTOS_RETURN_IF_ERROR(ReadCount(f.value(), fk, 100, &s.weight));
            } else if (f.key() == "tiers") {
              if (!f.value().is_object()) return Bad(fk, "expected {low, medium, high}");
              for (auto t = f.value().begin(); t != f.value().end(); ++t) {
                const std::string tk = fk + "." + t.key();
                uint32_t* dst = t.key() == "low"      ? &s.tiers.low
                                : t.key() == "medium" ? &s.tiers.medium
                                : t.key() == "high"   ? &s.tiers.high
                                                      : nullptr;
                if (dst == nullptr) return Bad(tk, "unknown tier (low, medium, high)");
                CUSTOS_RETURN_IF_ERROR(ReadCount(t.value(), tk, 10'000'000, dst));
              }
            } else {
              return Bad(fk, "unknown key (id, weight, tiers)");
            }
          }
        }
        for (const auto& o : out) {
          if (o.id == s.id) return Bad(k, "indicator '" + key + "' listed twice");
        }
        out.push_back(s);
      }
      p->indicators = std::move(out);
    } else if (k == "priority_content") {
      if (!v.is_object()) return Bad(k, "expected an object");
      for (auto s = v.begin(); s != v.end(); ++s) {
        const std::string sk = "priority_content." + s.key();
        std::vector<std::string>* dst = s.key() == "paths"        ? &p->priority_content.paths
                                        : s.key() == "extensions" ? &p->priority_content.extensions
                                        : s.key() == "labels"     ? &p->priority_content.labels
                                                                  : nullptr;
        if (dst == nullptr) return Bad(sk, "unknown key (paths, extensions, labels)");
        CUSTOS_RETURN_IF_ERROR(ReadStrings(s.value(), sk, dst));
      }
      for (auto& e : p->priority_content.extensions) {
        if (!e.empty() && e[0] != '.') e = "." + e;
        for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    } else if (k == "priority_groups") {
      CUSTOS_RETURN_IF_ERROR(ReadStrings(v, k, &p->priority_groups));
    } else if (k == "triggers") {
      std::vector<std::string> names;
      CUSTOS_RETURN_IF_ERROR(ReadStrings(v, k, &names));
      p->triggers.clear();
      for (const auto& n : names) {
        auto t = ParseTriggerKind(n);
        if (!t) {
          return Bad(k, "unknown trigger '" + n +
                            "' (resignation, job_level_change, performance_review, "
                            "performance_improvement_plan, external_alert, manual, indicator)");
        }
        p->triggers.push_back(*t);
      }
    } else if (k == "trigger_indicators") {
      std::vector<std::string> names;
      CUSTOS_RETURN_IF_ERROR(ReadStrings(v, k, &names));
      p->trigger_indicators.clear();
      for (const auto& n : names) {
        auto id = ParseIndicator(n);
        if (!id) return Bad(k, "unknown indicator '" + n + "'");
        p->trigger_indicators.push_back(*id);
      }
    } else if (k == "activation_days") {
      CUSTOS_RETURN_IF_ERROR(ReadCount(v, k, 365, &p->activation_days));
    } else if (k == "historic_days") {
      CUSTOS_RETURN_IF_ERROR(ReadCount(v, k, 365, &p->historic_days));
    } else if (k == "alert_threshold") {
      CUSTOS_RETURN_IF_ERROR(ReadCount(v, k, 100, &p->alert_threshold));
    } else if (k == "boosters") {
      if (!v.is_object()) return Bad(k, "expected an object");
      for (auto s = v.begin(); s != v.end(); ++s) {
        const std::string sk = "boosters." + s.key();
        bool* dst = s.key() == "above_baseline"   ? &p->boost_above_baseline
                    : s.key() == "priority_users" ? &p->boost_priority_users
                    : s.key() == "prior_cases"    ? &p->boost_prior_cases
                                                  : nullptr;
        if (dst == nullptr)
          return Bad(sk, "unknown booster (above_baseline, priority_users, prior_cases)");
        CUSTOS_RETURN_IF_ERROR(ReadBool(s.value(), sk, dst));
      }
    } else if (k == "sequences") {
      CUSTOS_RETURN_IF_ERROR(ReadBool(v, k, &p->detect_sequences));
    } else if (k == "cumulative_exfiltration") {
      CUSTOS_RETURN_IF_ERROR(ReadBool(v, k, &p->cumulative_exfiltration));
    } else {
      return Bad(k, "unknown key (see docs/policies.md)");
    }
  }
  return ValidatePolicy(*p);
}

Status ValidatePolicy(const Policy& p) {
  if (p.name.empty()) return Bad("name", "a policy needs a name");
  if (p.name.size() > 200) return Bad("name", "at most 200 bytes");
  if (p.indicators.empty()) return Bad("indicators", "enable at least one indicator");
  for (const auto& s : p.indicators) {
    const auto& t = s.tiers;
    if (t.low == 0 || t.medium < t.low || t.high < t.medium) {
      return Bad("indicators." + std::string(Info(s.id).key) + ".tiers",
                 "need 1 <= low <= medium <= high");
    }
  }
  if (p.triggers.empty()) return Bad("triggers", "a policy needs at least one trigger");
  if (p.HasTrigger(TriggerKind::kIndicator) && p.trigger_indicators.empty()) {
    return Bad("trigger_indicators", "the 'indicator' trigger needs at least one indicator");
  }
  if (!p.scope.all && p.scope.groups.empty() && p.scope.people.empty()) {
    return Bad("scope", "with all=false, list groups or people");
  }
  if (p.activation_days == 0) return Bad("activation_days", "at least 1");
  return OkStatus();
}

}  // namespace custos::collector::scoring
