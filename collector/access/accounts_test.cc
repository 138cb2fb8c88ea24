#include "collector/access/accounts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "collector/store/sqlite/sqlite_access_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/crypto/crypto.h"
#include "common/testing/testing.h"

namespace custos::collector::access {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

int64_t Ns(std::chrono::nanoseconds d) { return d.count(); }

// Cheap parameters: these tests check behaviour, not cost (password_bench measures that).
constexpr PasswordParams kFast{.memory_kib = 64, .iterations = 1, .parallelism = 1};
constexpr const char* kRefused = "accounts: sign in: wrong username or password";

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto migrated = store::OpenSqliteStore({.path = dir_.Sub("custos.db")});
    ASSERT_TRUE(migrated.ok()) << migrated.status().ToString();
    auto s = store::OpenSqliteAccessStore(dir_.Sub("custos.db"));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    Reopen({});
  }

  void Reopen(AccountsOptions options) {
    if (options.password_params == PasswordParams{}) options.password_params = kFast;
    auto a = Accounts::Create(store_.get(), &clock_, options);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    accounts_ = std::move(*a);
  }

  Account Make(const std::string& username, RoleSet roles = {Role::kAnalyst},
               std::optional<std::string> password = "correct horse") {
    auto a = accounts_->CreateAccount({.username = username,
                                       .display_name = username + " Example",
                                       .email = username + "@example.com",
                                       .roles = roles,
                                       .password = password});
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : Account{};
  }

  SignInResult SignInOk(const std::string& username, const std::string& password = "correct horse",
                        const std::string& address = "192.0.2.1") {
    auto r = accounts_->SignIn(username, password, address);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : SignInResult{};
  }

  Principal AsUser(const Account& a) {
    return {.via = Principal::Via::kSession, .id = a.id, .name = a.username, .roles = a.roles};
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::AccessStore> store_;
  std::unique_ptr<Accounts> accounts_;
};

// ---- accounts ----

TEST_F(AccountsTest, UsernamesFollowTheRulesAndAreUniqueIgnoringCase) {
  for (std::string bad :
       {std::string(""), std::string(65, 'a'), std::string("al ice"), std::string("al/ice"),
        std::string("\xc3\xa9lise"), std::string("a\nb"), std::string("a\0b", 3)}) {
    auto r = accounts_->CreateAccount({.username = bad, .password = "correct horse"});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("username")) << bad;
  }
  Account a = Make("Alice.B-c_d@corp", {Role::kAdmin, Role::kAuditor});
  EXPECT_THAT(a.id, ::testing::StartsWith("usr_"));
  EXPECT_EQ(a.source, "local");
  EXPECT_EQ(a.roles, (RoleSet{Role::kAdmin, Role::kAuditor}));
  EXPECT_TRUE(
      accounts_->CreateAccount({.username = std::string(64, 'z'), .password = "12345678"}).ok());
  auto dup = accounts_->CreateAccount({.username = "alice.b-C_D@CORP", .password = "12345678"});
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists) << dup.status().ToString();
  auto list = accounts_->ListAccounts();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
}

TEST_F(AccountsTest, NewPasswordsMustBeLongEnoughAndBounded) {
  auto short_pw = accounts_->CreateAccount({.username = "bob", .password = "1234567"});
  EXPECT_EQ(short_pw.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(short_pw.status().message(), HasSubstr("shorter than 8"));
  auto long_pw = accounts_->CreateAccount({.username = "bob", .password = std::string(1025, 'x')});
  EXPECT_EQ(long_pw.status().code(), StatusCode::kInvalidArgument);
  Account ldap = Make("carol", {Role::kViewer}, std::nullopt);
  EXPECT_EQ(ldap.source, "ldap");
}

// ---- sign-in and sessions ----

TEST_F(AccountsTest, SignInStartsASessionTheCookieAuthenticates) {
  Account alice = Make("alice", {Role::kAnalyst, Role::kInvestigator});
  SignInResult r = SignInOk("ALICE");  // usernames ignore case at sign-in too
  EXPECT_EQ(r.principal.via, Principal::Via::kSession);
  EXPECT_EQ(r.principal.id, alice.id);
  EXPECT_EQ(r.principal.name, "alice");
  EXPECT_EQ(r.principal.roles, alice.roles);
  EXPECT_THAT(r.principal.session_id, ::testing::StartsWith("ses_"));
  EXPECT_EQ(r.session_cookie_secret.size(), 43u);
  EXPECT_EQ(r.csrf_token.size(), 43u);
  EXPECT_NE(r.session_cookie_secret, r.csrf_token);
  EXPECT_EQ(r.expires_at_ns, clock_.NowUnixNs() + Ns(hours(12)));
  EXPECT_EQ(r.idle_expires_at_ns, clock_.NowUnixNs() + Ns(minutes(30)));

  auto p = accounts_->AuthenticateSession(r.session_cookie_secret);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->id, alice.id);
  EXPECT_EQ(p->session_id, r.principal.session_id);
  EXPECT_EQ(p->csrf_sha256, crypto::Sha256(r.csrf_token));
  EXPECT_EQ(p->Actor(), "user:alice");
  // Only the hash of the secret is stored.
  EXPECT_TRUE(store_->FindSession(crypto::Sha256(r.session_cookie_secret)).ok());
  EXPECT_FALSE(store_->FindSession(r.session_cookie_secret).ok());
  EXPECT_EQ(accounts_->counters().succeeded, 1u);
}

TEST_F(AccountsTest, CsrfTokenMustMatchTheSession) {
  Make("alice");
  SignInResult a = SignInOk("alice");
  SignInResult b = SignInOk("alice");
  auto p = accounts_->AuthenticateSession(a.session_cookie_secret);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(accounts_->CheckCsrf(*p, a.csrf_token).ok());
  EXPECT_EQ(accounts_->CheckCsrf(*p, b.csrf_token).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(accounts_->CheckCsrf(*p, "").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(accounts_->CheckCsrf(*p, a.session_cookie_secret).code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(accounts_->CheckCsrf(*p, std::string(300, 'A')).code(), StatusCode::kPermissionDenied);
  // Bearer tokens are never sent ambiently by a browser: no CSRF token to check.
  Principal token{.via = Principal::Via::kPersonalToken, .id = p->id};
  EXPECT_TRUE(accounts_->CheckCsrf(token, "").ok());
}

TEST_F(AccountsTest, UnknownWrongDisabledAndLdapAccountsGetTheSameAnswerAfterOneArgon2Run) {
  Account alice = Make("alice");
  Account dave = Make("dave");
  ASSERT_TRUE(accounts_->SetDisabled(dave.id, true).ok());
  Make("carol", {Role::kViewer}, std::nullopt);
  struct Case {
    const char* username;
    const char* password;
  };
  for (Case c : {Case{"alice", "wrong horse"}, Case{"nobody", "correct horse"},
                 Case{"dave", "correct horse"}, Case{"carol", "correct horse"}}) {
    const uint64_t before = Argon2Computations();
    auto r = accounts_->SignIn(c.username, c.password, std::string("198.51.100.") + c.username);
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << c.username;
    EXPECT_EQ(r.status().message(), kRefused) << c.username;
    // Same work whether the account exists or not: one verification, no more, no less.
    EXPECT_EQ(Argon2Computations(), before + 1) << c.username;
  }
  EXPECT_EQ(accounts_->counters().failed, 4u);
  EXPECT_EQ(accounts_->counters().succeeded, 0u);
}

TEST_F(AccountsTest, IdleSessionsExpireAndUseKeepsThemAlive) {
  Make("alice");
  SignInResult r = SignInOk("alice");
  clock_.Advance(minutes(29));
  ASSERT_TRUE(accounts_->AuthenticateSession(r.session_cookie_secret).ok());
  clock_.Advance(minutes(29));  // 58 min after sign-in, 29 after last use
  ASSERT_TRUE(accounts_->AuthenticateSession(r.session_cookie_secret).ok());
  clock_.Advance(minutes(30));
  auto p = accounts_->AuthenticateSession(r.session_cookie_secret);
  EXPECT_EQ(p.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(p.status().message(), HasSubstr("inactivity"));
}

TEST_F(AccountsTest, SessionsEndAtTheirAbsoluteLifetimeHoweverUsed) {
  Make("alice");
  SignInResult r = SignInOk("alice");
  for (int i = 0; i < 71; ++i) {  // every 10 minutes for 11 h 50 min
    clock_.Advance(minutes(10));
    ASSERT_TRUE(accounts_->AuthenticateSession(r.session_cookie_secret).ok()) << i;
  }
  clock_.Advance(minutes(10));
  auto p = accounts_->AuthenticateSession(r.session_cookie_secret);
  EXPECT_EQ(p.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(p.status().message(), HasSubstr("expired"));
}

TEST_F(AccountsTest, LastSeenIsWrittenAtMostOnceAMinute) {
  Make("alice");
  SignInResult r = SignInOk("alice");
  const std::string key = crypto::Sha256(r.session_cookie_secret);
  const int64_t start = clock_.NowUnixNs();
  clock_.Advance(seconds(30));
  ASSERT_TRUE(accounts_->AuthenticateSession(r.session_cookie_secret).ok());
  EXPECT_EQ(store_->FindSession(key)->last_seen_ns, start);
  clock_.Advance(seconds(31));
  ASSERT_TRUE(accounts_->AuthenticateSession(r.session_cookie_secret).ok());
  EXPECT_EQ(store_->FindSession(key)->last_seen_ns, clock_.NowUnixNs());
}

TEST_F(AccountsTest, SignOutEndsTheSessionOnTheServer) {
  Make("alice");
  SignInResult r = SignInOk("alice");
  SignInResult other = SignInOk("alice");
  ASSERT_TRUE(accounts_->SignOut(r.principal.session_id).ok());
  auto p = accounts_->AuthenticateSession(r.session_cookie_secret);
  EXPECT_EQ(p.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(p.status().message(), HasSubstr("signed out"));
  EXPECT_TRUE(accounts_->AuthenticateSession(other.session_cookie_secret).ok());
  EXPECT_EQ(accounts_->SignOut("ses_nope").code(), StatusCode::kNotFound);
  auto never = accounts_->AuthenticateSession(std::string(43, 'A'));
  EXPECT_EQ(never.status().code(), StatusCode::kPermissionDenied);
}

TEST_F(AccountsTest, DisablingRevokesSessionsForGood) {
  Account alice = Make("alice");
  SignInResult r = SignInOk("alice");
  ASSERT_TRUE(accounts_->SetDisabled(alice.id, true).ok());
  EXPECT_EQ(accounts_->AuthenticateSession(r.session_cookie_secret).status().code(),
            StatusCode::kPermissionDenied);
  ASSERT_TRUE(accounts_->SetDisabled(alice.id, false).ok());
  auto p = accounts_->AuthenticateSession(r.session_cookie_secret);
  EXPECT_EQ(p.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(p.status().message(), HasSubstr("signed out"));
  EXPECT_TRUE(accounts_->SignIn("alice", "correct horse", "192.0.2.1").ok());
  EXPECT_EQ(accounts_->SetDisabled("usr_nope", true).code(), StatusCode::kNotFound);
}

TEST_F(AccountsTest, SettingAPasswordRevokesSessionsAndReplacesTheOldOne) {
  Account alice = Make("alice");
  SignInResult r = SignInOk("alice");
  ASSERT_TRUE(accounts_->SetPassword(alice.id, "battery staple").ok());
  EXPECT_EQ(accounts_->AuthenticateSession(r.session_cookie_secret).status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(accounts_->SignIn("alice", "correct horse", "192.0.2.1").status().message(), kRefused);
  SignInOk("alice", "battery staple");
  EXPECT_EQ(accounts_->SetPassword(alice.id, "short").code(), StatusCode::kInvalidArgument);
}

TEST_F(AccountsTest, RoleChangesApplyToTheNextRequestOfALiveSession) {
  Account alice = Make("alice", {Role::kAdmin});
  SignInResult r = SignInOk("alice");
  ASSERT_TRUE(accounts_->SetRoles(alice.id, {Role::kViewer}).ok());
  auto p = accounts_->AuthenticateSession(r.session_cookie_secret);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->roles, RoleSet{Role::kViewer});
}

TEST_F(AccountsTest, RehashesAtSignInWhenParametersWereRaised) {
  Account alice = Make("alice");
  const PasswordParams raised{.memory_kib = 128, .iterations = 2, .parallelism = 1};
  Reopen({.password_params = raised});
  SignInOk("alice");
  auto stored = store_->GetAccount(alice.id);
  ASSERT_TRUE(stored.ok());
  auto params = ParsePasswordHash(stored->password_hash);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(*params, raised);
  const std::string rehashed = stored->password_hash;
  SignInOk("alice");  // the new hash verifies, and is not rehashed again
  EXPECT_EQ(store_->GetAccount(alice.id)->password_hash, rehashed);
}

// ---- throttling ----

TEST_F(AccountsTest, ThrottlesAUsernameAfterFiveFailuresWithoutRunningArgon2) {
  Make("alice");
  for (int i = 0; i < 5; ++i) {
    auto r = accounts_->SignIn("alice", "guess" + std::to_string(i),
                               "203.0.113." + std::to_string(i));  // a new address each time
    EXPECT_EQ(r.status().message(), kRefused);
  }
  const uint64_t before = Argon2Computations();
  clock_.Advance(minutes(5));
  int64_t retry_after = 0;
  auto r = accounts_->SignIn("Alice", "correct horse", "203.0.113.99", &retry_after);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  EXPECT_EQ(retry_after, 600);  // the window opened at the first failure, 15 min ago - 5
  EXPECT_THAT(r.status().message(), HasSubstr("retry in 600 s"));
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(accounts_->SignIn("alice", "flood", "203.0.113.98").ok());
  }
  EXPECT_EQ(Argon2Computations(), before);  // refusals cost no hashing
  EXPECT_EQ(accounts_->counters().throttled, 101u);
  EXPECT_EQ(accounts_->counters().failed, 5u);
  clock_.Advance(minutes(10));
  SignInOk("alice", "correct horse", "203.0.113.99");
}

TEST_F(AccountsTest, ThrottlesAnAddressSprayingUsernames) {
  Make("alice");
  for (int i = 0; i < 20; ++i) {
    auto r = accounts_->SignIn("user" + std::to_string(i), "password", "198.51.100.7");
    EXPECT_EQ(r.status().message(), kRefused);
  }
  const uint64_t before = Argon2Computations();
  int64_t retry_after = 0;
  auto r = accounts_->SignIn("alice", "correct horse", "198.51.100.7", &retry_after);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 15 * 60);
  EXPECT_EQ(Argon2Computations(), before);
  SignInOk("alice", "correct horse", "198.51.100.8");  // another address is not throttled
}

TEST_F(AccountsTest, ASuccessClearsItsUsernameCountButNotItsAddressCount) {
  Make("alice");
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) EXPECT_FALSE(accounts_->SignIn("alice", "guess", "10.0.0.1").ok());
    SignInOk("alice", "correct horse", "10.0.0.1");
  }
  // 12 failures from 10.0.0.1 so far; 8 more reach the address limit despite the successes.
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(accounts_->SignIn("bob" + std::to_string(i), "guess", "10.0.0.1").status().message(),
              kRefused);
  }
  EXPECT_EQ(accounts_->SignIn("alice", "correct horse", "10.0.0.1").status().code(),
            StatusCode::kResourceExhausted);
}

TEST_F(AccountsTest, ThrottlingMemoryIsBoundedByEvictingTheOldestEntries) {
  Reopen({.max_failures_per_username = 1,
          .max_failures_per_address = 1000,
          .throttle_max_entries = 2});
  EXPECT_EQ(accounts_->SignIn("u1", "guess", "10.0.0.1").status().message(), kRefused);
  EXPECT_EQ(accounts_->SignIn("u1", "guess", "10.0.0.1").status().code(),
            StatusCode::kResourceExhausted);
  clock_.Advance(seconds(1));
  EXPECT_FALSE(accounts_->SignIn("u2", "guess", "10.0.0.1").ok());
  EXPECT_FALSE(accounts_->SignIn("u3", "guess", "10.0.0.1").ok());  // evicts u1, the oldest
  EXPECT_EQ(accounts_->SignIn("u1", "guess", "10.0.0.1").status().message(), kRefused);
  EXPECT_EQ(accounts_->SignIn("u3", "guess", "10.0.0.1").status().code(),
            StatusCode::kResourceExhausted);
}

// An AccessStore that holds the first FindAccountByUsername until released, so a test can keep a
// sign-in in flight (it holds a password-check slot) while it makes another.
class HoldingStore final : public store::AccessStore {
 public:
  explicit HoldingStore(store::AccessStore* real) : real_(real) {}
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitUntilHeld() {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, seconds(30), [&] { return held_; });
  }

  Result<store::AccountRecord> FindAccountByUsername(std::string_view username) override {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (!held_) {  // only the first call is held
        held_ = true;
        cv_.notify_all();
        cv_.wait(l, [&] { return released_; });
      }
    }
    return real_->FindAccountByUsername(username);
  }
  Status InsertAccount(const store::AccountRecord& a) override { return real_->InsertAccount(a); }
  Result<store::AccountRecord> GetAccount(std::string_view id) override {
    return real_->GetAccount(id);
  }
  Result<std::vector<store::AccountRecord>> ListAccounts() override {
    return real_->ListAccounts();
  }
  Status UpdateAccount(std::string_view id, const store::AccountChange& c, int64_t now) override {
    return real_->UpdateAccount(id, c, now);
  }
  Status InsertSession(const store::SessionRecord& s, std::string_view h) override {
    return real_->InsertSession(s, h);
  }
  Result<store::SessionRecord> FindSession(std::string_view h) override {
    return real_->FindSession(h);
  }
  Status TouchSession(std::string_view id, int64_t t) override {
    return real_->TouchSession(id, t);
  }
  Status RevokeSession(std::string_view id, int64_t t) override {
    return real_->RevokeSession(id, t);
  }
  Result<uint32_t> RevokeSessionsOf(std::string_view a, int64_t t) override {
    return real_->RevokeSessionsOf(a, t);
  }
  Result<uint32_t> DeleteSessionsEndedBefore(int64_t t) override {
    return real_->DeleteSessionsEndedBefore(t);
  }
  Status InsertPersonalToken(const store::PersonalTokenRecord& r, std::string_view h) override {
    return real_->InsertPersonalToken(r, h);
  }
  Result<store::PersonalTokenRecord> FindPersonalToken(std::string_view h) override {
    return real_->FindPersonalToken(h);
  }
  Result<store::PersonalTokenRecord> GetPersonalToken(std::string_view id) override {
    return real_->GetPersonalToken(id);
  }
  Result<std::vector<store::PersonalTokenRecord>> ListPersonalTokens(
      std::optional<std::string_view> owner) override {
    return real_->ListPersonalTokens(owner);
  }
  Status TouchPersonalToken(std::string_view id, int64_t t) override {
    return real_->TouchPersonalToken(id, t);
  }
  Status RevokePersonalToken(std::string_view id, int64_t t) override {
    return real_->RevokePersonalToken(id, t);
  }

 private:
  store::AccessStore* const real_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool released_ = false;
};

TEST_F(AccountsTest, BoundsConcurrentPasswordChecksAndRefusesTheRestWithoutHashing) {
  Make("alice");
  HoldingStore holding(store_.get());
  auto limited = Accounts::Create(&holding, &clock_,
                                  {.password_params = kFast, .max_concurrent_password_checks = 1});
  ASSERT_TRUE(limited.ok()) << limited.status().ToString();
  Result<SignInResult> first = Status(StatusCode::kCancelled, "not run");
  std::thread t([&] { first = (*limited)->SignIn("alice", "correct horse", "10.0.0.1"); });
  ASSERT_TRUE(holding.WaitUntilHeld());
  const uint64_t before = Argon2Computations();
  int64_t retry_after = 0;
  auto second = (*limited)->SignIn("alice", "correct horse", "10.0.0.2", &retry_after);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
  EXPECT_EQ(retry_after, 1);
  EXPECT_EQ(Argon2Computations(), before);
  holding.Release();
  t.join();
  EXPECT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE((*limited)->SignIn("alice", "correct horse", "10.0.0.2").ok());  // slot freed
}

// ---- personal tokens ----

TEST_F(AccountsTest, PersonalTokensAuthenticateAsTheirOwnerWithCurrentRoles) {
  Account alice = Make("alice", {Role::kAnalyst});
  auto t = accounts_->CreatePersonalToken(AsUser(alice), alice.id, "ci export", std::nullopt);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_THAT(t->secret, ::testing::StartsWith("cus_pat_"));
  EXPECT_EQ(t->secret.size(), 8u + 43u);
  EXPECT_THAT(t->id, ::testing::StartsWith("ptk_"));
  auto p = accounts_->AuthenticateToken(t->secret);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->via, Principal::Via::kPersonalToken);
  EXPECT_EQ(p->id, alice.id);
  EXPECT_EQ(p->roles, RoleSet{Role::kAnalyst});
  ASSERT_TRUE(accounts_->SetRoles(alice.id, {Role::kViewer}).ok());
  EXPECT_EQ(accounts_->AuthenticateToken(t->secret)->roles, RoleSet{Role::kViewer});

  ASSERT_TRUE(accounts_->SetDisabled(alice.id, true).ok());
  EXPECT_EQ(accounts_->AuthenticateToken(t->secret).status().code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(accounts_->SetDisabled(alice.id, false).ok());
  EXPECT_TRUE(accounts_->AuthenticateToken(t->secret).ok());
  auto listed = accounts_->ListPersonalTokens(alice.id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "ci export");
  EXPECT_EQ((*listed)[0].last_used_ns, clock_.NowUnixNs());
}

TEST_F(AccountsTest, OnlyTheOwnerOrAnAdminCreatesAndRevokesAToken) {
  Account alice = Make("alice", {Role::kAnalyst});
  Account bob = Make("bob", {Role::kInvestigator});
  Account root = Make("root", {Role::kAdmin});
  EXPECT_EQ(
      accounts_->CreatePersonalToken(AsUser(bob), alice.id, "x", std::nullopt).status().code(),
      StatusCode::kPermissionDenied);
  auto by_admin = accounts_->CreatePersonalToken(AsUser(root), alice.id, "x", std::nullopt);
  ASSERT_TRUE(by_admin.ok()) << by_admin.status().ToString();
  auto t = accounts_->CreatePersonalToken(AsUser(alice), alice.id, "mine", std::nullopt);
  ASSERT_TRUE(t.ok());

  Status s = accounts_->RevokePersonalToken(AsUser(bob), t->id);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
  EXPECT_TRUE(accounts_->AuthenticateToken(t->secret).ok());
  ASSERT_TRUE(accounts_->RevokePersonalToken(AsUser(alice), t->id).ok());
  auto p = accounts_->AuthenticateToken(t->secret);
  EXPECT_EQ(p.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(p.status().message(), HasSubstr("revoked"));
  // A service token with the admin role may revoke anyone's token.
  Principal service{
      .via = Principal::Via::kServiceToken, .id = "atk_1", .name = "ops", .roles = {Role::kAdmin}};
  ASSERT_TRUE(accounts_->RevokePersonalToken(service, by_admin->id).ok());
  EXPECT_FALSE(accounts_->AuthenticateToken(by_admin->secret).ok());
  EXPECT_EQ(accounts_->RevokePersonalToken(service, "ptk_nope").code(), StatusCode::kNotFound);
  EXPECT_EQ(accounts_->ListPersonalTokens(std::nullopt)->size(), 2u);
  EXPECT_EQ(accounts_->ListPersonalTokens(bob.id)->size(), 0u);
}

TEST_F(AccountsTest, TokensExpire) {
  Account alice = Make("alice");
  EXPECT_EQ(accounts_->CreatePersonalToken(AsUser(alice), alice.id, "old", clock_.NowUnixNs())
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  auto t = accounts_->CreatePersonalToken(AsUser(alice), alice.id, "day",
                                          clock_.NowUnixNs() + Ns(hours(24)));
  ASSERT_TRUE(t.ok());
  clock_.Advance(hours(23));
  EXPECT_TRUE(accounts_->AuthenticateToken(t->secret).ok());
  clock_.Advance(hours(1));
  auto p = accounts_->AuthenticateToken(t->secret);
  EXPECT_EQ(p.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(p.status().message(), HasSubstr("expired"));
}

// ---- bounded input ----

TEST_F(AccountsTest, RefusesOversizedAndMalformedInputBeforeHashing) {
  Account alice = Make("alice");
  const uint64_t before = Argon2Computations();
  EXPECT_EQ(accounts_->SignIn(std::string(65, 'a'), "pw", "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(accounts_->SignIn("alice", std::string(1025, 'a'), "").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(accounts_->SignIn("alice", "", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(accounts_->SignIn("al ice", "pw", "").status().code(), StatusCode::kInvalidArgument);
  for (std::string cookie :
       {std::string(), std::string(300, 'A'), std::string(42, 'A'), std::string(44, 'A'),
        std::string(42, 'A') + "=", std::string(42, 'A') + "\n"}) {
    EXPECT_EQ(accounts_->AuthenticateSession(cookie).status().code(), StatusCode::kInvalidArgument)
        << cookie;
  }
  for (std::string token : {std::string(), std::string(300, 'A'), std::string(51, 'A'),
                            "cus_pat_" + std::string(42, 'A'), "cus_pat_" + std::string(44, 'A'),
                            "cus_pat_" + std::string(42, 'A') + "!"}) {
    EXPECT_EQ(accounts_->AuthenticateToken(token).status().code(), StatusCode::kInvalidArgument)
        << token;
  }
  EXPECT_EQ(
      accounts_->CreatePersonalToken(AsUser(alice), alice.id, "", std::nullopt).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      accounts_->CreatePersonalToken(AsUser(alice), alice.id, std::string(65, 'n'), std::nullopt)
          .status()
          .code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(Argon2Computations(), before);
  EXPECT_EQ(accounts_->counters().failed + accounts_->counters().throttled, 0u);
}

TEST_F(AccountsTest, RefusesBadOptions) {
  EXPECT_FALSE(
      Accounts::Create(store_.get(), &clock_,
                       {.password_params = {.memory_kib = 1, .iterations = 1, .parallelism = 1}})
          .ok());
  EXPECT_FALSE(Accounts::Create(store_.get(), &clock_,
                                {.password_params = kFast, .max_failures_per_username = 0})
                   .ok());
}

}  // namespace
}  // namespace custos::collector::access

namespace custos::collector::access {
namespace {

// A directory in memory standing in for LDAP (the real one is tested against slapd in
// ldap_directory_test and through the API in api_session_test).
class ExternalSignInTest : public AccountsTest {
 protected:
  void UseDirectory() {
    AccountsOptions o;
    o.external = [this](std::string_view user, std::string_view password)
        -> Result<ExternalIdentity> {
      ++directory_calls_;
      if (!reachable_) return UnavailableError("ldap: ldap://dir:389: Can't contact LDAP server");
      if (user != "mallory" || password != "dir-pass") {
        return PermissionDeniedError("ldap: invalid username or password");
      }
      return ExternalIdentity{.username = "mallory",
                              .display_name = "Mallory M",
                              .email = "mallory@example.com",
                              .roles = roles_};
    };
    Reopen(o);
  }
  int directory_calls_ = 0;
  bool reachable_ = true;
  RoleSet roles_{Role::kAnalyst};
};

TEST_F(ExternalSignInTest, FirstSignInCreatesTheAccountAndRolesFollowTheDirectory) {
  UseDirectory();
  auto first = accounts_->SignIn("mallory", "dir-pass", "192.0.2.1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->principal.roles.Has(Role::kAnalyst));
  auto listed = accounts_->ListAccounts();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].source, "ldap");
  EXPECT_EQ((*listed)[0].email, "mallory@example.com");

  roles_ = RoleSet{Role::kApprover};
  auto second = accounts_->SignIn("mallory", "dir-pass", "192.0.2.1");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->principal.roles.ToString(), "approver");
}

TEST_F(ExternalSignInTest, LocalAccountsNeverAskTheDirectory) {
  UseDirectory();
  Make("alice");
  reachable_ = false;
  SignInOk("alice");
  EXPECT_EQ(directory_calls_, 0);
}

TEST_F(ExternalSignInTest, WrongPasswordIsTheSameRefusalAndCounts) {
  UseDirectory();
  auto wrong = accounts_->SignIn("mallory", "nope", "192.0.2.1");
  ASSERT_FALSE(wrong.ok());
  auto local_wrong = accounts_->SignIn("nobody", "nope", "192.0.2.1");
  ASSERT_FALSE(local_wrong.ok());
  EXPECT_EQ(wrong.status().message(), local_wrong.status().message());
  EXPECT_EQ(wrong.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(accounts_->counters().failed, 2u);
}

TEST_F(ExternalSignInTest, DirectoryDownIsUnavailableNotAFailedGuess) {
  UseDirectory();
  reachable_ = false;
  for (int i = 0; i < 8; ++i) {
    auto r = accounts_->SignIn("mallory", "dir-pass", "192.0.2.1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  }
  reachable_ = true;
  auto ok = accounts_->SignIn("mallory", "dir-pass", "192.0.2.1");
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();  // not throttled by the outage
}

}  // namespace
}  // namespace custos::collector::access
