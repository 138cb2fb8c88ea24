#include "common/flags/flags.h"

#include <gtest/gtest.h>

namespace custos::flags {
namespace {

TEST(FlagsTest, ParsesSubcommandsValuesAndSwitches) {
  const char* argv[] = {"prog",   "token", "create", "--uses", "5", "--ttl=2h",
                        "--json", "--tag", "a",      "--tag",  "b"};
  auto a = Args::Parse(11, argv, {{"uses"}, {"ttl"}, {"json", false}, {"tag", true, true}});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->positional(), (std::vector<std::string>{"token", "create"}));
  EXPECT_EQ(*a->GetInt("uses", 1, 1, 10), 5);
  EXPECT_EQ(a->GetOr("ttl", ""), "2h");
  EXPECT_TRUE(a->Has("json"));
  EXPECT_EQ(a->GetAll("tag"), (std::vector<std::string>{"a", "b"}));
}

TEST(FlagsTest, RejectsUnknownMissingDuplicateAndOutOfRange) {
  const char* unknown[] = {"prog", "--uess", "5"};
  EXPECT_NE(Args::Parse(3, unknown, {{"uses"}}).status().message().find("--uess"),
            std::string::npos);
  const char* missing[] = {"prog", "--uses"};
  EXPECT_FALSE(Args::Parse(2, missing, {{"uses"}}).ok());
  const char* dup[] = {"prog", "--uses", "1", "--uses", "2"};
  EXPECT_FALSE(Args::Parse(5, dup, {{"uses"}}).ok());
  const char* big[] = {"prog", "--uses", "99"};
  auto a = Args::Parse(3, big, {{"uses"}});
  EXPECT_FALSE(a->GetInt("uses", 1, 1, 10).ok());
}

TEST(FlagsTest, SplitsHostPort) {
  std::string h;
  uint16_t p;
  ASSERT_TRUE(ParseHostPort("127.0.0.1:7443", &h, &p).ok());
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 7443);
  ASSERT_TRUE(ParseHostPort("[::1]:0", &h, &p).ok());
  EXPECT_EQ(h, "::1");
  EXPECT_FALSE(ParseHostPort("localhost", &h, &p).ok());
  EXPECT_FALSE(ParseHostPort("localhost:70000", &h, &p).ok());
  EXPECT_FALSE(ParseHostPort(":80", &h, &p).ok());
}

}  // namespace
}  // namespace custos::flags
