// custos import hr|directory FILE: upload a CSV file (POST /api/v1/hr/import,
// /api/v1/directory/import; docs/cli.md#custos-import-directory).
#include <set>

#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"

namespace custos::collector::cli {
namespace {

constexpr const char* kImportUsage =
    "custos import \xE2\x80\x94 import HR records or the login directory from a CSV file.\n"
    "\n"
    "Usage:\n"
    "  custos import directory FILE\n"
    "  custos import hr FILE [--scenario S]\n"
    "\n"
    "  FILE             A CSV file as specified in docs/imports.md, or - for standard input.\n"
    "  --scenario S     HR files only: resignation, job_level_change, performance_review or\n"
    "                   performance_improvement_plan, for files without an HRScenario column\n"
    "                   whose columns do not tell.\n"
    "\n"
    "The collector checks the whole file first. If any row has a problem, every problem is\n"
    "printed to stderr as 'line N: Column: message' and nothing is imported (exit 1). Import the\n"
    "directory before HR files: HR rows must name people of the directory. Needs an admin token.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos import directory people.csv\n"
    "  custos import hr reviews.csv --scenario performance_review\n";

// Only HR files take --scenario.
std::set<std::string> SubOptions(const std::string& sub) {
  return sub == "hr" ? std::set<std::string>{"scenario"} : std::set<std::string>{};
}

int Import(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() < 2 || (pos[1] != "hr" && pos[1] != "directory")) {
    return UsageError(c.err,
                      pos.size() < 2 ? "import needs what to import: hr or directory"
                                     : "import: unknown kind '" + pos[1] + "' (hr or directory)",
                      "import");
  }
  const std::string& kind = pos[1];
  if (pos.size() != 3) {
    return UsageError(c.err, "import " + kind + " needs one FILE (or - for standard input)",
                      "import");
  }
  std::string target = kind == "hr" ? "/api/v1/hr/import" : "/api/v1/directory/import";
  if (auto scenario = c.args.Get("scenario")) {
    static const std::set<std::string> kScenarios = {
        "resignation", "job_level_change", "performance_review", "performance_improvement_plan"};
    if (!kScenarios.count(*scenario)) {
      return UsageError(c.err,
                        "--scenario: expected resignation, job_level_change, performance_review "
                        "or performance_improvement_plan, got '" +
                            *scenario + "'",
                        "import");
    }
    target += "?scenario=" + *scenario;
  }
  auto data = ReadWholeFile(pos[2], 32u << 20);
  if (!data.ok()) return Failure(c.err, "import " + kind + ": " + data.status().message());
  int rc = 0;
  auto body = ObjectReply(c, "POST", target, &rc, *data, "text/csv");
  if (!body) return rc;
  auto count = [&](const char* key) {
    return (*body)[key].is_number_unsigned() ? (*body)[key].get<uint64_t>() : 0;
  };
  if (kind == "hr") {
    c.out << "imported " << count("rows") << " HR row" << (count("rows") == 1 ? "" : "s") << ": "
          << count("new") << " new, " << count("already_imported") << " already imported\n";
  } else {
    c.out << "imported the directory: " << count("people") << " people, " << count("logins")
          << " logins (it replaces the previous directory)\n";
  }
  return Finish(c);
}

}  // namespace

const Command& ImportCommand() {
  static const Command kCommand{
      .name = "import",
      .overview = {{"custos import hr|directory FILE", "Import an HR or directory CSV file."}},
      .usage = kImportUsage,
      .options = {{"scenario"}},
      .sub_options = &SubOptions,
      .run = &Import,
  };
  return kCommand;
}

}  // namespace custos::collector::cli
