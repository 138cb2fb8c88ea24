#include "common/time/clock.h"

#include <gtest/gtest.h>

namespace custos {
namespace {

TEST(ClockTest, FakeClockAdvancesWallAndSteadyTogether) {
  FakeClock clock(1'000);
  auto steady = clock.SteadyNow();
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(clock.NowUnixNs(), 1'000 + 2'000'000'000);
  EXPECT_EQ(clock.SteadyNow() - steady, std::chrono::seconds(2));
}

TEST(ClockTest, WallClockJumpDoesNotMoveSteadyTime) {
  FakeClock clock;
  auto steady = clock.SteadyNow();
  clock.SetUnixNs(5);
  EXPECT_EQ(clock.NowUnixNs(), 5);
  EXPECT_EQ(clock.SteadyNow(), steady);
}

TEST(ClockTest, RealClockIsCloseToSystemClock) {
  int64_t a = RealClock()->NowUnixNs();
  EXPECT_GT(a, 1'600'000'000'000'000'000);
}

TEST(ClockTest, FormatsRfc3339WithMilliseconds) {
  EXPECT_EQ(FormatUnixNs(1'700'000'000'123'456'789), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatUnixNs(0), "1970-01-01T00:00:00.000Z");
}

TEST(ClockTest, ParsesAbsoluteAndRelativeTimes) {
  int64_t ns = 0;
  ASSERT_TRUE(ParseTimeSpec("2023-11-14T22:13:20Z", 0, &ns));
  EXPECT_EQ(ns, 1'700'000'000'000'000'000);
  ASSERT_TRUE(ParseTimeSpec("2023-11-14T22:13:20.5Z", 0, &ns));
  EXPECT_EQ(ns, 1'700'000'000'500'000'000);
  ASSERT_TRUE(ParseTimeSpec("2023-11-14 23:13:20+01:00", 0, &ns));
  EXPECT_EQ(ns, 1'700'000'000'000'000'000);
  ASSERT_TRUE(ParseTimeSpec("2023-11-14", 0, &ns));
  EXPECT_EQ(ns, 1'699'920'000'000'000'000);
  ASSERT_TRUE(ParseTimeSpec("-2h", 10'000'000'000'000, &ns));
  EXPECT_EQ(ns, 10'000'000'000'000 - 7'200'000'000'000);
}

TEST(ClockTest, RejectsMalformedTimes) {
  int64_t ns = 0;
  for (const char* bad : {"", "yesterday", "2023-13-01", "2023-11-14T25:00", "2023-11-14Tx", "-",
                          "-5y", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk", "1600-01-01",
                          "9999-12-31", "-99999999d", "-40000d"}) {
    EXPECT_FALSE(ParseTimeSpec(bad, 0, &ns)) << bad;
  }
}

}  // namespace
}  // namespace custos
