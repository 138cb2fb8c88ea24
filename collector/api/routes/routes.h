// collector/api/routes/routes.h: the API's routes, one file per resource (internal to
// collector/api/). Each Add*Routes registers its routes with the roles they admit; the matrix of
// route x role is docs/api.md, and api_authorization_test checks every registered route against
// it. Routes translate HTTP to calls on the modules that own the rules (alerts/, imports/,
// scoring/, access/) and results to views (views.h); they hold no business rule.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "collector/access/accounts.h"
#include "collector/access/audit.h"
#include "collector/access/reveals.h"
#include "collector/access/roles.h"
#include "collector/alerts/alerts.h"
#include "collector/api/router.h"
#include "collector/api/viewer.h"
#include "collector/scoring/scorer.h"
#include "collector/store/risk_store.h"
#include "collector/store/store.h"
#include "common/metrics/metrics.h"
#include "common/time/clock.h"

namespace custos::collector::api {

// Who may call what (docs/api.md, "Roles").
namespace roles {
using access::Role;
// Read alerts and cases.
inline constexpr access::RoleSet kAlertReaders{Role::kAnalyst, Role::kInvestigator, Role::kViewer};
// Work alerts and cases.
inline constexpr access::RoleSet kTriagers{Role::kAnalyst, Role::kInvestigator};
// Event-level activity.
inline constexpr access::RoleSet kInvestigators{Role::kInvestigator};
// Settings, policies, imports, accounts.
inline constexpr access::RoleSet kAdmins{Role::kAdmin};
// The catalog and policies, read-only: whoever configures or works alerts.
inline constexpr access::RoleSet kPolicyReaders{Role::kAdmin, Role::kAnalyst, Role::kInvestigator,
                                                Role::kViewer};
// The directory of people (pseudonymised unless revealed).
inline constexpr access::RoleSet kDirectoryReaders{Role::kAdmin, Role::kAnalyst,
                                                   Role::kInvestigator};
}  // namespace roles

// What the routes work with. Everything must outlive the router.
struct ApiContext {
  store::Store* events = nullptr;
  store::RiskStore* risk = nullptr;
  scoring::Scorer* scorer = nullptr;  // null when scoring is disabled
  Clock* clock = nullptr;
  const alerts::Alerts* alerts = nullptr;
  access::AuditLog* audit = nullptr;  // required: the audit log cannot be turned off
  access::Accounts* accounts = nullptr;
  access::Reveals* reveals = nullptr;
  store::PrivacyStore* privacy_store = nullptr;
  MaskerHolder* masker = nullptr;
  // When ExpireReveals last ran (Unix ns); owned by the service.
  std::atomic<int64_t>* last_reveal_expiry_ns = nullptr;
  // Sign-in outcomes, for /metrics (never null: a private registry when none was given).
  metrics::Counter* sign_in_succeeded = nullptr;
  metrics::Counter* sign_in_failed = nullptr;
  metrics::Counter* sign_in_throttled = nullptr;

  // What the caller may see of people: pseudonyms unless revealed to them or switched off.
  Result<Viewer> ViewerFor(const Call& call) const;
  // Marks reveals past their end as expired (audited as reveal.expire by "system"), at most once
  // a minute however often it is called.
  Status ExpireReveals() const;

  // Records a change the caller made, after it committed (not yet in the change's transaction:
  // docs/audit.md), and returns `done`; when the entry cannot be appended the caller gets a 500
  // saying the change was made but is not in the audit log (and the log says why).
  // Never put a secret in `summary`.
  HttpResponse AuditedChange(const Call& call, std::string action, std::string object,
                             std::string summary, HttpResponse done) const;
  // Records a sensitive read before it is served: nullopt when recorded, else a 503 to return
  // instead of the data (no unaudited reads).
  std::optional<HttpResponse> AuditRead(const Call& call, std::string action, std::string object,
                                        std::string summary) const;

  // Policy id -> name (empty when the store cannot be read).
  std::map<std::string, std::string> PolicyNames() const;
  // With scoring disabled, changes are stored and take effect when it is enabled.
  Status ReloadScoring() const;
  Status ApplyTriggers(std::vector<store::TriggerRecord> triggers) const;
};

// The audit entry's object for a person, an alert, a policy: "person:dana@example.com".
inline std::string AuditObject(std::string_view kind, std::string_view id) {
  return std::string(kind) + ":" + std::string(id);
}

// People are e-mail addresses (lower-cased by the directory import) or login names (kept as they
// are: logins are case-sensitive).
std::string PersonId(std::string person);

void AddHealthRoutes(Router& router, const ApiContext& ctx);
void AddAlertRoutes(Router& router, const ApiContext& ctx);
void AddEventRoutes(Router& router, const ApiContext& ctx);
void AddCatalogRoutes(Router& router, const ApiContext& ctx);
void AddPolicyRoutes(Router& router, const ApiContext& ctx);
void AddPeopleRoutes(Router& router, const ApiContext& ctx);
void AddImportRoutes(Router& router, const ApiContext& ctx);
void AddTriggerRoutes(Router& router, const ApiContext& ctx);
void AddAuditRoutes(Router& router, const ApiContext& ctx);
void AddSessionRoutes(Router& router, const ApiContext& ctx);
void AddRevealRoutes(Router& router, const ApiContext& ctx);
void AddPriorityGroupRoutes(Router& router, const ApiContext& ctx);

// The console's session cookie.
inline constexpr std::string_view kSessionCookie = "custos_session";

}  // namespace custos::collector::api
