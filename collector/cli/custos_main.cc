// custos: the Custos command-line tool, a client of the collector's HTTPS REST API. See
// `custos --help`, docs/cli.md and collector/cli/README.md.
#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "collector/cli/command_line.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"

int main(int argc, char** argv) {
  using namespace custos::collector::cli;
  // An event the table cannot parse would make libprotobuf log to stderr for every row; the table
  // already says so.
  google::protobuf::SetLogHandler(nullptr);
  // Nothing below is expected to throw (RunCustos contains CLI11's exceptions; nlohmann::json and
  // protobuf are used in their no-throw forms); this only turns std::bad_alloc and the like into a
  // message and exit code 1.
  try {
    return RunCustos(AllCommands(), argc, argv, EnvironmentFromProcess(TableWidth()), std::cout,
                     std::cerr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custos: internal error: %s\n", e.what());
    return 1;
  }
}
