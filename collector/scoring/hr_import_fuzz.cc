// Fuzz target: bytes of an uploaded import file, through the CSV reader, the HR import and the
// directory import. Checks the all-or-nothing invariant as well as memory safety.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/scoring/csv.h"
#include "collector/scoring/directory_import.h"
#include "collector/scoring/hr_import.h"
#include "common/status/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace scoring = custos::collector::scoring;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)scoring::ParseCsv(bytes);
  const scoring::HrImportResult hr =
      scoring::ParseHrCsv(bytes, std::nullopt, [](std::string_view) { return true; });
  CUSTOS_CHECK(hr.problems.empty() || hr.records.empty()) << "HR import is all or nothing";
  CUSTOS_CHECK(hr.problems.size() <= scoring::kMaxImportProblems + 1) << "problem cap";
  const scoring::HrImportResult hinted = scoring::ParseHrCsv(
      bytes, scoring::HrScenario::kPerformanceReview, [](std::string_view) { return true; });
  CUSTOS_CHECK(hinted.problems.empty() || hinted.records.empty()) << "all or nothing";
  const scoring::DirectoryImportResult dir = scoring::ParseDirectoryCsv(bytes);
  CUSTOS_CHECK(dir.problems.empty() || dir.entries.empty()) << "directory import is all or nothing";
  return 0;
}
