#include "collector/imports/hr_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "common/testing/testing.h"

namespace custos::collector::imports {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr int64_t kNs = 1'000'000'000;
constexpr int64_t k20240301 = 1709251200 * kNs;

bool Everyone(std::string_view) { return true; }

HrImportResult Parse(std::string_view csv, std::optional<HrScenario> hint = std::nullopt) {
  return ParseHrCsv(csv, hint, Everyone);
}

std::vector<std::string> Messages(const HrImportResult& r) {
  std::vector<std::string> out;
  for (const auto& p : r.problems) out.push_back(FormatImportProblem(p));
  return out;
}

::testing::Matcher<ImportProblem> Problem(size_t line, std::string column,
                                          ::testing::Matcher<std::string> message) {
  return AllOf(Field(&ImportProblem::line, line), Field(&ImportProblem::column, column),
               Field(&ImportProblem::message, message));
}

std::string SampleFile(const std::string& name) {
  Result<std::string> bytes =
      testing::ReadFile(testing::SourcePath("tests/scenarios/data/hr/" + name));
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.value_or("");
}

// --- scenario names ----------------------------------------------------------------------------

TEST(HrScenarioTest, NamesRoundTripAndDisplayNamesParse) {
  for (HrScenario s : {HrScenario::kResignation, HrScenario::kJobLevelChange,
                       HrScenario::kPerformanceReview, HrScenario::kPerformanceImprovementPlan}) {
    EXPECT_EQ(ParseHrScenario(HrScenarioName(s)), s);
  }
  EXPECT_EQ(HrScenarioName(HrScenario::kJobLevelChange), "job_level_change");
  EXPECT_EQ(ParseHrScenario("Resignation"), HrScenario::kResignation);
  EXPECT_EQ(ParseHrScenario("Job level change"), HrScenario::kJobLevelChange);
  EXPECT_EQ(ParseHrScenario(" Performance Review "), HrScenario::kPerformanceReview);
  EXPECT_EQ(ParseHrScenario("Performance improvement plan"),
            HrScenario::kPerformanceImprovementPlan);
  EXPECT_EQ(ParseHrScenario("job-level-change"), HrScenario::kJobLevelChange);
  EXPECT_EQ(ParseHrScenario("promotion"), std::nullopt);
  EXPECT_EQ(ParseHrScenario(""), std::nullopt);
}

// --- dates -------------------------------------------------------------------------------------

TEST(HrDateTest, AcceptsIsoDatesAndDateTimes) {
  EXPECT_EQ(ParseHrDate("2024-03-01"), k20240301);
  EXPECT_EQ(ParseHrDate("2024-03-01T15:44:00Z"), 1709307840 * kNs);
  EXPECT_EQ(ParseHrDate("2024-03-01T15:44:00.123Z"), 1709307840 * kNs + 123'000'000);
  EXPECT_EQ(ParseHrDate("2024-03-01T17:44:00+02:00"), 1709307840 * kNs);
  EXPECT_EQ(ParseHrDate("2024-03-01T15:44:00"), 1709307840 * kNs);  // no zone: UTC
  EXPECT_EQ(ParseHrDate("2024-03-01T15:44:00.000000Z"), 1709307840 * kNs);
  EXPECT_EQ(ParseHrDate("2024-04-23T15:18:02.4675041+05:30"), 1713865682467504100);
  EXPECT_EQ(ParseHrDate("2000-02-29T23:59:59-01:30"), 951874199 * kNs);  // leap year
  EXPECT_EQ(ParseHrDate("1970-01-01"), 0);
  EXPECT_EQ(ParseHrDate("1900-01-01"), -2208988800 * kNs);
  EXPECT_EQ(ParseHrDate("2200-12-31T23:59:59Z"), 7289654399 * kNs);
  EXPECT_EQ(ParseHrDate(" 2024-03-01 "), k20240301);
  EXPECT_EQ(ParseHrDate("2024-03-01T15:44:00.123456789Z"), 1709307840 * kNs + 123456789);
}

TEST(HrDateTest, RejectsEverythingElse) {
  for (const char* bad : {"03/01/2024",
                          "2024-13-01",
                          "2024-02-30",
                          "2023-02-29",
                          "1900-02-29",
                          "2024-00-10",
                          "2024-01-00",
                          "2024-1-01",
                          "24-03-01",
                          "2024/03/01",
                          "2024-03-01 15:44:00",
                          "2024-03-01T24:00:00Z",
                          "2024-03-01T15:60:00Z",
                          "2024-03-01T15:44:60Z",
                          "2024-03-01T15:44Z",
                          "2024-03-01T15:44:00.Z",
                          "2024-03-01T15:44:00.1234567890Z",
                          "2024-03-01T15:44:00+0200",
                          "2024-03-01T15:44:00+24:00",
                          "2024-03-01T15:44:00ZZ",
                          "2024-03-01Z",
                          "1899-12-31",
                          "2201-01-01",
                          "",
                          "yesterday",
                          "2024-03-01T15:44:00 Z",
                          "\xEF\xBC\x92\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x94-03-01"}) {
    EXPECT_EQ(ParseHrDate(bad), std::nullopt) << bad;
  }
}

// --- each Purview format -----------------------------------------------------------------------

TEST(HrImportTest, ParsesPurviewResignationFile) {
  const HrImportResult r = Parse(SampleFile("resignations.csv"));
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(3));
  const HrRecord& sara = r.records[0];
  EXPECT_EQ(sara.email, "sarad@example.com");
  EXPECT_EQ(sara.scenario, HrScenario::kResignation);
  EXPECT_EQ(sara.effective_time_ns, 1713865682467504100);
  EXPECT_EQ(sara.last_working_time_ns, ParseHrDate("2024-04-29T15:18:02.4675041+05:30"));
  EXPECT_EQ(sara.line, 2u);
  EXPECT_EQ(r.records[1].last_working_time_ns, 1714403882711754000);  // zone-less value
  EXPECT_EQ(r.records[2].email, "bob.smith@example.com");             // lower-cased
  EXPECT_EQ(r.records[2].line, 4u);
}

TEST(HrImportTest, ParsesPurviewJobLevelChangeFile) {
  const HrImportResult r = Parse(SampleFile("job_level_changes.csv"));
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(2));
  EXPECT_EQ(r.records[0].scenario, HrScenario::kJobLevelChange);
  EXPECT_EQ(r.records[0].old_level, "Level 61 - Sr. Manager");
  EXPECT_EQ(r.records[0].new_level, "Level 60 - Manager");
  EXPECT_EQ(r.records[1].new_level, "Level 60, Sr. Manager");
  EXPECT_EQ(r.records[0].last_working_time_ns, std::nullopt);
}

TEST(HrImportTest, ParsesPurviewPerformanceReviewFileWithScenarioHint) {
  const HrImportResult r =
      Parse(SampleFile("performance_reviews.csv"), HrScenario::kPerformanceReview);
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(2));
  EXPECT_EQ(r.records[0].scenario, HrScenario::kPerformanceReview);
  EXPECT_EQ(r.records[0].remarks, "Met expectations but bad attitude");
  EXPECT_EQ(r.records[0].rating, "2-Below expectation");
  EXPECT_EQ(r.records[1].remarks, "Multiple conflicts with the team");  // trimmed
  EXPECT_EQ(r.records[1].rating, "");
}

TEST(HrImportTest, ParsesPurviewImprovementPlanFileWithItsColumnNames) {
  const HrImportResult r =
      Parse(SampleFile("improvement_plans.csv"), HrScenario::kPerformanceImprovementPlan);
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(2));
  EXPECT_EQ(r.records[0].scenario, HrScenario::kPerformanceImprovementPlan);
  EXPECT_EQ(r.records[0].remarks, "Met expectation but bad attitude");  // ImprovementRemarks
  EXPECT_EQ(r.records[0].rating, "2-Below expectation");                // PerformanceRating
  EXPECT_EQ(r.records[1].effective_time_ns, ParseHrDate("2024-06-01"));
}

TEST(HrImportTest, ParsesMultiScenarioFile) {
  const HrImportResult r = Parse(SampleFile("multi_scenario.csv"));
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(8));
  EXPECT_EQ(r.records[0].scenario, HrScenario::kResignation);
  EXPECT_TRUE(r.records[0].last_working_time_ns.has_value());
  EXPECT_EQ(r.records[2].scenario, HrScenario::kJobLevelChange);
  EXPECT_EQ(r.records[2].old_level, "Level 61 Sr. Manager");
  EXPECT_EQ(r.records[4].scenario, HrScenario::kPerformanceReview);
  EXPECT_EQ(r.records[4].rating, "2 Below expectations");
  EXPECT_EQ(r.records[6].scenario, HrScenario::kPerformanceImprovementPlan);
  EXPECT_EQ(r.records[6].remarks, "Met expectations, but bad attitude");
  EXPECT_EQ(r.records[6].effective_time_ns, k20240301);
  EXPECT_EQ(r.records[7].effective_time_ns, k20240301);
}

TEST(HrImportTest, AcceptsHrScenariosColumnNameAndIgnoresHint) {
  const HrImportResult r = Parse(
      "hrscenarios,emailaddress,effectivedate,remarks,rating\n"
      "performance_review,a@example.com,2024-03-01,,\n"
      "Performance improvement plan,a@example.com,2024-03-01,,\n",
      HrScenario::kResignation);
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(2));
  EXPECT_EQ(r.records[0].scenario, HrScenario::kPerformanceReview);
  EXPECT_EQ(r.records[1].scenario, HrScenario::kPerformanceImprovementPlan);
}

TEST(HrImportTest, MatchesColumnsCaseInsensitivelyAndIgnoresExtraColumns) {
  const HrImportResult r = Parse(
      "Employee ID,EMAILADDRESS,resignationdate,LastWorkingDATE,Cost Center\n"
      "1234,a@example.com,2024-03-01,2024-03-15,CC-9\n");
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(1));
  EXPECT_EQ(r.records[0].effective_time_ns, k20240301);
}

TEST(HrImportTest, HeaderOnlyFileImportsNothing) {
  const HrImportResult r = Parse("EmailAddress,ResignationDate,LastWorkingDate\n");
  EXPECT_THAT(r.problems, IsEmpty());
  EXPECT_THAT(r.records, IsEmpty());
}

// --- scenario problems -------------------------------------------------------------------------

TEST(HrImportTest, CannotTellScenarioOfAReviewFileWithoutHint) {
  const HrImportResult r = Parse(SampleFile("performance_reviews.csv"));
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(
      r.problems,
      ElementsAre(Problem(
          0, "", "cannot tell the scenario: add an HRScenarios column or pass --scenario")));
}

TEST(HrImportTest, ResignationAndLevelColumnsTogetherAreAmbiguous) {
  const HrImportResult r = Parse(
      "EmailAddress,ResignationDate,LastWorkingDate,EffectiveDate,OldLevel\n"
      "a@example.com,2024-03-01,2024-03-02,,\n");
  EXPECT_THAT(Messages(r), ElementsAre(HasSubstr("cannot tell the scenario")));
}

TEST(HrImportTest, ReportsUnknownAndEmptyScenarioValues) {
  const HrImportResult r = Parse(
      "HRScenario,EmailAddress,EffectiveDate\n"
      "Promotion,a@example.com,2024-03-01\n"
      ",b@example.com,2024-03-01\n"
      "Performance review,c@example.com,2024-03-01\n");
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(2, "HRScenario", HasSubstr("unknown scenario 'Promotion'")),
                          Problem(3, "HRScenario", HasSubstr("empty"))));
}

// --- column problems ---------------------------------------------------------------------------

TEST(HrImportTest, MissingColumnsAreNamedWithColumnsFound) {
  const HrImportResult r = Parse("Email,ResignationDate\nx@example.com,2024-03-01\n");
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(0, "EmailAddress",
                                  "missing column (needed for every row); columns found: Email, "
                                  "ResignationDate"),
                          Problem(0, "LastWorkingDate",
                                  HasSubstr("missing column (needed for Resignation rows)"))));
}

TEST(HrImportTest, MissingEffectiveDateForHintedScenario) {
  const HrImportResult r =
      Parse("EmailAddress,Rating\nx@example.com,3\n", HrScenario::kPerformanceReview);
  EXPECT_THAT(r.problems, ElementsAre(Problem(0, "EffectiveDate",
                                              HasSubstr("needed for Performance review rows"))));
}

TEST(HrImportTest, MultiScenarioFileNeedsColumnsOfScenariosItUses) {
  const HrImportResult r = Parse(
      "HRScenario,EmailAddress,EffectiveDate\n"
      "Performance review,a@example.com,2024-03-01\n"
      "Resignation,b@example.com,\n");
  EXPECT_THAT(r.problems, ElementsAre(Problem(0, "ResignationDate", HasSubstr("missing column")),
                                      Problem(0, "LastWorkingDate", HasSubstr("missing column"))));
}

TEST(HrImportTest, ColumnWrittenTwiceIsAProblem) {
  const HrImportResult r = Parse(
      "EmailAddress,ResignationDate,LastWorkingDate,emailaddress\n"
      "a@example.com,2024-03-01,2024-03-02,b@example.com\n");
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(0, "EmailAddress", "column appears 2 times; keep only one")));
}

// --- row problems ------------------------------------------------------------------------------

TEST(HrImportTest, ReportsBadDatesWithLineColumnAndValue) {
  const HrImportResult r = Parse(
      "EmailAddress,ResignationDate,LastWorkingDate\n"
      "a@example.com,03/01/2024,2024-03-15\n"
      "b@example.com,2024-13-01,2024-02-30\n"
      "c@example.com,,2024-03-15\n");
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(
      r.problems,
      ElementsAre(Problem(2, "ResignationDate", HasSubstr("'03/01/2024' is not a valid date")),
                  Problem(3, "ResignationDate", HasSubstr("'2024-13-01' is not a valid date")),
                  Problem(3, "LastWorkingDate", HasSubstr("'2024-02-30' is not a valid date")),
                  Problem(4, "ResignationDate", HasSubstr("empty"))));
  EXPECT_THAT(r.problems[0].message, HasSubstr("expected an ISO 8601 date such as 2024-03-01"));
  EXPECT_EQ(FormatImportProblem(r.problems[0]).substr(0, 46),
            "line 2: ResignationDate: '03/01/2024' is not a");
}

TEST(HrImportTest, LastWorkingDateBeforeResignationDate) {
  const HrImportResult r = Parse(
      "EmailAddress,ResignationDate,LastWorkingDate\n"
      "a@example.com,2024-03-01,2024-02-28\n"
      "b@example.com,2024-03-01T10:00:00Z,2024-03-01\n"  // same day: fine
      "c@example.com,2024-03-01,2024-03-01\n"
      "d@example.com,2024-03-01T00:30:00+02:00,2024-02-29T23:00:00Z\n");  // same UTC day
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(2, "LastWorkingDate",
                                  "'2024-02-28' is before ResignationDate '2024-03-01'")));
}

TEST(HrImportTest, ReportsEmptyAndMalformedEmails) {
  const HrImportResult r = Parse(
      "EmailAddress,ResignationDate,LastWorkingDate\n"
      ",2024-03-01,2024-03-02\n"
      "alice,2024-03-01,2024-03-02\n"
      "a b@example.com,2024-03-01,2024-03-02\n"
      "a@b@example.com,2024-03-01,2024-03-02\n"
      "a@example,2024-03-01,2024-03-02\n"
      "a@example..com,2024-03-01,2024-03-02\n"
      ".a@example.com,2024-03-01,2024-03-02\n");
  EXPECT_THAT(r.records, IsEmpty());
  ASSERT_THAT(r.problems, SizeIs(7));
  EXPECT_THAT(r.problems[0], Problem(2, "EmailAddress", HasSubstr("empty")));
  EXPECT_THAT(r.problems[1], Problem(3, "EmailAddress", "'alice' is not an e-mail address"));
  for (size_t i = 2; i < 7; ++i) {
    EXPECT_THAT(r.problems[i].message, HasSubstr("is not an e-mail address"));
    EXPECT_EQ(r.problems[i].line, i + 2);
  }
}

TEST(HrImportTest, ReportsUnknownPeople) {
  std::vector<std::string> asked;
  const std::set<std::string> known = {"sarad@example.com"};
  const HrImportResult r =
      ParseHrCsv(SampleFile("resignations.csv"), std::nullopt, [&](std::string_view email) {
        asked.emplace_back(email);
        return known.count(std::string(email)) > 0;
      });
  EXPECT_THAT(asked,
              ElementsAre("sarad@example.com", "pilarp@example.com", "bob.smith@example.com"));
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(3, "EmailAddress",
                                  "unknown person: pilarp@example.com \xE2\x80\x94 import the "
                                  "directory first or fix the address"),
                          Problem(4, "EmailAddress", HasSubstr("bob.smith@example.com"))));
}

TEST(HrImportTest, EmptyKnownPersonFunctionAcceptsEveryone) {
  const HrImportResult r = ParseHrCsv(SampleFile("resignations.csv"), std::nullopt, nullptr);
  EXPECT_THAT(r.problems, IsEmpty());
  EXPECT_THAT(r.records, SizeIs(3));
}

TEST(HrImportTest, DuplicateRowsNameBothLines) {
  const HrImportResult r = Parse(
      "HRScenario,EmailAddress,ResignationDate,LastWorkingDate,EffectiveDate\n"
      "Resignation,a@example.com,2024-03-01,2024-03-15,\n"
      "Performance review,a@example.com,,,2024-03-01\n"
      "Resignation,A@Example.com,2024-03-01T00:00:00Z,2024-03-20,\n"
      "Resignation,a@example.com,2024-03-02,2024-03-20,\n");
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(r.problems, ElementsAre(Problem(
                              4, "", "duplicate row: same e-mail, scenario and date as line 2")));
}

TEST(HrImportTest, OneBadRowAmongGoodOnesImportsNothing) {
  const HrImportResult r = Parse(
      "EmailAddress,ResignationDate,LastWorkingDate\n"
      "a@example.com,2024-03-01,2024-03-15\n"
      "b@example.com,2024-03-01,2024-03-15\n"
      "c@example.com,1 March 2024,2024-03-15\n"
      "d@example.com,2024-03-01,2024-03-15\n");
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(r.problems, ElementsAre(Problem(4, "ResignationDate", HasSubstr("'1 March 2024'"))));
}

TEST(HrImportTest, ReportsEveryProblemUpToTheCap) {
  std::string csv = "EmailAddress,ResignationDate,LastWorkingDate\n";
  for (int i = 0; i < 1500; ++i) csv += "nobody,2024-03-01,2024-03-15\n";
  const HrImportResult r = Parse(csv);
  EXPECT_THAT(r.records, IsEmpty());
  ASSERT_THAT(r.problems, SizeIs(kMaxImportProblems + 1));
  EXPECT_EQ(r.problems[999].line, 1001u);
  EXPECT_THAT(r.problems.back(), Problem(0, "", "... and 500 more problems"));
}

// --- file problems -----------------------------------------------------------------------------

TEST(HrImportTest, WrongEncodingIsOneFileProblem) {
  // "EmailAddress\n" as UTF-16 LE with a BOM, as Excel's "Unicode Text" writes it.
  std::string utf16 = "\xFF\xFE";
  for (char c : std::string("EmailAddress,ResignationDate,LastWorkingDate\r\n")) {
    utf16 += c;
    utf16 += '\0';
  }
  const HrImportResult r = Parse(utf16);
  EXPECT_THAT(r.records, IsEmpty());
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(
                  0, "", "wrong encoding: looks like UTF-16; save the file as UTF-8 (CSV UTF-8)")));
}

TEST(HrImportTest, CsvErrorsAreOneFileProblem) {
  EXPECT_THAT(Parse("").problems, ElementsAre(Problem(0, "", "empty file: no header row")));
  EXPECT_THAT(
      Parse("EmailAddress,ResignationDate,LastWorkingDate\na@example.com,\"2024\n").problems,
      ElementsAre(Problem(0, "", HasSubstr("line 2: unterminated quoted field"))));
}

TEST(HrImportTest, PurviewRaggedSampleRowsAreRejectedByFieldCount) {
  // Purview's documentation shows multi-scenario rows with fewer commas than the header; a
  // spreadsheet export always writes every field, so a short row means a broken export.
  const HrImportResult r = Parse(
      "HRScenario,EmailAddress,ResignationDate,LastWorkingDate,EffectiveDate,Remarks,Rating,"
      "OldLevel,NewLevel\n"
      "Resignation,sarad@contoso.com,2019-04-23T15:18:02.4675041+05:30,"
      "2019-04-29T15:18:02.4675041+05:30,,,,\n");
  EXPECT_THAT(r.problems, ElementsAre(Problem(0, "", "line 2: 8 fields, header has 9")));
}

TEST(HrImportTest, AcceptsCrlfBomAndQuotedFields) {
  const HrImportResult r = Parse(
      "\xEF\xBB\xBF"
      "EmailAddress,EffectiveDate,OldLevel,NewLevel\r\n"
      "\"a@example.com\",\"2024-03-01\",\"L5, \"\"senior\"\"\",\"L6\r\nstaff\"\r\n"
      "b@example.com,2024-03-01,L1,L2\r\n");
  ASSERT_THAT(r.problems, IsEmpty()) << ::testing::PrintToString(Messages(r));
  ASSERT_THAT(r.records, SizeIs(2));
  EXPECT_EQ(r.records[0].old_level, "L5, \"senior\"");
  EXPECT_EQ(r.records[0].new_level, "L6\r\nstaff");
  EXPECT_EQ(r.records[1].line, 4u);
}

}  // namespace
}  // namespace custos::collector::imports
