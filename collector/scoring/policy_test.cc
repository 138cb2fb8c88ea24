#include "collector/scoring/policy.h"

#include <gtest/gtest.h>

namespace custos::collector::scoring {
namespace {

TEST(PolicyTest, EveryTemplateMakesAValidPolicyThatRoundTripsThroughJson) {
  for (const auto& t : Templates()) {
    auto p = PolicyFromTemplate(t.id, t.name);
    ASSERT_TRUE(p.ok()) << t.id;
    EXPECT_TRUE(ValidatePolicy(*p).ok()) << t.id;
    Policy copy;
    auto q = PolicyFromTemplate(t.id, "x");
    ASSERT_TRUE(q.ok());
    ASSERT_TRUE(ApplyPolicyJson(PolicyToJson(*p), &*q).ok()) << t.id;
    EXPECT_EQ(PolicyToJson(*q), PolicyToJson(*p)) << t.id;
  }
  EXPECT_EQ(PolicyFromTemplate("nope", "x").status().code(), StatusCode::kNotFound);
}

TEST(PolicyTest, OverridesApplyAndBadOnesNameTheKey) {
  auto p = PolicyFromTemplate("data_leaks", "Leaks");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(ApplyPolicyJson(R"({"historic_days": 60, "indicators": [
      {"id": "usb_copy", "weight": 50, "tiers": {"low": 2, "medium": 4, "high": 8}}, "archive_created"],
      "priority_content": {"extensions": ["XLSX"]}})",
                              &*p)
                  .ok());
  EXPECT_EQ(p->historic_days, 60u);
  ASSERT_EQ(p->indicators.size(), 2u);
  EXPECT_EQ(p->indicators[0].weight, 50u);
  EXPECT_EQ(p->indicators[0].tiers.medium, 4u);
  EXPECT_EQ(p->priority_content.extensions[0], ".xlsx");
  struct Bad {
    const char* json;
    const char* mentions;
  } bad[] = {
      {"[1]", "object"},
      {"{", "JSON"},
      {R"({"nope": 1})", "nope"},
      {R"({"indicators": ["nope"]})", "unknown indicator"},
      {R"({"indicators": [{"id": "usb_copy", "tiers": {"low": 5, "medium": 2}}]})", "tiers"},
      {R"({"indicators": []})", "at least one"},
      {R"({"triggers": ["sometimes"]})", "unknown trigger"},
      {R"({"historic_days": -1})", "historic_days"},
      {R"({"scope": {"all": false}})", "scope"},
      {R"({"boosters": {"magic": true}})", "boosters.magic"},
  };
  for (const auto& b : bad) {
    auto q = PolicyFromTemplate("data_leaks", "Leaks");
    Status s = ApplyPolicyJson(b.json, &*q);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << b.json;
    EXPECT_NE(s.message().find(b.mentions), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace custos::collector::scoring
