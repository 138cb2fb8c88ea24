// GET /api/v1/audit: the audit log, newest first (auditors and admins).
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

// The query of GET /api/v1/audit; nullopt with a 400 in *error.
std::optional<access::AuditQuery> AuditQueryFrom(const ApiContext& ctx, const HttpRequest& r,
                                                 HttpResponse* error) {
  access::AuditQuery q;
  if (auto v = r.Query("actor"); !v.empty()) q.actor = v;
  if (auto v = r.Query("action"); !v.empty()) q.action = v;
  if (auto v = r.Query("object"); !v.empty()) q.object = v;
  const int64_t now = ctx.clock->NowUnixNs();
  for (const char* key : {"since", "until"}) {
    auto v = r.Query(key);
    if (v.empty()) continue;
    int64_t t = 0;
    if (!ParseTimeSpec(v, now, &t)) {
      *error =
          JsonError(400, "invalid_query",
                    std::string(key) + ": a time like 2026-11-21T10:00:00Z, 2026-11-21 or -2h");
      return std::nullopt;
    }
    (std::string_view(key) == "since" ? q.since_ns : q.until_ns) = t;
  }
  if (auto v = r.Query("before"); !v.empty()) {
    auto n = ParseInt(v);
    if (!n || *n < 1) {
      *error = JsonError(400, "invalid_query", "before: an entry's seq");
      return std::nullopt;
    }
    q.before_seq = *n;
  }
  if (auto v = r.Query("limit"); !v.empty()) {
    auto n = ParseInt(v);
    if (!n || *n < 1 || *n > 1000) {
      *error = JsonError(400, "invalid_query", "limit: 1..1000");
      return std::nullopt;
    }
    q.limit = static_cast<uint32_t>(*n);
  }
  return q;
}

HttpResponse ListAudit(const ApiContext& ctx, const Call& call) {
  HttpResponse error;
  auto q = AuditQueryFrom(ctx, call.request, &error);
  if (!q) return error;
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  auto rows = ctx.audit->Query(*q);
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  ordered_json list = ordered_json::array();
  for (const auto& e : *rows) list.push_back(AuditEntryView(e, *viewer));
  ordered_json out = {{"entries", list}};
  if (!rows->empty()) out["next_before"] = rows->back().seq;
  return Json(200, out);
}

}  // namespace

void AddAuditRoutes(Router& router, const ApiContext& ctx) {
  router.Add("GET", "/api/v1/audit", [&ctx](const Call& c) { return ListAudit(ctx, c); },
             {.roles = {access::Role::kAuditor, access::Role::kAdmin}});
}

}  // namespace custos::collector::api
