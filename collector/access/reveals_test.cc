#include "collector/access/reveals.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "collector/store/sqlite/sqlite_privacy_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"

namespace custos::collector::access {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kWhy = "Case 41: copy of the customer list to USB";

Principal Person(std::string id, std::string name, RoleSet roles) {
  Principal p;
  p.via = Principal::Via::kSession;
  p.id = std::move(id);
  p.name = std::move(name);
  p.roles = roles;
  return p;
}

class RevealsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::OpenSqliteStore({.path = dir_.Sub("custos.db")});  // runs the migrations
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    auto privacy = store::OpenSqlitePrivacyStore(dir_.Sub("custos.db"));
    ASSERT_TRUE(privacy.ok()) << privacy.status().ToString();
    store_ = std::move(*privacy);
    reveals_ = std::make_unique<Reveals>(store_.get(), &clock_);
  }

  // A pending request by the analyst for alice.
  store::RevealRecord Pending() {
    auto r = reveals_->Request(analyst_, "Alice@Example.com", kWhy);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : store::RevealRecord{};
  }

  std::vector<std::string> Revealed(const Principal& p) {
    auto r = reveals_->RevealedTo(p, clock_.NowUnixNs());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<std::string>{};
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<store::PrivacyStore> store_;
  std::unique_ptr<Reveals> reveals_;
  Principal analyst_ = Person("usr_ann", "ann", {Role::kAnalyst});
  Principal investigator_ = Person("usr_ivy", "ivy", {Role::kInvestigator});
  Principal approver_ = Person("usr_pat", "pat", {Role::kApprover});
  Principal admin_ = Person("usr_adm", "adm", {Role::kAdmin});
  // Holds both roles: may request, and approve requests of others, but not their own.
  Principal analyst_approver_ = Person("usr_dual", "dual", {Role::kAnalyst, Role::kApprover});
};

TEST_F(RevealsTest, ApprovedRevealShowsThePersonToTheRequesterOnlyUntilItExpires) {
  store::RevealRecord req = Pending();
  EXPECT_THAT(req.id, ::testing::StartsWith("rvl_"));
  EXPECT_EQ(req.person, "alice@example.com");
  EXPECT_EQ(req.status, "requested");
  EXPECT_EQ(req.requester, "usr_ann");
  EXPECT_THAT(Revealed(analyst_), IsEmpty());

  clock_.Advance(minutes(10));
  auto approved = reveals_->Approve(approver_, req.id, "ok for case 41");
  ASSERT_TRUE(approved.ok()) << approved.status().ToString();
  EXPECT_EQ(approved->status, "approved");
  EXPECT_EQ(approved->decided_by, "usr_pat");
  EXPECT_EQ(approved->decided_by_name, "pat");
  EXPECT_EQ(approved->decision_note, "ok for case 41");
  EXPECT_EQ(approved->expires_at_ns, clock_.NowUnixNs() + hours(24) / std::chrono::nanoseconds(1));

  EXPECT_THAT(Revealed(analyst_), ElementsAre("alice@example.com"));
  EXPECT_THAT(Revealed(investigator_), IsEmpty());  // scoped to the requester
  EXPECT_THAT(Revealed(approver_), IsEmpty());

  clock_.Advance(hours(23) + minutes(59));
  EXPECT_THAT(Revealed(analyst_), ElementsAre("alice@example.com"));
  clock_.Advance(minutes(2));
  EXPECT_THAT(Revealed(analyst_), IsEmpty());  // pseudonymised again

  auto expired = reveals_->ExpireDue();
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].id, req.id);
  EXPECT_EQ((*expired)[0].status, "expired");
  EXPECT_EQ(store_->GetReveal(req.id)->status, "expired");
  EXPECT_THAT(reveals_->ExpireDue().value(), IsEmpty());
}

TEST_F(RevealsTest, RequestsNobodyDecidesExpireAfterAWeek) {
  auto req = reveals_->Request(analyst_, "alice@example.com", kWhy);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  clock_.Advance(hours(24 * 7) - minutes(1));
  EXPECT_THAT(reveals_->ExpireDue().value(), IsEmpty());
  clock_.Advance(minutes(2));
  auto expired = reveals_->ExpireDue();
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].id, req->id);
  EXPECT_EQ(store_->GetReveal(req->id)->status, "expired");
  // An expired request cannot be approved, and a new one may be made.
  EXPECT_FALSE(reveals_->Approve(approver_, req->id, "late").ok());
  EXPECT_TRUE(reveals_->Request(analyst_, "alice@example.com", kWhy).ok());
}

TEST_F(RevealsTest, TtlIsConfigurable) {
  reveals_ =
      std::make_unique<Reveals>(store_.get(), &clock_, RevealsOptions{.reveal_ttl = hours(1)});
  store::RevealRecord req = Pending();
  ASSERT_TRUE(reveals_->Approve(approver_, req.id, "").ok());
  clock_.Advance(minutes(59));
  EXPECT_THAT(Revealed(analyst_), ElementsAre("alice@example.com"));
  clock_.Advance(minutes(1));
  EXPECT_THAT(Revealed(analyst_), IsEmpty());
}

TEST_F(RevealsTest, TheRequesterCannotApproveOrRefuseTheirOwnRequest) {
  auto req = reveals_->Request(analyst_approver_, "bob@example.com", kWhy);
  ASSERT_TRUE(req.ok()) << req.status().ToString();
  auto a = reveals_->Approve(analyst_approver_, req->id, "");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(a.status().ToString(), HasSubstr("their own request"));
  auto r = reveals_->Refuse(analyst_approver_, req->id, "");
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->GetReveal(req->id)->status, "requested");
  EXPECT_THAT(Revealed(analyst_approver_), IsEmpty());
  // ... but may approve someone else's.
  store::RevealRecord other = Pending();
  EXPECT_TRUE(reveals_->Approve(analyst_approver_, other.id, "").ok());
}

TEST_F(RevealsTest, OnlyApproversDecide) {
  store::RevealRecord req = Pending();
  for (const Principal& p :
       {investigator_, admin_, Person("usr_x", "x", {Role::kViewer, Role::kAuditor})}) {
    auto a = reveals_->Approve(p, req.id, "");
    ASSERT_FALSE(a.ok()) << p.name;
    EXPECT_EQ(a.status().code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(a.status().ToString(), HasSubstr("needs the approver role"));
    EXPECT_EQ(reveals_->Refuse(p, req.id, "").status().code(), StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(store_->GetReveal(req.id)->status, "requested");
}

TEST_F(RevealsTest, AServiceTokenCannotDecideEvenWithTheApproverRole) {
  store::RevealRecord req = Pending();
  Principal token = Person("atk_1", "automation", {Role::kApprover});
  token.via = Principal::Via::kServiceToken;
  auto a = reveals_->Approve(token, req.id, "");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(a.status().ToString(), HasSubstr("service token"));
  EXPECT_EQ(store_->GetReveal(req.id)->status, "requested");
}

TEST_F(RevealsTest, ARequesterWhoLosesTheRoleSeesPseudonymsAgain) {
  store::RevealRecord req = Pending();
  ASSERT_TRUE(reveals_->Approve(approver_, req.id, "").ok());
  EXPECT_THAT(Revealed(analyst_), ElementsAre("alice@example.com"));
  Principal demoted = analyst_;
  demoted.roles = {Role::kViewer};
  EXPECT_THAT(Revealed(demoted), IsEmpty());
}

TEST_F(RevealsTest, OnlyAnalystsAndInvestigatorsRequest) {
  for (const Principal& p : {approver_, admin_, Person("usr_v", "v", {Role::kViewer})}) {
    auto r = reveals_->Request(p, "alice@example.com", kWhy);
    ASSERT_FALSE(r.ok()) << p.name;
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
    EXPECT_THAT(r.status().ToString(), HasSubstr("analyst or investigator"));
  }
  EXPECT_TRUE(reveals_->Request(investigator_, "alice@example.com", kWhy).ok());
}

TEST_F(RevealsTest, JustificationMustBe10To2000Characters) {
  EXPECT_EQ(reveals_->Request(analyst_, "alice@example.com", "   too short   ").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(
      reveals_->Request(analyst_, "alice@example.com", std::string(2001, 'x')).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(reveals_->Request(analyst_, "", kWhy).status().code(), StatusCode::kInvalidArgument);
  // Characters, not bytes: ten two-byte characters are enough.
  std::string ten;
  for (int i = 0; i < 10; ++i) ten += "\xc3\xa9";
  EXPECT_TRUE(reveals_->Request(analyst_, "alice@example.com", ten).ok());
  EXPECT_TRUE(reveals_->Request(analyst_, "bob@example.com", std::string(2000, 'x')).ok());
}

TEST_F(RevealsTest, OnePendingRequestPerRequesterAndPerson) {
  store::RevealRecord first = Pending();
  auto again = reveals_->Request(analyst_, "alice@example.com", kWhy);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().ToString(), HasSubstr("pending request"));
  // Another requester, or another person, is fine; so is a new request once decided.
  EXPECT_TRUE(reveals_->Request(investigator_, "alice@example.com", kWhy).ok());
  EXPECT_TRUE(reveals_->Request(analyst_, "bob@example.com", kWhy).ok());
  ASSERT_TRUE(reveals_->Refuse(approver_, first.id, "no case yet").ok());
  EXPECT_TRUE(reveals_->Request(analyst_, "alice@example.com", kWhy).ok());
}

TEST_F(RevealsTest, RefusedRequestRevealsNothingAndCannotBeApprovedLater) {
  store::RevealRecord req = Pending();
  auto refused = reveals_->Refuse(approver_, req.id, "no case opened");
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->status, "refused");
  EXPECT_EQ(refused->decision_note, "no case opened");
  EXPECT_EQ(refused->expires_at_ns, 0);
  EXPECT_THAT(Revealed(analyst_), IsEmpty());
  auto late = reveals_->Approve(Person("usr_q", "q", {Role::kApprover}), req.id, "");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().ToString(), HasSubstr("is refused"));
  EXPECT_EQ(reveals_->Approve(approver_, "rvl_0000", "").status().code(), StatusCode::kNotFound);
}

TEST_F(RevealsTest, WithdrawEndsAPendingRequestOrALiveReveal) {
  store::RevealRecord req = Pending();
  EXPECT_EQ(reveals_->Withdraw(investigator_, req.id).status().code(),
            StatusCode::kPermissionDenied);
  auto w = reveals_->Withdraw(analyst_, req.id);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->status, "withdrawn");
  EXPECT_EQ(reveals_->Approve(approver_, req.id, "").status().code(),
            StatusCode::kFailedPrecondition);

  store::RevealRecord live = Pending();
  ASSERT_TRUE(reveals_->Approve(approver_, live.id, "").ok());
  EXPECT_THAT(Revealed(analyst_), ElementsAre("alice@example.com"));
  auto ended = reveals_->Withdraw(analyst_, live.id);
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(ended->status, "withdrawn");
  EXPECT_EQ(ended->decided_by, "usr_pat");  // who approved it stays on the record
  EXPECT_THAT(Revealed(analyst_), IsEmpty());
  EXPECT_EQ(reveals_->Withdraw(analyst_, live.id).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(RevealsTest, ListShowsPendingToApproversAndOwnRequestsToRequesters) {
  store::RevealRecord a = Pending();
  clock_.Advance(minutes(1));
  auto b = reveals_->Request(investigator_, "bob@example.com", kWhy);
  ASSERT_TRUE(b.ok());
  clock_.Advance(minutes(1));
  ASSERT_TRUE(reveals_->Refuse(approver_, a.id, "").ok());

  auto for_approver = reveals_->List(approver_);
  ASSERT_TRUE(for_approver.ok()) << for_approver.status().ToString();
  ASSERT_EQ(for_approver->size(), 1u);
  EXPECT_EQ((*for_approver)[0].id, b->id);

  auto for_analyst = reveals_->List(analyst_);
  ASSERT_TRUE(for_analyst.ok());
  ASSERT_EQ(for_analyst->size(), 1u);
  EXPECT_EQ((*for_analyst)[0].id, a.id);
  EXPECT_EQ((*for_analyst)[0].status, "refused");
}

TEST_F(RevealsTest, CachedRevealsFollowChangesMadeThroughTheSameObject) {
  // A long cache: only invalidation can make the second answer right.
  reveals_ =
      std::make_unique<Reveals>(store_.get(), &clock_, RevealsOptions{.cache_ttl = hours(1)});
  store::RevealRecord req = Pending();
  EXPECT_THAT(Revealed(analyst_), IsEmpty());
  ASSERT_TRUE(reveals_->Approve(approver_, req.id, "").ok());
  EXPECT_THAT(Revealed(analyst_), ElementsAre("alice@example.com"));
  ASSERT_TRUE(reveals_->Withdraw(analyst_, req.id).ok());
  EXPECT_THAT(Revealed(analyst_), IsEmpty());
}

TEST_F(RevealsTest, PseudonymisationIsOnByDefaultAndOnlyAnAdminTurnsItOff) {
  EXPECT_TRUE(reveals_->IsPseudonymisationOn().value());
  auto denied = reveals_->SetPseudonymisation(analyst_, false);
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(reveals_->IsPseudonymisationOn().value());

  auto off = reveals_->SetPseudonymisation(admin_, false);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_TRUE(off->was_on);
  EXPECT_EQ(off->setting.value, "off");
  EXPECT_EQ(off->setting.updated_by, "user:adm");
  EXPECT_FALSE(reveals_->IsPseudonymisationOn().value());
  auto stored = store_->GetSetting(store::kPseudonymisationSetting);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->value, "off");
  EXPECT_EQ((*stored)->updated_at_ns, clock_.NowUnixNs());

  // Seen by another Reveals on the same database (another collector, a restart).
  Reveals other(store_.get(), &clock_);
  EXPECT_FALSE(other.IsPseudonymisationOn().value());

  auto on = reveals_->SetPseudonymisation(admin_, true);
  ASSERT_TRUE(on.ok());
  EXPECT_FALSE(on->was_on);
  EXPECT_TRUE(reveals_->IsPseudonymisationOn().value());
}

TEST_F(RevealsTest, StoreDecisionsAreCompareAndSet) {
  store::RevealRecord req = Pending();
  store::RevealDecision d{.id = req.id, .from_status = "approved", .to_status = "expired"};
  auto r = store_->DecideReveal(d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().ToString(), HasSubstr("is requested, not approved"));
  EXPECT_EQ(store_->GetReveal(req.id)->status, "requested");
}

TEST_F(RevealsTest, StoreLiveRevealsAreTheRequestersApprovedUnexpiredOnes) {
  store::RevealRecord a = Pending();
  auto b = reveals_->Request(analyst_, "bob@example.com", kWhy);
  auto c = reveals_->Request(investigator_, "carol@example.com", kWhy);
  ASSERT_TRUE(b.ok() && c.ok());
  ASSERT_TRUE(reveals_->Approve(approver_, a.id, "").ok());
  clock_.Advance(hours(1));
  ASSERT_TRUE(reveals_->Approve(approver_, b->id, "").ok());
  ASSERT_TRUE(reveals_->Approve(approver_, c->id, "").ok());
  const int64_t a_end = clock_.NowUnixNs() + (hours(23) / std::chrono::nanoseconds(1));
  auto live = store_->LiveReveals("usr_ann", a_end - 1);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  ASSERT_EQ(live->size(), 2u);
  live = store_->LiveReveals("usr_ann", a_end);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].person, "bob@example.com");
}

TEST(SqlitePrivacyStoreTest, RefusesADatabaseWithoutItsTables) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("empty.db"), "").ok());
  auto s = store::OpenSqlitePrivacyStore(dir.Sub("empty.db"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace custos::collector::access
