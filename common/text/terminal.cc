#include "common/text/terminal.h"

#include <cstdint>

#include "common/text/utf8.h"

namespace custos::text {
namespace {

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026

// Combining marks stacked deeper than this are escaped.
constexpr int kMaxCombiningRun = 2;

bool IsCombining(char32_t cp) {
  return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
         (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
         (cp >= 0xFE20 && cp <= 0xFE2F);
}

bool IsWide(char32_t cp) {
  return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
         (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
         (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
         (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
         (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

size_t CodePointWidth(char32_t cp) {
  if (IsCombining(cp)) return 0;
  return IsWide(cp) ? 2 : 1;
}

void AppendHex(std::string& out, std::string_view prefix, uint32_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

}  // namespace

bool IsTerminalControl(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x061C ||
         (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF || (cp >= 0xE0000 && cp <= 0xE007F);
}

std::string EscapeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  int combining_run = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    const char32_t cp = NextCodePoint(text, i);
    if (cp == kInvalidCodePoint) {
      AppendHex(out, "\\x", static_cast<uint8_t>(text[start]), 2);
      combining_run = 0;
      continue;
    }
    combining_run = IsCombining(cp) ? combining_run + 1 : 0;
    switch (cp) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (cp < 0x20 || cp == 0x7F) {
          AppendHex(out, "\\x", cp, 2);
        } else if (IsTerminalControl(cp) || combining_run > kMaxCombiningRun) {
          if (cp > 0xFFFF) {
            AppendHex(out, "\\U", cp, 8);
          } else {
            AppendHex(out, "\\u", cp, 4);
          }
        } else {
          out.append(text.substr(start, i - start));
        }
    }
  }
  return out;
}

size_t DisplayWidth(std::string_view escaped) {
  size_t width = 0;
  size_t i = 0;
  while (i < escaped.size()) {
    const char32_t cp = NextCodePoint(escaped, i);
    width += cp == kInvalidCodePoint ? 1 : CodePointWidth(cp);
  }
  return width;
}

std::string FitToWidth(std::string_view escaped, size_t width) {
  if (width == 0) return "";
  size_t used = 0;
  size_t cut = 0;  // byte length of the longest prefix that leaves a column for the ellipsis
  size_t i = 0;
  while (i < escaped.size()) {
    const char32_t cp = NextCodePoint(escaped, i);
    used += cp == kInvalidCodePoint ? 1 : CodePointWidth(cp);
    if (used > width) return std::string(escaped.substr(0, cut)) + std::string(kEllipsis);
    // A combining mark belongs with the character before it, so never cut right before one.
    if (used <= width - 1) {
      size_t next = i;
      if (next >= escaped.size() || !IsCombining(NextCodePoint(escaped, next))) cut = i;
    }
  }
  return std::string(escaped);
}

}  // namespace custos::text
