// collector/access/priority_groups.h: priority user groups, the object rule that hides people
// from everyone but their named reviewers (issue 18).
//
// A priority group is a group of the directory (the Groups column of the directory import,
// docs/imports.md), e.g. "executives", with the accounts that may review its members. A member
// of one or more priority groups is visible only to reviewers of at least one of them: everyone
// else sees neither their alerts, their events, their triggers nor their directory entry, and
// an object about them is "not found" (404, never 403). People in no priority group are not
// affected. Service tokens belong to no account and are never reviewers.
//
// The configuration is stored as JSON in the settings table (key "priority_groups"):
//   {"groups": [{"name": "executives", "reviewers": ["usr_0123456789abcdef", ...]}]}
// PriorityRules is an immutable snapshot built from it and the directory; rebuild it after a
// directory import or a configuration change. Thread-safe (immutable); lookups are hash lookups.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "collector/access/roles.h"
#include "collector/store/risk_store.h"
#include "common/status/status.h"

namespace custos::collector::access {

inline constexpr std::string_view kPriorityGroupsSetting = "priority_groups";
inline constexpr size_t kMaxPriorityGroups = 256;
inline constexpr size_t kMaxReviewersPerGroup = 256;

struct PriorityGroup {
  std::string name = {};                    // a directory group name (exact)
  std::vector<std::string> reviewers = {};  // account ids ("usr_...")
};

std::string PriorityGroupsToJson(const std::vector<PriorityGroup>& groups);
// InvalidArgument for anything but the shape above (names 1..128 bytes, at most
// kMaxPriorityGroups groups and kMaxReviewersPerGroup reviewers each). "" is no groups.
Result<std::vector<PriorityGroup>> PriorityGroupsFromJson(std::string_view text);

class PriorityRules {
 public:
  PriorityRules() = default;  // no priority groups: everyone may see everyone
  PriorityRules(std::span<const PriorityGroup> groups, std::span<const store::PersonRecord> people,
                std::span<const store::LoginRecord> logins);

  // Whether `viewer` may see objects about `person` (any form: canonicalised here).
  bool MaySeePerson(const Principal& viewer, std::string_view person) const;
  // The same for the person behind a login name (events name logins).
  bool MaySeeLogin(const Principal& viewer, std::string_view login) const;
  bool empty() const { return reviewers_of_.empty(); }

 private:
  bool Allowed(const Principal& viewer, const std::unordered_set<std::string>& reviewers) const;
  // canonical person id -> account ids that may review them (union over their priority groups)
  std::unordered_map<std::string, std::unordered_set<std::string>> reviewers_of_;
  // login -> canonical person id, for logins of priority people only
  std::unordered_map<std::string, std::string> person_of_login_;
};

}  // namespace custos::collector::access
