#include <cctype>

#include "collector/api/responses.h"

#include "collector/api/routes/routes.h"

namespace custos::collector::api {

std::map<std::string, std::string> ApiContext::PolicyNames() const {
  std::map<std::string, std::string> names;
  auto rows = risk->ListPolicies();
  if (rows.ok()) {
    for (const auto& p : *rows) names[p.id] = p.name;
  }
  return names;
}

Status ApiContext::ReloadScoring() const { return scorer ? scorer->Reload() : OkStatus(); }

Status ApiContext::ApplyTriggers(std::vector<store::TriggerRecord> triggers) const {
  return scorer ? scorer->AddTriggers(std::move(triggers)) : OkStatus();
}

std::string PersonId(std::string person) {
  if (person.find('@') != std::string::npos) {
    for (char& c : person) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return person;
}

void AddHealthRoutes(Router& router, const ApiContext&) {
  router.Add("GET", "/api/v1/health",
             [](const Call&) {
               return Json(200, {{"status", "ok"}});
             },
             {.anonymous = true});
}

}  // namespace custos::collector::api
