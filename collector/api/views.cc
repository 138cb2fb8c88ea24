#include "collector/api/views.h"

#include "collector/api/event_json.h"
#include "collector/api/responses.h"
#include "collector/scoring/indicators.h"
#include "collector/scoring/policy.h"
#include "common/crypto/crypto.h"
#include "common/time/clock.h"

namespace custos::collector::api {

using nlohmann::ordered_json;

ordered_json AlertView(const store::AlertRecord& a, const std::string& policy_name,
                       const Viewer& viewer) {
  return {{"id", a.id},
          {"person", viewer.Person(a.person)},
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
          {"status_reason", viewer.Text(a.status_reason)},
          {"status_by", a.status_by}};
}

ordered_json AlertDetailView(const store::AlertRecord& a, const std::string& policy_name,
                             const Viewer& viewer) {
  ordered_json out = AlertView(a, policy_name, viewer);
  ordered_json explanation = StoredJson(a.explanation_json);
  viewer.MaskJson(&explanation);
  out["explanation"] = std::move(explanation);
  return out;
}

ordered_json EventView(const store::StoredEvent& e, const Viewer& viewer) {
  auto decoded = DecodePayload(e);
  ordered_json j = EventToJson(e, decoded ? &*decoded : nullptr);
  viewer.MaskJson(&j);
  return j;
}

ordered_json PersonView(const store::PersonRecord& p, const std::vector<store::LoginRecord>& logins,
                        const Viewer& viewer) {
  ordered_json ls = ordered_json::array();
  for (const auto& l : logins) {
    ls.push_back(
        {{"login", viewer.Person(l.login)}, {"host", l.host.empty() ? "*" : viewer.Host(l.host)}});
  }
  const std::string shown = viewer.Person(p.id);
  return {{"id", shown},
          {"display_name", shown == p.id ? p.display_name : shown},
          {"department", p.department},
          {"manager", viewer.Person(p.manager)},
          {"groups", p.groups},
          {"logins", ls}};
}

ordered_json TriggerView(const store::TriggerRecord& t, const Viewer& viewer) {
  return {{"id", t.id},
          {"person", viewer.Person(t.person)},
          {"kind", t.kind},
          {"time", FormatUnixNs(t.time_ns)},
          {"until", t.end_ns ? FormatUnixNs(t.end_ns) : ""},
          {"detail", viewer.Text(t.detail)},
          {"source", t.source}};
}

ordered_json RevealView(const store::RevealRecord& r, const Viewer& viewer) {
  return {{"id", r.id},
          {"person", viewer.Person(r.person)},
          {"requester", r.requester_name},
          {"justification", viewer.Text(r.justification)},
          {"status", r.status},
          {"decided_by", r.decided_by_name},
          {"decided_at", r.decided_at_ns ? FormatUnixNs(r.decided_at_ns) : ""},
          {"note", viewer.Text(r.decision_note)},
          {"created_at", FormatUnixNs(r.created_at_ns)},
          {"expires_at", r.expires_at_ns ? FormatUnixNs(r.expires_at_ns) : ""}};
}

ordered_json RolesView(access::RoleSet roles) {
  ordered_json list = ordered_json::array();
  for (access::Role r : access::kAllRoles) {
    if (roles.Has(r)) list.push_back(access::RoleName(r));
  }
  return list;
}

ordered_json AccountView(const access::Account& a) {
  return {{"id", a.id},
          {"username", a.username},
          {"display_name", a.display_name},
          {"email", a.email},
          {"roles", RolesView(a.roles)},
          {"source", a.source},
          {"disabled", a.disabled},
          {"created_at", FormatUnixNs(a.created_at_ns)},
          {"updated_at", FormatUnixNs(a.updated_at_ns)}};
}

ordered_json PersonalTokenView(const access::PersonalToken& t, const std::string& owner_username) {
  return {{"id", t.id},
          {"owner", t.owner},
          {"owner_username", owner_username},
          {"name", t.name},
          {"created_at", FormatUnixNs(t.created_at_ns)},
          {"last_used", t.last_used_ns ? FormatUnixNs(*t.last_used_ns) : ""},
          {"expires_at", t.expires_at_ns ? FormatUnixNs(*t.expires_at_ns) : ""},
          {"revoked_at", t.revoked_at_ns ? FormatUnixNs(*t.revoked_at_ns) : ""}};
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

ordered_json AuditEntryView(const access::AuditEntry& e, const Viewer& viewer) {
  return {
      {"seq", e.seq},       {"time", FormatUnixNs(e.time_ns)},  {"actor", e.actor},
      {"action", e.action}, {"object", viewer.Text(e.object)},  {"summary", viewer.Text(e.summary)},
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
