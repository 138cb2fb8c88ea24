// collector/access/roles.h: the six roles and the principal a request acts as (issue 18).
//
// Roles follow Purview's role groups (docs/api.md has the route x role matrix):
//   admin        policies, settings, accounts and roles, imports
//   analyst      alerts, cases, notices; people pseudonymised
//   investigator analyst + event-level activity, file content, forensic evidence
//   viewer       read-only alerts and cases
//   auditor      the audit log only
//   approver     approves identity reveals and forensic-capture requests, nothing else
// A person may hold several roles (a RoleSet). Per-case contributors are not a role: they are an
// object rule of the case (collector/cases, later).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status/status.h"

namespace custos::collector::access {

enum class Role : uint8_t {
  kAdmin = 0,
  kAnalyst = 1,
  kInvestigator = 2,
  kViewer = 3,
  kAuditor = 4,
  kApprover = 5,
};

inline constexpr Role kAllRoles[] = {Role::kAdmin,  Role::kAnalyst, Role::kInvestigator,
                                     Role::kViewer, Role::kAuditor, Role::kApprover};

// "admin", "analyst", "investigator", "viewer", "auditor", "approver".
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// A set of roles; a value type (one byte).
class RoleSet {
 public:
  constexpr RoleSet() = default;
  constexpr RoleSet(std::initializer_list<Role> roles) {
    for (Role r : roles) Add(r);
  }
  constexpr void Add(Role r) { bits_ |= Bit(r); }
  constexpr void Remove(Role r) { bits_ &= static_cast<uint8_t>(~Bit(r)); }
  constexpr bool Has(Role r) const { return (bits_ & Bit(r)) != 0; }
  constexpr bool HasAny(RoleSet other) const { return (bits_ & other.bits_) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr uint8_t bits() const { return bits_; }
  static constexpr RoleSet FromBits(uint8_t bits) {
    RoleSet s;
    s.bits_ = bits & 0x3f;
    return s;
  }
  friend constexpr bool operator==(RoleSet, RoleSet) = default;

  // "admin,analyst" (names in kAllRoles order, comma-separated; "" when empty).
  std::string ToString() const;
  // A comma-separated list of role names (spaces around names ignored, duplicates allowed);
  // InvalidArgument naming the unknown role and listing the six. An empty list is an error.
  static Result<RoleSet> Parse(std::string_view text);

 private:
  static constexpr uint8_t Bit(Role r) { return static_cast<uint8_t>(1u << static_cast<int>(r)); }
  uint8_t bits_ = 0;
};

// Who a request acts as, after authentication (collector/access/accounts.h for sessions and
// personal tokens; service tokens from `custos-collector api-token create`).
struct Principal {
  enum class Via : uint8_t { kServiceToken, kPersonalToken, kSession };
  Via via = Via::kServiceToken;
  // Account id ("usr_...") for sessions and personal tokens; the token id ("atk_...") for a
  // service token.
  std::string id = {};
  // Username, or the service token's name.
  std::string name = {};
  RoleSet roles = {};
  // Sessions only: the session's id (its public handle, not the cookie secret) and SHA-256 of
  // its CSRF token, which every state-changing request made with the cookie must present.
  std::string session_id = {};
  std::string csrf_sha256 = {};

  // The audit log's actor: "user:alice" or "token:ci-exporter".
  std::string Actor() const;
};

}  // namespace custos::collector::access
