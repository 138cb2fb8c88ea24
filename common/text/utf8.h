// UTF-8 decoding shared by everything that must show or escape untrusted text safely (logs, the
// CLI, paths from the kernel). Strict: overlong forms, surrogates, code points above U+10FFFF
// and truncated sequences are invalid.
#pragma once

#include <cstddef>
#include <string_view>

namespace custos::text {

inline constexpr char32_t kInvalidCodePoint = 0xFFFFFFFF;

// Decodes one UTF-8 sequence at text[i] (i < text.size()) and advances i past it. Returns
// kInvalidCodePoint, consuming exactly one byte, for anything malformed.
inline char32_t NextCodePoint(std::string_view text, size_t& i) {
  const auto b0 = static_cast<unsigned char>(text[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return kInvalidCodePoint;
  }
  if (i + len > text.size()) {
    ++i;
    return kInvalidCodePoint;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(text[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return kInvalidCodePoint;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kInvalidCodePoint;
  }
  i += len;
  return cp;
}

}  // namespace custos::text
