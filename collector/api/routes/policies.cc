// The scoring catalog (GET /api/v1/indicators, /api/v1/templates) and policies
// (GET/POST /api/v1/policies, GET/DELETE /api/v1/policies/{id}).
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"
#include "collector/scoring/policy.h"
#include "common/crypto/crypto.h"
#include "common/log/log.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

HttpResponse ListPolicies(const ApiContext& ctx, const Call& call) {
  auto rows = ctx.risk->ListPolicies();
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  ordered_json list = ordered_json::array();
  for (const auto& p : *rows) list.push_back(StoredJson(p.body_json));
  return Json(200, Keyed("policies", std::move(list)));
}

HttpResponse ShowPolicy(const ApiContext& ctx, const Call& call) {
  auto rows = ctx.risk->ListPolicies();
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  for (const auto& row : *rows) {
    if (row.id == call.param("id")) return Json(200, StoredJson(row.body_json));
  }
  return JsonError(404, "not_found", "policy " + call.param("id") + ": not found");
}

HttpResponse CreatePolicy(const ApiContext& ctx, const Call& call) {
  const HttpRequest& r = call.request;
  HttpResponse err;
  auto body = ObjectBody(r, &err);
  if (!body) return err;
  auto tmpl = StringField(*body, "template", true, &err);
  if (!tmpl) return err;
  auto name = StringField(*body, "name", true, &err);
  if (!name) return err;
  auto policy = scoring::PolicyFromTemplate(*tmpl, *name);
  if (!policy.ok()) return FromStatus(r, policy.status());
  Status s = scoring::ApplyPolicyJson(r.body, &*policy);
  if (!s.ok()) return FromStatus(r, s);
  auto rnd = crypto::RandomBytes(6);
  if (!rnd.ok()) return FromStatus(r, rnd.status());
  policy->id = "pol_" + crypto::HexEncode(*rnd);
  policy->created_at_ns = ctx.clock->NowUnixNs();
  const std::string text = scoring::PolicyToJson(*policy);
  s = ctx.risk->InsertPolicy(
      {policy->id, policy->name, policy->template_id, text, policy->created_at_ns});
  if (!s.ok()) return FromStatus(r, s);
  s = ctx.ReloadScoring();
  if (!s.ok()) return FromStatus(r, s);
  logging::Info("api: policy created",
                {{"policy", policy->id}, {"template", *tmpl}, {"by", call.caller().Actor()}});
  return ctx.AuditedChange(call, "policy.create", AuditObject("policy", policy->id),
                           "template " + *tmpl + ", name " + policy->name,
                           Json(201, StoredJson(text)));
}

HttpResponse DeletePolicy(const ApiContext& ctx, const Call& call) {
  Status s = ctx.risk->DeletePolicy(call.param("id"));
  if (!s.ok()) return FromStatus(call.request, s);
  HttpResponse audited = ctx.AuditedChange(
      call, "policy.delete", AuditObject("policy", call.param("id")), "deleted", NoContent());
  s = ctx.ReloadScoring();
  if (!s.ok()) return FromStatus(call.request, s);
  return audited;
}

}  // namespace

void AddCatalogRoutes(Router& router, const ApiContext&) {
  router.Add("GET", "/api/v1/indicators",
             [](const Call&) {
               return Json(200, {{"indicators", IndicatorCatalogView()}});
             },
             {.roles = roles::kPolicyReaders});
  router.Add("GET", "/api/v1/templates",
             [](const Call&) {
               return Json(200, {{"templates", TemplateCatalogView()}});
             },
             {.roles = roles::kPolicyReaders});
}

void AddPolicyRoutes(Router& router, const ApiContext& ctx) {
  router.Add("GET", "/api/v1/policies", [&ctx](const Call& c) { return ListPolicies(ctx, c); },
             {.roles = roles::kPolicyReaders});
  router.Add("GET", "/api/v1/policies/{id}", [&ctx](const Call& c) { return ShowPolicy(ctx, c); },
             {.roles = roles::kPolicyReaders});
  router.Add("POST", "/api/v1/policies", [&ctx](const Call& c) { return CreatePolicy(ctx, c); },
             {.roles = roles::kAdmins});
  router.Add("DELETE", "/api/v1/policies/{id}",
             [&ctx](const Call& c) { return DeletePolicy(ctx, c); }, {.roles = roles::kAdmins});
}

}  // namespace custos::collector::api
