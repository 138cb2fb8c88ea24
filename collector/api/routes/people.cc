// GET /api/v1/people (and its alias /api/v1/users): the directory's people with their logins.
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

HttpResponse ListPeople(const ApiContext& ctx, const Call& call) {
  auto people = ctx.risk->ListPeople();
  if (!people.ok()) return FromStatus(call.request, people.status());
  auto logins = ctx.risk->ListLogins();
  if (!logins.ok()) return FromStatus(call.request, logins.status());
  auto viewer = ctx.ViewerFor(call);
  if (!viewer.ok()) return FromStatus(call.request, viewer.status());
  std::map<std::string, std::vector<store::LoginRecord>> by_person;
  for (auto& l : *logins) by_person[l.person].push_back(std::move(l));
  ordered_json list = ordered_json::array();
  for (const auto& p : *people) {
    if (viewer->MaySeePerson(p.id)) list.push_back(PersonView(p, by_person[p.id], *viewer));
  }
  return Json(200, {{"people", list}});
}

}  // namespace

void AddPeopleRoutes(Router& router, const ApiContext& ctx) {
  // The directory's people are the users policies and alerts speak of: /users is the same list.
  for (const char* path : {"/api/v1/people", "/api/v1/users"}) {
    router.Add("GET", path, [&ctx](const Call& c) { return ListPeople(ctx, c); },
               {.roles = roles::kDirectoryReaders});
  }
}

}  // namespace custos::collector::api
