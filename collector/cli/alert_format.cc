#include "collector/cli/alert_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "collector/cli/event_table.h"
#include "common/time/clock.h"

namespace custos::collector::cli {
namespace {

using nlohmann::json;

// j[key] when j is an object holding it; a null otherwise (never throws, never inserts).
const json& Field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// A scalar for the terminal: strings escaped, numbers as written, booleans yes/no; `fallback`
// for null, empty strings, arrays and objects.
std::string Scalar(const json& v, std::string_view fallback = "-") {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return s.empty() ? std::string(fallback) : EscapeForTerminal(s);
  }
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return FormatNumber(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return std::string(fallback);
}

std::string Text(const json& j, const char* key, std::string_view fallback = "-") {
  return Scalar(Field(j, key), fallback);
}

const json& Array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const json& v = Field(j, key);
  return v.is_array() ? v : kEmpty;
}

// "a, b, c" from an array of strings (other elements skipped), escaped.
std::string JoinStrings(const json& list, std::string_view separator) {
  std::string out;
  if (!list.is_array()) return out;
  for (const auto& e : list) {
    if (!e.is_string()) continue;
    if (!out.empty()) out += separator;
    out += EscapeForTerminal(e.get_ref<const std::string&>());
  }
  return out;
}

// "2026-11-21T10:03:00.000Z" -> "2026-11-21T10:03:00Z": the table has no room for milliseconds.
std::string ShortTime(const json& v) {
  std::string t = Scalar(v);
  if (t.size() == 24 && t.compare(19, 1, ".") == 0 && t.back() == 'Z') t.erase(19, 4);
  return t;
}

class Lines {
 public:
  Lines(size_t width, std::ostream& out) : width_(width), out_(out) {}
  // `text` must be escaped already.
  void Add(const std::string& text) { out_ << FitToWidth(text, width_) << '\n'; }
  void Field(std::string_view label, const std::string& value) {
    std::string line = "  ";
    line += label;
    line += ':';
    line.append(label.size() < 15 ? 15 - label.size() : 1, ' ');
    Add(line + value);
  }

 private:
  size_t width_;
  std::ostream& out_;
};

void WriteTriggers(const json& ex, Lines& lines) {
  const json& triggers = Array(ex, "triggers");
  lines.Add("Triggers (why this person is being scored):");
  if (triggers.empty()) lines.Add("  (none)");
  for (const auto& t : triggers) {
    lines.Add("  " + Text(t, "kind") + "  " + FormatTimeNs(Field(t, "time_ns")) + "  " +
              Text(t, "detail", ""));
  }
}

void WriteIndicators(const json& ex, Lines& lines) {
  const json& indicators = Array(ex, "indicators");
  lines.Add("Indicators (base " + Text(ex, "base") + " points; each scored on its busiest day):");
  if (indicators.empty()) lines.Add("  (none)");
  for (const auto& i : indicators) {
    std::string head = "  " + Text(i, "id");
    if (auto name = Text(i, "name", ""); !name.empty()) head += " \u2014 " + name;
    if (auto category = Text(i, "category", ""); !category.empty()) head += " [" + category + "]";
    lines.Add(head);
    lines.Add("      tier " + Text(i, "tier") + " (x" + Text(i, "tier_factor") + ") of weight " +
              Text(i, "weight") + " = " + Text(i, "points") + " points");
    std::string counts = "      " + Text(i, "count_in_window") + " in the window; busiest day " +
                         Text(i, "busiest_day") + " with " + Text(i, "busiest_day_count");
    const json& tiers = Field(i, "thresholds");
    if (tiers.is_object()) {
      counts += " (tiers from: low " + Text(tiers, "low") + ", medium " + Text(tiers, "medium") +
                ", high " + Text(tiers, "high") + " a day)";
    }
    if (const json& bytes = Field(i, "bytes"); bytes.is_number_unsigned()) {
      counts += "; " + HumanBytes(bytes.get<uint64_t>());
    }
    lines.Add(counts);
    const json& events = Array(i, "events");
    if (!events.empty()) lines.Add("      sample events:");
    for (const auto& e : events) {
      lines.Add("        " + FormatTimeNs(Field(e, "time_ns")) + "  " + Text(e, "agent_id") + "  " +
                Text(e, "what"));
    }
  }
}

void WriteBoosters(const json& ex, Lines& lines) {
  const json& boosters = Array(ex, "boosters");
  if (boosters.empty()) {
    lines.Add("Boosters: none (x" + Text(ex, "boost_factor", "1") + ")");
    return;
  }
  lines.Add("Boosters (together x" + Text(ex, "boost_factor") + "):");
  for (const auto& b : boosters) {
    lines.Add("  " + Text(b, "id") + " x" + Text(b, "factor") + ": " + Text(b, "detail", ""));
  }
}

void WriteSequences(const json& ex, Lines& lines) {
  const json& sequences = Array(ex, "sequences");
  if (sequences.empty()) {
    lines.Add("Sequences: none");
    return;
  }
  lines.Add("Sequences (+" + Text(ex, "sequence_points") + " points):");
  for (const auto& s : sequences) {
    std::string stages = JoinStrings(Field(s, "stages"), " -> ");
    lines.Add("  " + (stages.empty() ? std::string("-") : stages) + "  +" + Text(s, "points") +
              " points, " + FormatTimeNs(Field(s, "from_ns")) + " to " +
              FormatTimeNs(Field(s, "to_ns")));
    if (auto files = JoinStrings(Field(s, "files"), ", "); !files.empty()) {
      lines.Add("      files: " + files);
    }
    const json& last = Field(s, "last_event");
    if (last.is_object()) {
      lines.Add("      last event: " + FormatTimeNs(Field(last, "time_ns")) + "  " +
                Text(last, "agent_id") + "  " + Text(last, "what"));
    }
  }
}

void WriteCumulative(const json& ex, Lines& lines) {
  const json& c = Field(ex, "cumulative_exfiltration");
  if (!c.is_object()) {
    lines.Add("Cumulative exfiltration: below the organisation's norm (+0 points)");
    return;
  }
  auto bytes = [&](const char* key) {
    const json& v = Field(c, key);
    return v.is_number_unsigned() ? HumanBytes(v.get<uint64_t>()) : Scalar(v);
  };
  lines.Add("Cumulative exfiltration: " + bytes("bytes") + " sent off hosts in the window, over " +
            Text(c, "factor") + " x the organisation's norm of " + bytes("org_norm_bytes") +
            " per person (+" + Text(c, "points") + " points)");
}

void WriteScore(const json& ex, Lines& lines) {
  lines.Add("Score:");
  lines.Add("  " + Text(ex, "formula",
                        "score = min(100, base x boost_factor + sequence_points + "
                        "cumulative_exfiltration.points)"));
  const json& c = Field(ex, "cumulative_exfiltration");
  lines.Add("      = min(100, " + Text(ex, "base") + " x " + Text(ex, "boost_factor", "1") + " + " +
            Text(ex, "sequence_points", "0") + " + " +
            (c.is_object() ? Text(c, "points", "0") : std::string("0")) +
            ") = " + Text(ex, "score") + " (" + Text(ex, "severity") + ")");
}

}  // namespace

std::string FormatNumber(double value) {
  if (!std::isfinite(value)) return "-";
  char buf[64];
  if (std::fabs(value) >= 1e15) {  // "%.2f" would need hundreds of digits
    std::snprintf(buf, sizeof buf, "%.6g", value);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.2f", value);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string FormatTimeNs(const json& value) {
  if (value.is_number_integer()) return FormatUnixNs(value.get<int64_t>());
  return "-";
}

void WriteTable(const std::vector<std::string>& headers, const std::vector<size_t>& max_widths,
                const std::vector<std::vector<std::string>>& rows, size_t line_width,
                std::ostream& out) {
  std::vector<size_t> widths(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) widths[c] = DisplayWidth(headers[c]);
  for (const auto& row : rows) {
    for (size_t c = 0; c < headers.size() && c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  for (size_t c = 0; c < headers.size() && c < max_widths.size(); ++c) {
    if (max_widths[c] != 0) widths[c] = std::min(widths[c], std::max<size_t>(max_widths[c], 1));
  }
  auto write_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < headers.size(); ++c) {
      const std::string cell = FitToWidth(c < cells.size() ? cells[c] : "", widths[c]);
      line += cell;
      if (c + 1 < headers.size()) line.append(widths[c] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << FitToWidth(line, line_width) << '\n';
  };
  write_row(headers);
  for (const auto& row : rows) write_row(row);
}

void WriteAlertTable(const json& alerts, size_t line_width, std::ostream& out) {
  if (!alerts.is_array() || alerts.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : alerts) {
    std::string policy = Text(a, "policy", "");
    if (policy.empty()) policy = Text(a, "policy_id");
    rows.push_back({Text(a, "id"), Text(a, "severity"), Text(a, "score"), Text(a, "status"),
                    Text(a, "person"), policy, ShortTime(Field(a, "last_activity")),
                    ShortTime(Field(a, "updated_at"))});
  }
  WriteTable({"ID", "SEVERITY", "SCORE", "STATUS", "PERSON", "POLICY", "LAST ACTIVITY", "UPDATED"},
             {12, 8, 5, 12, 40, 30, 20, 20}, rows, line_width, out);
}

void WriteAlertText(const json& alert, size_t line_width, std::ostream& out) {
  Lines lines(line_width, out);
  lines.Add("Alert " + Text(alert, "id") + ": " + Text(alert, "severity") + ", score " +
            Text(alert, "score") + ", " + Text(alert, "status"));
  lines.Field("Person", Text(alert, "person"));
  std::string policy = Text(alert, "policy", "");
  std::string policy_id = Text(alert, "policy_id");
  lines.Field("Policy", policy.empty() ? policy_id : policy + " (" + policy_id + ")");
  lines.Field("Status", Text(alert, "status"));
  if (auto reason = Text(alert, "status_reason", ""); !reason.empty()) {
    lines.Field("Status reason", reason);
  }
  if (auto by = Text(alert, "status_by", ""); !by.empty()) lines.Field("Status set by", by);
  lines.Field("First activity", Text(alert, "first_activity"));
  lines.Field("Last activity", Text(alert, "last_activity"));
  lines.Field("Created", Text(alert, "created_at"));
  const std::string updates = Text(alert, "updates", "0");
  lines.Field("Updated", Text(alert, "updated_at") + " (" + updates + " score update" +
                             (updates == "1" ? ")" : "s)"));
  out << '\n';
  WriteExplanation(Field(alert, "explanation"), line_width, out);
}

void WriteExplanation(const json& ex, size_t line_width, std::ostream& out) {
  Lines lines(line_width, out);
  if (!ex.is_object()) {
    lines.Add("Explanation: none stored for this alert.");
    return;
  }
  const json& policy = Field(ex, "policy");
  const json& window = Field(ex, "window");
  lines.Add("Explanation: policy " + Text(policy, "name") + " (template " +
            Text(policy, "template") + "), window " + FormatTimeNs(Field(window, "from_ns")) +
            " to " + FormatTimeNs(Field(window, "to_ns")));
  WriteTriggers(ex, lines);
  WriteIndicators(ex, lines);
  WriteBoosters(ex, lines);
  WriteSequences(ex, lines);
  WriteCumulative(ex, lines);
  WriteScore(ex, lines);
}

void WritePolicyTable(const json& policies, size_t line_width, std::ostream& out) {
  if (!policies.is_array() || policies.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : policies) {
    rows.push_back({Text(p, "id"), Text(p, "name"), Text(p, "template"), Text(p, "enabled"),
                    std::to_string(Array(p, "indicators").size())});
  }
  WriteTable({"ID", "NAME", "TEMPLATE", "ENABLED", "INDICATORS"}, {24, 40, 48, 7, 10}, rows,
             line_width, out);
}

void WriteTemplateTable(const json& templates, size_t line_width, std::ostream& out) {
  if (!templates.is_array() || templates.empty()) return;
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : templates) {
    rows.push_back({Text(t, "id"), Text(t, "name"), Text(t, "description")});
  }
  WriteTable({"ID", "NAME", "DESCRIPTION"}, {48, 48, 0}, rows, line_width, out);
}

}  // namespace custos::collector::cli
