#include "collector/alerts/alerts.h"

#include <gtest/gtest.h>

#include "collector/store/testing/sqlite_stores.h"

namespace custos::collector::alerts {
namespace {

class AlertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    risk_ = stores_.risk.get();
    store::AlertRecord a;
    a.person = "dana@example.com";
    a.policy_id = "pol_1";
    a.severity = "high";
    a.score = 80;
    a.explanation_json = "{}";
    std::vector<store::AlertRecord> updates{a};
    ASSERT_TRUE(risk_->ApplyAlertUpdates(updates, clock_.NowUnixNs()).ok());
    id_ = updates[0].id;
  }
  store::testing::SqliteStores stores_;
  FakeClock clock_;
  store::RiskStore* risk_ = nullptr;
  int64_t id_ = 0;
};

TEST_F(AlertsTest, ConfirmsThenResolvesAndClosedAlertsStayClosed) {
  Alerts alerts(risk_, nullptr, &clock_);
  auto confirmed = alerts.SetStatus(id_, "confirmed", "", "user:dana");
  ASSERT_TRUE(confirmed.ok()) << confirmed.status().ToString();
  EXPECT_EQ(confirmed->status, "confirmed");
  EXPECT_EQ(confirmed->status_by, "user:dana");
  auto resolved = alerts.SetStatus(id_, "resolved", "handled", "user:dana");
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  auto reopened = alerts.SetStatus(id_, "needs_review", "", "user:dana");
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(AlertsTest, RefusesUnknownStatusesAndDismissalsWithoutReason) {
  Alerts alerts(risk_, nullptr, &clock_);
  auto bad = alerts.SetStatus(id_, "closed", "", "user:dana");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto no_reason = alerts.SetStatus(id_, "dismissed", "", "user:dana");
  ASSERT_FALSE(no_reason.ok());
  EXPECT_NE(no_reason.status().message().find("reason"), std::string::npos);
  auto still = alerts.Get(id_);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->status, "needs_review");
  EXPECT_TRUE(alerts.SetStatus(id_, "dismissed", "approved backup", "user:dana").ok());
}

TEST_F(AlertsTest, UnknownAlertIsNotFound) {
  Alerts alerts(risk_, nullptr, &clock_);
  auto missing = alerts.SetStatus(id_ + 100, "confirmed", "", "user:dana");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace custos::collector::alerts
