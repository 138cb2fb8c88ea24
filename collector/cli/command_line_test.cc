// How argv becomes one command's Invocation (CLI11 underneath): where flags may go, how values are
// written, and the usage errors for everything else.
#include "collector/cli/command_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "collector/cli/commands/commands.h"

namespace custos::collector::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

CommandLine Parse(std::vector<std::string> words) {
  return ParseCommandLine(AllCommands(), std::move(words));
}

struct Ran {
  int exit_code;
  std::string out;
  std::string err;
};
Ran RunCli(std::vector<std::string> words) {
  words.insert(words.begin(), "custos");
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  std::ostringstream out, err;
  int rc = RunCustos(AllCommands(), static_cast<int>(argv.size()), argv.data(), {}, out, err);
  return {rc, out.str(), err.str()};
}

TEST(CommandLineTest, FlagsGoAnywhereAndTakeTheirValueEitherWay) {
  CommandLine line = Parse(
      {"--data-dir", "/d", "alert", "--reason=why not", "confirm", "--api", "https://h:1", "42"});
  ASSERT_EQ(line.error, "");
  ASSERT_NE(line.command, nullptr);
  EXPECT_EQ(line.command->name, "alert");
  EXPECT_THAT(line.args.positional(), ElementsAre("alert", "confirm", "42"));
  EXPECT_THAT(line.args.values(), ElementsAre(Pair("api", "https://h:1"), Pair("data-dir", "/d"),
                                              Pair("reason", "why not")));

  // A value that looks like a command or a relative time is still a value.
  CommandLine values = Parse({"events", "--since", "-2h", "--user", "alerts"});
  ASSERT_EQ(values.error, "");
  EXPECT_EQ(values.args.Get("since"), "-2h");
  EXPECT_EQ(values.args.Get("user"), "alerts");
  EXPECT_EQ(values.args.Get("agent"), std::nullopt);

  // After "--" everything is an argument.
  CommandLine dashes = Parse({"policy", "delete", "--", "--odd-id"});
  ASSERT_EQ(dashes.error, "");
  EXPECT_THAT(dashes.args.positional(), ElementsAre("policy", "delete", "--odd-id"));

  CommandLine sw = Parse({"events", "--oldest-first"});
  ASSERT_EQ(sw.error, "");
  EXPECT_EQ(sw.args.Get("oldest-first"), "true");
}

TEST(CommandLineTest, RefusesWhatIsNotACommandsFlag) {
  struct Case {
    std::vector<std::string> words;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"events", "--colour"}, "unknown flag --colour (see --help)"},
      {{"events", "-since", "-2h"}, "unknown flag -since (see --help)"},
      {{"events", "--severity", "high"}, "--severity does not apply to 'custos events'"},
      {{"alerts", "--oldest-first"}, "--oldest-first does not apply to 'custos alerts'"},
      {{"events", "--since"}, "flag --since needs a value"},
      {{"events", "--since", "-2h", "--since", "-1h"}, "flag --since given more than once"},
      {{"events", "--oldest-first=yes"}, "flag --oldest-first takes no value"},
      {{"alert", "show", "1", "--reason", "x"}, "--reason does not apply to 'custos alert show'"},
      {{"alert", "show", "1", "--since", "-2h"}, "--since does not apply to 'custos alert show'"},
      {{"import", "directory", "f.csv", "--scenario", "resignation"},
       "--scenario does not apply to 'custos import directory'"},
      {{"policy", "delete", "p", "--name", "x"}, "--name does not apply to 'custos policy delete'"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"--colour"}, "unknown flag --colour (see --help)"},
  };
  for (const auto& c : cases) {
    CommandLine line = Parse(c.words);
    EXPECT_EQ(line.error, c.error) << c.words[0];
  }
}

TEST(CommandLineTest, UsageErrorsNameTheCommandsHelp) {
  Ran flag = RunCli({"events", "--colour"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_EQ(flag.err,
            "custos: unknown flag --colour (see --help)\nRun 'custos events --help' for usage.\n");
  EXPECT_EQ(flag.out, "");

  Ran command = RunCli({"frobnicate"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_EQ(command.err, "custos: unknown command 'frobnicate'\nRun 'custos --help' for usage.\n");

  Ran hostile = RunCli({"\x1b[2J"});
  EXPECT_EQ(hostile.exit_code, 2);
  EXPECT_THAT(hostile.err, HasSubstr("unknown command '\\x1b[2J'"));
}

TEST(CommandLineTest, HelpVersionAndNoCommand) {
  Ran help = RunCli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, StartsWith("custos \xE2\x80\x94 the Custos command-line tool"));
  EXPECT_THAT(help.out,
              HasSubstr("  custos alert confirm|dismiss|resolve|reopen ID [--reason TEXT]\n"
                        "                                      Change an alert's status.\n"));
  EXPECT_THAT(help.out,
              HasSubstr("  custos templates                    List policy templates.\n"));

  Ran events_help = RunCli({"--help", "events"});
  EXPECT_EQ(events_help.exit_code, 0);
  EXPECT_THAT(events_help.out, StartsWith("custos events \xE2\x80\x94"));

  for (auto words : {std::vector<std::string>{"--version"}, {"events", "--version"}}) {
    Ran version = RunCli(words);
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_EQ(version.out, std::string("custos ") + kCustosVersion + "\n");
  }

  Ran nothing = RunCli({});
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_EQ(nothing.out, "");
  EXPECT_EQ(nothing.err, OverviewUsage(AllCommands()));
}

}  // namespace
}  // namespace custos::collector::cli
