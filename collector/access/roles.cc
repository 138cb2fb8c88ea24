#include "collector/access/roles.h"

namespace custos::collector::access {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kAnalyst:
      return "analyst";
    case Role::kInvestigator:
      return "investigator";
    case Role::kViewer:
      return "viewer";
    case Role::kAuditor:
      return "auditor";
    case Role::kApprover:
      return "approver";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : kAllRoles) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

std::string RoleSet::ToString() const {
  std::string out;
  for (Role r : kAllRoles) {
    if (!Has(r)) continue;
    if (!out.empty()) out += ',';
    out += RoleName(r);
  }
  return out;
}

Result<RoleSet> RoleSet::Parse(std::string_view text) {
  RoleSet set;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view name = text.substr(start, comma - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (!name.empty()) {
      auto role = ParseRole(name);
      if (!role) {
        return InvalidArgumentError(
            "unknown role '" + std::string(name.substr(0, 64)) +
            "' (roles: admin, analyst, investigator, viewer, auditor, approver)");
      }
      set.Add(*role);
    }
    start = comma + 1;
  }
  if (set.empty()) {
    return InvalidArgumentError(
        "no role given (roles: admin, analyst, investigator, viewer, auditor, approver)");
  }
  return set;
}

std::string Principal::Actor() const {
  return (via == Via::kServiceToken ? "token:" : "user:") + name;
}

}  // namespace custos::collector::access
