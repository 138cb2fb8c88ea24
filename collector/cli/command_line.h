// collector/cli: the `custos` command line — argv to one command of the table, with CLI11
// (the only file that includes it), then that command's run function.
//
// Flags may come before or after the command word and between its arguments
// (`custos --data-dir D events --since -2h`); --name VALUE and --name=VALUE are the same; `--`
// ends the flags. Refused as usage errors (exit 2, "Run 'custos COMMAND --help' for usage."):
// unknown flags ("unknown flag --colour"), flags of another command ("--severity does not apply to
// 'custos events'"), a flag without its value, a switch with one, a flag given twice, an unknown
// command. `--help` prints the command's help (or the overview) on stdout; `--version` the
// version. No exception leaves RunCustos: CLI11's become usage errors, anything else exit 1.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "collector/cli/command.h"
#include "collector/cli/connection.h"

namespace custos::collector::cli {

inline constexpr const char* kCustosVersion = "0.1.0";

// What the words after "custos" ask for.
struct CommandLine {
  const Command* command = nullptr;  // null: no command word (args then holds only help/version)
  Invocation args;
  std::string error;  // not empty: a usage error, for "custos: ERROR"
};
// CLI11's parse errors become `error`; only a mistake in the command table could throw
// (RunCustos catches that).
CommandLine ParseCommandLine(const std::vector<const Command*>& commands,
                             std::vector<std::string> words);

// Parses argv, runs the command; returns the exit code.
int RunCustos(const std::vector<const Command*>& commands, int argc, const char* const* argv,
              const Environment& env, std::ostream& out, std::ostream& err);

// `custos --help`: what custos is, one line per command (Command::overview), how to connect.
std::string OverviewUsage(const std::vector<const Command*>& commands);

}  // namespace custos::collector::cli
