#include "collector/imports/imports.h"

#include <algorithm>
#include <map>

#include "common/time/clock.h"

namespace custos::collector::imports {

DirectoryRecords ToDirectoryRecords(const DirectoryImportResult& result) {
  std::map<std::string, store::PersonRecord> people;
  DirectoryRecords out;
  for (const auto& e : result.entries) {
    auto& p = people[e.email];
    p.id = e.email;
    if (!e.display_name.empty()) p.display_name = e.display_name;
    if (!e.department.empty()) p.department = e.department;
    if (!e.manager.empty()) p.manager = e.manager;
    for (const auto& g : e.groups) {
      if (std::find(p.groups.begin(), p.groups.end(), g) == p.groups.end()) p.groups.push_back(g);
    }
    out.logins.push_back({e.login, e.host == "*" ? "" : e.host, e.email});
  }
  for (auto& [id, p] : people) out.people.push_back(std::move(p));
  return out;
}

std::vector<store::TriggerRecord> HrTriggers(const HrImportResult& result, int64_t now_ns) {
  std::vector<store::TriggerRecord> triggers;
  for (const auto& rec : result.records) {
    store::TriggerRecord t;
    t.person = rec.email;
    t.kind = std::string(HrScenarioName(rec.scenario));
    t.time_ns = rec.effective_time_ns;
    std::string detail = "HR " + t.kind + " effective " + FormatUnixNs(rec.effective_time_ns);
    if (rec.last_working_time_ns) {
      detail += ", last working day " + FormatUnixNs(*rec.last_working_time_ns);
    }
    if (!rec.old_level.empty() || !rec.new_level.empty()) {
      detail += ", level " + rec.old_level + " -> " + rec.new_level;
    }
    if (!rec.rating.empty()) detail += ", rating " + rec.rating;
    t.detail = detail;
    t.source = "hr-import";
    t.created_at_ns = now_ns;
    t.dedup_key = "hr|" + rec.email + "|" + t.kind + "|" + std::to_string(rec.effective_time_ns);
    triggers.push_back(std::move(t));
  }
  return triggers;
}

}  // namespace custos::collector::imports
