#include "collector/access/password.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace custos::collector::access {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Cheap parameters: these tests check behaviour, not cost (password_bench measures that).
constexpr PasswordParams kFast{.memory_kib = 64, .iterations = 1, .parallelism = 1};

TEST(PasswordTest, HashIsAPhcStringRecordingItsParameters) {
  auto h = HashPassword("correct horse", kFast);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_THAT(*h, StartsWith("$argon2id$v=19$m=64,t=1,p=1$"));
  auto p = ParsePasswordHash(*h);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, kFast);
}

TEST(PasswordTest, VerifiesTheRightPasswordAndRejectsOthers) {
  auto h = HashPassword("correct horse", kFast);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto right = VerifyPassword("correct horse", *h);
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  EXPECT_TRUE(*right);
  for (std::string wrong : {"correct hors", "correct horse ", "Correct horse", "x"}) {
    auto r = VerifyPassword(wrong, *h);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(*r) << wrong;
  }
}

TEST(PasswordTest, SaltsEveryHash) {
  auto a = HashPassword("same", kFast);
  auto b = HashPassword("same", kFast);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(PasswordTest, RefusesEmptyAndOversizedPasswordsWithoutHashing) {
  const uint64_t before = Argon2Computations();
  auto empty = HashPassword("", kFast);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty"));
  const std::string huge(kMaxPasswordBytes + 1, 'a');
  auto big = HashPassword(huge, kFast);
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(big.status().message(), HasSubstr("1024"));
  auto h = HashPassword(std::string(kMaxPasswordBytes, 'a'), kFast);  // the cap itself is fine
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(VerifyPassword(huge, *h).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyPassword("", *h).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Argon2Computations(), before + 1);
}

TEST(PasswordTest, RefusesMalformedOrOutOfBoundsStoredHashes) {
  auto h = HashPassword("pw", kFast);
  ASSERT_TRUE(h.ok());
  const uint64_t before = Argon2Computations();
  for (std::string bad : {std::string(""), std::string("plain"),
                          std::string("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
                          std::string("$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
                          std::string("$argon2id$v=19$m=64,t=1$c2FsdHNhbHQ$aGFzaA"),
                          std::string("$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
                          std::string("$argon2id$v=19$m=-1,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
                          // 4 TiB of memory would be an allocation bomb.
                          std::string("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
                          *h + "$extra", std::string(600, '$')}) {
    auto r = VerifyPassword("pw", bad);
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << bad;
  }
  EXPECT_EQ(Argon2Computations(), before);
}

TEST(PasswordTest, NeedsRehashWhenParametersDiffer) {
  auto h = HashPassword("pw", kFast);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(NeedsRehash(*h, kFast));
  EXPECT_TRUE(NeedsRehash(*h, {.memory_kib = 128, .iterations = 1, .parallelism = 1}));
  EXPECT_TRUE(NeedsRehash(*h, {.memory_kib = 64, .iterations = 2, .parallelism = 1}));
  EXPECT_TRUE(NeedsRehash(*h, {.memory_kib = 64, .iterations = 1, .parallelism = 2}));
  EXPECT_TRUE(NeedsRehash("not a hash", kFast));
}

TEST(PasswordTest, ChecksParameters) {
  EXPECT_TRUE(CheckPasswordParams(PasswordParams{}).ok());
  EXPECT_FALSE(CheckPasswordParams({.memory_kib = 4, .iterations = 1, .parallelism = 1}).ok());
  EXPECT_FALSE(CheckPasswordParams({.memory_kib = 64, .iterations = 0, .parallelism = 1}).ok());
  EXPECT_FALSE(CheckPasswordParams({.memory_kib = 64, .iterations = 1, .parallelism = 0}).ok());
  EXPECT_FALSE(
      CheckPasswordParams({.memory_kib = (1u << 20) + 1, .iterations = 1, .parallelism = 1}).ok());
  EXPECT_EQ(
      HashPassword("pw", {.memory_kib = 4, .iterations = 1, .parallelism = 1}).status().code(),
      StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace custos::collector::access
