// Scenario tests: recorded events, directory and HR rows in, expected alerts out. Every
// tests/scenarios/*.json is one scenario (format: tests/scenarios/README.md). The engine runs
// exactly as the collector's scorer drives it: triggers first, then events one by one in time
// order, taking updates after each event (streaming), so "raised within a second" holds here as
// "raised by the event that crossed the threshold".
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "collector/imports/directory_import.h"
#include "collector/imports/hr_import.h"
#include "collector/scoring/policy.h"
#include "collector/scoring/scoring.h"

namespace custos::collector::scoring {
namespace {

using imports::ParseDirectoryCsv;
using imports::FormatImportProblem;
using imports::HrScenarioName;
using imports::ParseHrCsv;
using imports::ParseHrDate;

using nlohmann::json;
namespace fsys = std::filesystem;

std::string SourceDir() {
  const char* d = std::getenv("CUSTOS_SOURCE_DIR");
  return d != nullptr ? d : ".";
}

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> out;
  for (const auto& e : fsys::directory_iterator(SourceDir() + "/tests/scenarios")) {
    if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t Time(const json& j) {
  auto t = ParseHrDate(j.get<std::string>());
  if (!t) ADD_FAILURE() << "bad time " << j;
  return t.value_or(0);
}

int64_t Duration(const std::string& s) {
  int64_t n = std::stoll(s.substr(0, s.size() - 1));
  switch (s.back()) {
    case 's':
      return n * 1'000'000'000;
    case 'm':
      return n * 60'000'000'000;
    case 'h':
      return n * 3'600'000'000'000;
    case 'd':
      return n * 86'400'000'000'000;
  }
  ADD_FAILURE() << "bad duration " << s;
  return 0;
}

std::string Substitute(std::string text, int i) {
  for (size_t p; (p = text.find("{i}")) != std::string::npos;)
    text.replace(p, 3, std::to_string(i));
  return text;
}

struct TimedEvent {
  int64_t time_ns;
  std::string host;
  std::string login;
  custos::v1::Event event;
};

// One scenario event: {"time", "host", "user", <payload as protobuf JSON>, "actor"?}.
TimedEvent MakeEvent(json j, int64_t time_ns) {
  TimedEvent e;
  e.time_ns = time_ns;
  e.host = j.value("host", "ws-1");
  e.login = j.value("user", "");
  j.erase("time");
  j.erase("user");
  j.erase("every");
  j.erase("repeat");
  j.erase("start");
  if (!e.login.empty()) j["actor"]["loginUser"] = e.login;
  j["timeNs"] = std::to_string(time_ns);
  auto st = google::protobuf::util::JsonStringToMessage(j.dump(), &e.event);
  EXPECT_TRUE(st.ok()) << st.ToString() << " in " << j.dump();
  return e;
}

std::vector<TimedEvent> Events(const json& scenario) {
  std::vector<TimedEvent> out;
  for (const auto& j : scenario.value("events", json::array())) {
    if (j.contains("repeat")) {
      const int n = j["repeat"].get<int>();
      const int64_t start = Time(j["start"]);
      const int64_t every = Duration(j.value("every", "1m"));
      for (int i = 0; i < n; ++i) {
        out.push_back(MakeEvent(json::parse(Substitute(j.dump(), i)), start + i * every));
      }
    } else {
      out.push_back(MakeEvent(j, Time(j["time"])));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const TimedEvent& a, const TimedEvent& b) { return a.time_ns < b.time_ns; });
  return out;
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, ProducesExpectedAlerts) {
  const std::string path = SourceDir() + "/tests/scenarios/" + GetParam() + ".json";
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  json s = json::parse(buf.str(), nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << path << ": not JSON";
  SCOPED_TRACE(s.value("description", GetParam()));

  ScoringEngine engine({});
  // Policies from templates, with overrides.
  std::vector<Policy> policies;
  std::map<std::string, std::string> policy_ids;  // name -> id
  for (const auto& p : s["policies"]) {
    auto policy =
        PolicyFromTemplate(p["template"].get<std::string>(), p["name"].get<std::string>());
    ASSERT_TRUE(policy.ok()) << policy.status().ToString();
    if (p.contains("set")) {
      Status st = ApplyPolicyJson(p["set"].dump(), &*policy);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    policy->id = "pol_" + std::to_string(policies.size());
    policy_ids[policy->name] = policy->id;
    policies.push_back(std::move(*policy));
  }
  engine.SetPolicies(policies);

  // Directory.
  std::set<std::string> known;
  if (s.contains("directory_csv")) {
    auto dir = ParseDirectoryCsv(s["directory_csv"].get<std::string>());
    ASSERT_TRUE(dir.problems.empty()) << FormatImportProblem(dir.problems[0]);
    std::map<std::string, Person> people;
    std::vector<DirectoryLogin> logins;
    for (const auto& e : dir.entries) {
      Person& p = people[e.email];
      p.id = e.email;
      for (const auto& g : e.groups) p.groups.push_back(g);
      logins.push_back({e.login, e.host == "*" ? "" : e.host, e.email});
      known.insert(e.email);
    }
    std::vector<Person> list;
    for (auto& [id, p] : people) list.push_back(p);
    engine.SetDirectory(list, logins);
  }
  // Triggers: HR rows, external alerts, manual starts.
  if (s.contains("hr_csv")) {
    auto hr = ParseHrCsv(s["hr_csv"].get<std::string>(), std::nullopt,
                         [&](std::string_view e) { return known.count(std::string(e)) > 0; });
    ASSERT_TRUE(hr.problems.empty()) << FormatImportProblem(hr.problems[0]);
    for (const auto& r : hr.records) {
      auto kind = ParseTriggerKind(HrScenarioName(r.scenario));
      ASSERT_TRUE(kind.has_value());
      engine.AddTrigger({r.email, *kind, r.effective_time_ns, 0, "HR"});
    }
  }
  for (const auto& t : s.value("triggers", json::array())) {
    auto kind = ParseTriggerKind(t["kind"].get<std::string>());
    ASSERT_TRUE(kind.has_value()) << t;
    const int64_t at = Time(t["time"]);
    engine.AddTrigger({t["person"].get<std::string>(), *kind, at,
                       t.contains("days") ? at + t["days"].get<int64_t>() * 86'400'000'000'000 : 0,
                       t.value("detail", "")});
  }

  // Stream the events.
  std::map<std::pair<std::string, std::string>, AlertUpdate> alerts;
  std::map<std::pair<std::string, std::string>, size_t> raised_at;  // first update: event index
  auto take = [&](size_t index) {
    for (auto& u : engine.TakeUpdates()) {
      auto key = std::make_pair(u.person, u.policy_id);
      raised_at.try_emplace(key, index);
      alerts[key] = std::move(u);
    }
  };
  take(0);
  const auto events = Events(s);
  uint64_t seq = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& te = events[i];
    const std::string agent = "agent-" + te.host;
    EngineEvent e{agent, te.host, 1, ++seq, te.time_ns, te.login, &te.event};
    engine.Observe(e);
    take(i + 1);
  }

  // Expectations.
  const json& expect = s["expect"];
  std::set<std::pair<std::string, std::string>> matched;
  for (const auto& want : expect.value("alerts", json::array())) {
    const std::string person = want["person"].get<std::string>();
    const std::string policy = want["policy"].get<std::string>();
    ASSERT_TRUE(policy_ids.count(policy)) << "unknown policy in expectation: " << policy;
    auto key = std::make_pair(person, policy_ids[policy]);
    auto it = alerts.find(key);
    ASSERT_TRUE(it != alerts.end()) << "no alert for " << person << " under " << policy;
    matched.insert(key);
    const AlertUpdate& got = it->second;
    json ex = json::parse(got.explanation_json);
    SCOPED_TRACE(ex.dump(2));
    if (want.contains("severity")) {
      EXPECT_EQ(got.severity, want["severity"].get<std::string>());
    }
    if (want.contains("min_score")) {
      EXPECT_GE(got.score, want["min_score"].get<uint32_t>());
    }
    if (want.contains("max_score")) {
      EXPECT_LE(got.score, want["max_score"].get<uint32_t>());
    }
    std::set<std::string> indicators, boosters, triggers;
    for (const auto& i : ex["indicators"]) indicators.insert(i["id"].get<std::string>());
    for (const auto& b : ex["boosters"]) boosters.insert(b["id"].get<std::string>());
    for (const auto& t : ex["triggers"]) triggers.insert(t["kind"].get<std::string>());
    for (const auto& i : want.value("indicators", json::array())) {
      EXPECT_TRUE(indicators.count(i.get<std::string>())) << "missing indicator " << i;
    }
    for (const auto& i : want.value("not_indicators", json::array())) {
      EXPECT_FALSE(indicators.count(i.get<std::string>())) << "unexpected indicator " << i;
    }
    for (const auto& b : want.value("boosters", json::array())) {
      EXPECT_TRUE(boosters.count(b.get<std::string>())) << "missing booster " << b;
    }
    for (const auto& t : want.value("triggers", json::array())) {
      EXPECT_TRUE(triggers.count(t.get<std::string>())) << "missing trigger " << t;
    }
    if (want.contains("sequences")) {
      EXPECT_EQ(ex["sequences"].size(), want["sequences"].get<size_t>());
      if (want.contains("sequence_stages") && !ex["sequences"].empty()) {
        EXPECT_EQ(ex["sequences"][0]["stages"], want["sequence_stages"]);
      }
    }
    if (want.contains("cumulative_exfiltration")) {
      EXPECT_EQ(ex.contains("cumulative_exfiltration"),
                want["cumulative_exfiltration"].get<bool>());
    }
    if (want.contains("raised_by_event")) {
      // Streaming: the alert appears with the event that crosses the threshold, not later.
      EXPECT_EQ(raised_at[key], want["raised_by_event"].get<size_t>());
    }
    // Every contributing sample names a stored event.
    for (const auto& i : ex["indicators"]) {
      EXPECT_FALSE(i["events"].empty()) << i["id"];
      for (const auto& e : i["events"]) EXPECT_GT(e["seq"].get<uint64_t>(), 0u);
    }
  }
  if (expect.value("exact", true)) {
    for (const auto& [key, u] : alerts) {
      EXPECT_TRUE(matched.count(key)) << "unexpected alert for " << key.first << " under policy "
                                      << key.second << ": score " << u.score << "\n"
                                      << json::parse(u.explanation_json).dump(2);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Recorded, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace custos::collector::scoring
