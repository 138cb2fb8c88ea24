#include "collector/access/priority_groups.h"

#include <nlohmann/json.hpp>

#include "collector/access/pseudonym.h"

namespace custos::collector::access {

std::string PriorityGroupsToJson(const std::vector<PriorityGroup>& groups) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& g : groups) list.push_back({{"name", g.name}, {"reviewers", g.reviewers}});
  return nlohmann::json{{"groups", list}}.dump();
}

Result<std::vector<PriorityGroup>> PriorityGroupsFromJson(std::string_view text) {
  if (text.empty()) return std::vector<PriorityGroup>{};
  const auto bad = [](std::string why) { return InvalidArgumentError("priority groups: " + why); };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("groups") || !j["groups"].is_array()) {
    return bad("expected {\"groups\": [...]}");
  }
  if (j["groups"].size() > kMaxPriorityGroups) return bad("too many groups");
  std::vector<PriorityGroup> out;
  for (const auto& g : j["groups"]) {
    if (!g.is_object() || !g.contains("name") || !g["name"].is_string() ||
        !g.contains("reviewers") || !g["reviewers"].is_array()) {
      return bad("each group needs a name and a list of reviewers");
    }
    PriorityGroup pg;
    pg.name = g["name"].get<std::string>();
    if (pg.name.empty() || pg.name.size() > 128) return bad("group names are 1..128 bytes");
    if (g["reviewers"].size() > kMaxReviewersPerGroup) return bad("too many reviewers");
    for (const auto& r : g["reviewers"]) {
      if (!r.is_string() || r.get<std::string>().empty()) return bad("reviewers are account ids");
      pg.reviewers.push_back(r.get<std::string>());
    }
    out.push_back(std::move(pg));
  }
  return out;
}

PriorityRules::PriorityRules(std::span<const PriorityGroup> groups,
                             std::span<const store::PersonRecord> people,
                             std::span<const store::LoginRecord> logins) {
  if (groups.empty()) return;
  std::unordered_map<std::string, const PriorityGroup*> by_name;
  for (const auto& g : groups) by_name[g.name] = &g;
  for (const auto& p : people) {
    for (const auto& group : p.groups) {
      auto it = by_name.find(group);
      if (it == by_name.end()) continue;
      auto& reviewers = reviewers_of_[CanonicalPersonId(p.id)];
      reviewers.insert(it->second->reviewers.begin(), it->second->reviewers.end());
    }
  }
  for (const auto& l : logins) {
    const std::string person = CanonicalPersonId(l.person);
    if (reviewers_of_.count(person)) person_of_login_[l.login] = person;
  }
}

bool PriorityRules::Allowed(const Principal& viewer,
                            const std::unordered_set<std::string>& reviewers) const {
  return viewer.via != Principal::Via::kServiceToken && reviewers.count(viewer.id) > 0;
}

bool PriorityRules::MaySeePerson(const Principal& viewer, std::string_view person) const {
  if (reviewers_of_.empty()) return true;
  auto it = reviewers_of_.find(CanonicalPersonId(person));
  return it == reviewers_of_.end() || Allowed(viewer, it->second);
}

bool PriorityRules::MaySeeLogin(const Principal& viewer, std::string_view login) const {
  if (person_of_login_.empty()) return true;
  auto it = person_of_login_.find(std::string(login));
  if (it == person_of_login_.end()) return true;
  return Allowed(viewer, reviewers_of_.at(it->second));
}

}  // namespace custos::collector::access
