// custos reveal request|list|approve|refuse|withdraw: asking for a pseudonymised person's identity
// and deciding on it (POST/GET /api/v1/reveals, POST /api/v1/reveals/{id}/approve|refuse|withdraw;
// docs/cli.md#custos-reveal).
#include <set>

#include <nlohmann/json.hpp>

#include "collector/cli/access_format.h"
#include "collector/cli/api_client.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using text::EscapeForTerminal;

constexpr const char* kRevealUsage =
    "custos reveal \xE2\x80\x94 ask to see who a pseudonymised person is, and decide on\n"
    "such requests.\n"
    "\n"
    "Usage:\n"
    "  custos reveal request PERSON --justification TEXT\n"
    "  custos reveal list [--format table|json]\n"
    "  custos reveal approve ID [--note TEXT]\n"
    "  custos reveal refuse ID --note TEXT\n"
    "  custos reveal withdraw ID\n"
    "\n"
    "  PERSON               The pseudonym shown for the person (Anon-7F3A21C9AB, Anon-U-...).\n"
    "  --justification TEXT Why you need the identity (10 to 2000 characters: the alert,\n"
    "                       the case); the approver decides on it; the audit log keeps it.\n"
    "  --note TEXT          The approver's note; required to refuse.\n"
    "  ID                   A reveal's id (rvl_...), from 'custos reveal list'.\n"
    "  --format F           list: table (default) or json (the API's reveal objects).\n"
    "\n"
    "While pseudonymisation is on ('custos settings'), people appear as pseudonyms in every\n"
    "table. A reveal shows one person's identity to the one who asked, for 24 hours from\n"
    "approval.\n"
    "\n"
    "Who may run it: analysts and investigators request (one pending request per person) and\n"
    "withdraw their own requests, pending or live. A second person holding the approver role\n"
    "approves or refuses: never the requester, never with a service token. list shows approvers\n"
    "the pending requests and everyone their own; PERSON there is masked like everywhere else.\n"
    "Statuses: requested, approved, refused, withdrawn, expired. The collector enforces all of\n"
    "this (HTTP 403 naming the rule) and audits every step (custos audit --action reveal.).\n"
    "See docs/privacy.md.\n"
    "\n" CUSTOS_CLI_CONNECTION_HELP
    "\n"
    "Examples:\n"
    "  custos reveal request Anon-7F3A21C9AB --justification 'alert 42: 3 GB to USB, leaver'\n"
    "  custos reveal list\n"
    "  custos reveal approve rvl_91c2d4 --note 'case 17, HR informed'\n"
    "  custos reveal refuse rvl_91c2d4 --note 'not enough for a reveal; escalate first'\n";

constexpr const char* kCommand = "reveal";

std::set<std::string> SubOptions(const std::string& sub) {
  if (sub == "request") return {"justification"};
  if (sub == "list") return {"format"};
  if (sub == "approve" || sub == "refuse") return {"note"};
  return {};
}

// "reveal rvl_1 for PERSON: approved" from a reveal object.
void WriteOutcome(Context& c, const json& reveal, const std::string& id) {
  c.out << "reveal " << EscapeForTerminal(StringOr(reveal, "id", id));
  const std::string person = StringOr(reveal, "person", "");
  if (!person.empty()) c.out << " for " << EscapeForTerminal(person);
  c.out << ": " << EscapeForTerminal(StringOr(reveal, "status", "?")) << '\n';
}

int Request(Context& c) {
  const auto& pos = c.args.positional();
  if (pos.size() != 3 || pos[2].empty()) {
    return UsageError(c.err, "reveal request needs one PERSON (the pseudonym)", kCommand);
  }
  auto justification = c.args.Get("justification");
  if (!justification || justification->empty()) {
    return UsageError(
        c.err, "reveal request needs --justification TEXT (why you need the identity)", kCommand);
  }
  ordered_json request = {{"person", pos[2]}, {"justification", *justification}};
  int rc = 0;
  auto body = ObjectReply(c, "POST", "/api/v1/reveals", &rc, Dump(request));
  if (!body) return rc;
  WriteOutcome(c, *body, "?");
  if (int finished = Finish(c); finished != 0) return finished;
  c.err << "custos: an approver decides: custos reveal approve|refuse "
        << EscapeForTerminal(StringOr(*body, "id", "ID")) << '\n';
  return 0;
}

// approve, refuse, withdraw: POST /api/v1/reveals/{id}/SUB.
int Decide(Context& c, const std::string& sub) {
  const auto& pos = c.args.positional();
  if (pos.size() != 3 || pos[2].empty()) {
    return UsageError(c.err, "reveal " + sub + " needs one reveal ID (see 'custos reveal list')",
                      kCommand);
  }
  ordered_json request = json::object();
  auto note = c.args.Get("note");
  if (sub == "refuse" && (!note || note->empty())) {
    return UsageError(c.err, "reveal refuse needs --note TEXT (why it is refused)", kCommand);
  }
  if (note) request["note"] = *note;
  int rc = 0;
  auto body = ObjectReply(c, "POST", "/api/v1/reveals/" + PercentEncode(pos[2]) + "/" + sub, &rc,
                          Dump(request));
  if (!body) return rc;
  WriteOutcome(c, *body, pos[2]);
  return Finish(c);
}

int Reveal(Context& c) {
  const auto& pos = c.args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  if (sub == "request") return Request(c);
  if (sub == "approve" || sub == "refuse" || sub == "withdraw") return Decide(c, sub);
  if (sub == "list") {
    if (pos.size() > 2) {
      return UsageError(c.err, "reveal list takes no arguments, got '" + pos[2] + "'", kCommand);
    }
    return ShowList(c, kCommand, "/api/v1/reveals", "reveals", &WriteRevealTable);
  }
  return UsageError(c.err,
                    (sub.empty() ? std::string("reveal needs a sub-command")
                                 : "reveal: unknown sub-command '" + sub + "'") +
                        " (request, list, approve, refuse or withdraw)",
                    kCommand);
}

}  // namespace

const Command& RevealCommand() {
  static const Command kReveal{
      .name = "reveal",
      .overview = {{"custos reveal request|list|approve|refuse|withdraw ...",
                    "Ask for a pseudonymised person's identity; approve or refuse."}},
      .usage = kRevealUsage,
      .options = {{"justification"}, {"note"}, {"format"}},
      .sub_options = &SubOptions,
      .run = &Reveal,
  };
  return kReveal;
}

}  // namespace custos::collector::cli
