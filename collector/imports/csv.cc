#include "collector/imports/csv.h"

#include <string>
#include <utility>

#include "common/text/utf8.h"

namespace custos::collector::imports {
namespace {

Status CsvError(size_t line, std::string_view reason) {
  return InvalidArgumentError("line " + std::to_string(line) + ": " + std::string(reason));
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// UTF-16 and UTF-32 text is full of NUL bytes, which never occur in a UTF-8 CSV; a NUL without a
// BOM is almost always UTF-16 saved by Excel ("Unicode Text") or PowerShell 5 ("Unicode").
Status CheckEncoding(std::string_view bytes) {
  using namespace std::string_view_literals;
  if (StartsWith(bytes, "\xFF\xFE\x00\x00"sv) || StartsWith(bytes, "\x00\x00\xFE\xFF"sv)) {
    return InvalidArgumentError(
        "wrong encoding: looks like UTF-32; save the file as UTF-8 (CSV UTF-8)");
  }
  if (StartsWith(bytes, "\xFF\xFE"sv) || StartsWith(bytes, "\xFE\xFF"sv) ||
      bytes.find('\0') != std::string_view::npos) {
    return InvalidArgumentError(
        "wrong encoding: looks like UTF-16; save the file as UTF-8 (CSV UTF-8)");
  }
  return OkStatus();
}

// True if s[i] ends a physical line: LF, or a CR not followed by LF (the LF of a CRLF ends it).
bool EndsLine(std::string_view s, size_t i) {
  return s[i] == '\n' || (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n'));
}

Status CheckUtf8(std::string_view bytes) {
  size_t line = 1;
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t at = i;
    if (text::NextCodePoint(bytes, i) == text::kInvalidCodePoint) {
      return CsvError(line, "invalid UTF-8");
    }
    if (EndsLine(bytes, at)) ++line;
  }
  return OkStatus();
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Describe(char c) {
  if (c >= 0x21 && c <= 0x7E) return std::string("'") + c + "'";
  return "a character";
}

Status FieldTooLong(size_t line, size_t field_number) {
  return CsvError(line, "field " + std::to_string(field_number) + " is longer than " +
                            std::to_string(kMaxCsvFieldBytes) + " bytes (limit)");
}

}  // namespace

Result<CsvTable> ParseCsv(std::string_view bytes) {
  CUSTOS_RETURN_IF_ERROR(CheckEncoding(bytes));
  if (StartsWith(bytes, "\xEF\xBB\xBF")) bytes.remove_prefix(3);
  CUSTOS_RETURN_IF_ERROR(CheckUtf8(bytes));

  const std::string_view s = bytes;
  const size_t n = s.size();
  CsvTable table;
  bool have_header = false;
  size_t pos = 0;
  size_t line = 1;
  while (pos < n) {
    const size_t record_line = line;
    // Fields beyond the header's count are counted, not stored, so a hostile row cannot make
    // millions of empty strings.
    const size_t max_stored = have_header ? table.header.size() : kMaxCsvColumns;
    std::vector<std::string> fields;
    size_t field_count = 0;
    bool any_quoted = false;
    while (true) {
      std::string field;
      if (pos < n && s[pos] == '"') {
        any_quoted = true;
        const size_t open_line = line;
        ++pos;
        while (true) {
          if (pos >= n)
            return CsvError(open_line, "unterminated quoted field (the quote opens here)");
          const char c = s[pos];
          if (c == '"') {
            if (pos + 1 < n && s[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            break;
          }
          if (EndsLine(s, pos)) ++line;
          field += c;
          ++pos;
          if (field.size() > kMaxCsvFieldBytes) return FieldTooLong(record_line, field_count + 1);
        }
        while (pos < n && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
        if (pos < n && s[pos] != ',' && s[pos] != '\n' && s[pos] != '\r') {
          return CsvError(line, "unexpected " + Describe(s[pos]) + " after a closing quote");
        }
      } else {
        const size_t start = pos;
        while (pos < n && s[pos] != ',' && s[pos] != '\n' && s[pos] != '\r') ++pos;
        if (pos - start > kMaxCsvFieldBytes) return FieldTooLong(record_line, field_count + 1);
        field.assign(s.substr(start, pos - start));
      }
      ++field_count;
      if (field_count <= max_stored) {
        fields.push_back(std::move(field));
      } else if (!have_header) {
        return CsvError(record_line,
                        "more than " + std::to_string(kMaxCsvColumns) + " columns (limit)");
      }
      if (pos < n && s[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < n) {  // a line break ends the record
        if (s[pos] == '\r' && pos + 1 < n && s[pos + 1] == '\n') ++pos;
        ++pos;
        ++line;
      }
      break;
    }
    if (field_count == 1 && !any_quoted && fields[0].empty()) continue;  // blank line
    if (!have_header) {
      for (auto& name : fields) name = std::string(TrimSpaces(name));
      table.header = std::move(fields);
      have_header = true;
      continue;
    }
    if (field_count != table.header.size()) {
      return CsvError(record_line, std::to_string(field_count) +
                                       (field_count == 1 ? " field" : " fields") + ", header has " +
                                       std::to_string(table.header.size()));
    }
    if (table.rows.size() == kMaxCsvRows) {
      return InvalidArgumentError("more than " + std::to_string(kMaxCsvRows) +
                                  " data rows (limit)");
    }
    table.rows.push_back(CsvRow{record_line, std::move(fields)});
  }
  if (!have_header) return InvalidArgumentError("empty file: no header row");
  return table;
}

std::string FormatImportProblem(const ImportProblem& problem) {
  std::string out;
  if (problem.line > 0) out = "line " + std::to_string(problem.line) + ": ";
  if (!problem.column.empty()) out += problem.column + ": ";
  out += problem.message;
  return out;
}

}  // namespace custos::collector::imports
