#include "collector/cli/api_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "common/testing/testing.h"

namespace custos::collector::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

flags::Args Parse(std::vector<std::string> words) {
  words.insert(words.begin(), "custos");
  std::vector<const char*> argv;
  argv.reserve(words.size());
  for (const auto& w : words) argv.push_back(w.c_str());
  auto args = flags::Args::Parse(static_cast<int>(argv.size()), argv.data(), AllFlagSpecs());
  EXPECT_TRUE(args.ok()) << args.status().ToString();
  return std::move(args).value();
}

struct Ran {
  int exit_code;
  std::string out;
  std::string err;
};
Ran RunCli(std::vector<std::string> words, const Environment& env = {}) {
  std::ostringstream out, err;
  int rc = RunApiCommand(Parse(std::move(words)), env, out, err);
  return {rc, out.str(), err.str()};
}

TEST(ParseApiUrlTest, AcceptsHttpsUrlsAndHostPort) {
  auto a = ParseApiUrl("https://collector.example.com:9443");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "collector.example.com");
  EXPECT_EQ(a->port, 9443);
  auto b = ParseApiUrl("HTTPS://127.0.0.1/");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->host, "127.0.0.1");
  EXPECT_EQ(b->port, 8443);
  auto v6 = ParseApiUrl("https://[::1]:8444");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8444);
  auto v6_default = ParseApiUrl("https://[fe80::1]");
  ASSERT_TRUE(v6_default.ok()) << v6_default.status().ToString();
  EXPECT_EQ(v6_default->port, 8443);
  auto bare = ParseApiUrl("localhost:8443");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->host, "localhost");
}

TEST(ParseApiUrlTest, RefusesWhatIsNotAnHttpsOrigin) {
  EXPECT_THAT(ParseApiUrl("http://127.0.0.1:8443").status().message(),
              HasSubstr("HTTPS only; use https://127.0.0.1:8443"));
  for (const char* bad :
       {"https://", "ftp://x:1", "https://x:1/api/v1", "https://u@x:1", "https://x:0",
        "https://x:70000", "https://x:port", "::1", "https://x:1?a"}) {
    auto r = ParseApiUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ResolveConnectionTest, FlagsBeatEnvironmentWhichBeatsDefaults) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("admin.token"), "cat_fromfile\n").ok());
  ASSERT_TRUE(testing::WriteFile(dir.Sub("other.token"), "  cat_other \r\nignored\n").ok());

  auto defaults = ResolveConnection(Parse({"alerts", "--data-dir", dir.path()}), {});
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->endpoint.host, "127.0.0.1");
  EXPECT_EQ(defaults->endpoint.port, 8443);
  EXPECT_EQ(defaults->ca_path, dir.path() + "/pki/ca.crt");
  EXPECT_EQ(defaults->token, "cat_fromfile");
  EXPECT_EQ(defaults->token_source, dir.Sub("admin.token"));

  Environment env;
  env.api = "https://env-host:1234";
  env.ca = "/env/ca.crt";
  env.token = "cat_fromenv";
  auto from_env = ResolveConnection(Parse({"alerts", "--data-dir", dir.path()}), env);
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->endpoint.host, "env-host");
  EXPECT_EQ(from_env->ca_path, "/env/ca.crt");
  EXPECT_EQ(from_env->token, "cat_fromenv");
  EXPECT_EQ(from_env->token_source, "CUSTOS_TOKEN");

  auto from_flags =
      ResolveConnection(Parse({"alerts", "--api", "https://flag-host:99", "--ca", "/flag/ca.crt",
                               "--token-file", dir.Sub("other.token")}),
                        env);
  ASSERT_TRUE(from_flags.ok()) << from_flags.status().ToString();
  EXPECT_EQ(from_flags->endpoint.host, "flag-host");
  EXPECT_EQ(from_flags->endpoint.port, 99);
  EXPECT_EQ(from_flags->ca_path, "/flag/ca.crt");
  EXPECT_EQ(from_flags->token, "cat_other");
}

TEST(ResolveConnectionTest, TokenProblemsNameTheFileNeverTheToken) {
  testing::TempDir dir;
  auto missing = ResolveConnection(Parse({"alerts", "--data-dir", dir.path()}), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("read token file: " + dir.Sub("admin.token") + ": No such file"));
  EXPECT_THAT(missing.status().message(), HasSubstr("--token-file FILE or set CUSTOS_TOKEN"));

  ASSERT_TRUE(testing::WriteFile(dir.Sub("empty.token"), "\n").ok());
  auto empty = ResolveConnection(Parse({"alerts", "--token-file", dir.Sub("empty.token")}), {});
  EXPECT_THAT(empty.status().message(), HasSubstr("empty.token is empty"));

  Environment env;
  env.token = "cat_secret\x01value";
  auto control = ResolveConnection(Parse({"alerts"}), env);
  ASSERT_FALSE(control.ok());
  EXPECT_THAT(control.status().message(), HasSubstr("CUSTOS_TOKEN contains a space or control"));
  EXPECT_THAT(control.status().message(), Not(HasSubstr("secret")));
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
TEST(RunApiCommandTest, UsageErrorsExitTwoBeforeConnecting) {
  struct Case {
    std::vector<std::string> words;
    std::string message;
  };
  const std::vector<Case> cases = {
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

TEST(RunApiCommandTest, MissingCaOrTokenFileIsARuntimeFailureWithAHint) {
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

TEST(RunApiCommandTest, EveryCommandHasHelp) {
  for (const char* command : {"alerts", "alert", "import", "policies", "policy", "templates",
                              "trigger", "external-alert"}) {
    ASSERT_TRUE(IsApiCommand(command)) << command;
    const std::string help = ApiCommandUsage(command);
    EXPECT_THAT(help, HasSubstr(std::string("custos ") + command)) << command;
    EXPECT_THAT(help, HasSubstr("--api URL")) << command;
    EXPECT_THAT(help, HasSubstr("--token-file FILE")) << command;
    EXPECT_THAT(help, HasSubstr("Exit codes")) << command;
  }
  EXPECT_FALSE(IsApiCommand("events"));
  EXPECT_EQ(ApiCommandUsage("events"), nullptr);
}

}  // namespace
}  // namespace custos::collector::cli
