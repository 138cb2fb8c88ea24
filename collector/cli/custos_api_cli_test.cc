// Process-level tests of the `custos` API commands against a real custos-collector: `init`, then
// `run` on loopback port 0 with the API on port 0, then the `custos` binary as a subprocess with
// the CA and admin token `init` wrote. Alerts raised from events are covered elsewhere; here one
// alert is put in the store before the collector starts, with a recorded explanation
// (collector/cli/testdata/alert_42.json), so that show and the status changes run end to end.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "collector/cli/testing/suite_collector.h"
#include "collector/store/sqlite/sqlite_risk_store.h"
#include "common/testing/testing.h"

namespace custos::collector {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A loopback port nothing listens on: bound, then closed.
uint16_t ClosedLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

class CustosApiCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = cli::cli_testing::SuiteCollector::Start(
        [](const std::string& data_dir) { SeedAlert(data_dir); });
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    collector_ = started->release();
    // This suite checks how names and paths are rendered: identities shown (one test below
    // checks the default, pseudonyms).
    ASSERT_TRUE(ShowIdentities(false).ok());
  }
  static Status ShowIdentities(bool hide) { return collector_->ShowIdentities(hide); }
  static void TearDownTestSuite() {
    if (collector_ != nullptr) {
      EXPECT_EQ(collector_->Stop(), 0) << collector_->Stderr();
    }
    delete collector_;
    collector_ = nullptr;
  }

  static void SeedAlert(const std::string& data_dir) {
    auto recorded = testing::ReadFile(testing::SourcePath("collector/cli/testdata/alert_42.json"));
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
    nlohmann::json j = nlohmann::json::parse(*recorded);
    auto risk = store::OpenSqliteRiskStore(data_dir + "/custos.db");
    ASSERT_TRUE(risk.ok()) << risk.status().ToString();
    store::AlertRecord a;
    a.person = "carol@example.com";
    a.policy_id = j["policy_id"];
    a.severity = j["severity"];
    a.score = j["score"];
    a.first_activity_ns = 1'795'255'320'000'000'000;
    a.last_activity_ns = 1'795'278'000'000'000'000;
    a.explanation_json = j["explanation"].dump();
    Status s = (*risk)->ApplyAlertUpdates({&a, 1}, 1'795'278'300'000'000'000);
    ASSERT_TRUE(s.ok()) << s.ToString();
    seeded_alert_ = std::to_string(a.id);
  }

  static std::string DataDir() { return collector_->data_dir(); }
  static std::string ApiUrl() { return collector_->api_url(); }

  // `custos ARGS --data-dir D --api URL`, with a clean CUSTOS_* environment unless `env` sets it.
  static testing::RunResult Custos(std::vector<std::string> args,
                                   std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), testing::BinaryPath("custos"));
    args.insert(args.end(), {"--data-dir", DataDir(), "--api", ApiUrl()});
    for (const char* name : {"CUSTOS_API", "CUSTOS_CA", "CUSTOS_TOKEN", "COLUMNS"}) {
      env.emplace(name, "");
    }
    return testing::Run(args, 60s, env);
  }
  static std::string WriteCsv(const std::string& name, const std::string& text) {
    EXPECT_TRUE(testing::WriteFile(collector_->Sub(name), text).ok());
    return collector_->Sub(name);
  }
  static void ImportDirectory() {
    auto r = Custos({"import", "directory",
                     WriteCsv("people.csv",
                              "Login,Host,EmailAddress,DisplayName,Department,Manager,Groups\n"
                              "alice,*,Alice@Example.com,Alice Adams,Finance,bob@example.com,"
                              "finance; vpn-users\n"
                              "alice.adams,laptop-7,alice@example.com,Alice Adams,Finance,"
                              "bob@example.com,finance\n"
                              "bob,,bob@example.com,Bob Brown,Finance,,managers\n")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              "imported the directory: 2 people, 3 logins (it replaces the previous "
              "directory)\n");
  }

  static cli::cli_testing::SuiteCollector* collector_;
  static std::string seeded_alert_;
};
cli::cli_testing::SuiteCollector* CustosApiCliTest::collector_ = nullptr;
std::string CustosApiCliTest::seeded_alert_;

TEST_F(CustosApiCliTest, TemplatesListsTheCatalogAsTableAndJson) {
  auto table = Custos({"templates"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, StartsWith("ID "));
  EXPECT_THAT(table.out, HasSubstr("DESCRIPTION\n"));
  EXPECT_THAT(table.out, HasSubstr("\ndata_theft_departing "));
  EXPECT_THAT(table.out, HasSubstr("Data theft by departing users"));
  // Ids are never cut: they are what `policy create --template` needs.
  EXPECT_THAT(table.out, HasSubstr("\nsecurity_violations_priority_users "));

  auto json = Custos({"templates", "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << json.out;
  ASSERT_GE(j.size(), 5u);
  EXPECT_EQ(j[0]["id"], "data_theft_departing");
  EXPECT_TRUE(j[0]["defaults"]["indicators"].is_array());
}

TEST_F(CustosApiCliTest, PolicyCreateListAndDelete) {
  auto created = Custos({"policy", "create", "--template", "data_theft_departing", "--name",
                         "Departing, 60 days", "--set", R"({"historic_days": 60})"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_TRUE(std::regex_match(created.out, std::regex("pol_[0-9a-f]+\n"))) << created.out;
  const std::string id = created.out.substr(0, created.out.size() - 1);

  auto listed = Custos({"policies", "--format", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  nlohmann::json policies = nlohmann::json::parse(listed.out, nullptr, false);
  ASSERT_TRUE(policies.is_array()) << listed.out;
  nlohmann::json mine;
  for (const auto& p : policies) {
    if (p["id"] == id) mine = p;
  }
  ASSERT_TRUE(mine.is_object()) << listed.out;
  EXPECT_EQ(mine["name"], "Departing, 60 days");
  EXPECT_EQ(mine["template"], "data_theft_departing");
  EXPECT_EQ(mine["historic_days"], 60);

  auto table = Custos({"policies"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, StartsWith("ID "));
  EXPECT_THAT(table.out, HasSubstr("TEMPLATE"));
  EXPECT_THAT(table.out, HasSubstr("INDICATORS\n"));
  EXPECT_TRUE(std::regex_search(
      table.out, std::regex(id + " +Departing, 60 days +data_theft_departing +yes +[0-9]+\n")))
      << table.out;

  // The API's refusals come back as "custos: <message> (HTTP 4xx)".
  auto unknown = Custos({"policy", "create", "--template", "no_such", "--name", "X"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("custos: policy: unknown template 'no_such'"));
  EXPECT_THAT(unknown.err, HasSubstr("(HTTP 404)\n"));
  auto bad_field = Custos({"policy", "create", "--template", "data_theft_departing", "--name", "Y",
                           "--set", R"({"historic_days": "sixty"})"});
  EXPECT_EQ(bad_field.exit_code, 1);
  EXPECT_THAT(bad_field.err, HasSubstr("historic_days"));
  EXPECT_THAT(bad_field.err, HasSubstr("(HTTP 400)\n"));

  auto deleted = Custos({"policy", "delete", id});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "deleted policy " + id + "\n");
  EXPECT_THAT(Custos({"policies"}).out, Not(HasSubstr(id)));
  auto again = Custos({"policy", "delete", id});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("not found (HTTP 404)"));
}

TEST_F(CustosApiCliTest, ImportsDirectoryThenHrAllOrNothing) {
  ImportDirectory();

  auto bad_directory = Custos({"import", "directory",
                               WriteCsv("bad-people.csv",
                                        "Login,EmailAddress\n,x@example.com\n"
                                        "carol,carol\n")});
  EXPECT_EQ(bad_directory.exit_code, 1);
  EXPECT_THAT(bad_directory.err, HasSubstr("line 2: Login: "));
  EXPECT_THAT(bad_directory.err, HasSubstr("line 3: EmailAddress: 'carol' is not an e-mail"));
  EXPECT_THAT(bad_directory.err, HasSubstr("custos: nothing imported"));

  // Every problem is printed, and the good row in the same file is not imported either.
  const std::string good_row = "alice@example.com,2026-11-20,2026-12-04\n";
  auto bad =
      Custos({"import", "hr",
              WriteCsv("bad-hr.csv", "EmailAddress,ResignationDate,LastWorkingDate\n" + good_row +
                                         "bob@example.com,03/01/2026,2026-03-05\n"
                                         "zed@example.com,2026-03-01,2026-03-05\n"
                                         "bob@example.com,2026-03-01,2026-02-01\n")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_THAT(bad.err, HasSubstr("line 3: ResignationDate: '03/01/2026' is not a valid date"));
  EXPECT_THAT(bad.err, HasSubstr("line 4: EmailAddress: unknown person: zed@example.com"));
  EXPECT_THAT(bad.err,
              HasSubstr("line 5: LastWorkingDate: '2026-02-01' is before ResignationDate"));
  EXPECT_THAT(bad.err, HasSubstr("custos: nothing imported: fix every problem and retry (HTTP "
                                 "422)\n"));

  const std::string good =
      WriteCsv("hr.csv", "EmailAddress,ResignationDate,LastWorkingDate\n" + good_row);
  auto imported = Custos({"import", "hr", good});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(imported.out, "imported 1 HR row: 1 new, 0 already imported\n");  // 1 new: see above
  auto twice = Custos({"import", "hr", good, "--scenario", "resignation"});
  ASSERT_EQ(twice.exit_code, 0) << twice.err;
  EXPECT_EQ(twice.out, "imported 1 HR row: 0 new, 1 already imported\n");

  auto reviews = Custos({"import", "hr",
                         WriteCsv("reviews.csv",
                                  "EmailAddress,EffectiveDate,Remarks,Rating\n"
                                  "bob@example.com,2026-11-02,\"late, often\",2\n"),
                         "--scenario", "performance_review"});
  ASSERT_EQ(reviews.exit_code, 0) << reviews.err;
  EXPECT_EQ(reviews.out, "imported 1 HR row: 1 new, 0 already imported\n");

  auto missing = Custos({"import", "hr", collector_->Sub("nope.csv")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("nope.csv: No such file or directory"));
}

TEST_F(CustosApiCliTest, ManualTriggerAndExternalAlert) {
  auto trigger =
      Custos({"trigger", "bob@example.com", "--days", "14", "--reason", "manager report"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.err;
  EXPECT_TRUE(std::regex_match(
      trigger.out, std::regex("scoring bob@example.com from [0-9T:.Z-]+ until [0-9T:.Z-]+ "
                              "\\(manual trigger\\)\n")))
      << trigger.out;

  std::vector<std::string> alert = {
      "external-alert", "--person", "Bob@Example.com",       "--source",
      "purview-dlp",    "--title",  "Sensitive file shared", "--id",
      "DLP-1",          "--time",   "2026-11-21T10:00:00Z"};
  auto first = Custos(alert);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "external alert accepted for bob@example.com\n");
  auto second = Custos(alert);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("already received"));

  auto bad_time = Custos({"external-alert", "--person", "bob@example.com", "--source", "s",
                          "--title", "t", "--time", "yesterday"});
  EXPECT_EQ(bad_time.exit_code, 1);
  EXPECT_THAT(bad_time.err, HasSubstr("time: e.g. 2026-11-21T10:00:00Z (HTTP 400)"));
}

TEST_F(CustosApiCliTest, AlertsFilterAndUnknownAlertsAreNotFound) {
  auto none = Custos({"alerts", "--status", "open", "--severity", "low", "--min-score", "10"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(none.err, "0 alerts shown (newest first; --limit 100)\n");
  auto json = Custos({"alerts", "--format", "json", "--person", "alice@example.com"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.out, "[]\n");
  EXPECT_EQ(json.err, "");

  auto show = Custos({"alert", "show", "999"});
  EXPECT_EQ(show.exit_code, 1);
  EXPECT_THAT(show.err, HasSubstr("custos: alert 999: not found (HTTP 404)"));
  auto dismiss = Custos({"alert", "dismiss", "999", "--reason", "test"});
  EXPECT_EQ(dismiss.exit_code, 1);
  EXPECT_THAT(dismiss.err, HasSubstr("(HTTP 404)"));
}

TEST_F(CustosApiCliTest, AlertShowConfirmReopenAndResolve) {
  const std::string& id = seeded_alert_;
  auto table = Custos({"alerts", "--status", "open", "--severity", "high", "--limit", "5"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, StartsWith("ID  SEVERITY  SCORE  STATUS        PERSON"));
  EXPECT_TRUE(std::regex_search(table.out,
                                std::regex("\n" + id +
                                           " +high +72 +needs_review +carol@example.com +"
                                           "pol_3f2a9c1b7d4e +2026-11-21T16:20:00Z +[0-9TZ:-]+\n")))
      << table.out;
  EXPECT_EQ(table.err, "1 alert shown (newest first; --limit 5)\n");

  auto text = Custos({"alert", "show", id});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, StartsWith("Alert " + id + ": high, score 72, needs_review\n"));
  EXPECT_THAT(text.out, HasSubstr("Triggers (why this person is being scored):\n  resignation"));
  EXPECT_THAT(text.out, HasSubstr("tier medium (x0.75) of weight 40 = 30 points"));
  EXPECT_THAT(text.out, HasSubstr("copy /home/alice/\\x1b[2J\\nfake row\\u202e.xlsx"));
  EXPECT_THAT(text.out, Not(HasSubstr("\x1b")));
  EXPECT_THAT(text.out, HasSubstr("= min(100, 37.5 x 1.25 + 15 + 10) = 72 (high)\n"));

  auto json = Custos({"alert", "show", id, "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << json.out;
  EXPECT_EQ(j["person"], "carol@example.com");
  EXPECT_EQ(j["explanation"]["indicators"][0]["events"][1]["what"],
            "copy /home/alice/\x1b[2J\nfake row\u202e.xlsx -> /media/alice/SANDISK/x.xlsx");

  auto confirmed = Custos({"alert", "confirm", id, "--reason", "ticket 4711"});
  ASSERT_EQ(confirmed.exit_code, 0) << confirmed.err;
  EXPECT_EQ(confirmed.out, "alert " + id + " is now confirmed\n");
  auto shown = Custos({"alert", "show", id});
  EXPECT_THAT(shown.out, HasSubstr("  Status reason:  ticket 4711\n  Status set by:  admin\n"));
  auto reopened = Custos({"alert", "reopen", id});
  ASSERT_EQ(reopened.exit_code, 0) << reopened.err;
  EXPECT_EQ(reopened.out, "alert " + id + " is now needs_review\n");
  auto resolved = Custos({"alert", "resolve", id});
  ASSERT_EQ(resolved.exit_code, 0) << resolved.err;
  EXPECT_EQ(resolved.out, "alert " + id + " is now resolved\n");
  EXPECT_THAT(Custos({"alerts", "--status", "resolved"}).out, HasSubstr("resolved"));
  // Closed alerts are final.
  auto again = Custos({"alert", "dismiss", id, "--reason", "too late"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("(HTTP 409)"));
}

TEST_F(CustosApiCliTest, EnvironmentNamesTheApiAndCa) {
  auto r = testing::Run(
      {testing::BinaryPath("custos"), "policies", "--data-dir", DataDir()}, 60s,
      {{"CUSTOS_API", ApiUrl()}, {"CUSTOS_CA", DataDir() + "/pki/ca.crt"}, {"CUSTOS_TOKEN", ""}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CustosApiCliTest, BadTokenAndRoleAreRefusedWithoutShowingTheToken) {
  auto wrong = Custos({"alerts"}, {{"CUSTOS_TOKEN", "cat_not-the-real-one"}});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("custos: unknown or revoked token (HTTP 401)\n"));
  EXPECT_THAT(wrong.err, HasSubstr("the token came from CUSTOS_TOKEN"));
  EXPECT_THAT(wrong.err, Not(HasSubstr("not-the-real-one")));
  EXPECT_EQ(wrong.out, "");

  const std::string file = WriteCsv("wrong.token", "cat_also-wrong\n");
  auto from_file = Custos({"templates", "--token-file", file});
  EXPECT_EQ(from_file.exit_code, 1);
  EXPECT_THAT(from_file.err, HasSubstr("(HTTP 401)"));
  EXPECT_THAT(from_file.err, HasSubstr("the token came from " + file));
  EXPECT_THAT(from_file.err, Not(HasSubstr("also-wrong")));

  auto minted = testing::Run({testing::BinaryPath("custos-collector"), "api-token", "create",
                              "--data-dir", DataDir(), "--role", "viewer", "--name", "auditor"},
                             60s);
  ASSERT_EQ(minted.exit_code, 0) << minted.err;
  const std::string viewer = minted.out.substr(0, minted.out.find('\n'));
  auto read = Custos({"alerts"}, {{"CUSTOS_TOKEN", viewer}});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  auto write = Custos({"trigger", "bob@example.com", "--days", "1", "--reason", "r"},
                      {{"CUSTOS_TOKEN", viewer}});
  EXPECT_EQ(write.exit_code, 1);
  EXPECT_THAT(write.err, HasSubstr("custos: roles 'viewer' may not POST /api/v1/triggers"));
  EXPECT_THAT(write.err, HasSubstr("(HTTP 403)"));
}

TEST_F(CustosApiCliTest, ConnectionProblemsSayWhatToCheck) {
  auto refused =
      testing::Run({testing::BinaryPath("custos"), "alerts", "--data-dir", DataDir(), "--api",
                    "https://127.0.0.1:" + std::to_string(ClosedLoopbackPort())},
                   60s, {{"CUSTOS_TOKEN", ""}});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("Connection refused"));
  EXPECT_THAT(refused.err, HasSubstr("is custos-collector running"));
  EXPECT_THAT(refused.err, HasSubstr("--api https://HOST:PORT"));

  // The server certificate is not a CA: the TLS check fails and says which file it used.
  auto wrong_ca = Custos({"alerts", "--ca", DataDir() + "/pki/server.crt"});
  EXPECT_EQ(wrong_ca.exit_code, 1);
  EXPECT_THAT(wrong_ca.err, HasSubstr("does not chain to the configured CA"));
  EXPECT_THAT(wrong_ca.err, HasSubstr("--ca " + DataDir() + "/pki/server.crt"));
}

// An admin adds an account, makes a personal token for it, the token acts as the account, and
// the audit log has both changes, as CSV.
TEST_F(CustosApiCliTest, UserAddTokenCreateWhoamiAndAuditCsv) {
  const std::string password = "correct horse battery 42";
  const std::string password_file = WriteCsv("dana.password", password + "\n");
  auto add = Custos({"user", "add", "dana", "--roles", "analyst,viewer", "--name", "Dana S",
                     "--email", "dana@example.com", "--password-file", password_file});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  EXPECT_THAT(add.out, StartsWith("created account dana (usr_"));
  EXPECT_THAT(add.out, HasSubstr("): roles analyst,viewer, enabled\n"));

  auto list = Custos({"user", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("dana"));
  EXPECT_THAT(list.out, HasSubstr("analyst,viewer"));

  // init's admin token is a service token: it owns no personal tokens, so --owner.
  auto create =
      Custos({"token", "create", "--name", "laptop", "--owner", "dana", "--expires-in-days", "30"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  ASSERT_TRUE(std::regex_match(create.out, std::regex("cus_pat_[A-Za-z0-9_-]{43}\n")))
      << create.out;
  EXPECT_THAT(create.err, HasSubstr("it is shown only this once"));
  const std::string secret = create.out.substr(0, create.out.size() - 1);

  auto whoami = Custos({"whoami"}, {{"CUSTOS_TOKEN", secret}});
  ASSERT_EQ(whoami.exit_code, 0) << whoami.err;
  EXPECT_THAT(whoami.out, HasSubstr("name:  dana\n"));
  EXPECT_THAT(whoami.out, HasSubstr("kind:  personal_token\n"));
  EXPECT_THAT(whoami.out, HasSubstr("roles: analyst,viewer\n"));
  auto own = Custos({"token", "list"}, {{"CUSTOS_TOKEN", secret}});
  ASSERT_EQ(own.exit_code, 0) << own.err;
  EXPECT_THAT(own.out, HasSubstr("laptop"));
  // An analyst may not read the audit log.
  auto refused = Custos({"audit"}, {{"CUSTOS_TOKEN", secret}});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("(HTTP 403)"));

  auto csv = Custos({"audit", "--format", "csv", "--since", "-1h"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.out, StartsWith("seq,time,actor,action,object,summary,source,hash\r\n"));
  // The summary holds commas, so it is quoted.
  EXPECT_TRUE(std::regex_search(
      csv.out, std::regex(",account\\.create,account:usr_[0-9a-f]+,\"username dana, roles "
                          "analyst,viewer, local\",")))
      << csv.out;
  EXPECT_THAT(csv.out, HasSubstr(",personal-token.create,token:ptk_"));
  auto accounts_only = Custos({"audit", "--format", "csv", "--action", "account."});
  ASSERT_EQ(accounts_only.exit_code, 0) << accounts_only.err;
  EXPECT_THAT(accounts_only.out, HasSubstr("account.create"));
  EXPECT_THAT(accounts_only.out, Not(HasSubstr("personal-token.create")));

  for (const auto* r : {&add, &list, &create, &whoami, &own, &csv}) {
    EXPECT_THAT(r->out + r->err, Not(HasSubstr(password)));
  }
}

// Pseudonymisation switched on with `custos settings`; an investigator asks for a reveal of the
// pseudonym an alert shows, cannot approve it, an approver does, the investigator withdraws it;
// each step is in the audit log.
TEST_F(CustosApiCliTest, SettingsAndARevealRequestedApprovedAndWithdrawn) {
  auto on = Custos({"settings", "--pseudonymisation", "on"});
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(on.out, "pseudonymisation: on\n");
  struct Restore {
    ~Restore() { EXPECT_TRUE(ShowIdentities(false).ok()); }
  } restore;

  std::map<std::string, std::string> token_of;
  for (auto [name, role] : {std::pair{"fox", "investigator"}, {"skinner", "approver"}}) {
    auto add =
        Custos({"user", "add", name, "--roles", role, "--password-file",
                WriteCsv(std::string(name) + ".password", "pw-" + std::string(name) + "-1234\n")});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    auto token = Custos({"token", "create", "--name", "t", "--owner", name});
    ASSERT_EQ(token.exit_code, 0) << token.err;
    token_of[name] = token.out.substr(0, token.out.find('\n'));
  }
  const std::map<std::string, std::string> fox = {{"CUSTOS_TOKEN", token_of["fox"]}};
  const std::map<std::string, std::string> skinner = {{"CUSTOS_TOKEN", token_of["skinner"]}};

  auto shown = Custos({"settings"}, fox);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(shown.out, "pseudonymisation: on\n");
  auto alerts = Custos({"alerts", "--format", "json"}, fox);
  ASSERT_EQ(alerts.exit_code, 0) << alerts.err;
  nlohmann::json list = nlohmann::json::parse(alerts.out, nullptr, false);
  ASSERT_TRUE(list.is_array() && !list.empty()) << alerts.out;
  const std::string pseudonym = list[0].value("person", "");
  ASSERT_THAT(pseudonym, StartsWith("Anon-"));

  auto request = Custos(
      {"reveal", "request", pseudonym, "--justification", "alert 1: USB copies before leaving"},
      fox);
  ASSERT_EQ(request.exit_code, 0) << request.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(request.out, m, std::regex("^reveal (rvl_[0-9a-f]+) for ")))
      << request.out;
  const std::string id = m[1];
  EXPECT_THAT(request.out, HasSubstr(": requested\n"));

  auto self = Custos({"reveal", "approve", id}, fox);
  EXPECT_EQ(self.exit_code, 1);
  EXPECT_THAT(self.err, HasSubstr("(HTTP 403)"));
  auto pending = Custos({"reveal", "list"}, skinner);
  ASSERT_EQ(pending.exit_code, 0) << pending.err;
  EXPECT_THAT(pending.out, HasSubstr(id + "  requested"));
  auto approve = Custos({"reveal", "approve", id, "--note", "case 17"}, skinner);
  ASSERT_EQ(approve.exit_code, 0) << approve.err;
  EXPECT_THAT(approve.out, HasSubstr(": approved\n"));
  auto withdraw = Custos({"reveal", "withdraw", id}, fox);
  ASSERT_EQ(withdraw.exit_code, 0) << withdraw.err;
  EXPECT_THAT(withdraw.out, HasSubstr(": withdrawn\n"));

  auto audit = Custos({"audit", "--action", "reveal.", "--format", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  for (const char* action : {"reveal.request", "reveal.approve", "reveal.withdraw"}) {
    EXPECT_THAT(audit.out, HasSubstr(std::string("\"action\":\"") + action + "\""));
  }
  EXPECT_THAT(audit.out, HasSubstr("\"object\":\"reveal:" + id + "\""));
}

TEST_F(CustosApiCliTest, HelpNamesEveryCommand) {
  auto help = testing::Run({testing::BinaryPath("custos"), "--help"}, 30s);
  ASSERT_EQ(help.exit_code, 0);
  for (const char* command :
       {"custos events", "custos alerts", "custos alert show", "custos import", "custos policies",
        "custos policy create", "custos templates", "custos trigger", "custos external-alert",
        "custos whoami", "custos user", "custos token", "custos audit", "custos reveal",
        "custos settings"}) {
    EXPECT_THAT(help.out, HasSubstr(command));
  }
  auto alert_help = testing::Run({testing::BinaryPath("custos"), "alert", "--help"}, 30s);
  ASSERT_EQ(alert_help.exit_code, 0);
  EXPECT_THAT(alert_help.out, HasSubstr("custos alert dismiss ID --reason TEXT"));
}

}  // namespace
}  // namespace custos::collector
