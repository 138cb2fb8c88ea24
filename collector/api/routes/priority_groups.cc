// Priority user groups (admins): GET /api/v1/priority-groups, PUT and DELETE
// /api/v1/priority-groups/{name}. Members of a priority group are visible only to its reviewers
// (collector/access/priority_groups.h); every route that shows people applies it.
#include "collector/access/priority_groups.h"
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"

namespace custos::collector::api {
namespace {

using nlohmann::ordered_json;

Result<std::vector<access::PriorityGroup>> Load(const ApiContext& ctx) {
  CUSTOS_ASSIGN_OR_RETURN(auto setting,
                          ctx.privacy_store->GetSetting(access::kPriorityGroupsSetting));
  return access::PriorityGroupsFromJson(setting ? setting->value : "");
}

// Stores `groups`, rebuilds the rules every request uses, and audits the change.
HttpResponse Save(const ApiContext& ctx, const Call& call,
                  std::vector<access::PriorityGroup> groups, std::string object,
                  std::string summary, HttpResponse done) {
  auto put = ctx.privacy_store->PutSetting({.key = std::string(access::kPriorityGroupsSetting),
                                            .value = access::PriorityGroupsToJson(groups),
                                            .updated_at_ns = ctx.clock->NowUnixNs(),
                                            .updated_by = call.caller().Actor()});
  if (!put.ok()) return FromStatus(call.request, put.status());
  if (Status s = ctx.masker->Rebuild(); !s.ok()) return FromStatus(call.request, s);
  return ctx.AuditedChange(call, "priority-group.update", std::move(object), std::move(summary),
                           std::move(done));
}

ordered_json GroupView(const access::PriorityGroup& g,
                       const std::map<std::string, std::string>& usernames) {
  ordered_json reviewers = ordered_json::array();
  for (const auto& id : g.reviewers) {
    auto it = usernames.find(id);
    reviewers.push_back(it == usernames.end() ? id : it->second);
  }
  return {{"name", g.name}, {"reviewers", reviewers}};
}

std::map<std::string, std::string> Usernames(const ApiContext& ctx) {
  std::map<std::string, std::string> out;
  if (auto accounts = ctx.accounts->ListAccounts(); accounts.ok()) {
    for (const auto& a : *accounts) out[a.id] = a.username;
  }
  return out;
}

HttpResponse ListGroups(const ApiContext& ctx, const Call& call) {
  auto groups = Load(ctx);
  if (!groups.ok()) return FromStatus(call.request, groups.status());
  const auto usernames = Usernames(ctx);
  ordered_json list = ordered_json::array();
  for (const auto& g : *groups) list.push_back(GroupView(g, usernames));
  return Json(200, Keyed("priority_groups", std::move(list)));
}

HttpResponse PutGroup(const ApiContext& ctx, const Call& call) {
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  if (!body->contains("reviewers") || !(*body)["reviewers"].is_array() ||
      (*body)["reviewers"].empty() || (*body)["reviewers"].size() > access::kMaxReviewersPerGroup) {
    return JsonError(400, "invalid_field", "reviewers: a list of 1..256 usernames");
  }
  access::PriorityGroup group{.name = call.param("name")};
  std::string names;
  for (const auto& r : (*body)["reviewers"]) {
    if (!r.is_string()) return JsonError(400, "invalid_field", "reviewers: usernames");
    const std::string username = r.get<std::string>();
    auto found = ctx.accounts->FindByUsername(username);
    if (!found.ok()) {
      if (found.status().code() != StatusCode::kNotFound) {
        return FromStatus(call.request, found.status());
      }
      return JsonError(400, "invalid_field", "reviewers: no account '" + username + "'");
    }
    group.reviewers.push_back(found->id);
    names += (names.empty() ? "" : ", ") + found->username;
  }
  auto groups = Load(ctx);
  if (!groups.ok()) return FromStatus(call.request, groups.status());
  bool replaced = false;
  for (auto& g : *groups) {
    if (g.name == group.name) {
      g = group;
      replaced = true;
    }
  }
  if (!replaced) {
    if (groups->size() >= access::kMaxPriorityGroups) {
      return JsonError(409, "failed_precondition", "at most 256 priority groups");
    }
    groups->push_back(group);
  }
  const ordered_json view = GroupView(group, Usernames(ctx));
  return Save(ctx, call, std::move(*groups), "priority-group:" + group.name, "reviewers: " + names,
              Json(200, view));
}

HttpResponse DeleteGroup(const ApiContext& ctx, const Call& call) {
  auto groups = Load(ctx);
  if (!groups.ok()) return FromStatus(call.request, groups.status());
  const std::string& name = call.param("name");
  const size_t before = groups->size();
  std::erase_if(*groups, [&](const access::PriorityGroup& g) { return g.name == name; });
  if (groups->size() == before) {
    return JsonError(404, "not_found", "priority group " + name + ": not found");
  }
  return Save(ctx, call, std::move(*groups), "priority-group:" + name,
              "deleted: members visible to every role again", NoContent());
}

}  // namespace

void AddPriorityGroupRoutes(Router& router, const ApiContext& ctx) {
  router.Add("GET", "/api/v1/priority-groups", [&ctx](const Call& c) { return ListGroups(ctx, c); },
             {.roles = roles::kAdmins});
  router.Add("PUT", "/api/v1/priority-groups/{name}",
             [&ctx](const Call& c) { return PutGroup(ctx, c); }, {.roles = roles::kAdmins});
  router.Add("DELETE", "/api/v1/priority-groups/{name}",
             [&ctx](const Call& c) { return DeleteGroup(ctx, c); }, {.roles = roles::kAdmins});
}

}  // namespace custos::collector::api
