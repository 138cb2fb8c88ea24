#include "collector/api/views.h"

#include "collector/api/responses.h"
#include "collector/cli/event_format.h"
#include "collector/scoring/indicators.h"
#include "collector/scoring/policy.h"
#include "common/crypto/crypto.h"
#include "common/time/clock.h"

namespace custos::collector::api {

using nlohmann::ordered_json;

ordered_json AlertView(const store::AlertRecord& a, const std::string& policy_name) {
  return {{"id", a.id},
          {"person", a.person},
          {"policy_id", a.policy_id},
          {"policy", policy_name},
          {"status", a.status},
          {"severity", a.severity},
          {"score", a.score},
          {"created_at", FormatUnixNs(a.created_at_ns)},
          {"updated_at", FormatUnixNs(a.updated_at_ns)},
          {"first_activity", a.first_activity_ns ? FormatUnixNs(a.first_activity_ns) : ""},
          {"last_activity", a.last_activity_ns ? FormatUnixNs(a.last_activity_ns) : ""},
          {"updates", a.updates},
          {"status_reason", a.status_reason},
          {"status_by", a.status_by}};
}

ordered_json AlertDetailView(const store::AlertRecord& a, const std::string& policy_name) {
  ordered_json out = AlertView(a, policy_name);
  out["explanation"] = StoredJson(a.explanation_json);
  return out;
}

ordered_json EventView(const store::StoredEvent& e) {
  auto decoded = cli::DecodePayload(e);
  return cli::EventToJson(e, decoded ? &*decoded : nullptr);
}

ordered_json PersonView(const store::PersonRecord& p,
                        const std::vector<store::LoginRecord>& logins) {
  ordered_json ls = ordered_json::array();
  for (const auto& l : logins) {
    ls.push_back({{"login", l.login}, {"host", l.host.empty() ? "*" : l.host}});
  }
  return {{"id", p.id},
          {"display_name", p.display_name},
          {"department", p.department},
          {"manager", p.manager},
          {"groups", p.groups},
          {"logins", ls}};
}

ordered_json TriggerView(const store::TriggerRecord& t) {
  return {{"id", t.id},
          {"person", t.person},
          {"kind", t.kind},
          {"time", FormatUnixNs(t.time_ns)},
          {"until", t.end_ns ? FormatUnixNs(t.end_ns) : ""},
          {"detail", t.detail},
          {"source", t.source}};
}

ordered_json IndicatorCatalogView() {
  ordered_json list = ordered_json::array();
  for (const auto& i : scoring::Catalog()) {
    list.push_back(
        {{"id", i.key},
         {"name", i.name},
         {"category", i.category},
         {"weight", i.weight},
         {"tiers", {{"low", i.tiers.low}, {"medium", i.tiers.medium}, {"high", i.tiers.high}}}});
  }
  return list;
}

ordered_json TemplateCatalogView() {
  ordered_json list = ordered_json::array();
  for (const auto& t : scoring::Templates()) {
    auto p = scoring::PolicyFromTemplate(t.id, t.name);
    ordered_json e = {{"id", t.id}, {"name", t.name}, {"description", t.description}};
    if (p.ok()) e["defaults"] = ordered_json::parse(scoring::PolicyToJson(*p));
    list.push_back(std::move(e));
  }
  return list;
}

ordered_json AuditEntryView(const access::AuditEntry& e) {
  return {{"seq", e.seq},       {"time", FormatUnixNs(e.time_ns)},
          {"actor", e.actor},   {"action", e.action},
          {"object", e.object}, {"summary", e.summary},
          {"source", e.source}, {"hash", crypto::HexEncode(e.hash)}};
}

ordered_json ImportProblemsView(const std::vector<imports::ImportProblem>& problems) {
  ordered_json a = ordered_json::array();
  for (const auto& p : problems) {
    a.push_back({{"line", p.line},
                 {"column", p.column},
                 {"message", p.message},
                 {"text", imports::FormatImportProblem(p)}});
  }
  return a;
}

}  // namespace custos::collector::api
