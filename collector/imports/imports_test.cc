#include "collector/imports/imports.h"

#include <gtest/gtest.h>

namespace custos::collector::imports {
namespace {

TEST(ImportsTest, DirectoryLinesOfOnePersonMergeIntoOneRecord) {
  auto parsed = ParseDirectoryCsv(
      "Login,Host,EmailAddress,DisplayName,Department,Manager,Groups\n"
      "dana,*,dana@example.com,Dana Diaz,,,finance\n"
      "ddiaz,ws-7,dana@example.com,,Finance,boss@example.com,finance;vip\n");
  ASSERT_TRUE(parsed.problems.empty()) << FormatImportProblem(parsed.problems[0]);
  DirectoryRecords r = ToDirectoryRecords(parsed);
  ASSERT_EQ(r.people.size(), 1u);
  EXPECT_EQ(r.people[0].id, "dana@example.com");
  EXPECT_EQ(r.people[0].display_name, "Dana Diaz");
  EXPECT_EQ(r.people[0].department, "Finance");
  EXPECT_EQ(r.people[0].manager, "boss@example.com");
  EXPECT_EQ(r.people[0].groups, (std::vector<std::string>{"finance", "vip"}));
  ASSERT_EQ(r.logins.size(), 2u);
  EXPECT_EQ(r.logins[0].host, "");
  EXPECT_EQ(r.logins[1].host, "ws-7");
}

TEST(ImportsTest, HrRowsBecomeDatedTriggersWithAStableDedupKey) {
  auto parsed = ParseHrCsv(
      "EmailAddress,ResignationDate,LastWorkingDate\n"
      "Dana@Example.com,2026-11-02,2026-11-20\n",
      std::nullopt, {});
  ASSERT_TRUE(parsed.problems.empty()) << FormatImportProblem(parsed.problems[0]);
  auto triggers = HrTriggers(parsed, 42);
  ASSERT_EQ(triggers.size(), 1u);
  EXPECT_EQ(triggers[0].person, "dana@example.com");
  EXPECT_EQ(triggers[0].kind, "resignation");
  EXPECT_EQ(triggers[0].created_at_ns, 42);
  EXPECT_NE(triggers[0].detail.find("last working day 2026-11-20"), std::string::npos)
      << triggers[0].detail;
  EXPECT_EQ(HrTriggers(parsed, 99)[0].dedup_key, triggers[0].dedup_key);
}

}  // namespace
}  // namespace custos::collector::imports
