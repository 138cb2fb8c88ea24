#include "collector/access/roles.h"

#include <gtest/gtest.h>

namespace custos::collector::access {
namespace {

TEST(RolesTest, EveryRoleRoundTripsThroughItsName) {
  for (Role r : kAllRoles) {
    auto parsed = ParseRole(RoleName(r));
    ASSERT_TRUE(parsed.has_value()) << RoleName(r);
    EXPECT_EQ(*parsed, r);
  }
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("Admin").has_value());
}

TEST(RolesTest, ParsesAListAndPrintsItInCanonicalOrder) {
  auto set = RoleSet::Parse(" approver, admin ,admin");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->Has(Role::kAdmin));
  EXPECT_TRUE(set->Has(Role::kApprover));
  EXPECT_FALSE(set->Has(Role::kAnalyst));
  EXPECT_EQ(set->ToString(), "admin,approver");
  EXPECT_EQ(RoleSet::FromBits(set->bits()), *set);
}

TEST(RolesTest, RefusesUnknownAndEmptyLists) {
  auto bad = RoleSet::Parse("analyst,superuser");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("superuser"), std::string::npos);
  EXPECT_FALSE(RoleSet::Parse("").ok());
  EXPECT_FALSE(RoleSet::Parse(" , ").ok());
}

TEST(RolesTest, ActorNamesTheKindOfPrincipal) {
  Principal user{.via = Principal::Via::kSession, .id = "usr_1", .name = "alice"};
  Principal token{.via = Principal::Via::kServiceToken, .id = "atk_1", .name = "ci"};
  EXPECT_EQ(user.Actor(), "user:alice");
  EXPECT_EQ(token.Actor(), "token:ci");
}

}  // namespace
}  // namespace custos::collector::access
