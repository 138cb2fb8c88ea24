// GET /api/v1/events: event-level activity (investigators).
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

HttpResponse ListEvents(const ApiContext& ctx, const Call& call) {
  const HttpRequest& r = call.request;
  store::EventQuery q;
  const int64_t now = ctx.clock->NowUnixNs();
  for (const char* key : {"since", "until"}) {
    auto v = r.Query(key);
    if (v.empty()) continue;
    int64_t t = 0;
    if (!ParseTimeSpec(v, now, &t)) {
      return JsonError(400, "invalid_query",
                       std::string(key) + ": a time like 2026-11-21T10:00:00Z, 2026-11-21 or -2h");
    }
    (std::string_view(key) == "since" ? q.since_ns : q.until_ns) = t;
  }
  if (auto v = r.Query("user"); !v.empty()) q.user = v;
  if (auto v = r.Query("agent"); !v.empty()) q.agent_id = v;
  if (auto v = r.Query("type"); !v.empty()) {
    auto t = store::ParseEventType(v);
    if (!t) return JsonError(400, "invalid_query", "type: file, usb, setting, process, ...");
    q.type = *t;
  }
  q.limit = 100;
  if (auto v = r.Query("limit"); !v.empty()) {
    auto n = ParseInt(v);
    if (!n || *n < 1 || *n > 10000) return JsonError(400, "invalid_query", "limit: 1..10000");
    q.limit = static_cast<uint32_t>(*n);
  }
  q.newest_first = r.Query("order", "newest") != "oldest";
  // Event-level activity is a sensitive read: recorded (with the query, never the results)
  // before anything is served.
  if (auto refused = ctx.AuditRead(call, "events.read", "events", "query: " + r.target)) {
    return *refused;
  }
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(r, viewer.status());
  auto rows = ctx.events->QueryEvents(q);
  if (!rows.ok()) return FromStatus(r, rows.status());
  ordered_json list = ordered_json::array();
  for (const auto& e : *rows) {
    if (viewer->MaySeeLogin(e.user)) list.push_back(EventView(e, *viewer));
  }
  return Json(200, {{"events", list}});
}

}  // namespace

void AddEventRoutes(Router& router, const ApiContext& ctx) {
  router.Add("GET", "/api/v1/events", [&ctx](const Call& c) { return ListEvents(ctx, c); },
             {.roles = roles::kInvestigators});
}

}  // namespace custos::collector::api
