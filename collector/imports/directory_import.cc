#include "collector/imports/directory_import.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
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

std::vector<std::string> SplitGroups(std::string_view text) {
  std::vector<std::string> groups;
  while (true) {
    const size_t semi = text.find(';');
    const std::string_view name = TrimSpaces(text.substr(0, semi));
    if (!name.empty() && std::find(groups.begin(), groups.end(), name) == groups.end()) {
      groups.emplace_back(name);
    }
    if (semi == std::string_view::npos) break;
    text.remove_prefix(semi + 1);
  }
  return groups;
}

}  // namespace

DirectoryImportResult ParseDirectoryCsv(std::string_view bytes) {
  DirectoryImportResult result;
  Result<CsvTable> parsed = ParseCsv(bytes);
  if (!parsed.ok()) {
    result.problems.push_back(ImportProblem{0, "", parsed.status().message()});
    return result;
  }
  const CsvTable& table = *parsed;
  const Columns columns(table.header);
  ProblemList problems;

  static constexpr std::array<std::string_view, 7> kKnown = {
      "Login", "Host", "EmailAddress", "DisplayName", "Department", "Manager", "Groups"};
  for (std::string_view name : kKnown) {
    if (columns.Count(name) > 1) {
      problems.Add(
          0, std::string(name),
          "column appears " + std::to_string(columns.Count(name)) + " times; keep only one");
    }
  }
  const std::optional<size_t> login_col = columns.Find("Login");
  const std::optional<size_t> host_col = columns.Find("Host");
  const std::optional<size_t> email_col = columns.Find("EmailAddress");
  const std::optional<size_t> display_col = columns.Find("DisplayName");
  const std::optional<size_t> department_col = columns.Find("Department");
  const std::optional<size_t> manager_col = columns.Find("Manager");
  const std::optional<size_t> groups_col = columns.Find("Groups");
  if (!login_col) {
    problems.Add(0, "Login", "missing column; columns found: " + columns.Listing());
  }
  if (!email_col) {
    problems.Add(0, "EmailAddress", "missing column; columns found: " + columns.Listing());
  }
  if (!login_col || !email_col) {
    result.problems = std::move(problems).Take();
    return result;
  }

  auto value = [](const CsvRow& row, std::optional<size_t> index) {
    return index ? std::string(TrimSpaces(row.fields[*index])) : std::string();
  };
  std::map<std::pair<std::string, std::string>, size_t> first_line_of;  // (login, host) -> line
  for (const CsvRow& row : table.rows) {
    bool ok = true;
    auto problem = [&](size_t index, std::string message) {
      ok = false;
      problems.Add(row.line, table.header[index], std::move(message));
    };
    DirectoryEntry entry;
    entry.line = row.line;
    entry.login = value(row, login_col);
    if (entry.login.empty()) problem(*login_col, "empty; every row needs the login name");
    entry.host = AsciiLower(value(row, host_col));
    if (entry.host == "*") entry.host.clear();

    const std::string email = value(row, email_col);
    if (email.empty()) {
      problem(*email_col, "empty; every row needs the person's e-mail address");
    } else if (!IsPlausibleEmail(email)) {
      problem(*email_col, Quoted(email) + " is not an e-mail address");
    } else {
      entry.email = AsciiLower(email);
    }
    entry.display_name = value(row, display_col);
    entry.department = value(row, department_col);
    const std::string manager = value(row, manager_col);
    if (!manager.empty() && !IsPlausibleEmail(manager)) {
      problem(*manager_col, Quoted(manager) + " is not an e-mail address");
    } else {
      entry.manager = AsciiLower(manager);
    }
    if (groups_col) entry.groups = SplitGroups(row.fields[*groups_col]);

    if (!entry.login.empty()) {
      auto [it, inserted] =
          first_line_of.emplace(std::make_pair(entry.login, entry.host), row.line);
      if (!inserted) {
        problem(*login_col, "login " + Quoted(entry.login) +
                                (entry.host.empty() ? std::string(" on any host")
                                                    : " on host " + Quoted(entry.host)) +
                                " is already mapped on line " + std::to_string(it->second));
      }
    }
    if (ok) result.entries.push_back(std::move(entry));
  }

  result.problems = std::move(problems).Take();
  if (!result.problems.empty()) result.entries.clear();
  return result;
}

}  // namespace custos::collector::imports
