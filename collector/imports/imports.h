// collector/imports/imports.h: what an import becomes in the collector (front door of
// collector/imports/; file formats in docs/imports.md).
//
// The parsers (csv.h, hr_import.h, directory_import.h) check a file and report every problem;
// the functions here turn a clean result into the records risk scoring keeps. Pure functions:
// thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <vector>

#include "collector/imports/directory_import.h"
#include "collector/imports/hr_import.h"
#include "collector/store/risk_store.h"

namespace custos::collector::imports {

struct DirectoryRecords {
  std::vector<store::PersonRecord> people;  // by id; one per e-mail address
  std::vector<store::LoginRecord> logins;   // one per file line
};

// People merge their lines: the last non-empty display name, department and manager win, groups
// are the union in first-seen order. A host of "*" means any host ("").
DirectoryRecords ToDirectoryRecords(const DirectoryImportResult& result);

// One trigger per HR row, dated by its effective date, with a readable detail ("HR resignation
// effective ..., last working day ...") and a dedup key (person, scenario, date) so re-importing
// the same file adds nothing. `now_ns` is the import time.
std::vector<store::TriggerRecord> HrTriggers(const HrImportResult& result, int64_t now_ns);

}  // namespace custos::collector::imports
