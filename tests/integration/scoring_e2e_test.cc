// End to end through real processes: a replaying custos-agent streams events over mTLS to a real
// custos-collector, whose scorer raises alerts that are read back through the HTTPS API; alert
// triage, bad requests and a collector restart are exercised on the same running system.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "collector/api/https_client.h"
#include "common/time/clock.h"
#include "custos/v1/event.pb.h"
#include "tests/integration/harness.h"

namespace custos {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::BinaryPath;
using testing::CollectorProcess;
using testing::Subprocess;
using testing::TempDir;
using testing::WaitFor;

class ScoringE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<CollectorProcess>(dir_.Sub("collector"));
    ASSERT_TRUE(collector_->Init().ok());
    ASSERT_TRUE(collector_->Start().ok()) << collector_->Logs();
    auto token = testing::ReadFile(collector_->admin_token_path());
    ASSERT_TRUE(token.ok());
    token_ = token->substr(0, token->find('\n'));
  }

  collector::api::HttpsClient Client() {
    auto ca = testing::ReadFile(collector_->ca_path());
    EXPECT_TRUE(ca.ok());
    return collector::api::HttpsClient({"127.0.0.1", collector_->api_port(), ca.value_or(""), 10s});
  }

  // Sends a request with the admin token; returns {status, parsed body}.
  std::pair<int, json> Call(std::string_view method, std::string_view target,
                            std::string_view body = "",
                            std::string_view content_type = "application/json",
                            std::string_view token = "admin") {
    auto r =
        Client().Request(method, target, body, token == "admin" ? token_ : token, content_type);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  void EnrollAndReplay(const std::vector<custos::v1::Event>& events) {
    std::ofstream replay(dir_.Sub("replay.jsonl"));
    for (const auto& e : events) {
      std::string line;
      ASSERT_TRUE(google::protobuf::util::MessageToJsonString(e, &line).ok());
      replay << line << "\n";
    }
    replay.close();
    std::ofstream cfg(dir_.Sub("agent.yaml"));
    cfg << "collector:\n  address: 127.0.0.1:" << collector_->port()
        << "\n  server_name: localhost\n";
    cfg.close();
    auto enroll_token = collector_->Token(1);
    ASSERT_TRUE(enroll_token.ok());
    auto r = testing::Run(
        {BinaryPath("custos-agent"), "enroll", "--config", dir_.Sub("agent.yaml"), "--state-dir",
         dir_.Sub("agent"), "--token", *enroll_token, "--ca", collector_->ca_path()},
        30s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Subprocess agent;
    ASSERT_TRUE(agent
                    .Start({BinaryPath("custos-agent"), "run", "--config", dir_.Sub("agent.yaml"),
                            "--state-dir", dir_.Sub("agent"), "--replay", dir_.Sub("replay.jsonl"),
                            "--no-file-source", "--no-settings-source", "--no-usb-source",
                            "--exit-when-drained"},
                           dir_.Sub("agent-run"))
                    .ok());
    ASSERT_EQ(agent.Wait(60s), 0) << agent.Stderr();
  }

  TempDir dir_;
  std::unique_ptr<CollectorProcess> collector_;
  std::string token_;
};

custos::v1::Event Copy(int64_t t, const std::string& user, int i) {
  custos::v1::Event e;
  e.set_time_ns(t);
  e.mutable_actor()->set_login_user(user);
  e.mutable_actor()->set_pid(4242);
  auto* f = e.mutable_file();
  f->set_op(custos::v1::FILE_OP_COPY_TO_REMOVABLE);
  f->set_path("/media/" + user + "/STICK/customers-" + std::to_string(i) + ".csv");
  f->set_source_path("/srv/crm/customers-" + std::to_string(i) + ".csv");
  f->set_size(500000);
  f->set_device_fingerprint("usb-0951-1666-E2E");
  return e;
}

TEST_F(ScoringE2eTest, ReplayedEventsBecomeExplainedAlertsThatAnalystsTriage) {
  // Policy and directory through the API.
  auto [st, policy] = Call("POST", "/api/v1/policies",
                           R"({"template":"data_leaks","name":"Leaks",
                               "priority_content":{"paths":["/srv/crm/*"]}})");
  ASSERT_EQ(st, 201) << policy.dump();
  const std::string policy_id = policy["id"];
  auto [dst, dir] = Call("POST", "/api/v1/directory/import",
                         "Login,Host,EmailAddress,DisplayName,Department,Manager,Groups\n"
                         "alice,*,alice@corp.example,Alice,Sales,boss@corp.example,sales\n",
                         "text/csv");
  ASSERT_EQ(dst, 200) << dir.dump();
  // People are pseudonymised by default (the same code for her id and her login)...
  auto [ps, pseudonymised] = Call("GET", "/api/v1/users");
  ASSERT_EQ(ps, 200);
  ASSERT_EQ(pseudonymised["people"].size(), 1u) << pseudonymised.dump();
  const std::string code = pseudonymised["people"][0]["id"];
  EXPECT_EQ(code.rfind("Anon-", 0), 0u) << code;
  EXPECT_EQ(pseudonymised["people"][0]["logins"][0]["login"], code);
  EXPECT_EQ(pseudonymised.dump().find("alice"), std::string::npos) << pseudonymised.dump();
  // ...until an admin switches pseudonymisation off (audited), as this suite does to check
  // names in alerts and events (access_e2e_test covers reveals).
  ASSERT_EQ(Call("PATCH", "/api/v1/settings", R"({"pseudonymisation":false})").first, 200);
  auto [us, users] = Call("GET", "/api/v1/users");
  ASSERT_EQ(us, 200);
  ASSERT_EQ(users["people"].size(), 1u) << users.dump();
  EXPECT_EQ(users["people"][0]["id"], "alice@corp.example");
  EXPECT_EQ(users["people"][0]["logins"][0]["login"], "alice");

  const int64_t now = RealClock()->NowUnixNs();
  std::vector<custos::v1::Event> events;
  for (int i = 0; i < 12; ++i) events.push_back(Copy(now + i * 1'000'000, "alice", i));
  EnrollAndReplay(events);

  // The alert appears through the API (the scorer runs within ~100 ms of each commit).
  json alerts;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto [s, body] = Call("GET", "/api/v1/alerts?status=open&person=alice%40corp.example");
        alerts = body;
        return s == 200 && body["alerts"].size() == 1 &&
               body["alerts"][0]["score"].get<int>() >= 45;
      },
      20s))
      << alerts.dump(2) << collector_->Logs();
  const auto& a = alerts["alerts"][0];
  EXPECT_EQ(a["policy_id"], policy_id);
  EXPECT_EQ(a["policy"], "Leaks");
  EXPECT_EQ(a["status"], "needs_review");
  EXPECT_EQ(a["severity"], "medium");
  const int64_t id = a["id"];

  auto [gs, full] = Call("GET", "/api/v1/alerts/" + std::to_string(id));
  ASSERT_EQ(gs, 200);
  const json& ex = full["explanation"];
  std::set<std::string> indicators;
  for (const auto& i : ex["indicators"]) indicators.insert(i["id"]);
  EXPECT_TRUE(indicators.count("usb_copy")) << ex.dump(2);
  EXPECT_TRUE(indicators.count("priority_content")) << ex.dump(2);
  EXPECT_EQ(ex["indicators"][0]["count_in_window"], 12);
  EXPECT_FALSE(ex["indicators"][0]["events"][0]["agent_id"].get<std::string>().empty());
  EXPECT_EQ(ex["triggers"][0]["kind"], "indicator");

  // The same alert through the CLI.
  const std::vector<std::string> conn = {
      "--api",        "https://127.0.0.1:" + std::to_string(collector_->api_port()),
      "--ca",         collector_->ca_path(),
      "--token-file", collector_->admin_token_path()};
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("custos"));
    args.insert(args.end(), conn.begin(), conn.end());
    return testing::Run(args, 30s);
  };
  auto listed = cli({"alerts", "--status", "open", "--format", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  json cli_alerts = json::parse(listed.out, nullptr, false);
  ASSERT_FALSE(cli_alerts.is_discarded()) << listed.out;
  const json& arr = cli_alerts.is_array() ? cli_alerts : cli_alerts["alerts"];
  ASSERT_EQ(arr.size(), 1u) << listed.out;
  EXPECT_EQ(arr[0]["id"], id);
  auto shown = cli({"alert", "show", std::to_string(id)});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("usb_copy"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("alice@corp.example"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("customers-"), std::string::npos) << "sample events shown";

  // The events behind it are readable too.
  auto [es, evs] = Call("GET", "/api/v1/events?user=alice&limit=5");
  ASSERT_EQ(es, 200);
  EXPECT_EQ(evs["events"].size(), 5u);

  // Bad requests are 4xx with a message, never 500.
  EXPECT_EQ(Call("GET", "/api/v1/alerts", "", "", "cat_wrong").first, 401);
  EXPECT_EQ(Call("GET", "/api/v1/alerts", "", "", "").first, 401);
  EXPECT_EQ(Call("GET", "/api/v1/alerts?severity=extreme").first, 400);
  EXPECT_EQ(Call("GET", "/api/v1/alerts/999999").first, 404);
  EXPECT_EQ(Call("GET", "/api/v1/alerts/abc").first, 400);
  EXPECT_EQ(Call("DELETE", "/api/v1/alerts").first, 405);
  EXPECT_EQ(Call("POST", "/api/v1/alerts/1/status", "{not json").first, 400);
  EXPECT_EQ(
      Call("POST", "/api/v1/alerts/" + std::to_string(id) + "/status", R"({"status":"dismissed"})")
          .first,
      400)
      << "dismissing needs a reason";
  EXPECT_EQ(Call("POST", "/api/v1/policies", R"({"template":"nope","name":"x"})").first, 404);
  EXPECT_EQ(Call("POST", "/api/v1/policies", R"({"template":"data_leaks","name":"Leaks"})").first,
            409);
  auto [bad_hr, hr_body] = Call("POST", "/api/v1/hr/import",
                                "EmailAddress,ResignationDate,LastWorkingDate\n"
                                "alice@corp.example,2026-13-01,2026-12-01\n"
                                "nobody@corp.example,2026-11-01,2026-12-01\n",
                                "text/csv");
  EXPECT_EQ(bad_hr, 422);
  EXPECT_EQ(hr_body["problems"].size(), 2u) << hr_body.dump(2);
  auto [tr, trig] = Call("GET", "/api/v1/triggers");
  EXPECT_TRUE(trig["triggers"].empty()) << "a rejected import must import nothing";

  // Triage: dismiss with a reason; closed alerts are final.
  auto [ds, dismissed] = Call("POST", "/api/v1/alerts/" + std::to_string(id) + "/status",
                              R"({"status":"dismissed","reason":"approved backup"})");
  ASSERT_EQ(ds, 200) << dismissed.dump();
  EXPECT_EQ(dismissed["status"], "dismissed");
  EXPECT_EQ(dismissed["status_by"], "admin");
  EXPECT_EQ(
      Call("POST", "/api/v1/alerts/" + std::to_string(id) + "/status", R"({"status":"confirmed"})")
          .first,
      409);

  // A restart rebuilds scoring from the store: the dismissed activity does not come back.
  EXPECT_EQ(collector_->Stop(), 0);
  ASSERT_TRUE(collector_->Start().ok());
  std::this_thread::sleep_for(500ms);
  auto [ls, after] = Call("GET", "/api/v1/alerts");
  ASSERT_EQ(ls, 200);
  ASSERT_EQ(after["alerts"].size(), 1u) << after.dump(2);
  EXPECT_EQ(after["alerts"][0]["status"], "dismissed");
}

}  // namespace
}  // namespace custos
