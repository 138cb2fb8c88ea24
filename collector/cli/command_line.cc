#include "collector/cli/command_line.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <string_view>

#include "collector/cli/api_client.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

constexpr const char* kOverviewHead =
    "custos \xE2\x80\x94 the Custos command-line tool: look at what the collector stored, triage "
    "alerts,\n"
    "feed it HR and directory data, manage scoring policies, accounts, tokens and reveals, read\n"
    "the audit log.\n"
    "\n"
    "Usage:\n";

constexpr const char* kOverviewTail =
    "  custos --version\n"
    "  custos COMMAND --help               Options of COMMAND.\n"
    "\n"
    "Every command uses the collector's HTTPS API: --api https://HOST:PORT (default\n"
    "https://127.0.0.1:8443), with the token in DATA_DIR/admin.token, --token-file FILE or\n"
    "$CUSTOS_TOKEN; see any of their --help.\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.\n";

constexpr size_t kSummaryColumn = 38;

// Flags every command takes besides its own and the connection options.
const std::vector<OptionSpec>& GlobalOptions() {
  static const std::vector<OptionSpec> kOptions = {{"help", false}, {"version", false}};
  return kOptions;
}

std::vector<OptionSpec> OptionsOf(const Command& command) {
  std::vector<OptionSpec> all = command.options;
  for (const auto* list : {&ConnectionOptions(), &GlobalOptions()}) {
    all.insert(all.end(), list->begin(), list->end());
  }
  return all;
}

// Every flag of every command, by name: whether it takes a value.
std::map<std::string, bool> AllFlags(const std::vector<const Command*>& commands) {
  std::map<std::string, bool> flags;
  for (const Command* c : commands) {
    for (const OptionSpec& o : OptionsOf(*c)) flags[o.name] = o.takes_value;
  }
  return flags;
}

// "--name=value" -> "name"; "-x" stays "-x" (single-dash flags do not exist).
std::string FlagName(std::string_view word) {
  if (!word.starts_with("--")) return std::string(word.substr(0, word.find('=')));
  word.remove_prefix(2);
  return std::string(word.substr(0, word.find('=')));
}

bool IsFlag(std::string_view word) { return word.size() > 1 && word[0] == '-'; }

std::string Display(const std::string& name) { return name.starts_with("-") ? name : "--" + name; }

// The position of the command word in `words`, skipping flags and the values of flags that take
// one; words.size() when there is none.
size_t FindCommandWord(const std::vector<std::string>& words,
                       const std::map<std::string, bool>& flags) {
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--") return i + 1 < words.size() ? i + 1 : words.size();
    if (!IsFlag(w)) return i;
    if (w.find('=') == std::string::npos) {
      auto it = flags.find(FlagName(w));
      if (it != flags.end() && it->second) ++i;  // its value
    }
  }
  return words.size();
}

struct Parsed {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
};

// CLI11 parses the command's words (without the command word) into `parsed`; an error message
// for the user otherwise (CLI11 exceptions stop here).
std::optional<std::string> ParseWithCli11(const Command& command,
                                          const std::map<std::string, bool>& all_flags,
                                          std::vector<std::string> words, Parsed* parsed) {
  CLI::App app{command.name, "custos " + command.name};
  app.set_help_flag();  // our own --help prints the command's hand-written usage
  app.allow_extras();   // reported below, with a better message than CLI11's
  std::vector<std::pair<std::string, CLI::Option*>> options;
  for (const OptionSpec& o : OptionsOf(command)) {
    CLI::Option* opt = nullptr;
    if (o.takes_value) {
      opt = app.add_option("--" + o.name)
                ->expected(1)
                ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                ->allow_extra_args(false);
    } else {
      opt = app.add_flag("--" + o.name)->disable_flag_override();
    }
    options.emplace_back(o.name, opt);
  }
  std::vector<std::string> args;
  app.add_option("args", args);
  // CLI11 takes the words last first.
  std::reverse(words.begin(), words.end());
  try {
    app.parse(words);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    const std::string name = what.substr(0, what.find(':'));
    if (what.find("required") != std::string::npos && what.find("missing") != std::string::npos) {
      return "flag " + name + " needs a value";
    }
    if (what.find("disallowed flag override") != std::string::npos) {
      // "oldest-first was given a disallowed flag override": --oldest-first=VALUE.
      return "flag --" + what.substr(0, what.find(' ')) + " takes no value";
    }
    return what;
  }
  for (const std::string& extra : app.remaining()) {
    if (!IsFlag(extra) || extra == "--") continue;  // CLI11 keeps the "--" it honoured
    const std::string name = FlagName(extra);
    if (!name.starts_with("-") && all_flags.count(name)) {
      // "custos alert show" when the command has sub-commands and the flag came after one.
      const std::string where = command.sub_options != nullptr && !args.empty()
                                    ? command.name + " " + args[0]
                                    : command.name;
      return "--" + name + " does not apply to 'custos " + where + "'";
    }
    if (name == "password") {
      // No command takes a password as a flag: it would show in ps and in shell history.
      return "a password is never taken on the command line (ps and shell history show it): use "
             "--password-file FILE, or - for standard input";
    }
    return "unknown flag " + Display(name) + " (see --help)";
  }
  for (const auto& [name, opt] : options) {
    if (opt->count() == 0) continue;
    if (opt->count() > 1) return "flag --" + name + " given more than once";
    const std::vector<std::string>& results = opt->results();
    parsed->values[name] =
        opt->get_expected_min() == 0 || results.empty() ? "true" : results.back();
  }
  parsed->positional = {command.name};
  parsed->positional.insert(parsed->positional.end(), args.begin(), args.end());
  return std::nullopt;
}

int RunCommand(const Command& command, const Invocation& args, const Environment& env,
               std::ostream& out, std::ostream& err) {
  if (args.Has("version")) {
    out << "custos " << kCustosVersion << '\n';
    return 0;
  }
  if (args.Has("help")) {
    out << command.usage;
    out.flush();
    return out ? 0 : 1;
  }
  const bool takes_config = std::any_of(command.options.begin(), command.options.end(),
                                        [](const OptionSpec& o) { return o.name == "config"; });
  ApiCaller api(args, env, command.name, takes_config, err);
  Context c{args, env, api, out, err};
  return command.run(c);
}

// Flags of a command that has sub-commands, checked against what the sub-command takes.
std::optional<std::string> CheckSubOptions(const Command& command, const Invocation& args) {
  if (command.sub_options == nullptr) return std::nullopt;
  const std::string sub = args.positional().size() > 1 ? args.positional()[1] : "";
  const std::set<std::string> own = command.sub_options(sub);
  const std::string where = sub.empty() ? command.name : command.name + " " + sub;
  for (const auto& [name, value] : args.values()) {
    const bool shared = std::any_of(ConnectionOptions().begin(), ConnectionOptions().end(),
                                    [&](const OptionSpec& o) { return o.name == name; }) ||
                        name == "help" || name == "version";
    if (!shared && !own.count(name)) {
      return "--" + name + " does not apply to 'custos " + where + "'";
    }
  }
  return std::nullopt;
}

// Without a command word: only --help and --version mean something.
CommandLine ParseWithoutCommand(const std::vector<std::string>& words,
                                const std::map<std::string, bool>& all_flags) {
  CommandLine line;
  std::map<std::string, std::string> values;
  for (const std::string& w : words) {
    if (w == "--") break;
    if (!IsFlag(w)) continue;
    const std::string name = FlagName(w);
    if (name.starts_with("-") || !all_flags.count(name)) {
      line.error = "unknown flag " + Display(name) + " (see --help)";
      return line;
    }
    if (name == "help" || name == "version") values[name] = "true";
  }
  line.args = Invocation({}, std::move(values));
  return line;
}

}  // namespace

CommandLine ParseCommandLine(const std::vector<const Command*>& commands,
                             std::vector<std::string> words) {
  const std::map<std::string, bool> all_flags = AllFlags(commands);
  const size_t at = FindCommandWord(words, all_flags);
  if (at == words.size()) return ParseWithoutCommand(words, all_flags);
  CommandLine line;
  const std::string name = words[at];
  auto it = std::find_if(commands.begin(), commands.end(),
                         [&](const Command* c) { return c->name == name; });
  if (it == commands.end()) {
    line.error = "unknown command '" + name + "'";
    return line;
  }
  line.command = *it;
  words.erase(words.begin() + static_cast<std::ptrdiff_t>(at));
  Parsed parsed;
  if (auto problem = ParseWithCli11(**it, all_flags, std::move(words), &parsed)) {
    line.error = *problem;
    return line;
  }
  line.args = Invocation(std::move(parsed.positional), std::move(parsed.values));
  if (auto problem = CheckSubOptions(**it, line.args)) line.error = *problem;
  return line;
}

std::string OverviewUsage(const std::vector<const Command*>& commands) {
  std::string text = kOverviewHead;
  for (const Command* c : commands) {
    for (const Command::HelpLine& line : c->overview) {
      std::string row = std::string("  ") + line.synopsis;
      if (row.size() + 1 > kSummaryColumn) {
        row += "\n";
        row.append(kSummaryColumn, ' ');
      } else {
        row.append(kSummaryColumn - row.size(), ' ');
      }
      text += row + line.summary + "\n";
    }
  }
  return text + kOverviewTail;
}

int RunCustos(const std::vector<const Command*>& commands, int argc, const char* const* argv,
              const Environment& env, std::ostream& out, std::ostream& err) {
  try {
    CommandLine line =
        ParseCommandLine(commands, std::vector<std::string>(argv + std::min(argc, 1), argv + argc));
    if (!line.error.empty()) {
      return UsageError(err, line.error, line.command ? line.command->name : "");
    }
    if (line.command != nullptr) return RunCommand(*line.command, line.args, env, out, err);
    if (line.args.Has("version")) {
      out << "custos " << kCustosVersion << '\n';
      return 0;
    }
    if (line.args.Has("help")) {
      out << OverviewUsage(commands);
      return 0;
    }
    err << OverviewUsage(commands);
    return 2;
  } catch (const std::exception& e) {
    // CLI11 throws only for its parse errors (caught in ParseWithCli11) and for programming
    // errors in how options are declared; neither may escape the CLI.
    err << "custos: internal error: " << text::EscapeForTerminal(e.what()) << '\n';
    return 1;
  }
}

}  // namespace custos::collector::cli
