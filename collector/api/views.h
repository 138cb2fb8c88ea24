// collector/api/views.h: the JSON the API shows for each kind of record (internal to
// collector/api/; field lists in docs/api.md). One place, so that a field appears the same way in
// every route, and so that pseudonymisation (collector/access) has one place to apply.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collector/access/accounts.h"
#include "collector/access/audit.h"
#include "collector/api/viewer.h"
#include "collector/imports/csv.h"
#include "collector/store/privacy_store.h"
#include "collector/store/risk_store.h"
#include "collector/store/store.h"

namespace custos::collector::api {

// Views of records that name people take the caller's Viewer and show people as it may see them.
nlohmann::ordered_json AlertView(const store::AlertRecord& a, const std::string& policy_name,
                                 const Viewer& viewer);
// AlertView plus the stored explanation.
nlohmann::ordered_json AlertDetailView(const store::AlertRecord& a, const std::string& policy_name,
                                       const Viewer& viewer);
nlohmann::ordered_json EventView(const store::StoredEvent& e, const Viewer& viewer);
nlohmann::ordered_json PersonView(const store::PersonRecord& p,
                                  const std::vector<store::LoginRecord>& logins,
                                  const Viewer& viewer);
nlohmann::ordered_json TriggerView(const store::TriggerRecord& t, const Viewer& viewer);
nlohmann::ordered_json RevealView(const store::RevealRecord& r, const Viewer& viewer);
// The people of the audit log's objects and summaries are masked like everything else.
nlohmann::ordered_json AuditEntryView(const access::AuditEntry& e, const Viewer& viewer);
// Accounts are the people who use Custos, not the people it watches: never pseudonymised.
nlohmann::ordered_json AccountView(const access::Account& a);
nlohmann::ordered_json PersonalTokenView(const access::PersonalToken& t,
                                         const std::string& owner_username);
nlohmann::ordered_json RolesView(access::RoleSet roles);
nlohmann::ordered_json IndicatorCatalogView();
nlohmann::ordered_json TemplateCatalogView();
nlohmann::ordered_json ImportProblemsView(const std::vector<imports::ImportProblem>& problems);

}  // namespace custos::collector::api
