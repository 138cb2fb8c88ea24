// Triggers that start scoring a person: POST /api/v1/external-alerts (another system's alert),
// POST /api/v1/triggers (an analyst's manual start), GET /api/v1/triggers.
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

HttpResponse ReportExternalAlert(const ApiContext& ctx, const Call& call) {
  const HttpRequest& r = call.request;
  HttpResponse err;
  auto body = ObjectBody(r, &err);
  if (!body) return err;
  auto fields = RequiredStrings(*body, {"person", "source", "title"}, &err);
  if (!fields) return err;
  const std::string& person = (*fields)[0];
  const std::string& source = (*fields)[1];
  const std::string& title = (*fields)[2];
  auto ext_id = StringField(*body, "id", false, &err);
  if (!ext_id && err.status != 200) return err;
  auto time = StringField(*body, "time", false, &err);
  if (!time && err.status != 200) return err;
  const int64_t now = ctx.clock->NowUnixNs();
  int64_t t = now;
  if (time && !ParseTimeSpec(*time, now, &t)) {
    return JsonError(400, "invalid_field", "time: e.g. 2026-11-21T10:00:00Z");
  }
  store::TriggerRecord tr;
  tr.person = PersonId(person);
  tr.kind = "external_alert";
  tr.time_ns = t;
  tr.detail = source + ": " + title;
  tr.source = "external-alert:" + source;
  tr.created_at_ns = now;
  if (ext_id && !ext_id->empty()) tr.dedup_key = "ext|" + source + "|" + *ext_id;
  auto added = ctx.risk->InsertTriggers({&tr, 1});
  if (!added.ok()) return FromStatus(r, added.status());
  if (*added > 0) {
    Status s = ctx.ApplyTriggers({tr});
    if (!s.ok()) return FromStatus(r, s);
  }
  HttpResponse done =
      Json(*added > 0 ? 201 : 200, {{"accepted", true}, {"duplicate", *added == 0}});
  if (*added == 0) return done;
  return ctx.AuditedChange(call, "trigger.external", AuditObject("person", tr.person), tr.detail,
                           std::move(done));
}

HttpResponse StartManualTrigger(const ApiContext& ctx, const Call& call) {
  const HttpRequest& r = call.request;
  HttpResponse err;
  auto body = ObjectBody(r, &err);
  if (!body) return err;
  auto fields = RequiredStrings(*body, {"person", "reason"}, &err);
  if (!fields) return err;
  const std::string& person = (*fields)[0];
  const std::string& reason = (*fields)[1];
  if (!body->contains("days") || !(*body)["days"].is_number_integer() ||
      (*body)["days"].get<int64_t>() < 1 || (*body)["days"].get<int64_t>() > 365) {
    return JsonError(400, "invalid_field", "days: a whole number from 1 to 365");
  }
  const int64_t now = ctx.clock->NowUnixNs();
  const std::string& by = call.caller().name;
  store::TriggerRecord tr;
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(r, viewer.status());
  tr.person = PersonId(viewer->ResolvePerson(person));
  if (!viewer->MaySeePerson(tr.person)) {
    return JsonError(404, "not_found", "person " + person + ": not found", r.request_id);
  }
  tr.kind = "manual";
  tr.time_ns = now;
  tr.end_ns = now + (*body)["days"].get<int64_t>() * kNanosPerDay;
  tr.detail = "manual by " + by + ": " + reason;
  tr.source = "manual:" + by;
  tr.created_at_ns = now;
  auto added = ctx.risk->InsertTriggers({&tr, 1});
  if (!added.ok()) return FromStatus(r, added.status());
  Status s = ctx.ApplyTriggers({tr});
  if (!s.ok()) return FromStatus(r, s);
  return ctx.AuditedChange(call, "trigger.manual", AuditObject("person", tr.person),
                           "until " + FormatUnixNs(tr.end_ns) + ": " + reason,
                           Json(201, {{"person", viewer->Person(tr.person)},
                                      {"from", FormatUnixNs(tr.time_ns)},
                                      {"until", FormatUnixNs(tr.end_ns)}}));
}

HttpResponse ListTriggers(const ApiContext& ctx, const Call& call) {
  std::optional<std::string> person;
  if (auto v = call.request.Query("person"); !v.empty()) person = v;
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  if (person) person = PersonId(viewer->ResolvePerson(*person));
  auto rows = ctx.risk->ListTriggers(person);
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  ordered_json list = ordered_json::array();
  for (const auto& t : *rows) {
    if (viewer->MaySeePerson(t.person)) list.push_back(TriggerView(t, *viewer));
  }
  return Json(200, {{"triggers", list}});
}

}  // namespace

void AddTriggerRoutes(Router& router, const ApiContext& ctx) {
  const access::RoleSet submitters{access::Role::kAdmin, access::Role::kAnalyst,
                                   access::Role::kInvestigator};
  router.Add("POST", "/api/v1/external-alerts",
             [&ctx](const Call& c) { return ReportExternalAlert(ctx, c); }, {.roles = submitters});
  router.Add("POST", "/api/v1/triggers",
             [&ctx](const Call& c) { return StartManualTrigger(ctx, c); }, {.roles = submitters});
  router.Add("GET", "/api/v1/triggers", [&ctx](const Call& c) { return ListTriggers(ctx, c); },
             {.roles = roles::kPolicyReaders});
}

}  // namespace custos::collector::api
