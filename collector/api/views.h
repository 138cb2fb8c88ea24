// collector/api/views.h: the JSON the API shows for each kind of record (internal to
// collector/api/; field lists in docs/api.md). One place, so that a field appears the same way in
// every route, and so that pseudonymisation (collector/access) has one place to apply.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "collector/access/audit.h"
#include "collector/imports/csv.h"
#include "collector/store/risk_store.h"
#include "collector/store/store.h"

namespace custos::collector::api {

nlohmann::ordered_json AlertView(const store::AlertRecord& a, const std::string& policy_name);
// AlertView plus the stored explanation.
nlohmann::ordered_json AlertDetailView(const store::AlertRecord& a, const std::string& policy_name);
nlohmann::ordered_json EventView(const store::StoredEvent& e);
nlohmann::ordered_json PersonView(const store::PersonRecord& p,
                                  const std::vector<store::LoginRecord>& logins);
nlohmann::ordered_json TriggerView(const store::TriggerRecord& t);
nlohmann::ordered_json IndicatorCatalogView();
nlohmann::ordered_json TemplateCatalogView();
// seq, time, actor, action, object, summary, source, and the entry's hash (hex).
nlohmann::ordered_json AuditEntryView(const access::AuditEntry& e);
nlohmann::ordered_json ImportProblemsView(const std::vector<imports::ImportProblem>& problems);

}  // namespace custos::collector::api
