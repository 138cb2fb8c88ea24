// POST /api/v1/directory/import and /api/v1/hr/import: whole CSV exports (the only routes with a
// large body limit). All or nothing: a file with any problem imports nothing and lists them all.
#include "collector/imports/imports.h"
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"
#include "common/log/log.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

constexpr size_t kImportMaxBodyBytes = 32u << 20;

HttpResponse ImportRejected(const std::vector<imports::ImportProblem>& problems) {
  return Json(422, {{"error",
                     {{"status", 422},
                      {"code", "import_rejected"},
                      {"message", "nothing imported: fix every problem and retry"}}},
                    {"problems", ImportProblemsView(problems)}});
}

HttpResponse ImportDirectory(const ApiContext& ctx, const Call& call) {
  auto result = imports::ParseDirectoryCsv(call.request.body);
  if (!result.problems.empty()) return ImportRejected(result.problems);
  imports::DirectoryRecords records = imports::ToDirectoryRecords(result);
  Status s = ctx.risk->ReplaceDirectory(records.people, records.logins);
  if (!s.ok()) return FromStatus(call.request, s);
  s = ctx.masker->Rebuild();
  if (!s.ok()) return FromStatus(call.request, s);
  s = ctx.ReloadScoring();
  if (!s.ok()) return FromStatus(call.request, s);
  logging::Info("api: directory imported", {{"people", records.people.size()},
                                            {"logins", records.logins.size()},
                                            {"by", call.caller().Actor()}});
  return ctx.AuditedChange(
      call, "directory.import", "directory",
      std::to_string(records.people.size()) + " people, " + std::to_string(records.logins.size()) +
          " logins (replaced the directory)",
      Json(200, {{"people", records.people.size()}, {"logins", records.logins.size()}}));
}

HttpResponse ImportHr(const ApiContext& ctx, const Call& call) {
  const HttpRequest& r = call.request;
  std::optional<imports::HrScenario> hint;
  if (auto v = r.Query("scenario"); !v.empty()) {
    hint = imports::ParseHrScenario(v);
    if (!hint) {
      return JsonError(400, "invalid_query",
                       "scenario: resignation, job_level_change, performance_review or "
                       "performance_improvement_plan");
    }
  }
  auto people = ctx.risk->ListPeople();
  if (!people.ok()) return FromStatus(r, people.status());
  std::set<std::string, std::less<>> known;
  for (const auto& p : *people) known.insert(p.id);
  auto result = imports::ParseHrCsv(r.body, hint,
                                    [&](std::string_view email) { return known.count(email) > 0; });
  if (!result.problems.empty()) return ImportRejected(result.problems);
  std::vector<store::TriggerRecord> triggers = imports::HrTriggers(result, ctx.clock->NowUnixNs());
  auto added = ctx.risk->InsertTriggers(triggers);
  if (!added.ok()) return FromStatus(r, added.status());
  Status s = ctx.ApplyTriggers(std::move(triggers));
  if (!s.ok()) return FromStatus(r, s);
  logging::Info("api: HR rows imported",
                {{"rows", result.records.size()}, {"new", *added}, {"by", call.caller().Actor()}});
  return ctx.AuditedChange(
      call, "hr.import", "hr",
      std::to_string(result.records.size()) + " rows, " + std::to_string(*added) + " new",
      Json(200, {{"rows", result.records.size()},
                 {"new", *added},
                 {"already_imported", result.records.size() - *added}}));
}

}  // namespace

void AddImportRoutes(Router& router, const ApiContext& ctx) {
  router.Add("POST", "/api/v1/directory/import",
             [&ctx](const Call& c) { return ImportDirectory(ctx, c); },
             {.max_body_bytes = kImportMaxBodyBytes, .roles = roles::kAdmins});
  router.Add("POST", "/api/v1/hr/import", [&ctx](const Call& c) { return ImportHr(ctx, c); },
             {.max_body_bytes = kImportMaxBodyBytes, .roles = roles::kAdmins});
}

}  // namespace custos::collector::api
