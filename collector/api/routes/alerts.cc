// GET /api/v1/alerts, GET /api/v1/alerts/{id}, POST /api/v1/alerts/{id}/status.
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"
#include "common/log/log.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

// The query of GET /api/v1/alerts; nullopt with a 400 in *error.
std::optional<store::AlertQuery> AlertQueryFrom(const HttpRequest& r, const Viewer& viewer,
                                                HttpResponse* error) {
  store::AlertQuery q;
  if (auto v = r.Query("status"); !v.empty()) {
    if (v != "open" && !alerts::IsAlertStatus(v)) {
      *error = JsonError(400, "invalid_query",
                         "status: one of open, " + std::string(alerts::kStatusChoices));
      return std::nullopt;
    }
    if (v != "open") q.status = v;
  }
  if (auto v = r.Query("severity"); !v.empty()) {
    if (v != "low" && v != "medium" && v != "high") {
      *error = JsonError(400, "invalid_query", "severity: one of low, medium, high");
      return std::nullopt;
    }
    q.severity = v;
  }
  if (auto v = r.Query("person"); !v.empty()) q.person = PersonId(viewer.ResolvePerson(v));
  if (auto v = r.Query("policy"); !v.empty()) q.policy_id = v;
  if (auto v = r.Query("min_score"); !v.empty()) {
    auto n = ParseInt(v);
    if (!n || *n < 0 || *n > 100) {
      *error = JsonError(400, "invalid_query", "min_score: 0..100");
      return std::nullopt;
    }
    q.min_score = static_cast<uint32_t>(*n);
  }
  if (auto v = r.Query("limit"); !v.empty()) {
    auto n = ParseInt(v);
    if (!n || *n < 1 || *n > 1000) {
      *error = JsonError(400, "invalid_query", "limit: 1..1000");
      return std::nullopt;
    }
    q.limit = static_cast<uint32_t>(*n);
  }
  if (auto v = r.Query("before"); !v.empty()) {
    auto n = ParseInt(v);
    if (!n) {
      *error = JsonError(400, "invalid_query", "before: an alert id");
      return std::nullopt;
    }
    q.before_id = *n;
  }
  q.open_only = r.Query("status") == "open";
  return q;
}

// An alert the caller may not know of is answered as one that does not exist.
HttpResponse NotFoundAlert(const Call& call, int64_t id) {
  return JsonError(404, "not_found", "alert " + std::to_string(id) + ": not found",
                   call.request.request_id);
}

HttpResponse ListAlerts(const ApiContext& ctx, const Call& call) {
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  HttpResponse error;
  auto q = AlertQueryFrom(call.request, *viewer, &error);
  if (!q) return error;
  auto rows = ctx.alerts->Query(*q);
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  auto names = ctx.PolicyNames();
  ordered_json list = ordered_json::array();
  for (const auto& a : *rows) {
    // Members of priority groups are left out for everyone but their reviewers.
    if (viewer->MaySeePerson(a.person)) list.push_back(AlertView(a, names[a.policy_id], *viewer));
  }
  ordered_json out = {{"alerts", list}};
  if (!rows->empty()) out["next_before"] = rows->back().id;
  return Json(200, out);
}

HttpResponse ShowAlert(const ApiContext& ctx, const Call& call) {
  auto id = ParseInt(call.param("id"));
  if (!id) return JsonError(400, "invalid_id", "alert id must be a number");
  auto a = ctx.alerts->Get(*id);
  if (!a.ok()) return FromStatus(call.request, a.status());
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  if (!viewer->MaySeePerson(a->person)) return NotFoundAlert(call, *id);
  return Json(200, AlertDetailView(*a, ctx.PolicyNames()[a->policy_id], *viewer));
}

HttpResponse SetAlertStatus(const ApiContext& ctx, const Call& call) {
  auto id = ParseInt(call.param("id"));
  if (!id) return JsonError(400, "invalid_id", "alert id must be a number");
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  auto status = StringField(*body, "status", true, &err);
  if (!status) return err;
  auto reason = StringField(*body, "reason", false, &err);
  if (!reason && err.status != 200) return err;
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  auto before = ctx.alerts->Get(*id);
  if (!before.ok()) return FromStatus(call.request, before.status());
  if (!viewer->MaySeePerson(before->person)) return NotFoundAlert(call, *id);
  auto a = ctx.alerts->SetStatus(*id, *status, reason.value_or(""), call.caller().name);
  if (!a.ok()) return FromStatus(call.request, a.status());
  logging::Info("api: alert status changed",
                {{"alert", *id}, {"status", *status}, {"by", call.caller().Actor()}});
  std::string summary = before->status + " -> " + a->status;
  if (!a->status_reason.empty()) summary += "; reason: " + a->status_reason;
  return ctx.AuditedChange(call, "alert.status", AuditObject("alert", std::to_string(*id)),
                           std::move(summary),
                           Json(200, AlertView(*a, ctx.PolicyNames()[a->policy_id], *viewer)));
}

}  // namespace

void AddAlertRoutes(Router& router, const ApiContext& ctx) {
  router.Add("GET", "/api/v1/alerts", [&ctx](const Call& c) { return ListAlerts(ctx, c); },
             {.roles = roles::kAlertReaders});
  router.Add("GET", "/api/v1/alerts/{id}", [&ctx](const Call& c) { return ShowAlert(ctx, c); },
             {.roles = roles::kAlertReaders});
  router.Add("POST", "/api/v1/alerts/{id}/status",
             [&ctx](const Call& c) { return SetAlertStatus(ctx, c); }, {.roles = roles::kTriagers});
}

}  // namespace custos::collector::api
