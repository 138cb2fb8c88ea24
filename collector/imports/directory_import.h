// The login directory for risk scoring: which person (an e-mail address, the same id the HR
// import uses) is behind an endpoint login name, optionally on one host only. Imported from a
// CSV file; format: docs/imports.md.
//
// Contract:
//  - Pure: no I/O, no locale; safe to call from any thread.
//  - All or nothing: every problem is reported (up to kMaxImportProblems, then "... and N more
//    problems"); whenever `problems` is non-empty, `entries` is empty.
//  - Columns, matched case-insensitively; others are ignored:
//      Login         required; the endpoint login name, kept as written (logins are
//                    case-sensitive on Linux) after trimming spaces
//      Host          optional; lower-cased; empty or "*" (stored as "") means any host
//      EmailAddress  required; the person id, lower-cased
//      DisplayName, Department  optional free text, trimmed
//      Manager       optional; an e-mail, lower-cased
//      Groups        optional; names separated by ';', trimmed, empty and repeated ones dropped
//  - One (Login, Host) pair maps to one person; a person may have several logins. A host-specific
//    entry and an any-host entry for the same login are different pairs; resolving them (the
//    host-specific one should win on its host) is the caller's job.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "collector/imports/csv.h"

namespace custos::collector::imports {

struct DirectoryEntry {
  std::string login;
  std::string host;  // "" = any host
  std::string email;
  std::string display_name;
  std::string department;
  std::string manager;  // an e-mail or ""
  std::vector<std::string> groups;
  size_t line = 0;  // 1-based line of the record in the file
};

struct DirectoryImportResult {
  std::vector<DirectoryEntry> entries;  // in file order; empty whenever problems is non-empty
  std::vector<ImportProblem> problems;
};

// Problems reported: the CSV is unreadable (one whole-file problem), Login or EmailAddress column
// missing (with the list of columns found) or a known column written twice, an empty Login or
// EmailAddress, a malformed EmailAddress or Manager, and the same (Login, Host) on two lines
// (both named).
DirectoryImportResult ParseDirectoryCsv(std::string_view bytes);

}  // namespace custos::collector::imports
