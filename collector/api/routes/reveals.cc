// Identity reveals (/api/v1/reveals) and the organisation's privacy setting (/api/v1/settings).
// The rules (who may ask, who may decide, expiry) are collector/access/reveals.h's; every step is
// audited here.
#include "collector/access/reveals.h"
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"
#include "common/log/log.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

constexpr access::RoleSet kRequesters{access::Role::kAnalyst, access::Role::kInvestigator};
constexpr access::RoleSet kRevealReaders{access::Role::kAnalyst, access::Role::kInvestigator,
                                         access::Role::kApprover};
constexpr access::RoleSet kEveryone{access::Role::kAdmin,        access::Role::kAnalyst,
                                    access::Role::kInvestigator, access::Role::kViewer,
                                    access::Role::kAuditor,      access::Role::kApprover};

// A reveal as the caller may see it: the person stays pseudonymised unless revealed to them
// (approvers decide on the justification, never on the name).
HttpResponse RevealResponse(const ApiContext& ctx, const Call& call, int status,
                            const store::RevealRecord& r) {
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  return Json(status, RevealView(r, *viewer));
}

HttpResponse RequestReveal(const ApiContext& ctx, const Call& call) {
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  auto fields = RequiredStrings(*body, {"person", "justification"}, &err);
  if (!fields) return err;
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  const std::string person = viewer->ResolvePerson((*fields)[0]);
  if (!viewer->MaySeePerson(person)) {
    return JsonError(404, "not_found", "person " + (*fields)[0] + ": not found",
                     call.request.request_id);
  }
  auto r = ctx.reveals->Request(call.caller(), person, (*fields)[1]);
  if (!r.ok()) return FromStatus(call.request, r.status());
  return ctx.AuditedChange(call, "reveal.request", AuditObject("reveal", r->id),
                           "person " + r->person + "; justification: " + r->justification,
                           Json(201, RevealView(*r, *viewer)));
}

HttpResponse ListReveals(const ApiContext& ctx, const Call& call) {
  // Best effort: listing does not depend on it (ended reveals are never shown as live), but a
  // failure means expiries are not yet in the audit log, which the operator must hear about.
  if (Status s = ctx.ExpireReveals(); !s.ok()) {
    logging::Error("api: expiring reveals failed",
                   {{"request_id", call.request.request_id}, {"error", s.ToString()}});
  }
  auto rows = ctx.reveals->List(call.caller());
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  ordered_json list = ordered_json::array();
  for (const auto& r : *rows) list.push_back(RevealView(r, *viewer));
  return Json(200, Keyed("reveals", std::move(list)));
}

HttpResponse Decide(const ApiContext& ctx, const Call& call, std::string_view decision) {
  HttpResponse err;
  std::string note;
  if (!call.request.body.empty()) {
    auto body = ObjectBody(call.request, &err);
    if (!body) return err;
    auto n = StringField(*body, "note", false, &err);
    if (!n && err.status != 200) return err;
    note = n.value_or("");
  }
  const std::string& id = call.param("id");
  Result<store::RevealRecord> r =
      decision == "approve"  ? ctx.reveals->Approve(call.caller(), id, note)
      : decision == "refuse" ? ctx.reveals->Refuse(call.caller(), id, note)
                             : ctx.reveals->Withdraw(call.caller(), id);
  if (!r.ok()) return FromStatus(call.request, r.status());
  const char* done = decision == "approve"  ? "approved"
                     : decision == "refuse" ? "refused"
                                            : "withdrawn";
  std::string summary =
      std::string(done) + "; person " + r->person + ", requester " + r->requester_name;
  if (r->expires_at_ns) summary += ", until " + FormatUnixNs(r->expires_at_ns);
  if (!note.empty()) summary += "; note: " + note;
  return ctx.AuditedChange(call, "reveal." + std::string(decision), AuditObject("reveal", id),
                           std::move(summary), RevealResponse(ctx, call, 200, *r));
}

HttpResponse ShowSettings(const ApiContext& ctx, const Call& call) {
  auto on = ctx.reveals->IsPseudonymisationOn();
  if (!on.ok()) return FromStatus(call.request, on.status());
  return Json(200, {{"pseudonymisation", *on}});
}

HttpResponse ChangeSettings(const ApiContext& ctx, const Call& call) {
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  if (!body->contains("pseudonymisation") || !(*body)["pseudonymisation"].is_boolean()) {
    return JsonError(400, "invalid_field", "pseudonymisation: true or false");
  }
  const bool on = (*body)["pseudonymisation"].get<bool>();
  auto change = ctx.reveals->SetPseudonymisation(call.caller(), on);
  if (!change.ok()) return FromStatus(call.request, change.status());
  return ctx.AuditedChange(
      call, "settings.pseudonymisation", "settings",
      std::string(change->was_on ? "on" : "off") + " -> " + (on ? "on" : "off"),
      Json(200, {{"pseudonymisation", on}}));
}

}  // namespace

void AddRevealRoutes(Router& router, const ApiContext& ctx) {
  router.Add("POST", "/api/v1/reveals", [&ctx](const Call& c) { return RequestReveal(ctx, c); },
             {.roles = kRequesters});
  router.Add("GET", "/api/v1/reveals", [&ctx](const Call& c) { return ListReveals(ctx, c); },
             {.roles = kRevealReaders});
  router.Add("POST", "/api/v1/reveals/{id}/approve",
             [&ctx](const Call& c) { return Decide(ctx, c, "approve"); },
             {.roles = {access::Role::kApprover}});
  router.Add("POST", "/api/v1/reveals/{id}/refuse",
             [&ctx](const Call& c) { return Decide(ctx, c, "refuse"); },
             {.roles = {access::Role::kApprover}});
  router.Add("POST", "/api/v1/reveals/{id}/withdraw",
             [&ctx](const Call& c) { return Decide(ctx, c, "withdraw"); }, {.roles = kRequesters});
  router.Add("GET", "/api/v1/settings", [&ctx](const Call& c) { return ShowSettings(ctx, c); },
             {.roles = kEveryone});
  router.Add("PATCH", "/api/v1/settings", [&ctx](const Call& c) { return ChangeSettings(ctx, c); },
             {.roles = roles::kAdmins});
}

}  // namespace custos::collector::api
