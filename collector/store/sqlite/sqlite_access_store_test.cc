#include "collector/store/sqlite/sqlite_access_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "collector/store/sqlite/sqlite_store.h"
#include "collector/store/testing/exec_sql.h"
#include "common/testing/testing.h"

namespace custos::collector::store {
namespace {

class SqliteAccessStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto migrated = OpenSqliteStore({.path = path()});
    ASSERT_TRUE(migrated.ok()) << migrated.status().ToString();
    auto s = OpenSqliteAccessStore(path());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  std::string path() const { return dir_.Sub("custos.db"); }

  static AccountRecord Alice() {
    return {.id = "usr_a",
            .username = "Alice",
            .display_name = "Alice A",
            .email = "alice@example.com",
            .role_bits = 3,
            .password_hash = "$argon2id$old",
            .source = std::string(kAccountSourceLocal),
            .created_at_ns = 10,
            .updated_at_ns = 10};
  }

  custos::testing::TempDir dir_;
  std::unique_ptr<AccessStore> store_;
};

TEST_F(SqliteAccessStoreTest, RefusesADatabaseBeforeSchema6) {
  ASSERT_TRUE(testing::ExecSql(path(), "PRAGMA user_version=5"));
  auto s = OpenSqliteAccessStore(path());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
}

TEST_F(SqliteAccessStoreTest, UsernamesAreUniqueAndFoundIgnoringCase) {
  ASSERT_TRUE(store_->InsertAccount(Alice()).ok());
  AccountRecord dup = Alice();
  dup.id = "usr_b";
  dup.username = "ALICE";
  EXPECT_EQ(store_->InsertAccount(dup).code(), StatusCode::kAlreadyExists);
  auto found = store_->FindAccountByUsername("aLiCe");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->id, "usr_a");
  EXPECT_EQ(found->username, "Alice");
  EXPECT_EQ(found->role_bits, 3);
  EXPECT_EQ(found->password_hash, "$argon2id$old");
  EXPECT_EQ(store_->FindAccountByUsername("bob").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetAccount("usr_zz").status().code(), StatusCode::kNotFound);
}

TEST_F(SqliteAccessStoreTest, UpdateAccountHonoursExpectedHashAndRevokesSessions) {
  ASSERT_TRUE(store_->InsertAccount(Alice()).ok());
  ASSERT_TRUE(store_
                  ->InsertSession({.id = "ses_1",
                                   .csrf_sha256 = "c",
                                   .account = "usr_a",
                                   .created_at_ns = 1,
                                   .last_seen_ns = 1,
                                   .expires_at_ns = 99,
                                   .source_address = ""},
                                  "secret-hash-1")
                  .ok());
  Status stale = store_->UpdateAccount(
      "usr_a", {.password_hash = "$argon2id$new", .expected_password_hash = "$argon2id$other"}, 20);
  EXPECT_EQ(stale.code(), StatusCode::kFailedPrecondition) << stale.ToString();
  EXPECT_EQ(store_->GetAccount("usr_a")->password_hash, "$argon2id$old");

  ASSERT_TRUE(store_
                  ->UpdateAccount("usr_a",
                                  {.disabled = true,
                                   .password_hash = "$argon2id$new",
                                   .expected_password_hash = "$argon2id$old",
                                   .revoke_sessions = true},
                                  30)
                  .ok());
  auto a = store_->GetAccount("usr_a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->password_hash, "$argon2id$new");
  EXPECT_TRUE(a->disabled);
  EXPECT_EQ(a->role_bits, 3);  // untouched
  EXPECT_EQ(a->updated_at_ns, 30);
  auto s = store_->FindSession("secret-hash-1");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->revoked_at_ns, 30);
  EXPECT_EQ(store_->UpdateAccount("usr_x", {.role_bits = 1}, 1).code(), StatusCode::kNotFound);
}

TEST_F(SqliteAccessStoreTest, SessionsRoundTripAndRevocationKeepsTheFirstTime) {
  ASSERT_TRUE(store_->InsertAccount(Alice()).ok());
  SessionRecord r{.id = "ses_1",
                  .csrf_sha256 = std::string("\0\1", 2),
                  .account = "usr_a",
                  .created_at_ns = 5,
                  .last_seen_ns = 5,
                  .expires_at_ns = 500,
                  .source_address = "10.0.0.1"};
  ASSERT_TRUE(store_->InsertSession(r, std::string("\0secret", 7)).ok());
  EXPECT_EQ(store_->InsertSession(r, "other").code(), StatusCode::kAlreadyExists);  // same id
  ASSERT_TRUE(store_->TouchSession("ses_1", 50).ok());
  ASSERT_TRUE(store_->TouchSession("ses_1", 40).ok());  // never backwards
  auto s = store_->FindSession(std::string("\0secret", 7));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->csrf_sha256, std::string("\0\1", 2));
  EXPECT_EQ(s->last_seen_ns, 50);
  EXPECT_EQ(s->source_address, "10.0.0.1");
  EXPECT_FALSE(s->revoked_at_ns);
  EXPECT_EQ(store_->FindSession("secret").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->RevokeSession("ses_1", 60).ok());
  ASSERT_TRUE(store_->RevokeSession("ses_1", 70).ok());
  EXPECT_EQ(store_->FindSession(std::string("\0secret", 7))->revoked_at_ns, 60);
  EXPECT_EQ(store_->RevokeSession("ses_2", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(*store_->RevokeSessionsOf("usr_a", 80), 0u);  // already revoked
  EXPECT_EQ(*store_->DeleteSessionsEndedBefore(60), 0u);
  EXPECT_EQ(*store_->DeleteSessionsEndedBefore(61), 1u);
}

TEST_F(SqliteAccessStoreTest, PersonalTokensRoundTrip) {
  ASSERT_TRUE(store_->InsertAccount(Alice()).ok());
  ASSERT_TRUE(store_
                  ->InsertPersonalToken(
                      {.id = "ptk_1", .owner = "usr_a", .name = "ci", .created_at_ns = 1}, "hash1")
                  .ok());
  ASSERT_TRUE(store_
                  ->InsertPersonalToken({.id = "ptk_2",
                                         .owner = "usr_b",
                                         .name = "x",
                                         .created_at_ns = 2,
                                         .expires_at_ns = 100},
                                        "hash2")
                  .ok());
  EXPECT_EQ(
      store_->InsertPersonalToken({.id = "ptk_3", .owner = "usr_a", .name = "dup"}, "hash1").code(),
      StatusCode::kAlreadyExists);
  auto t = store_->FindPersonalToken("hash2");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->id, "ptk_2");
  EXPECT_EQ(t->expires_at_ns, 100);
  EXPECT_FALSE(t->last_used_ns);
  ASSERT_TRUE(store_->TouchPersonalToken("ptk_2", 7).ok());
  ASSERT_TRUE(store_->RevokePersonalToken("ptk_2", 9).ok());
  t = store_->GetPersonalToken("ptk_2");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->last_used_ns, 7);
  EXPECT_EQ(t->revoked_at_ns, 9);
  EXPECT_EQ(store_->ListPersonalTokens(std::nullopt)->size(), 2u);
  auto mine = store_->ListPersonalTokens("usr_a");
  ASSERT_TRUE(mine.ok());
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].id, "ptk_1");
  EXPECT_EQ(store_->RevokePersonalToken("ptk_9", 1).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace custos::collector::store
