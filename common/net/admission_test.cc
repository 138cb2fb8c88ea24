#include "common/net/admission.h"

#include <gtest/gtest.h>

#include <string>

namespace custos::net {
namespace {

TEST(AddressSlotsTest, CapsEachAddressAndTheTotal) {
  AddressSlots slots(/*per_address=*/2, /*total=*/3);
  AddressSlots::Refusal why;
  auto a1 = slots.TryAcquire("10.0.0.1", &why);
  auto a2 = slots.TryAcquire("10.0.0.1", &why);
  EXPECT_TRUE(a1 && a2);
  auto a3 = slots.TryAcquire("10.0.0.1", &why);
  EXPECT_FALSE(a3);
  EXPECT_EQ(why, AddressSlots::Refusal::kPerAddress);
  auto b1 = slots.TryAcquire("10.0.0.2", &why);
  EXPECT_TRUE(b1);
  auto b2 = slots.TryAcquire("10.0.0.2", &why);
  EXPECT_FALSE(b2);
  EXPECT_EQ(why, AddressSlots::Refusal::kTotal);
  EXPECT_EQ(slots.total_held(), 3u);
}

TEST(AddressSlotsTest, ReleasedOrDestroyedSlotGivesItsPlaceBack) {
  AddressSlots slots(1, 10);
  {
    auto a = slots.TryAcquire("h");
    ASSERT_TRUE(a);
    EXPECT_FALSE(slots.TryAcquire("h"));
  }
  EXPECT_EQ(slots.held("h"), 0u);
  auto b = slots.TryAcquire("h");
  ASSERT_TRUE(b);
  b.Release();
  b.Release();  // idempotent
  EXPECT_EQ(slots.total_held(), 0u);
  auto c = slots.TryAcquire("h");
  AddressSlots::Slot moved = std::move(c);
  EXPECT_FALSE(c);  // NOLINT(bugprone-use-after-move): the moved-from slot holds nothing
  EXPECT_TRUE(moved);
  EXPECT_EQ(slots.held("h"), 1u);
}

TEST(RateLimiterTest, AllowsABurstThenRefillsAtTheRate) {
  FakeClock clock;
  RateLimiter limiter(&clock, /*per_minute=*/6, /*burst=*/3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a")) << i;
  EXPECT_FALSE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("b"));  // addresses are independent
  clock.Advance(std::chrono::seconds(9));
  EXPECT_FALSE(limiter.Allow("a"));  // 0.9 of a token
  clock.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_FALSE(limiter.Allow("a"));
  clock.Advance(std::chrono::hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a")) << i;  // never above the burst
  EXPECT_FALSE(limiter.Allow("a"));
}

TEST(RateLimiterTest, HasTokenLooksWithoutTaking) {
  FakeClock clock;
  RateLimiter limiter(&clock, 1, 2);
  EXPECT_TRUE(limiter.HasToken("a"));
  EXPECT_TRUE(limiter.HasToken("a"));  // nothing taken
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_FALSE(limiter.HasToken("a"));
  clock.Advance(std::chrono::minutes(1));
  EXPECT_TRUE(limiter.HasToken("a"));
}

TEST(RateLimiterTest, ChargesBySizeForQuotas) {
  FakeClock clock;
  RateLimiter quota(&clock, /*per_minute=*/600, /*burst=*/1000);  // bytes
  EXPECT_TRUE(quota.Allow("agent", 700));
  EXPECT_FALSE(quota.Allow("agent", 400));  // 300 left: refused, nothing taken
  EXPECT_TRUE(quota.Allow("agent", 300));
  clock.Advance(std::chrono::seconds(10));  // +100
  EXPECT_FALSE(quota.Allow("agent", 200));
  EXPECT_TRUE(quota.Allow("agent", 100));
  // A cost over the burst passes only from a full bucket, and empties it.
  clock.Advance(std::chrono::minutes(1));
  EXPECT_FALSE(quota.Allow("agent", 5000));
  clock.Advance(std::chrono::minutes(1));
  EXPECT_TRUE(quota.Allow("agent", 5000));
  EXPECT_FALSE(quota.Allow("agent", 1));
}

TEST(RateLimiterTest, ZeroRateMeansNoLimit) {
  FakeClock clock;
  RateLimiter limiter(&clock, 0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.Allow("a"));
}

TEST(RateLimiterTest, TracksBoundedAddressesAndForgetsIdleOnes) {
  FakeClock clock;
  RateLimiter limiter(&clock, 60, 2, /*max_keys=*/4);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.Allow("addr" + std::to_string(i)));
  // Every tracked address is still draining: a fifth is refused rather than grow the table.
  EXPECT_FALSE(limiter.Allow("addr4"));
  clock.Advance(std::chrono::seconds(2));  // all refilled to the burst: idle, forgotten
  EXPECT_TRUE(limiter.Allow("addr4"));
  EXPECT_TRUE(limiter.Allow("addr5"));
}

}  // namespace
}  // namespace custos::net
