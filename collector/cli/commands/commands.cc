#include "collector/cli/commands/commands.h"

namespace custos::collector::cli {

const std::vector<const Command*>& AllCommands() {
  static const std::vector<const Command*> kCommands = {
      &EventsCommand(),        &AlertsCommand(), &AlertCommand(),     &ImportCommand(),
      &PoliciesCommand(),      &PolicyCommand(), &TemplatesCommand(), &TriggerCommand(),
      &ExternalAlertCommand(), &WhoamiCommand(), &UserCommand(),      &TokenCommand(),
      &AuditCommand(),         &RevealCommand(), &SettingsCommand()};
  return kCommands;
}

}  // namespace custos::collector::cli
