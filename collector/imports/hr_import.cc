#include "collector/imports/hr_import.h"

#include "common/time/clock.h"

#include <array>
#include <map>
#include <utility>

#include "collector/imports/csv_import_util.h"

namespace custos::collector::imports {
namespace {

using import_internal::AsciiLower;
using import_internal::Columns;
using import_internal::IsPlausibleEmail;
using import_internal::ProblemList;
using import_internal::Quoted;
using import_internal::TrimSpaces;

constexpr std::string_view kDateForms =
    "expected an ISO 8601 date such as 2024-03-01, 2024-03-01T15:44:00Z or "
    "2024-03-01T15:44:00+02:00";
constexpr std::string_view kScenarioValues =
    "expected Resignation, Job level change, Performance review or Performance improvement plan";

struct ScenarioNames {
  HrScenario scenario;
  std::string_view id;
  std::string_view display;
};
constexpr std::array<ScenarioNames, 4> kScenarios = {{
    {HrScenario::kResignation, "resignation", "Resignation"},
    {HrScenario::kJobLevelChange, "job_level_change", "Job level change"},
    {HrScenario::kPerformanceReview, "performance_review", "Performance review"},
    {HrScenario::kPerformanceImprovementPlan, "performance_improvement_plan",
     "Performance improvement plan"},
}};

std::string_view DisplayName(HrScenario scenario) {
  for (const auto& s : kScenarios) {
    if (s.scenario == scenario) return s.display;
  }
  return "?";
}

// Proleptic Gregorian days since 1970-01-01 (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t DaysInMonth(int64_t y, int64_t m) {
  static constexpr std::array<int64_t, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return (m == 2 && leap) ? 29 : kDays[static_cast<size_t>(m - 1)];
}

// Reads exactly `count` ASCII digits at s[pos].
bool ReadDigits(std::string_view s, size_t pos, size_t count, int64_t* out) {
  if (pos + count > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int64_t UtcDay(int64_t time_ns) {
  return time_ns >= 0 ? time_ns / kNanosPerDay : (time_ns - kNanosPerDay + 1) / kNanosPerDay;
}

bool IsAt(std::string_view s, size_t pos, char c) { return pos < s.size() && s[pos] == c; }

// Where a row's fields for one scenario live; nullopt = the file has no such column.
struct HrColumns {
  std::optional<size_t> email, scenario, resignation, last_working, effective;
  std::optional<size_t> old_level, new_level;
  std::vector<size_t> review_remarks, review_rating, plan_remarks, plan_rating;
};

// First non-empty trimmed value among `indices`.
std::string FirstValue(const CsvRow& row, const std::vector<size_t>& indices) {
  for (size_t i : indices) {
    const std::string_view v = TrimSpaces(row.fields[i]);
    if (!v.empty()) return std::string(v);
  }
  return "";
}

std::string OptionalValue(const CsvRow& row, std::optional<size_t> index) {
  return index ? std::string(TrimSpaces(row.fields[*index])) : std::string();
}

}  // namespace

std::string_view HrScenarioName(HrScenario scenario) {
  for (const auto& s : kScenarios) {
    if (s.scenario == scenario) return s.id;
  }
  return "unknown";
}

std::optional<HrScenario> ParseHrScenario(std::string_view text) {
  std::string key = AsciiLower(TrimSpaces(text));
  for (char& c : key) {
    if (c == ' ' || c == '-') c = '_';
  }
  for (const auto& s : kScenarios) {
    if (key == s.id) return s.scenario;
  }
  return std::nullopt;
}

std::optional<int64_t> ParseHrDate(std::string_view text) {
  const std::string_view t = TrimSpaces(text);
  int64_t year = 0, month = 0, day = 0;
  if (!ReadDigits(t, 0, 4, &year) || !IsAt(t, 4, '-') || !ReadDigits(t, 5, 2, &month) ||
      !IsAt(t, 7, '-') || !ReadDigits(t, 8, 2, &day)) {
    return std::nullopt;
  }
  if (year < 1900 || year > 2200 || month < 1 || month > 12 || day < 1 ||
      day > DaysInMonth(year, month)) {
    return std::nullopt;
  }
  constexpr int64_t kNsPerSecond = 1'000'000'000;
  const int64_t midnight_s = DaysFromCivil(year, month, day) * 86400;
  if (t.size() == 10) return midnight_s * kNsPerSecond;

  int64_t hour = 0, minute = 0, second = 0;
  if (!(IsAt(t, 10, 'T') || IsAt(t, 10, 't')) || !ReadDigits(t, 11, 2, &hour) ||
      !IsAt(t, 13, ':') || !ReadDigits(t, 14, 2, &minute) || !IsAt(t, 16, ':') ||
      !ReadDigits(t, 17, 2, &second)) {
    return std::nullopt;
  }
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
  size_t pos = 19;
  int64_t fraction_ns = 0;
  if (IsAt(t, pos, '.')) {
    ++pos;
    size_t digits = 0;
    int64_t scale = kNsPerSecond;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (++digits > 9) return std::nullopt;
      scale /= 10;
      fraction_ns += (t[pos] - '0') * scale;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
  }
  // No zone reads as UTC: Purview's documented sample has such values.
  const bool utc = pos == t.size() || ((t[pos] == 'Z' || t[pos] == 'z') && pos + 1 == t.size());
  int64_t offset_s = 0;
  if (!utc) {
    int64_t off_h = 0, off_m = 0;
    if ((t[pos] != '+' && t[pos] != '-') || pos + 6 != t.size() ||
        !ReadDigits(t, pos + 1, 2, &off_h) || !IsAt(t, pos + 3, ':') ||
        !ReadDigits(t, pos + 4, 2, &off_m) || off_h > 23 || off_m > 59) {
      return std::nullopt;
    }
    offset_s = (off_h * 3600 + off_m * 60) * (t[pos] == '+' ? 1 : -1);
  }
  const int64_t seconds = midnight_s + hour * 3600 + minute * 60 + second - offset_s;
  return seconds * kNsPerSecond + fraction_ns;
}

HrImportResult ParseHrCsv(std::string_view bytes, std::optional<HrScenario> scenario_hint,
                          const std::function<bool(std::string_view email)>& known_person) {
  HrImportResult result;
  Result<CsvTable> parsed = ParseCsv(bytes);
  if (!parsed.ok()) {
    result.problems.push_back(ImportProblem{0, "", parsed.status().message()});
    return result;
  }
  const CsvTable& table = *parsed;
  const Columns columns(table.header);
  ProblemList problems;

  // Every name this import understands; a needed column written twice would be ambiguous.
  static constexpr std::array<std::string_view, 14> kKnown = {
      "EmailAddress",
      "HRScenario",
      "HRScenarios",
      "ResignationDate",
      "LastWorkingDate",
      "EffectiveDate",
      "OldLevel",
      "NewLevel",
      "Remarks",
      "Rating",
      "PerformanceRemarks",
      "PerformanceRating",
      "ImprovementRemarks",
      "ImprovementRating",
  };
  for (std::string_view name : kKnown) {
    if (columns.Count(name) > 1) {
      problems.Add(
          0, std::string(name),
          "column appears " + std::to_string(columns.Count(name)) + " times; keep only one");
    }
  }

  HrColumns col;
  col.email = columns.Find("EmailAddress");
  col.scenario = columns.Find("HRScenario");
  if (!col.scenario) col.scenario = columns.Find("HRScenarios");
  col.resignation = columns.Find("ResignationDate");
  col.last_working = columns.Find("LastWorkingDate");
  col.effective = columns.Find("EffectiveDate");
  col.old_level = columns.Find("OldLevel");
  col.new_level = columns.Find("NewLevel");
  auto add_if = [&](std::vector<size_t>* out, std::string_view name) {
    if (auto i = columns.Find(name)) out->push_back(*i);
  };
  add_if(&col.review_remarks, "Remarks");
  add_if(&col.review_remarks, "PerformanceRemarks");
  add_if(&col.review_rating, "Rating");
  add_if(&col.review_rating, "PerformanceRating");
  add_if(&col.plan_remarks, "Remarks");
  add_if(&col.plan_remarks, "ImprovementRemarks");
  add_if(&col.plan_rating, "Rating");
  add_if(&col.plan_rating, "ImprovementRating");
  add_if(&col.plan_rating, "PerformanceRating");

  // The scenario of every row.
  std::vector<std::optional<HrScenario>> row_scenario(table.rows.size());
  std::optional<HrScenario> file_scenario;  // when there is no HRScenario(s) column
  if (col.scenario) {
    const std::string& name = table.header[*col.scenario];
    for (size_t r = 0; r < table.rows.size(); ++r) {
      const std::string_view value = TrimSpaces(table.rows[r].fields[*col.scenario]);
      if (value.empty()) {
        problems.Add(table.rows[r].line, name, "empty; " + std::string(kScenarioValues));
      } else if (auto s = ParseHrScenario(value)) {
        row_scenario[r] = *s;
      } else {
        problems.Add(table.rows[r].line, name,
                     "unknown scenario " + Quoted(value) + "; " + std::string(kScenarioValues));
      }
    }
  } else {
    file_scenario = scenario_hint;
    if (!file_scenario) {
      const bool resignation = col.resignation.has_value();
      const bool level = col.old_level.has_value() || col.new_level.has_value();
      if (resignation && !level) file_scenario = HrScenario::kResignation;
      if (level && !resignation) file_scenario = HrScenario::kJobLevelChange;
    }
    if (!file_scenario) {
      problems.Add(0, "", "cannot tell the scenario: add an HRScenarios column or pass --scenario");
      result.problems = std::move(problems).Take();
      return result;
    }
    for (auto& s : row_scenario) s = file_scenario;
  }

  // Columns the scenarios in use need.
  std::array<bool, kScenarios.size()> used = {};
  if (file_scenario) used[static_cast<size_t>(*file_scenario)] = true;
  for (const auto& s : row_scenario) {
    if (s) used[static_cast<size_t>(*s)] = true;
  }
  bool missing = false;
  auto require = [&](const std::optional<size_t>& index, std::string_view name,
                     std::string_view needed_for) {
    if (index) return;
    missing = true;
    problems.Add(0, std::string(name),
                 "missing column (needed for " + std::string(needed_for) +
                     "); columns found: " + columns.Listing());
  };
  require(col.email, "EmailAddress", "every row");
  if (used[static_cast<size_t>(HrScenario::kResignation)]) {
    require(col.resignation, "ResignationDate", "Resignation rows");
    require(col.last_working, "LastWorkingDate", "Resignation rows");
  }
  for (HrScenario s : {HrScenario::kJobLevelChange, HrScenario::kPerformanceReview,
                       HrScenario::kPerformanceImprovementPlan}) {
    if (used[static_cast<size_t>(s)] && !col.effective) {
      require(col.effective, "EffectiveDate", std::string(DisplayName(s)) + " rows");
      break;
    }
  }
  if (missing) {
    result.problems = std::move(problems).Take();
    return result;
  }

  std::map<std::string, size_t> first_line_of;  // duplicate key -> line
  for (size_t r = 0; r < table.rows.size(); ++r) {
    if (!row_scenario[r]) continue;  // already reported
    const CsvRow& row = table.rows[r];
    bool ok = true;
    auto problem = [&](size_t index, std::string message) {
      ok = false;
      problems.Add(row.line, table.header[index], std::move(message));
    };
    HrRecord rec;
    rec.scenario = *row_scenario[r];
    rec.line = row.line;

    const std::string_view email = TrimSpaces(row.fields[*col.email]);
    bool email_ok = false;
    if (email.empty()) {
      problem(*col.email, "empty; every row needs the person's e-mail address");
    } else if (!IsPlausibleEmail(email)) {
      problem(*col.email, Quoted(email) + " is not an e-mail address");
    } else {
      rec.email = AsciiLower(email);
      email_ok = true;
      if (known_person && !known_person(rec.email)) {
        problem(*col.email, "unknown person: " + rec.email +
                                " \xE2\x80\x94 import the directory first or fix the address");
      }
    }

    auto date = [&](size_t index) -> std::optional<int64_t> {
      const std::string_view value = TrimSpaces(row.fields[index]);
      if (value.empty()) {
        problem(index, "empty; " + std::string(kDateForms));
        return std::nullopt;
      }
      std::optional<int64_t> t = ParseHrDate(value);
      if (!t) problem(index, Quoted(value) + " is not a valid date; " + std::string(kDateForms));
      return t;
    };
    std::optional<int64_t> effective;
    switch (rec.scenario) {
      case HrScenario::kResignation: {
        effective = date(*col.resignation);
        rec.last_working_time_ns = date(*col.last_working);
        // Compared by UTC day: a date-only LastWorkingDate on the day of a timestamped
        // resignation is the same day, not an error.
        if (effective && rec.last_working_time_ns &&
            UtcDay(*rec.last_working_time_ns) < UtcDay(*effective)) {
          problem(*col.last_working, Quoted(TrimSpaces(row.fields[*col.last_working])) +
                                         " is before " + table.header[*col.resignation] + " " +
                                         Quoted(TrimSpaces(row.fields[*col.resignation])));
        }
        break;
      }
      case HrScenario::kJobLevelChange:
        effective = date(*col.effective);
        rec.old_level = OptionalValue(row, col.old_level);
        rec.new_level = OptionalValue(row, col.new_level);
        break;
      case HrScenario::kPerformanceReview:
        effective = date(*col.effective);
        rec.remarks = FirstValue(row, col.review_remarks);
        rec.rating = FirstValue(row, col.review_rating);
        break;
      case HrScenario::kPerformanceImprovementPlan:
        effective = date(*col.effective);
        rec.remarks = FirstValue(row, col.plan_remarks);
        rec.rating = FirstValue(row, col.plan_rating);
        break;
    }
    if (effective) rec.effective_time_ns = *effective;

    if (email_ok && effective) {
      std::string key = rec.email;
      key += '\0';
      key += HrScenarioName(rec.scenario);
      key += '\0';
      key += std::to_string(*effective);
      auto [it, inserted] = first_line_of.emplace(std::move(key), row.line);
      if (!inserted) {
        ok = false;
        problems.Add(
            row.line, "",
            "duplicate row: same e-mail, scenario and date as line " + std::to_string(it->second));
      }
    }
    if (ok) result.records.push_back(std::move(rec));
  }

  result.problems = std::move(problems).Take();
  if (!result.problems.empty()) result.records.clear();
  return result;
}

}  // namespace custos::collector::imports
