// `custos-agent enroll` against a real custos-collector, with the token read from a file and
// from standard input (never on the command line, where `ps` shows it to every user).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>

#include "tests/integration/harness.h"

namespace custos {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::CollectorProcess;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunResult;
using testing::TempDir;

class EnrollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<CollectorProcess>(dir_.Sub("collector"));
    ASSERT_TRUE(collector_->Init().ok());
    ASSERT_TRUE(collector_->Start().ok()) << collector_->Logs();
    std::ofstream cfg(dir_.Sub("agent.yaml"));
    cfg << "collector:\n  address: 127.0.0.1:" << collector_->port()
        << "\n  server_name: localhost\n";
  }

  // custos-agent enroll with `token_args`; `stdin_path`, when given, is its standard input.
  RunResult Enroll(const std::string& state_dir, const std::vector<std::string>& token_args,
                   const std::string& stdin_path = "") {
    std::vector<std::string> argv = {"/bin/sh",
                                     "-c",
                                     stdin_path.empty() ? "exec \"$0\" \"$@\" </dev/null"
                                                        : "exec \"$0\" \"$@\" <\"$ENROLL_STDIN\"",
                                     BinaryPath("custos-agent"),
                                     "enroll",
                                     "--config",
                                     dir_.Sub("agent.yaml"),
                                     "--state-dir",
                                     dir_.Sub(state_dir),
                                     "--ca",
                                     collector_->ca_path()};
    argv.insert(argv.end(), token_args.begin(), token_args.end());
    return testing::Run(argv, 30s, {{"ENROLL_STDIN", stdin_path}});
  }

  TempDir dir_;
  std::unique_ptr<CollectorProcess> collector_;
};

TEST_F(EnrollTest, ReadsTheTokenFromAFileWithATrailingNewline) {
  auto token = collector_->Token(1);
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(testing::WriteFile(dir_.Sub("token"), *token + "\n").ok());
  auto r = Enroll("agent", {"--token-file", dir_.Sub("token")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("enrolled as agent "));
  EXPECT_TRUE(testing::ReadFile(dir_.Sub("agent/agent.crt")).ok());
}

TEST_F(EnrollTest, ReadsTheTokenFromStandardInput) {
  auto token = collector_->Token(1);
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(testing::WriteFile(dir_.Sub("stdin"), *token + "\n").ok());
  auto r = Enroll("agent", {"--token-file", "-"}, dir_.Sub("stdin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(testing::ReadFile(dir_.Sub("agent/agent.crt")).ok());
}

TEST_F(EnrollTest, TokenOnTheCommandLineStillWorks) {
  auto token = collector_->Token(1);
  ASSERT_TRUE(token.ok());
  auto r = Enroll("agent", {"--token", *token});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(EnrollTest, EmptyOrMissingTokenFileFailsClearlyBeforeConnecting) {
  ASSERT_TRUE(testing::WriteFile(dir_.Sub("empty"), "\n").ok());
  auto empty = Enroll("agent", {"--token-file", dir_.Sub("empty")});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(empty.err, HasSubstr("--token-file: " + dir_.Sub("empty") + ": empty"));

  auto empty_stdin = Enroll("agent", {"--token-file", "-"});  // standard input is /dev/null
  EXPECT_EQ(empty_stdin.exit_code, 2);
  EXPECT_THAT(empty_stdin.err, HasSubstr("--token-file: standard input: empty"));

  auto missing = Enroll("agent", {"--token-file", dir_.Sub("missing")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("--token-file: " + dir_.Sub("missing") + ": "));

  auto none = Enroll("agent", {});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("--token-file FILE"));
  EXPECT_FALSE(testing::ReadFile(dir_.Sub("agent/agent.crt")).ok());
}

TEST(EnrollHelpTest, HelpOffersTheTokenFileAndWarnsAboutTheFlag) {
  auto help = testing::Run({BinaryPath("custos-agent"), "--help"}, 30s);
  ASSERT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("enroll --token-file FILE"));
  EXPECT_THAT(help.out, HasSubstr("--token-file -"));
  EXPECT_THAT(help.out, HasSubstr("process list"));
  EXPECT_THAT(help.out, Not(HasSubstr("enroll --token TOKEN")));
}

}  // namespace
}  // namespace custos
