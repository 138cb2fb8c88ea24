#include "collector/imports/directory_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/testing/testing.h"

namespace custos::collector::imports {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

::testing::Matcher<ImportProblem> Problem(size_t line, std::string column,
                                          ::testing::Matcher<std::string> message) {
  return AllOf(Field(&ImportProblem::line, line), Field(&ImportProblem::column, column),
               Field(&ImportProblem::message, message));
}

TEST(DirectoryImportTest, ParsesSampleDirectory) {
  Result<std::string> bytes =
      testing::ReadFile(testing::SourcePath("tests/scenarios/data/hr/directory.csv"));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  const DirectoryImportResult r = ParseDirectoryCsv(*bytes);
  ASSERT_THAT(r.problems, IsEmpty());
  ASSERT_THAT(r.entries, SizeIs(4));
  const DirectoryEntry& sara = r.entries[0];
  EXPECT_EQ(sara.login, "sarad");
  EXPECT_EQ(sara.host, "");  // "*" = any host
  EXPECT_EQ(sara.email, "sarad@example.com");
  EXPECT_EQ(sara.display_name, "Sara Davis");
  EXPECT_EQ(sara.department, "Finance");
  EXPECT_EQ(sara.manager, "bob.smith@example.com");
  EXPECT_THAT(sara.groups, ElementsAre("finance", "vpn-users"));
  EXPECT_EQ(sara.line, 2u);
  EXPECT_EQ(r.entries[1].host, "laptop-042");
  EXPECT_EQ(r.entries[1].email, "sarad@example.com");  // a person with two logins
  EXPECT_EQ(r.entries[2].display_name, "Pilar, Pinilla");
  EXPECT_THAT(r.entries[2].groups, ElementsAre("eng", "build-admins"));
  EXPECT_EQ(r.entries[3].manager, "");
}

TEST(DirectoryImportTest, OnlyLoginAndEmailAreRequired) {
  const DirectoryImportResult r =
      ParseDirectoryCsv("emailaddress,LOGIN,Badge\nAlice@Example.COM,alice,77\n");
  ASSERT_THAT(r.problems, IsEmpty());
  ASSERT_THAT(r.entries, SizeIs(1));
  EXPECT_EQ(r.entries[0].login, "alice");
  EXPECT_EQ(r.entries[0].email, "alice@example.com");
  EXPECT_EQ(r.entries[0].host, "");
  EXPECT_THAT(r.entries[0].groups, IsEmpty());
}

TEST(DirectoryImportTest, KeepsLoginCaseAndLowerCasesHost) {
  const DirectoryImportResult r = ParseDirectoryCsv(
      "Login,Host,EmailAddress\n Alice ,Laptop-7,a@example.com\nalice,laptop-7,b@example.com\n");
  ASSERT_THAT(r.problems, IsEmpty());
  EXPECT_EQ(r.entries[0].login, "Alice");
  EXPECT_EQ(r.entries[0].host, "laptop-7");
}

TEST(DirectoryImportTest, GroupsAreTrimmedWithEmptyAndRepeatedOnesDropped) {
  const DirectoryImportResult r = ParseDirectoryCsv(
      "Login,EmailAddress,Groups\na,a@example.com,\" x ; ;y;x;; \"\nb,b@example.com,\n");
  ASSERT_THAT(r.problems, IsEmpty());
  EXPECT_THAT(r.entries[0].groups, ElementsAre("x", "y"));
  EXPECT_THAT(r.entries[1].groups, IsEmpty());
}

TEST(DirectoryImportTest, MissingColumnsAreNamedWithColumnsFound) {
  const DirectoryImportResult r = ParseDirectoryCsv("User,Mail\nalice,a@example.com\n");
  EXPECT_THAT(r.entries, IsEmpty());
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(0, "Login", "missing column; columns found: User, Mail"),
                          Problem(0, "EmailAddress", "missing column; columns found: User, Mail")));
}

TEST(DirectoryImportTest, ReportsEmptyLoginEmptyOrMalformedEmailAndManager) {
  const DirectoryImportResult r = ParseDirectoryCsv(
      "Login,EmailAddress,Manager\n"
      ",a@example.com,\n"
      "b,,\n"
      "c,not-an-email,\n"
      "d,d@example.com,boss\n"
      "e,e@example.com,boss@example.com\n");
  EXPECT_THAT(r.entries, IsEmpty());
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(2, "Login", HasSubstr("empty")),
                          Problem(3, "EmailAddress", HasSubstr("empty")),
                          Problem(4, "EmailAddress", "'not-an-email' is not an e-mail address"),
                          Problem(5, "Manager", "'boss' is not an e-mail address")));
}

TEST(DirectoryImportTest, SameLoginAndHostTwiceNamesBothLines) {
  const DirectoryImportResult r = ParseDirectoryCsv(
      "Login,Host,EmailAddress\n"
      "alice,,a@example.com\n"
      "alice,laptop-1,a@example.com\n"
      "alice,*,b@example.com\n"
      "alice,LAPTOP-1,a@example.com\n"
      "bob,,a@example.com\n");
  EXPECT_THAT(r.entries, IsEmpty());
  EXPECT_THAT(
      r.problems,
      ElementsAre(
          Problem(4, "Login", "login 'alice' on any host is already mapped on line 2"),
          Problem(5, "Login", "login 'alice' on host 'laptop-1' is already mapped on line 3")));
}

TEST(DirectoryImportTest, ColumnWrittenTwiceIsAProblem) {
  const DirectoryImportResult r =
      ParseDirectoryCsv("Login,EmailAddress,login\na,a@example.com,b\n");
  EXPECT_THAT(r.problems,
              ElementsAre(Problem(0, "Login", "column appears 2 times; keep only one")));
  EXPECT_THAT(r.entries, IsEmpty());
}

TEST(DirectoryImportTest, CsvErrorsAreOneFileProblem) {
  const std::string utf16("\xFF\xFEL\0o\0g\0i\0n\0", 12);
  EXPECT_THAT(ParseDirectoryCsv(utf16).problems,
              ElementsAre(Problem(0, "", HasSubstr("looks like UTF-16"))));
  EXPECT_THAT(ParseDirectoryCsv("Login,EmailAddress\na,a@example.com,extra\n").problems,
              ElementsAre(Problem(0, "", "line 2: 3 fields, header has 2")));
}

TEST(DirectoryImportTest, OneBadRowAmongGoodOnesImportsNothing) {
  const DirectoryImportResult r = ParseDirectoryCsv(
      "Login,EmailAddress\r\na,a@example.com\r\nb,b@example.com\r\nc,c@\r\nd,d@example.com\r\n");
  EXPECT_THAT(r.entries, IsEmpty());
  EXPECT_THAT(r.problems, ElementsAre(Problem(4, "EmailAddress", HasSubstr("'c@'"))));
}

}  // namespace
}  // namespace custos::collector::imports
