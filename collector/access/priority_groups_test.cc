#include "collector/access/priority_groups.h"

#include <gtest/gtest.h>

namespace custos::collector::access {
namespace {

store::PersonRecord Person(std::string id, std::vector<std::string> groups) {
  store::PersonRecord p;
  p.id = std::move(id);
  p.groups = std::move(groups);
  return p;
}

class PriorityRulesTest : public ::testing::Test {
 protected:
  std::vector<store::PersonRecord> people_{Person("ceo@example.com", {"executives", "staff"}),
                                           Person("cfo@example.com", {"executives", "finance"}),
                                           Person("ann@example.com", {"staff"})};
  std::vector<store::LoginRecord> logins_{{"ceo", "", "ceo@example.com"},
                                          {"ann", "", "ann@example.com"}};
  Principal rita_{.via = Principal::Via::kSession,
                  .id = "usr_rita",
                  .name = "rita",
                  .roles = {Role::kInvestigator}};
  Principal ana_{.via = Principal::Via::kPersonalToken,
                 .id = "usr_ana",
                 .name = "ana",
                 .roles = {Role::kAnalyst}};
};

TEST_F(PriorityRulesTest, MembersAreVisibleOnlyToTheirReviewers) {
  std::vector<PriorityGroup> groups{{"executives", {"usr_rita"}}};
  PriorityRules rules(groups, people_, logins_);
  EXPECT_TRUE(rules.MaySeePerson(rita_, "ceo@example.com"));
  EXPECT_TRUE(rules.MaySeePerson(rita_, "CEO@Example.com"));
  EXPECT_FALSE(rules.MaySeePerson(ana_, "ceo@example.com"));
  EXPECT_FALSE(rules.MaySeePerson(ana_, "cfo@example.com"));
  EXPECT_TRUE(rules.MaySeePerson(ana_, "ann@example.com"));
  EXPECT_TRUE(rules.MaySeePerson(ana_, "unknown@example.com"));
  EXPECT_FALSE(rules.MaySeeLogin(ana_, "ceo"));
  EXPECT_TRUE(rules.MaySeeLogin(rita_, "ceo"));
  EXPECT_TRUE(rules.MaySeeLogin(ana_, "ann"));
}

TEST_F(PriorityRulesTest, AReviewerOfAnyOfAPersonsGroupsMaySeeThem) {
  std::vector<PriorityGroup> groups{{"executives", {"usr_rita"}}, {"finance", {"usr_ana"}}};
  PriorityRules rules(groups, people_, logins_);
  EXPECT_TRUE(rules.MaySeePerson(ana_, "cfo@example.com"));   // finance
  EXPECT_FALSE(rules.MaySeePerson(ana_, "ceo@example.com"));  // executives only
}

TEST_F(PriorityRulesTest, ServiceTokensAreNeverReviewers) {
  std::vector<PriorityGroup> groups{{"executives", {"atk_admin"}}};
  PriorityRules rules(groups, people_, logins_);
  Principal token{.via = Principal::Via::kServiceToken,
                  .id = "atk_admin",
                  .name = "admin",
                  .roles = {Role::kInvestigator}};
  EXPECT_FALSE(rules.MaySeePerson(token, "ceo@example.com"));
}

TEST_F(PriorityRulesTest, NoGroupsHideNobody) {
  PriorityRules rules;
  EXPECT_TRUE(rules.empty());
  EXPECT_TRUE(rules.MaySeePerson(ana_, "ceo@example.com"));
}

TEST(PriorityGroupsJsonTest, RoundTripsAndRefusesBadShapes) {
  std::vector<PriorityGroup> groups{{"executives", {"usr_a", "usr_b"}}};
  auto back = PriorityGroupsFromJson(PriorityGroupsToJson(groups));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].name, "executives");
  EXPECT_EQ((*back)[0].reviewers, (std::vector<std::string>{"usr_a", "usr_b"}));
  EXPECT_TRUE(PriorityGroupsFromJson("")->empty());
  for (const char* bad : {"[]", "{\"groups\":{}}", "{\"groups\":[{\"name\":\"\"}]}",
                          "{\"groups\":[{\"name\":\"x\",\"reviewers\":[1]}]}", "not json"}) {
    EXPECT_FALSE(PriorityGroupsFromJson(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace custos::collector::access
