// Fuzz target: bytes of an uploaded import file, through the CSV reader, the HR import and the
// directory import. Checks the all-or-nothing invariant as well as memory safety.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/imports/csv.h"
#include "collector/imports/directory_import.h"
#include "collector/imports/hr_import.h"
#include "common/status/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace imports = custos::collector::imports;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)imports::ParseCsv(bytes);
  const imports::HrImportResult hr =
      imports::ParseHrCsv(bytes, std::nullopt, [](std::string_view) { return true; });
  CUSTOS_CHECK(hr.problems.empty() || hr.records.empty()) << "HR import is all or nothing";
  CUSTOS_CHECK(hr.problems.size() <= imports::kMaxImportProblems + 1) << "problem cap";
  const imports::HrImportResult hinted = imports::ParseHrCsv(
      bytes, imports::HrScenario::kPerformanceReview, [](std::string_view) { return true; });
  CUSTOS_CHECK(hinted.problems.empty() || hinted.records.empty()) << "all or nothing";
  const imports::DirectoryImportResult dir = imports::ParseDirectoryCsv(bytes);
  CUSTOS_CHECK(dir.problems.empty() || dir.entries.empty()) << "directory import is all or nothing";
  return 0;
}
