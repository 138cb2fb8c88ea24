// HR records for risk scoring, imported from the CSV files Microsoft Purview's HR connector
// documents (resignations, job level changes, performance reviews, performance improvement
// plans, or several of them in one file with an HRScenario column). Format: docs/imports.md.
//
// Contract:
//  - Pure: no I/O, no clock, no locale; safe to call from any thread. `known_person` is called
//    on the calling thread, once per row with a well-formed e-mail, and is not kept.
//  - All or nothing: ParseHrCsv reports every problem it finds (up to kMaxImportProblems, then
//    "... and N more problems") and returns records only when there is none; whenever
//    `problems` is non-empty, `records` is empty.
//  - Columns are matched case-insensitively; names are those of Purview's documentation:
//      EmailAddress                              every scenario
//      ResignationDate, LastWorkingDate          resignation
//      EffectiveDate                             the three other scenarios
//      OldLevel, NewLevel                        job level change (optional)
//      Remarks, Rating                           reviews and plans (optional; Purview's samples
//        also use PerformanceRemarks / PerformanceRating and ImprovementRemarks /
//        ImprovementRating, accepted as fallbacks)
//      HRScenario or HRScenarios                 the scenario of each row (optional)
//    Other columns are ignored. A column that is needed and appears twice is a problem.
//  - The scenario of a row comes from its HRScenario(s) value when the column exists, else from
//    `scenario_hint`, else from the columns: ResignationDate alone means resignation, OldLevel or
//    NewLevel alone means job level change; anything else is the problem "cannot tell the
//    scenario: add an HRScenarios column or pass --scenario".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/imports/csv.h"

namespace custos::collector::imports {

enum class HrScenario {
  kResignation,
  kJobLevelChange,
  kPerformanceReview,
  kPerformanceImprovementPlan,
};

// "resignation", "job_level_change", "performance_review", "performance_improvement_plan".
std::string_view HrScenarioName(HrScenario scenario);

// Accepts the ids above and Purview's display names ("Resignation", "Job level change",
// "Performance review", "Performance improvement plan"), ignoring ASCII case, surrounding spaces
// and the difference between ' ', '-' and '_'.
std::optional<HrScenario> ParseHrScenario(std::string_view text);

// An HR date as nanoseconds since the Unix epoch (UTC). Accepted (ISO 8601 / RFC 3339 subset):
//   2024-03-01                         midnight UTC
//   2024-03-01T15:44:00                UTC (Purview's own sample has such values)
//   2024-03-01T15:44:00Z               also with a fraction of 1-9 digits: 15:44:00.4675041Z
//   2024-03-01T15:44:00+02:00          any offset -23:59..+23:59, with or without a fraction
// Years 1900-2200. Anything else (03/01/2024, 2024-13-01, 2024-02-30, 24:00:00, a space instead
// of 'T') is nullopt.
std::optional<int64_t> ParseHrDate(std::string_view text);

struct HrRecord {
  std::string email;  // lower-cased (ASCII)
  HrScenario scenario = HrScenario::kResignation;
  int64_t effective_time_ns = 0;  // resignation: ResignationDate; others: EffectiveDate
  std::optional<int64_t> last_working_time_ns;  // resignation only (LastWorkingDate)
  std::string old_level, new_level;             // job level change only; may be empty
  std::string remarks, rating;                  // reviews and plans only; may be empty
  size_t line = 0;                              // 1-based line of the record in the file
};

struct HrImportResult {
  std::vector<HrRecord> records;  // in file order; empty whenever problems is non-empty
  std::vector<ImportProblem> problems;
};

// Parses and validates an HR CSV. Problems reported (each with line and column when they apply):
//  - the CSV itself is unreadable (one whole-file problem with ParseCsv's message);
//  - a needed column is missing (named, with the list of columns found) or appears twice;
//  - the scenario cannot be told, or an HRScenario(s) value is empty or unknown;
//  - EmailAddress empty or malformed, or `known_person(email)` false ("unknown person: x@y —
//    import the directory first or fix the address");
//  - a date empty or not in an accepted form (the value is quoted);
//  - LastWorkingDate on an earlier (UTC) day than ResignationDate;
//  - a duplicate row: same e-mail, scenario and effective date as an earlier line (both named).
// `known_person` receives the lower-cased e-mail; an empty std::function accepts everyone.
HrImportResult ParseHrCsv(std::string_view bytes, std::optional<HrScenario> scenario_hint,
                          const std::function<bool(std::string_view email)>& known_person);

}  // namespace custos::collector::imports
