#include "collector/imports/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace custos::collector::imports {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

CsvTable ParseOk(std::string_view bytes) {
  Result<CsvTable> t = ParseCsv(bytes);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : CsvTable{};
}

std::string ParseError(std::string_view bytes) {
  Result<CsvTable> t = ParseCsv(bytes);
  EXPECT_FALSE(t.ok());
  if (t.ok()) return "";
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  return t.status().message();
}

TEST(CsvTest, ReadsHeaderAndRowsWithLineNumbers) {
  const CsvTable t = ParseOk("a,b,c\n1,2,3\n4,5,6\n");
  EXPECT_THAT(t.header, ElementsAre("a", "b", "c"));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].line, 2u);
  EXPECT_THAT(t.rows[0].fields, ElementsAre("1", "2", "3"));
  EXPECT_EQ(t.rows[1].line, 3u);
  EXPECT_THAT(t.rows[1].fields, ElementsAre("4", "5", "6"));
}

TEST(CsvTest, LastRecordNeedsNoLineBreak) {
  const CsvTable t = ParseOk("a,b\n1,2");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_THAT(t.rows[0].fields, ElementsAre("1", "2"));
}

TEST(CsvTest, QuotedFieldsKeepCommasQuotesAndNewlines) {
  const CsvTable t = ParseOk("name,note\n\"Doe, Jane\",\"said \"\"hi\"\"\nand left\"\nx,y\n");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_THAT(t.rows[0].fields, ElementsAre("Doe, Jane", "said \"hi\"\nand left"));
  EXPECT_EQ(t.rows[0].line, 2u);
  EXPECT_EQ(t.rows[1].line, 4u);  // the embedded newline is a physical line
}

TEST(CsvTest, EmptyQuotedAndUnquotedFields) {
  const CsvTable t = ParseOk("a,b,c\n,\"\",\n");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_THAT(t.rows[0].fields, ElementsAre("", "", ""));
}

TEST(CsvTest, AcceptsCrlfAndLoneCr) {
  const CsvTable crlf = ParseOk("a,b\r\n1,2\r\n3,\"x\r\ny\"\r\n5,6\r\n");
  ASSERT_EQ(crlf.rows.size(), 3u);
  EXPECT_THAT(crlf.rows[0].fields, ElementsAre("1", "2"));
  EXPECT_THAT(crlf.rows[1].fields, ElementsAre("3", "x\r\ny"));
  EXPECT_EQ(crlf.rows[2].line, 5u);
  const CsvTable cr = ParseOk("a,b\r1,2\r3,4\r");
  ASSERT_EQ(cr.rows.size(), 2u);
  EXPECT_EQ(cr.rows[1].line, 3u);
}

TEST(CsvTest, SkipsUtf8Bom) {
  const CsvTable t = ParseOk(
      "\xEF\xBB\xBF"
      "EmailAddress,Date\na@b.c,2024-01-01\n");
  EXPECT_THAT(t.header, ElementsAre("EmailAddress", "Date"));
}

TEST(CsvTest, TrimsHeaderNamesButNotData) {
  const CsvTable t = ParseOk(" a ,\tb\n x , y \n");
  EXPECT_THAT(t.header, ElementsAre("a", "b"));
  EXPECT_THAT(t.rows[0].fields, ElementsAre(" x ", " y "));
}

TEST(CsvTest, IgnoresBlankLinesIncludingTrailingOnes) {
  const CsvTable t = ParseOk("\na,b\n1,2\n\n3,4\n\n\r\n\n");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].line, 3u);
  EXPECT_EQ(t.rows[1].line, 5u);
}

TEST(CsvTest, KeepsUtf8Text) {
  const CsvTable t = ParseOk("name\n\"Zoë Ångström 日本\"\n");
  EXPECT_EQ(t.rows[0].fields[0], "Zoë Ångström 日本");
}

TEST(CsvTest, SpacesAfterClosingQuoteAreIgnored) {
  const CsvTable t = ParseOk("a,b\n\"x\"  ,y\n");
  EXPECT_THAT(t.rows[0].fields, ElementsAre("x", "y"));
}

TEST(CsvTest, QuoteInsideUnquotedFieldIsLiteral) {
  const CsvTable t = ParseOk("a\n5\" floppy\n");
  EXPECT_EQ(t.rows[0].fields[0], "5\" floppy");
}

TEST(CsvTest, RejectsUtf16WithBom) {
  const std::string le(
      "\xFF\xFE"
      "a\0,\0b\0\n\0",
      10);
  EXPECT_EQ(ParseError(le),
            "wrong encoding: looks like UTF-16; save the file as UTF-8 (CSV UTF-8)");
  const std::string be("\xFE\xFF\0a\0,\0b", 8);
  EXPECT_THAT(ParseError(be), HasSubstr("looks like UTF-16"));
}

TEST(CsvTest, RejectsUtf16WithoutBomAndNulBytes) {
  const std::string le("a\0,\0b\0\n\0", 8);
  EXPECT_THAT(ParseError(le), HasSubstr("looks like UTF-16"));
  EXPECT_THAT(ParseError(std::string("a,b\n1,\0\n", 8)), HasSubstr("wrong encoding"));
}

TEST(CsvTest, RejectsUtf32Bom) {
  const std::string le("\xFF\xFE\0\0a\0\0\0", 8);
  EXPECT_THAT(ParseError(le), HasSubstr("looks like UTF-32"));
}

TEST(CsvTest, RejectsInvalidUtf8NamingTheLine) {
  EXPECT_EQ(ParseError("a,b\n1,2\n3,\xE9t\xE9\n"), "line 3: invalid UTF-8");  // Latin-1 "été"
  EXPECT_EQ(ParseError("a\r\n\xC0\xAF\r\n"), "line 2: invalid UTF-8");        // overlong '/'
}

TEST(CsvTest, RejectsUnterminatedQuoteAtTheLineItOpens) {
  EXPECT_EQ(ParseError("a,b\n1,2\n3,\"open\n4,5\n"),
            "line 3: unterminated quoted field (the quote opens here)");
}

TEST(CsvTest, RejectsTextAfterClosingQuote) {
  EXPECT_EQ(ParseError("a,b\n\"x\"y,2\n"), "line 2: unexpected 'y' after a closing quote");
}

TEST(CsvTest, RejectsRowWithWrongFieldCount) {
  EXPECT_EQ(ParseError("a,b,c\n1,2,3\n1,2,3,4,5\n"), "line 3: 5 fields, header has 3");
  EXPECT_EQ(ParseError("a,b,c\n1\n"), "line 2: 1 field, header has 3");
}

TEST(CsvTest, RejectsEmptyFile) {
  EXPECT_EQ(ParseError(""), "empty file: no header row");
  EXPECT_EQ(ParseError("\xEF\xBB\xBF"), "empty file: no header row");
  EXPECT_EQ(ParseError("\n\r\n\n"), "empty file: no header row");
}

TEST(CsvTest, HeaderOnlyHasNoRows) {
  const CsvTable t = ParseOk("a,b\n");
  EXPECT_TRUE(t.rows.empty());
}

TEST(CsvTest, RejectsOverlongField) {
  const std::string big(kMaxCsvFieldBytes + 1, 'x');
  EXPECT_EQ(ParseError("a,b\n1," + big + "\n"),
            "line 2: field 2 is longer than 65536 bytes (limit)");
  EXPECT_THAT(ParseError("a,b\n1,\"" + big + "\"\n"), HasSubstr("field 2 is longer"));
  const std::string fits(kMaxCsvFieldBytes, 'x');
  EXPECT_TRUE(ParseCsv("a,b\n1," + fits + "\n").ok());
}

TEST(CsvTest, RejectsTooManyColumns) {
  std::string header = "c0";
  for (size_t i = 1; i <= kMaxCsvColumns; ++i) header += ",c" + std::to_string(i);
  EXPECT_EQ(ParseError(header + "\n"), "line 1: more than 1000 columns (limit)");
}

TEST(CsvTest, RejectsTooManyRows) {
  std::string bytes = "a\n";
  bytes.reserve(2 * (kMaxCsvRows + 2));
  for (size_t i = 0; i <= kMaxCsvRows; ++i) bytes += "1\n";
  EXPECT_EQ(ParseError(bytes), "more than 1000000 data rows (limit)");
}

TEST(CsvTest, CountsFieldsOfOverlongRowWithoutStoringThem) {
  const std::string row(200000, ',');
  EXPECT_EQ(ParseError("a,b\n" + row + "\n"), "line 2: 200001 fields, header has 2");
}

TEST(CsvTest, FormatsImportProblems) {
  EXPECT_EQ(FormatImportProblem({4, "ResignationDate", "bad"}), "line 4: ResignationDate: bad");
  EXPECT_EQ(FormatImportProblem({0, "", "empty file: no header row"}), "empty file: no header row");
  EXPECT_EQ(FormatImportProblem({0, "Login", "missing column"}), "Login: missing column");
}

}  // namespace
}  // namespace custos::collector::imports
