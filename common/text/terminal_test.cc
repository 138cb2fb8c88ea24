#include "common/text/terminal.h"

#include <gtest/gtest.h>

#include <string>

namespace custos::text {
namespace {

TEST(TerminalTest, ControlCharactersBecomeVisibleEscapes) {
  EXPECT_EQ(EscapeForTerminal("a\x1b[2Kb\rc\nd\te\x7f"), "a\\x1b[2Kb\\rc\\nd\\te\\x7f");
  // C1 controls, U+009B (CSI) first: some terminals act on it as ESC [.
  EXPECT_EQ(EscapeForTerminal("\xC2\x9B"
                              "31m\xC2\x80\xC2\x9F"),
            "\\u009b31m\\u0080\\u009f");
  // Bidi embeddings and overrides (U+202A..U+202E), isolates (U+2066..U+2069), marks.
  EXPECT_EQ(EscapeForTerminal("\xE2\x80\xAA\xE2\x80\xAE"
                              "exe.txt\xE2\x81\xA6\xE2\x81\xA9\xE2\x80\x8F"),
            "\\u202a\\u202eexe.txt\\u2066\\u2069\\u200f");
  // Line and paragraph separators, zero-width space, BOM.
  EXPECT_EQ(EscapeForTerminal("\xE2\x80\xA8\xE2\x80\xA9\xE2\x80\x8B\xEF\xBB\xBF"),
            "\\u2028\\u2029\\u200b\\ufeff");
}

TEST(TerminalTest, ClassifiesEveryRangeItEscapes) {
  for (char32_t cp : {0x00u, 0x1Bu, 0x1Fu, 0x7Fu, 0x80u, 0x9Bu, 0x9Fu, 0x061Cu, 0x200Bu, 0x200Fu,
                      0x2028u, 0x202Au, 0x202Eu, 0x2060u, 0x2066u, 0x2069u, 0xFEFFu, 0xE0001u}) {
    EXPECT_TRUE(IsTerminalControl(cp)) << std::hex << static_cast<uint32_t>(cp);
  }
  for (char32_t cp : {0x20u, 0x41u, 0x7Eu, 0xA0u, 0xE9u, 0x2010u, 0x2030u, 0x4E2Du, 0x1F600u}) {
    EXPECT_FALSE(IsTerminalControl(cp)) << std::hex << static_cast<uint32_t>(cp);
  }
}

TEST(TerminalTest, EscapeKeepsValidUtf8AndHexesInvalidBytes) {
  EXPECT_EQ(EscapeForTerminal("/home/\xC3\xA9l\xC3\xA8ve/\xE6\x96\x87"),
            "/home/\xC3\xA9l\xC3\xA8ve/\xE6\x96\x87");
  EXPECT_EQ(EscapeForTerminal("a\xff\xfe"
                              "b\xC3"),
            "a\\xff\\xfeb\\xc3");
  EXPECT_EQ(EscapeForTerminal("\xF4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // beyond U+10FFFF
  // A Unicode tag character (invisible) and a deep stack of combining marks.
  EXPECT_EQ(EscapeForTerminal("x\xF3\xA0\x80\x81"), "x\\U000e0001");
  EXPECT_EQ(EscapeForTerminal("e\xCC\x81\xCC\x81\xCC\x81"), "e\xCC\x81\xCC\x81\\u0301");
}

TEST(TerminalTest, WidthCountsWideAndCombiningCharacters) {
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("\xE6\x96\x87\xE4\xBB\xB6"), 4u);  // 文件
  EXPECT_EQ(DisplayWidth("e\xCC\x81"), 1u);
  EXPECT_EQ(FitToWidth("abcdef", 6), "abcdef");
  EXPECT_EQ(FitToWidth("abcdefg", 6), "abcde\u2026");
  EXPECT_EQ(FitToWidth("\xE6\x96\x87\xE4\xBB\xB6\xE6\x96\x87", 4), "\xE6\x96\x87\u2026");
  EXPECT_EQ(FitToWidth("abe\xCC\x81x", 4), "abe\xCC\x81x");
  EXPECT_EQ(FitToWidth("abe\xCC\x81xy", 4), "abe\xCC\x81\u2026");
}

}  // namespace
}  // namespace custos::text
