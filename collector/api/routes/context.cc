#include <atomic>
#include <cctype>

#include "collector/api/responses.h"
#include "common/log/log.h"

#include "collector/api/routes/routes.h"

namespace custos::collector::api {

std::map<std::string, std::string> ApiContext::PolicyNames() const {
  std::map<std::string, std::string> names;
  auto rows = risk->ListPolicies();
  if (rows.ok()) {
    for (const auto& p : *rows) names[p.id] = p.name;
  }
  return names;
}

Status ApiContext::ReloadScoring() const { return scorer ? scorer->Reload() : OkStatus(); }

Status ApiContext::ApplyTriggers(std::vector<store::TriggerRecord> triggers) const {
  return scorer ? scorer->AddTriggers(std::move(triggers)) : OkStatus();
}

namespace {

Result<access::AuditEntry> Append(
    const ApiContext& ctx, const Call& call, std::string action, std::string object,
    std::string summary,
    access::AuditLog::Durability durability = access::AuditLog::Durability::kDurable) {
  return ctx.audit->Append(
      {.actor = call.principal ? call.principal->Actor() : "anonymous",
       .action = std::move(action),
       .object = std::move(object),
       .summary = std::move(summary),
       .source =
           call.request.remote_address.empty() ? std::string("api") : call.request.remote_address},
      durability);
}

}  // namespace

HttpResponse ApiContext::AuditedChange(const Call& call, std::string action, std::string object,
                                       std::string summary, HttpResponse done) const {
  auto entry = Append(*this, call, action, std::move(object), std::move(summary));
  if (entry.ok()) return done;
  logging::Error("api: change made but not audited", {{"request_id", call.request.request_id},
                                                      {"action", action},
                                                      {"error", entry.status().ToString()}});
  return JsonError(500, "audit_failed",
                   "the change was made but could not be recorded in the audit log (request id " +
                       call.request.request_id + ")",
                   call.request.request_id);
}

std::optional<HttpResponse> ApiContext::AuditRead(const Call& call, std::string action,
                                                  std::string object, std::string summary) const {
  auto entry = Append(*this, call, action, std::move(object), std::move(summary),
                      access::AuditLog::Durability::kRelaxed);
  if (entry.ok()) return std::nullopt;
  logging::Error("api: sensitive read refused: audit log unavailable",
                 {{"request_id", call.request.request_id},
                  {"action", action},
                  {"error", entry.status().ToString()}});
  return JsonError(503, "audit_unavailable",
                   "the audit log cannot record this read now, retry (request id " +
                       call.request.request_id + ")",
                   call.request.request_id);
}

Result<Viewer> ApiContext::ViewerFor(const Call& call) const {
  auto masker_now = masker->Get();
  if (masker_now == nullptr) {
    // The load at start failed (logged there): try again rather than wait for an import.
    CUSTOS_RETURN_IF_ERROR(masker->Rebuild());
    masker_now = masker->Get();
  }
  auto rules = masker->Rules();
  CUSTOS_ASSIGN_OR_RETURN(bool on, reveals->IsPseudonymisationOn());
  if (!on) return Viewer(std::move(masker_now), std::move(rules), call.principal, false, {});
  std::vector<std::string> revealed;
  if (call.principal != nullptr) {
    CUSTOS_ASSIGN_OR_RETURN(revealed, reveals->RevealedTo(*call.principal, clock->NowUnixNs()));
  }
  return Viewer(std::move(masker_now), std::move(rules), call.principal, true, std::move(revealed));
}

Status ApiContext::ExpireReveals() const {
  const int64_t now = clock->NowUnixNs();
  int64_t last = last_reveal_expiry_ns->load();
  if (now - last < int64_t{60} * 1'000'000'000 ||
      !last_reveal_expiry_ns->compare_exchange_strong(last, now)) {
    return OkStatus();
  }
  CUSTOS_ASSIGN_OR_RETURN(auto expired, reveals->ExpireDue());
  for (const auto& r : expired) {
    auto e = audit->Append({.actor = "system",
                            .action = "reveal.expire",
                            .object = AuditObject("reveal", r.id),
                            .summary = "person " + r.person + ", requester " + r.requester_name,
                            .source = "collector"});
    if (!e.ok()) return e.status();
  }
  return OkStatus();
}

std::string PersonId(std::string person) {
  if (person.find('@') != std::string::npos) {
    for (char& c : person) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return person;
}

void AddHealthRoutes(Router& router, const ApiContext&) {
  router.Add("GET", "/api/v1/health",
             [](const Call&) {
               return Json(200, {{"status", "ok"}});
             },
             {.anonymous = true});
}

}  // namespace custos::collector::api
