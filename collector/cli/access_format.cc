#include "collector/cli/access_format.h"

#include <cstdint>

#include "collector/cli/alert_format.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;
using text::EscapeForTerminal;

// j[key] when j is an object holding it; a null otherwise (never throws, never inserts).
const json& Field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A scalar as text, not yet escaped: strings as they are, integers in decimal, booleans
// true/false; "" for anything else.
std::string Raw(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return FormatNumber(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return "";
}

// A table cell: escaped, "-" when empty or missing.
std::string Cell(const json& j, const char* key) {
  std::string raw = Raw(Field(j, key));
  return raw.empty() ? "-" : EscapeForTerminal(raw);
}

// A time for a table: RFC 3339 strings without their fractional seconds (the table has no room
// for them; JSON has them), Unix nanoseconds as RFC 3339, "-" when missing or null.
std::string TimeCell(const json& j, const char* key) {
  const json& v = Field(j, key);
  if (v.is_number_integer()) return FormatTimeNs(v);
  std::string t = Cell(j, key);
  const size_t dot = t.find('.');
  if (t.size() > 20 && dot == 19 && t.back() == 'Z') t = t.substr(0, 19) + "Z";
  return t;
}

}  // namespace

std::string JoinRoles(const json& roles) {
  if (roles.is_string()) return roles.get<std::string>().empty() ? "-" : roles.get<std::string>();
  std::string out;
  if (roles.is_array()) {
    for (const auto& r : roles) {
      if (!r.is_string()) continue;
      out += (out.empty() ? "" : ",") + r.get<std::string>();
    }
  }
  return out.empty() ? "-" : out;
}

void WriteAccountTable(const json& accounts, size_t line_width, std::ostream& out) {
  if (!accounts.is_array() || accounts.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : accounts) {
    const json& disabled = Field(a, "disabled");
    rows.push_back({Cell(a, "username"), Cell(a, "display_name"), Cell(a, "email"),
                    EscapeForTerminal(JoinRoles(Field(a, "roles"))), Cell(a, "source"),
                    disabled.is_boolean() ? (disabled.get<bool>() ? "disabled" : "enabled") : "-",
                    TimeCell(a, "created_at")});
  }
  WriteTable({"USERNAME", "NAME", "EMAIL", "ROLES", "SOURCE", "STATUS", "CREATED"},
             {24, 24, 32, 40, 6, 8, 0}, rows, line_width, out);
}

void WriteTokenTable(const json& tokens, size_t line_width, std::ostream& out) {
  if (!tokens.is_array() || tokens.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : tokens) {
    std::string owner = Cell(t, "owner_username");
    if (owner == "-") owner = Cell(t, "owner");
    rows.push_back({Cell(t, "id"), owner, Cell(t, "name"), TimeCell(t, "created_at"),
                    TimeCell(t, "last_used"), TimeCell(t, "expires_at"),
                    TimeCell(t, "revoked_at")});
  }
  WriteTable({"ID", "OWNER", "NAME", "CREATED", "LAST USED", "EXPIRES", "REVOKED"},
             {24, 24, 32, 0, 0, 0, 0}, rows, line_width, out);
}

void WriteRevealTable(const json& reveals, size_t line_width, std::ostream& out) {
  if (!reveals.is_array() || reveals.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : reveals) {
    rows.push_back({Cell(r, "id"), Cell(r, "status"), Cell(r, "person"), Cell(r, "requester"),
                    TimeCell(r, "created_at"), Cell(r, "decided_by"), Cell(r, "justification")});
  }
  WriteTable({"ID", "STATUS", "PERSON", "REQUESTER", "CREATED", "DECIDED BY", "JUSTIFICATION"},
             {24, 10, 32, 24, 0, 24, 0}, rows, line_width, out);
}

void WriteAuditTable(const json& entries, size_t line_width, std::ostream& out) {
  if (!entries.is_array() || entries.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : entries) {
    rows.push_back({Cell(e, "seq"), TimeCell(e, "time"), Cell(e, "actor"), Cell(e, "action"),
                    Cell(e, "object"), Cell(e, "source"), Cell(e, "summary")});
  }
  WriteTable({"SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "SOURCE", "SUMMARY"},
             {0, 0, 28, 28, 28, 20, 0}, rows, line_width, out);
}

std::string CsvField(std::string_view value) {
  std::string v;
  if (!value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@' ||
                         value[0] == '\t' || value[0] == '\r')) {
    v = "'";
  }
  v += value;
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string quoted = "\"";
  for (char ch : v) {
    if (ch == '"') quoted += '"';
    quoted += ch;
  }
  return quoted + "\"";
}

void WriteAuditCsv(const json& entries, std::ostream& out) {
  static constexpr const char* kColumns[] = {"seq",    "time",    "actor",  "action",
                                             "object", "summary", "source", "hash"};
  std::string line;
  for (const char* c : kColumns) line += (line.empty() ? "" : ",") + std::string(c);
  out << line << "\r\n";
  if (!entries.is_array()) return;
  for (const auto& e : entries) {
    line.clear();
    bool first = true;
    for (const char* c : kColumns) {
      if (!first) line += ',';
      first = false;
      line += CsvField(EscapeForTerminal(Raw(Field(e, c))));
    }
    out << line << "\r\n";
  }
}

}  // namespace custos::collector::cli
