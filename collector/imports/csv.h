// RFC 4180 CSV reader for the scoring imports (HR records, the login directory). Spec of the
// files built on it: docs/imports.md.
//
// Contract:
//  - Pure: no I/O, no locale, no global state; safe to call from any thread.
//  - Input is UTF-8 with or without a BOM (skipped). Records end with CRLF, LF or a lone CR.
//    Fields may be quoted with '"'; inside quotes "" is a literal quote and commas and line
//    breaks are data. Spaces or tabs after a closing quote are ignored; a '"' inside an
//    unquoted field is kept literally (as spreadsheets read it).
//  - The first record is the header; its names are trimmed of spaces and tabs. Data fields are
//    returned exactly as written (unquoted, not trimmed).
//  - Blank lines (no characters at all) are skipped wherever they are, so trailing empty lines
//    never count as records.
//  - Every data record must have as many fields as the header.
//  - Errors are InvalidArgument with a message that names the 1-based physical line:
//      "wrong encoding: looks like UTF-16; save the file as UTF-8 (CSV UTF-8)"  (UTF-16 BOM or
//        any NUL byte; UTF-32 BOMs are reported as UTF-32)
//      "line 7: invalid UTF-8"
//      "line 3: unterminated quoted field (the quote opens here)"
//      "line 3: unexpected 'x' after a closing quote"
//      "line 9: 5 fields, header has 3"
//      "empty file: no header row"
//      "line 2: field 4 is longer than 65536 bytes (limit)", "line 1: more than 1000 columns
//      (limit)", "more than 1000000 data rows (limit)"
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::collector::imports {

inline constexpr size_t kMaxCsvRows = 1'000'000;  // data rows, header excluded
inline constexpr size_t kMaxCsvFieldBytes = 64 * 1024;
inline constexpr size_t kMaxCsvColumns = 1000;

struct CsvRow {
  size_t line = 0;  // 1-based physical line where the record starts
  std::vector<std::string> fields;
};

struct CsvTable {
  std::vector<std::string> header;
  std::vector<CsvRow> rows;
};

Result<CsvTable> ParseCsv(std::string_view bytes);

// One thing wrong with an import file, reported to the person who made it. Shared by the HR and
// directory imports.
struct ImportProblem {
  size_t line = 0;     // 1-based physical line of the record; 0 = the whole file
  std::string column;  // header name as written in the file; empty when not about one column
  std::string message;
};

// Imports report at most this many problems, then one "... and N more problems".
inline constexpr size_t kMaxImportProblems = 1000;

// "line 4: ResignationDate: '03/01/2024' is not ..." (parts that are empty are left out).
std::string FormatImportProblem(const ImportProblem& problem);

}  // namespace custos::collector::imports
