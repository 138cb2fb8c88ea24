// Engine behaviours not covered by the recorded scenarios: closing alerts, restart snapshots,
// scope, memory bounds.
#include "collector/scoring/scoring.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace custos::collector::scoring {
namespace {

constexpr int64_t kDay = 86'400'000'000'000;
constexpr int64_t kT0 = 1'795'000'000'000'000'000;  // 2026-11-18

custos::v1::Event Copy(int i) {
  custos::v1::Event e;
  e.mutable_file()->set_op(custos::v1::FILE_OP_COPY_TO_REMOVABLE);
  e.mutable_file()->set_path("/media/u/f" + std::to_string(i));
  e.mutable_file()->set_size(10);
  return e;
}

struct Fixture {
  ScoringEngine engine{{}};
  std::vector<custos::v1::Event> events;
  uint64_t seq = 0;
  Fixture() {
    auto p = PolicyFromTemplate("data_leaks", "Leaks");
    p->id = "pol_1";
    engine.SetPolicies({*p});
  }
  std::vector<AlertUpdate> Copies(int n, int64_t start, const std::string& user = "u") {
    std::vector<AlertUpdate> out;
    for (int i = 0; i < n; ++i) {
      auto ev = Copy(i);
      engine.Observe({"a", "h", 1, ++seq, start + int64_t{i} * 1'000'000'000, user, &ev});
      for (auto& u : engine.TakeUpdates()) out.push_back(std::move(u));
    }
    return out;
  }
};

TEST(ScoringEngineTest, AlertIsUpdatedAsActivityContinuesAndOnlyWhenItChanges) {
  Fixture f;
  auto first = f.Copies(1, kT0);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].score, 20u);  // usb_copy low tier: 40 x 0.5
  auto more = f.Copies(9, kT0 + 10'000'000'000);
  ASSERT_FALSE(more.empty());
  EXPECT_EQ(more.back().score, 30u);  // 10 copies: medium, 40 x 0.75
  f.engine.MarkDirty("u");
  EXPECT_TRUE(f.engine.TakeUpdates().empty()) << "unchanged score reported again";
}

TEST(ScoringEngineTest, ClosedAlertCountsOnlyLaterActivityAndSurvivesRestart) {
  Fixture f;
  f.Copies(10, kT0);
  std::string snapshot = f.engine.CloseAlert("u", "pol_1", kT0 + 100'000'000'000);
  EXPECT_TRUE(f.engine.TakeUpdates().empty()) << "closing must not re-raise the same activity";
  auto after = f.Copies(1, kT0 + 200'000'000'000);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].score, 20u) << after[0].explanation_json;
  auto ex = nlohmann::json::parse(after[0].explanation_json);
  EXPECT_EQ(ex["indicators"][0]["count_in_window"], 1);

  // Restart: replay the same events into a fresh engine, then restore the close.
  Fixture g;
  g.Copies(10, kT0);
  g.Copies(1, kT0 + 200'000'000'000);
  g.engine.TakeUpdates();
  g.engine.RestoreClose("u", "pol_1", snapshot);
  auto restored = g.engine.TakeUpdates();
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored[0].score, 20u);
}

TEST(ScoringEngineTest, ScopeByGroupsAndExclusions) {
  ScoringEngine engine({});
  auto p = PolicyFromTemplate("data_leaks", "Leaks");
  p->id = "pol_1";
  p->scope.all = false;
  p->scope.groups = {"sales"};
  p->scope.excluded = {"carl@x"};
  engine.SetPolicies({*p});
  engine.SetDirectory({{"ann@x", "", "", "", {"sales"}},
                       {"carl@x", "", "", "", {"sales"}},
                       {"dan@x", "", "", "", {"eng"}}},
                      {{"ann", "", "ann@x"}, {"carl", "", "carl@x"}, {"dan", "pc1", "dan@x"}});
  EXPECT_EQ(engine.PersonFor("dan", "pc1"), "dan@x");
  EXPECT_EQ(engine.PersonFor("dan", "pc2"), "dan");
  uint64_t seq = 0;
  std::set<std::string> alerted;
  for (std::string user : {"ann", "carl", "dan"}) {
    auto ev = Copy(1);
    engine.Observe({"a", "pc1", 1, ++seq, kT0, user, &ev});
    for (auto& u : engine.TakeUpdates()) alerted.insert(u.person);
  }
  EXPECT_EQ(alerted, std::set<std::string>{"ann@x"});
}

TEST(ScoringEngineTest, OldDaysAreForgotten) {
  EngineOptions options;
  options.retain_days = 5;
  ScoringEngine engine(options);
  auto p = PolicyFromTemplate("data_leaks", "Leaks");
  p->id = "pol_1";
  p->historic_days = 100;
  engine.SetPolicies({*p});
  uint64_t seq = 0;
  for (int d = 0; d < 20; ++d) {
    auto ev = Copy(d);
    engine.Observe({"a", "h", 1, ++seq, kT0 + d * kDay, "u", &ev});
  }
  auto updates = engine.TakeUpdates();
  ASSERT_EQ(updates.size(), 1u);
  auto ex = nlohmann::json::parse(updates[0].explanation_json);
  EXPECT_LE(ex["indicators"][0]["count_in_window"].get<int>(), 6);
}

TEST(ScoringEngineTest, UnattributableEventsAreDroppedNotGuessed) {
  Fixture f;
  custos::v1::Event e;
  e.mutable_setting()->set_area("agent");
  e.mutable_setting()->set_key("config");
  f.engine.Observe({"a", "lonely-host", 1, 1, kT0, "", &e});
  EXPECT_EQ(f.engine.people(), 0u);
}

// Issue 17: what the agent's scan found (changed while it was down, or lost in an overflow) is
// nobody's activity: never given to the host's most recent user, never a mass-creation burst.
TEST(ScoringEngineTest, ScanFindingsAreNeitherAttributedNorCounted) {
  auto created = [](int i, custos::v1::ObservedBy by) {
    custos::v1::Event e;
    e.mutable_file()->set_op(custos::v1::FILE_OP_CREATE);
    e.mutable_file()->set_path("/home/u/w" + std::to_string(i) + ".zip");
    e.mutable_file()->set_observed_by(by);
    return e;
  };
  Fixture f;
  ASSERT_EQ(f.Copies(1, kT0).size(), 1u);  // u is the host's most recent user, score 20
  for (int i = 0; i < 200; ++i) {
    auto ev = created(i, custos::v1::OBSERVED_BY_SCAN);
    f.engine.Observe({"a", "h", 1, ++f.seq, kT0 + 60'000'000'000, "", &ev});
  }
  EXPECT_TRUE(f.engine.TakeUpdates().empty()) << "scan findings changed u's score";
  EXPECT_EQ(f.engine.people(), 1u);
  // Even with a login (no agent sends one with a scan finding), a finding counts for nobody.
  auto with_login = created(0, custos::v1::OBSERVED_BY_SCAN);
  f.engine.Observe({"a", "h", 1, ++f.seq, kT0 + 61'000'000'000, "u", &with_login});
  EXPECT_TRUE(f.engine.TakeUpdates().empty());
  // The same creates seen live without an actor (inotify) do go to the host's recent user: the
  // difference above is the scan flag, not the missing login.
  std::vector<AlertUpdate> live;
  for (int i = 0; i < 200; ++i) {
    auto ev = created(i, custos::v1::OBSERVED_BY_WATCH);
    f.engine.Observe({"a", "h", 1, ++f.seq, kT0 + 62'000'000'000, "", &ev});
    for (auto& u : f.engine.TakeUpdates()) live.push_back(std::move(u));
  }
  ASSERT_FALSE(live.empty());
  EXPECT_GT(live.back().score, 20u);
  EXPECT_NE(live.back().explanation_json.find("most recent user"), std::string::npos);
}

TEST(ScoringEngineTest, AgentTextThatIsNotUtf8NeverThrows) {
  ScoringEngine engine({});
  auto p = PolicyFromTemplate("security_violations", "Sec");
  p->id = "pol_1";
  engine.SetPolicies({*p});
  custos::v1::Event e;
  auto* s = e.mutable_setting();
  s->set_area("sudoers");
  s->set_key("/etc/sudoers");
  // A multi-byte character across byte 200 of the summary, and bytes that are not UTF-8.
  s->set_summary("+ " + std::string(197, 'x') + "\xc3\xbc" + " \xff\xfe trailing");
  engine.Observe({"a", "h", 1, 1, kT0, "mallory", &e});
  std::vector<AlertUpdate> updates;
  ASSERT_NO_THROW(updates = engine.TakeUpdates());
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_FALSE(nlohmann::json::parse(updates[0].explanation_json).is_discarded());
}

TEST(ScoringEngineTest, TheSameTriggerTwiceCountsOnce) {
  Fixture f;
  auto p = PolicyFromTemplate("data_theft_departing", "Departing");
  p->id = "pol_2";
  f.engine.SetPolicies({*p});
  for (int i = 0; i < 3; ++i) {
    f.engine.AddTrigger({"u", TriggerKind::kResignation, kT0 - kDay, 0, "HR resignation"});
  }
  auto updates = f.Copies(12, kT0);
  ASSERT_FALSE(updates.empty());
  auto ex = nlohmann::json::parse(updates.back().explanation_json);
  EXPECT_EQ(ex["triggers"].size(), 1u) << ex.dump(2);
}

}  // namespace
}  // namespace custos::collector::scoring
