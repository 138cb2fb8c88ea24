// collector/cli/commands: the `custos` command table — one file per command, each defining one
// Command (collector/cli/command.h). The table's order is the order of `custos --help`.
// To add a command: write commands/NAME.cc defining `const Command& NameCommand()`, declare it
// here, list it in AllCommands() (commands.cc) and in collector/CMakeLists.txt, document it in
// docs/cli.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "collector/cli/command.h"

namespace custos::collector::cli {

const Command& EventsCommand();         // events.cc
const Command& AlertsCommand();         // alerts.cc
const Command& AlertCommand();          // alert.cc
const Command& ImportCommand();         // import.cc
const Command& PoliciesCommand();       // policies.cc
const Command& PolicyCommand();         // policy.cc
const Command& TemplatesCommand();      // templates.cc
const Command& TriggerCommand();        // trigger.cc
const Command& ExternalAlertCommand();  // external_alert.cc
const Command& WhoamiCommand();         // whoami.cc
const Command& UserCommand();           // user.cc
const Command& TokenCommand();          // token.cc
const Command& AuditCommand();          // audit.cc
const Command& RevealCommand();         // reveal.cc
const Command& SettingsCommand();       // settings.cc

// Every command, in the order `custos --help` lists them.
const std::vector<const Command*>& AllCommands();

// ---- building blocks, exposed for tests ----

// "/api/v1/events?..." from the events filters; `now_ns` resolves relative times. InvalidArgument
// (a usage error) for a bad value. *limit and *newest_first report what was asked for, for the
// footer.
Result<std::string> EventsTarget(const Invocation& args, int64_t now_ns, int64_t* limit,
                                 bool* newest_first);
// "/api/v1/audit?actor=...&limit=N" from the audit filters; `now_ns` resolves relative times.
// InvalidArgument (a usage error) for a bad value; *limit reports the limit asked for.
Result<std::string> AuditTarget(const Invocation& args, int64_t now_ns, int64_t* limit);
// "/api/v1/alerts?status=...&..." from the alerts filters; InvalidArgument for a bad value.
Result<std::string> AlertsTarget(const Invocation& args);
// {"template":T,"name":N} with the keys of `set_json` (a JSON object) merged over it.
Result<std::string> PolicyCreateBody(const std::string& template_id, const std::string& name,
                                     const std::optional<std::string>& set_json);

}  // namespace custos::collector::cli
