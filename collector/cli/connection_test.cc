#include "collector/cli/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collector/app/collector_config.h"
#include "collector/cli/command_line.h"
#include "collector/cli/commands/commands.h"
#include "common/testing/testing.h"

namespace custos::collector::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The words after "custos", parsed as the binary parses them.
Invocation Parse(std::vector<std::string> words) {
  CommandLine line = ParseCommandLine(AllCommands(), std::move(words));
  EXPECT_EQ(line.error, "");
  return line.args;
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

  auto defaults = ResolveConnection(Parse({"alerts", "--data-dir", dir.path()}), {}, false);
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
  auto from_env = ResolveConnection(Parse({"alerts", "--data-dir", dir.path()}), env, false);
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->endpoint.host, "env-host");
  EXPECT_EQ(from_env->ca_path, "/env/ca.crt");
  EXPECT_EQ(from_env->token, "cat_fromenv");
  EXPECT_EQ(from_env->token_source, "CUSTOS_TOKEN");

  auto from_flags =
      ResolveConnection(Parse({"alerts", "--api", "https://flag-host:99", "--ca", "/flag/ca.crt",
                               "--token-file", dir.Sub("other.token")}),
                        env, false);
  ASSERT_TRUE(from_flags.ok()) << from_flags.status().ToString();
  EXPECT_EQ(from_flags->endpoint.host, "flag-host");
  EXPECT_EQ(from_flags->endpoint.port, 99);
  EXPECT_EQ(from_flags->ca_path, "/flag/ca.crt");
  EXPECT_EQ(from_flags->token, "cat_other");
}

TEST(ResolveConnectionTest, TokenProblemsNameTheFileNeverTheToken) {
  testing::TempDir dir;
  auto missing = ResolveConnection(Parse({"alerts", "--data-dir", dir.path()}), {}, false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("read token file: " + dir.Sub("admin.token") + ": No such file"));
  EXPECT_THAT(missing.status().message(), HasSubstr("--token-file FILE or set CUSTOS_TOKEN"));

  ASSERT_TRUE(testing::WriteFile(dir.Sub("empty.token"), "\n").ok());
  auto empty =
      ResolveConnection(Parse({"alerts", "--token-file", dir.Sub("empty.token")}), {}, false);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty.token is empty"));

  Environment env;
  env.token = "cat_secret\x01value";
  auto control = ResolveConnection(Parse({"alerts"}), env, false);
  ASSERT_FALSE(control.ok());
  EXPECT_THAT(control.status().message(), HasSubstr("CUSTOS_TOKEN contains a space or control"));
  EXPECT_THAT(control.status().message(), Not(HasSubstr("secret")));
}

TEST(ConnectionTest, DefaultsAreTheCollectorsDefaults) {
  EXPECT_STREQ(kDefaultDataDir, kDefaultCollectorDataDir);
  EXPECT_STREQ(kDefaultConfigPath, kDefaultCollectorConfigPath);
}

TEST(ResolveConnectionTest, ConfigFileGivesTheDataDirUnlessDataDirIsGiven) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("admin.token"), "cat_fromconfigdir\n").ok());
  ASSERT_TRUE(testing::WriteFile(dir.Sub("collector.yaml"),
                                 "data_dir: " + dir.path() + "\napi:\n  port: 9443\n")
                  .ok());
  auto from_config =
      ResolveConnection(Parse({"events", "--config", dir.Sub("collector.yaml")}), {}, true);
  ASSERT_TRUE(from_config.ok()) << from_config.status().ToString();
  EXPECT_EQ(from_config->ca_path, dir.path() + "/pki/ca.crt");
  EXPECT_EQ(from_config->token, "cat_fromconfigdir");

  testing::TempDir other;
  auto overridden = ResolveConnection(
      Parse({"events", "--config", dir.Sub("collector.yaml"), "--data-dir", other.path()}), {},
      true);
  ASSERT_FALSE(overridden.ok());
  EXPECT_THAT(overridden.status().message(), HasSubstr(other.Sub("admin.token")));

  // An explicit --config is read even when nothing needs it, and its problems are usage errors.
  Environment env;
  env.ca = "/env/ca.crt";
  env.token = "cat_x";
  auto missing = ResolveConnection(Parse({"events", "--config", dir.Sub("nope.yaml")}), env, true);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("nope.yaml"));

  ASSERT_TRUE(testing::WriteFile(dir.Sub("relative.yaml"), "data_dir: var/custos\n").ok());
  auto relative = DataDirFromConfig(dir.Sub("relative.yaml"));
  ASSERT_FALSE(relative.ok());
  EXPECT_THAT(relative.status().message(), HasSubstr("'data_dir': must be an absolute path"));
}

}  // namespace
}  // namespace custos::collector::cli
