// Internal to collector/imports: helpers shared by the HR and directory imports (column lookup,
// problem collection, e-mail checks). Not part of any module's contract; include csv.h,
// hr_import.h or directory_import.h instead.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/imports/csv.h"

namespace custos::collector::imports::import_internal {

std::string_view TrimSpaces(std::string_view s);  // spaces and tabs
std::string AsciiLower(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);  // ASCII letters only

// A person id as written in import files: one '@', a non-empty local part without spaces or
// "..", and a dotted domain. Deliberately simpler than RFC 5322 (no quoted local parts).
bool IsPlausibleEmail(std::string_view email);

// Case-insensitive lookup of column names in a CSV header.
class Columns {
 public:
  explicit Columns(const std::vector<std::string>& header) : header_(header) {}
  // Index of the first column named `name` (case-insensitive), if any.
  std::optional<size_t> Find(std::string_view name) const;
  size_t Count(std::string_view name) const;
  // "EmailAddress, Date, Notes", or "(none)" for an empty header.
  std::string Listing() const;

 private:
  const std::vector<std::string>& header_;
};

// Collects problems up to kMaxImportProblems and counts the rest.
class ProblemList {
 public:
  void Add(size_t line, std::string column, std::string message);
  bool empty() const { return problems_.empty(); }
  // The problems, followed by "... and N more problems" when some were dropped.
  std::vector<ImportProblem> Take() &&;

 private:
  std::vector<ImportProblem> problems_;
  size_t dropped_ = 0;
};

// "'03/01/2024'" with control characters shown as '?' and long values cut at 80 bytes, so a
// problem message stays one readable line.
std::string Quoted(std::string_view value);

}  // namespace custos::collector::imports::import_internal
