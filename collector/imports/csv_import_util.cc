#include "collector/imports/csv_import_util.h"

#include <utility>

namespace custos::collector::imports::import_internal {
namespace {

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsSpecialInEmail(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u == 0x7F) return true;
  return std::string_view("\"(),:;<>[\\]@").find(c) != std::string_view::npos;
}

}  // namespace

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

bool IsPlausibleEmail(std::string_view email) {
  if (email.size() > 254) return false;
  const size_t at = email.find('@');
  if (at == std::string_view::npos) return false;
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > 64 || domain.empty()) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return false;
  }
  for (char c : local) {
    if (IsSpecialInEmail(c)) return false;
  }
  // Labels of letters, digits, '-' or non-ASCII (internationalised names); at least two.
  size_t labels = 0;
  size_t label_len = 0;
  for (size_t i = 0; i <= domain.size(); ++i) {
    if (i == domain.size() || domain[i] == '.') {
      if (label_len == 0) return false;
      ++labels;
      label_len = 0;
      continue;
    }
    const char c = domain[i];
    const auto u = static_cast<unsigned char>(c);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || u >= 0x80;
    if (!ok) return false;
    ++label_len;
  }
  return labels >= 2;
}

std::optional<size_t> Columns::Find(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (EqualsIgnoreCase(header_[i], name)) return i;
  }
  return std::nullopt;
}

size_t Columns::Count(std::string_view name) const {
  size_t count = 0;
  for (const auto& h : header_) count += EqualsIgnoreCase(h, name) ? 1 : 0;
  return count;
}

std::string Columns::Listing() const {
  if (header_.empty()) return "(none)";
  std::string out;
  for (const auto& h : header_) {
    if (!out.empty()) out += ", ";
    out += h.empty() ? "(empty)" : h;
  }
  return out;
}

void ProblemList::Add(size_t line, std::string column, std::string message) {
  if (problems_.size() >= kMaxImportProblems) {
    ++dropped_;
    return;
  }
  problems_.push_back(ImportProblem{line, std::move(column), std::move(message)});
}

std::vector<ImportProblem> ProblemList::Take() && {
  if (dropped_ > 0) {
    problems_.push_back(
        ImportProblem{0, "", "... and " + std::to_string(dropped_) + " more problems"});
  }
  return std::move(problems_);
}

std::string Quoted(std::string_view value) {
  constexpr size_t kMaxShown = 80;
  size_t shown = value.size();
  if (shown > kMaxShown) {
    shown = kMaxShown;  // back off to a code point boundary so the message stays UTF-8
    while (shown > 0 && (static_cast<unsigned char>(value[shown]) & 0xC0) == 0x80) --shown;
  }
  std::string out = "'";
  for (size_t i = 0; i < shown; ++i) {
    const auto u = static_cast<unsigned char>(value[i]);
    out += (u < 0x20 || u == 0x7F) ? '?' : value[i];
  }
  if (shown < value.size()) out += "...";
  out += "'";
  return out;
}

}  // namespace custos::collector::imports::import_internal
