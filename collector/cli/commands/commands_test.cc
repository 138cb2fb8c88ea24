// The commands' own checks: the requests they build from their options, and the usage errors
// they find before connecting. Run through the command table, as the binary runs them.
#include "collector/cli/commands/commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "collector/cli/command_line.h"
#include "collector/cli/connection.h"
#include "common/testing/testing.h"

namespace custos::collector::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Invocation Parse(std::vector<std::string> words) {
  CommandLine line = ParseCommandLine(AllCommands(), std::move(words));
  EXPECT_EQ(line.error, "");
  return line.args;
}

struct Ran {
  int exit_code;
  std::string out;
  std::string err;
};
Ran RunCli(std::vector<std::string> words, const Environment& env = {}) {
  words.insert(words.begin(), "custos");
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  std::ostringstream out, err;
  int rc = RunCustos(AllCommands(), static_cast<int>(argv.size()), argv.data(), env, out, err);
  return {rc, out.str(), err.str()};
}

constexpr int64_t kNow = 1'795'262'400'000'000'000;  // 2026-11-21T12:00:00Z

TEST(EventsTargetTest, BuildsTheQueryFromTheFilters) {
  int64_t limit = 0;
  bool newest_first = false;
  auto none = EventsTarget(Parse({"events"}), kNow, &limit, &newest_first);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, "/api/v1/events?limit=50&order=newest");
  EXPECT_EQ(limit, 50);
  EXPECT_TRUE(newest_first);

  // Times go to the API resolved, to the nanosecond; relative ones against `now`.
  auto all =
      EventsTarget(Parse({"events", "--since", "-2h", "--until",
                          "2026-11-21T13:00:00.123456789+01:00", "--agent", "agt 1", "--user",
                          "a+b", "--type", "usb", "--limit", "10000", "--oldest-first"}),
                   kNow, &limit, &newest_first);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all,
            "/api/v1/events?since=2026-11-21T10%3A00%3A00.000000000Z"
            "&until=2026-11-21T12%3A00%3A00.123456789Z&agent=agt%201&user=a%2Bb&type=usb"
            "&limit=10000&order=oldest");
  EXPECT_EQ(limit, 10000);
  EXPECT_FALSE(newest_first);

  auto old = EventsTarget(Parse({"events", "--since", "1969-12-31T23:59:59.5Z"}), kNow, &limit,
                          &newest_first);
  ASSERT_TRUE(old.ok());
  EXPECT_THAT(*old, HasSubstr("since=1969-12-31T23%3A59%3A59.500000000Z"));
}

TEST(EventsTargetTest, RefusesBadValues) {
  int64_t limit = 0;
  bool newest_first = false;
  auto message = [&](std::vector<std::string> words) {
    return EventsTarget(Parse(std::move(words)), kNow, &limit, &newest_first).status().message();
  };
  EXPECT_THAT(message({"events", "--since", "yesterday"}),
              HasSubstr("--since: expected RFC 3339 time like 2026-11-21T10:00:00Z, a date, or "
                        "-15m/-2h/-7d (got 'yesterday')"));
  EXPECT_THAT(message({"events", "--since", "9999-01-01"}),
              HasSubstr("--since: '9999-01-01' is outside the years 1678 to 2261"));
  EXPECT_THAT(message({"events", "--until", "-99999999d"}),
              HasSubstr("--until: '-99999999d' is more than 100 years ago"));
  EXPECT_THAT(message({"events", "--since", "2026-11-22", "--until", "2026-11-21"}),
              HasSubstr("--since 2026-11-22 is not before --until 2026-11-21"));
  EXPECT_THAT(message({"events", "--type", "printer"}),
              HasSubstr("--type: unknown event type 'printer' (valid: file, usb, setting, "
                        "evidence, health, events_lost, gap, process, network)"));
  EXPECT_THAT(message({"events", "--limit", "10001"}),
              HasSubstr("--limit: expected an integer between 1 and 10000, got '10001' (the API "
                        "returns at most 10000 events at once; narrow with --since/--until)"));
}

TEST(AlertsTargetTest, BuildsTheQueryFromTheFilters) {
  auto none = AlertsTarget(Parse({"alerts"}));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "/api/v1/alerts?limit=100");
  auto all = AlertsTarget(
      Parse({"alerts", "--status", "open", "--severity", "high", "--person", "a+b@example.com",
             "--policy", "pol_1", "--min-score", "40", "--limit", "5"}));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all,
            "/api/v1/alerts?status=open&severity=high&person=a%2Bb%40example.com&policy=pol_1"
            "&min_score=40&limit=5");
}

TEST(AlertsTargetTest, RefusesBadValues) {
  EXPECT_THAT(AlertsTarget(Parse({"alerts", "--status", "closed"})).status().message(),
              HasSubstr("--status: expected open, needs_review, confirmed, dismissed or "
                        "resolved, got 'closed'"));
  EXPECT_THAT(AlertsTarget(Parse({"alerts", "--severity", "critical"})).status().message(),
              HasSubstr("--severity: expected low, medium or high"));
  EXPECT_THAT(AlertsTarget(Parse({"alerts", "--min-score", "101"})).status().message(),
              HasSubstr("--min-score"));
  EXPECT_THAT(AlertsTarget(Parse({"alerts", "--limit", "0"})).status().message(),
              HasSubstr("--limit"));
}

TEST(PolicyCreateBodyTest, MergesSetOverTemplateAndName) {
  auto plain = PolicyCreateBody("data_theft_departing", "Departing", std::nullopt);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, R"({"template":"data_theft_departing","name":"Departing"})");
  auto merged = PolicyCreateBody("t", "n", R"({"historic_days": 60, "name": "Other"})");
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, R"({"template":"t","name":"Other","historic_days":60})");
  for (const char* bad : {"[1]", "60", "{", ""}) {
    auto r = PolicyCreateBody("t", "n", std::string(bad));
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("--set: expected a JSON object")) << bad;
  }
}

TEST(PercentEncodeTest, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(PercentEncode("pol_1-a.b~c"), "pol_1-a.b~c");
  EXPECT_EQ(PercentEncode("a b/c?d&e=f+%\xC3\xA9"), "a%20b%2Fc%3Fd%26e%3Df%2B%25%C3%A9");
}

// Usage errors are found before any connection is attempted: none of these has a CA or token.
TEST(CommandsTest, UsageErrorsExitTwoBeforeConnecting) {
  struct Case {
    std::vector<std::string> words;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"events", "--severity", "high"}, "--severity does not apply to 'custos events'"},
      {{"events", "extra"}, "events takes no arguments, got 'extra'"},
      {{"events", "--format", "yaml"}, "--format: expected table, json or jsonl, got 'yaml'"},
      {{"events", "--limit", "0"}, "--limit: expected an integer between 1 and 10000"},
      {{"events", "--config", "/nonexistent/collector.yaml"}, "/nonexistent/collector.yaml"},
      {{"alerts", "--reason", "x"}, "--reason does not apply to 'custos alerts'"},
      {{"alerts", "extra"}, "alerts takes no arguments, got 'extra'"},
      {{"alerts", "--format", "yaml"}, "--format: expected table or json, got 'yaml'"},
      {{"alerts", "--status", "closed"}, "--status: expected open"},
      {{"alert"}, "alert needs a sub-command"},
      {{"alert", "close", "1"}, "unknown sub-command 'close'"},
      {{"alert", "show"}, "alert show needs an alert ID"},
      {{"alert", "show", "abc"}, "alert ID must be a number"},
      {{"alert", "show", "1", "2"}, "takes one alert ID"},
      {{"alert", "show", "1", "--format", "table"}, "--format: expected text or json"},
      {{"alert", "show", "1", "--reason", "x"}, "--reason does not apply to 'custos alert show'"},
      {{"alert", "dismiss", "1"}, "alert dismiss needs --reason TEXT"},
      {{"alert", "dismiss", "1", "--reason", ""}, "alert dismiss needs --reason TEXT"},
      {{"import"}, "import needs what to import: hr or directory"},
      {{"import", "people", "f.csv"}, "import: unknown kind 'people'"},
      {{"import", "hr"}, "import hr needs one FILE"},
      {{"import", "directory", "f.csv", "--scenario", "resignation"},
       "--scenario does not apply to 'custos import directory'"},
      {{"import", "hr", "f.csv", "--scenario", "promotion"}, "--scenario: expected resignation"},
      {{"policy"}, "policy needs a sub-command: create or delete"},
      {{"policy", "create", "--name", "x"}, "policy create needs --template T and --name NAME"},
      {{"policy", "create", "--template", "t", "--name", "x", "--set", "[]"},
       "--set: expected a JSON object"},
      {{"policy", "delete"}, "policy delete needs one policy ID"},
      {{"trigger", "--days", "3", "--reason", "r"}, "trigger needs one PERSON"},
      {{"trigger", "alice", "--reason", "r"}, "trigger needs --days N"},
      {{"trigger", "alice", "--days", "400", "--reason", "r"}, "--days"},
      {{"trigger", "alice", "--days", "3"}, "trigger needs --reason TEXT"},
      {{"external-alert", "--person", "a", "--source", "s"}, "external-alert needs --title"},
      {{"templates", "--since", "-2h"}, "--since does not apply to 'custos templates'"},
      {{"policies", "--api", "http://x:1"}, "--api: the API is HTTPS only"},
  };
  for (const auto& c : cases) {
    Ran r = RunCli(c.words);
    std::string joined;
    for (const auto& w : c.words) joined += w + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << joined;
    EXPECT_THAT(r.err, HasSubstr("Run 'custos " + c.words[0] + " --help' for usage.")) << joined;
    EXPECT_EQ(r.out, "") << joined;
  }
}

TEST(CommandsTest, MissingCaOrTokenFileIsARuntimeFailureWithAHint) {
  testing::TempDir dir;
  Ran no_token = RunCli({"templates", "--data-dir", dir.path()});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, HasSubstr("custos: read token file: " + dir.Sub("admin.token")));

  Environment env;
  env.token = "cat_x";
  Ran no_ca = RunCli({"templates", "--data-dir", dir.path()}, env);
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_THAT(no_ca.err, HasSubstr("custos: read CA certificate: " + dir.path() +
                                   "/pki/ca.crt: No such file or directory (pass --ca FILE or "
                                   "set CUSTOS_CA"));
  EXPECT_THAT(no_ca.err, Not(HasSubstr("cat_x")));
}

TEST(CommandsTest, EveryCommandHasHelpAndIsInTheOverview) {
  const std::string overview = OverviewUsage(AllCommands());
  for (const char* command :
       {"events", "alerts", "alert", "import", "policies", "policy", "templates", "trigger",
        "external-alert", "whoami", "user", "token", "audit", "reveal", "settings"}) {
    Ran help = RunCli({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr(std::string("custos ") + command)) << command;
    EXPECT_THAT(help.out, HasSubstr("--api URL")) << command;
    EXPECT_THAT(help.out, HasSubstr("--token-file FILE")) << command;
    EXPECT_THAT(help.out, HasSubstr("Exit codes")) << command;
    EXPECT_THAT(overview, HasSubstr(std::string("  custos ") + command + " ")) << command;
  }
  EXPECT_EQ(AllCommands().size(), 15u);
}

}  // namespace
}  // namespace custos::collector::cli
