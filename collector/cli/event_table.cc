#include "collector/cli/event_table.h"

#include <openssl/evp.h>

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "common/time/clock.h"

namespace custos::collector::cli {
namespace {

using nlohmann::ordered_json;
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026

// Column caps: a hostile or merely long host or user name must not push SUMMARY off screen.
constexpr size_t kMaxHostWidth = 24;
// Wide enough for a pseudonym of a login the directory does not know ("Anon-U-" + 10 hex).
constexpr size_t kMaxUserWidth = 17;
constexpr std::string_view kColumnGap = "  ";

void AppendHex(std::string& out, std::string_view prefix, uint32_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

std::string Hex(std::string_view bytes) {
  std::string out;
  for (char c : bytes) AppendHex(out, "", static_cast<uint8_t>(c), 2);
  return out;
}

// j[key] when it is a string, else `fallback`.
std::string StringField(const ordered_json& j, const char* key, std::string fallback = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// Standard base64 (the API's payload_base64) to bytes; nullopt when it is not base64.
std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > (size_t{1} << 30)) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t padding = 0;
  if (text.ends_with("==")) {
    padding = 2;
  } else if (text.ends_with('=')) {
    padding = 1;
  }
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

// The event of one API event object: "event" in the protobuf JSON mapping; when the collector
// could not convert it, the stored bytes ("payload_base64") decoded here, as the collector
// would have. Sets *summary instead when neither gives an event.
std::optional<v1::Event> EventOf(const ordered_json& j, std::string* summary) {
  v1::Event event;
  auto it = j.find("event");
  if (it != j.end() && it->is_object()) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;  // a newer collector may know more fields
    const std::string text = it->dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    if (google::protobuf::util::JsonStringToMessage(text, &event, options).ok()) return event;
    *summary = "(event this version of custos cannot read)";
    return std::nullopt;
  }
  std::optional<std::string> bytes = DecodeBase64(StringField(j, "payload_base64"));
  if (!bytes) {
    *summary = "(no event)";
    return std::nullopt;
  }
  if (bytes->size() <= static_cast<size_t>(INT32_MAX) &&
      event.ParseFromArray(bytes->data(), static_cast<int>(bytes->size()))) {
    return event;
  }
  *summary = "(undecodable payload, " + std::to_string(bytes->size()) + " bytes)";
  return std::nullopt;
}

// " by /usr/bin/cp [pid 4242]", plus " as root" when the process ran as someone other than the
// login user (sudo); empty when the agent named no process.
std::string ActorSuffix(const v1::Event& e) {
  if (!e.has_actor()) return "";
  const v1::Actor& a = e.actor();
  std::string out;
  if (!a.executable().empty()) {
    out = " by " + a.executable();
    if (a.pid() != 0) out += " [pid " + std::to_string(a.pid()) + "]";
  } else if (a.pid() != 0) {
    out = " by pid " + std::to_string(a.pid());
  }
  if (!out.empty() && !a.user_name().empty() && !a.login_user().empty() &&
      a.user_name() != a.login_user()) {
    out += " as " + a.user_name();
  }
  return out;
}

std::string FileSummary(const v1::Event& e) {
  const v1::FileEvent& f = e.file();
  std::string out;
  switch (f.op()) {
    case v1::FILE_OP_CREATE:
      out = "create " + f.path();
      break;
    case v1::FILE_OP_MODIFY:
      out = "modify " + f.path();
      break;
    case v1::FILE_OP_DELETE:
      out = "delete " + f.path();
      break;
    case v1::FILE_OP_RENAME:
      out = "rename " + f.old_path() + " -> " + f.path();
      break;
    case v1::FILE_OP_ATTRIB:
      out = "attrib " + f.path();
      break;
    case v1::FILE_OP_READ:
      out = "read " + f.path();
      break;
    case v1::FILE_OP_COPY_TO_REMOVABLE:
      out = "copy to removable " +
            (f.source_path().empty() ? f.path() : f.source_path() + " -> " + f.path());
      break;
    default:
      out = "file op " + std::to_string(f.op()) + " " + f.path();
      break;
  }
  if (f.is_dir()) {
    out += " (dir)";
  } else if (f.size() > 0 && f.op() != v1::FILE_OP_DELETE) {
    out += " (" + HumanBytes(f.size()) + ")";
  }
  if (!f.classifications().empty()) {
    out += " [";
    for (int i = 0; i < f.classifications_size(); ++i) {
      out += (i ? ", " : "") + f.classifications(i);
    }
    out += "]";
  }
  // Found by the agent's scan (changed while it was down, or missed in an overflow): no actor,
  // the time is when it was found.
  if (f.observed_by() == v1::OBSERVED_BY_SCAN) out += " (found by scan)";
  return out + ActorSuffix(e);
}

std::string ProcessSummary(const v1::Event& e) {
  const v1::ProcessEvent& p = e.process();
  const v1::Actor& a = e.actor();
  std::string out;
  switch (p.action()) {
    case v1::PROCESS_ACTION_START:
      out = "start ";
      break;
    case v1::PROCESS_ACTION_EXIT:
      out = "exit ";
      break;
    default:
      out = "process action " + std::to_string(p.action()) + " ";
      break;
  }
  out += a.command_line().empty() ? a.executable() : a.command_line();
  out += " [pid " + std::to_string(a.pid());
  if (a.ppid() != 0) out += ", parent " + std::to_string(a.ppid());
  out += "]";
  if (p.action() == v1::PROCESS_ACTION_EXIT) out += " exit code " + std::to_string(p.exit_code());
  return out;
}

std::string NetworkSummary(const v1::Event& e) {
  const v1::NetworkEvent& n = e.network();
  std::string out = n.action() == v1::NETWORK_ACTION_UPLOAD
                        ? "upload"
                        : "network action " + std::to_string(n.action());
  if (!n.path().empty()) out += " " + n.path();
  if (!n.destination().empty()) out += " to " + n.destination();
  if (n.bytes() > 0) out += " (" + HumanBytes(n.bytes()) + ")";
  return out + ActorSuffix(e);
}

std::string_view UsbClassName(uint32_t cls) {
  switch (cls) {
    case 0x01:
      return "audio";
    case 0x02:
      return "communications";
    case 0x03:
      return "HID";
    case 0x05:
      return "physical";
    case 0x06:
      return "imaging";
    case 0x07:
      return "printer";
    case 0x08:
      return "mass storage";
    case 0x09:
      return "hub";
    case 0x0A:
      return "CDC data";
    case 0x0B:
      return "smart card";
    case 0x0D:
      return "content security";
    case 0x0E:
      return "video";
    case 0x0F:
      return "personal healthcare";
    case 0x10:
      return "audio/video";
    case 0xDC:
      return "diagnostic";
    case 0xE0:
      return "wireless";
    case 0xEF:
      return "miscellaneous";
    case 0xFE:
      return "application-specific";
    case 0xFF:
      return "vendor-specific";
    default:
      return "";
  }
}

std::string UsbSummary(const v1::Event& e) {
  const v1::UsbEvent& u = e.usb();
  std::string out;
  switch (u.action()) {
    case v1::USB_ACTION_ADDED:
      out = "added";
      break;
    case v1::USB_ACTION_REMOVED:
      out = "removed";
      break;
    case v1::USB_ACTION_MOUNTED:
      out = "mounted";
      break;
    case v1::USB_ACTION_UNMOUNTED:
      out = "unmounted";
      break;
    case v1::USB_ACTION_BLOCKED:
      out = "blocked";
      break;
    default:
      out = "usb action " + std::to_string(u.action());
      break;
  }
  if (!u.manufacturer().empty()) out += " " + u.manufacturer();
  if (!u.product().empty()) out += " " + u.product();
  char ids[32];
  std::snprintf(ids, sizeof ids, " %04x:%04x", u.vendor_id(), u.product_id());
  out += ids;
  if (!u.serial().empty()) out += " serial " + u.serial();
  std::vector<uint32_t> classes(u.interface_classes().begin(), u.interface_classes().end());
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  if (!classes.empty()) {
    out += " (";
    for (size_t i = 0; i < classes.size(); ++i) {
      if (i) out += ", ";
      std::string_view name = UsbClassName(classes[i]);
      if (name.empty()) {
        AppendHex(out, "class 0x", classes[i] & 0xFF, 2);
      } else {
        out += name;
      }
    }
    out += ")";
  }
  if (!u.mount_point().empty()) {
    out += " at " + u.mount_point();
    if (!u.fs_type().empty()) out += " (" + u.fs_type() + ")";
  }
  if (!u.label().empty()) out += " label " + u.label();
  return out;
}

// Content hashes are long and tell a reader little; the full value is in JSON.
std::string ShortValue(const std::string& v) {
  if (v.empty()) return "(none)";
  bool hex = v.size() >= 32 && std::all_of(v.begin(), v.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
             });
  return hex ? v.substr(0, 12) + std::string(kEllipsis) : v;
}

std::string SettingSummary(const v1::Event& e) {
  const v1::SettingChange& s = e.setting();
  std::string out = s.area().empty() ? std::string("setting") : s.area();
  if (!s.key().empty()) out += " " + s.key();
  out += ": " + ShortValue(s.old_value()) + " -> " + ShortValue(s.new_value());
  if (!s.summary().empty()) out += "; " + s.summary();
  switch (s.observed_by()) {
    case v1::OBSERVED_BY_WATCH:
      out += " (watch)";
      break;
    case v1::OBSERVED_BY_PROBE:
      out += " (probe)";
      break;
    default:
      break;
  }
  return out + ActorSuffix(e);
}

std::string EvidenceSummary(const v1::Event& e) {
  const v1::EvidenceRef& r = e.evidence();
  std::string out = r.evidence_id().empty() ? std::string("evidence") : r.evidence_id();
  if (!r.media_type().empty()) out += " " + r.media_type();
  if (r.size() > 0) out += " (" + HumanBytes(r.size()) + ")";
  if (!r.trigger().empty()) out += ", trigger " + r.trigger();
  if (!r.sha256().empty())
    out += ", sha256 " + Hex(r.sha256()).substr(0, 12) + std::string(kEllipsis);
  return out;
}

std::string HealthSummary(const v1::Event& e) {
  const v1::AgentHealth& h = e.health();
  std::string out = h.component().empty() ? std::string("agent") : h.component();
  switch (h.level()) {
    case v1::HEALTH_LEVEL_OK:
      out += " ok";
      break;
    case v1::HEALTH_LEVEL_DEGRADED:
      out += " degraded";
      break;
    case v1::HEALTH_LEVEL_FAILED:
      out += " failed";
      break;
    default:
      out += " level " + std::to_string(h.level());
      break;
  }
  if (!h.message().empty()) out += ": " + h.message();
  if (!h.facts().empty()) {
    // Proto maps iterate in no fixed order; sort so the same event always reads the same.
    std::map<std::string, std::string> facts(h.facts().begin(), h.facts().end());
    out += " (";
    bool first = true;
    for (const auto& [k, v] : facts) {
      if (!first) out += ", ";
      out.append(k).append("=").append(v);
      first = false;
    }
    out += ")";
  }
  return out;
}

std::string Seconds(int64_t ns) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string EventsLostSummary(const v1::Event& e) {
  const v1::EventsLost& l = e.events_lost();
  std::string out = (l.source().empty() ? std::string("a source") : l.source()) + " lost " +
                    (l.count() > 0 ? std::to_string(l.count()) : "an unknown number of") +
                    " events";
  if (!l.reason().empty()) out += ": " + l.reason();
  if (l.window_start_ns() != 0 && l.window_end_ns() >= l.window_start_ns()) {
    out += " (from " + FormatUnixNs(l.window_start_ns()) + ", over " +
           Seconds(l.window_end_ns() - l.window_start_ns()) + ")";
  }
  return out;
}

std::string GapSummary(const v1::Event& e) {
  const v1::Gap& g = e.gap();
  std::string out = "spool dropped " + std::to_string(g.dropped_count()) + " events";
  if (g.first_dropped_seq() != 0 || g.last_dropped_seq() != 0) {
    out += ", seq " + std::to_string(g.first_dropped_seq()) + "-" +
           std::to_string(g.last_dropped_seq());
  }
  if (g.max_dropped_priority() != 0) {
    out += " (max priority " + std::to_string(g.max_dropped_priority()) + ")";
  }
  if (!g.reason().empty()) out += ": " + g.reason();
  return out;
}

void AppendPadded(std::string& line, const std::string& escaped, size_t width) {
  std::string cell = FitToWidth(escaped, width);
  size_t w = DisplayWidth(cell);
  line += cell;
  line.append(width > w ? width - w : 0, ' ');
  line += kColumnGap;
}

}  // namespace

std::optional<OutputFormat> ParseOutputFormat(std::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "json") return OutputFormat::kJson;
  if (name == "jsonl") return OutputFormat::kJsonLines;
  return std::nullopt;
}

std::string Summarize(const v1::Event& event) {
  switch (event.payload_case()) {
    case v1::Event::kFile:
      return FileSummary(event);
    case v1::Event::kUsb:
      return UsbSummary(event);
    case v1::Event::kSetting:
      return SettingSummary(event);
    case v1::Event::kEvidence:
      return EvidenceSummary(event);
    case v1::Event::kHealth:
      return HealthSummary(event);
    case v1::Event::kEventsLost:
      return EventsLostSummary(event);
    case v1::Event::kGap:
      return GapSummary(event);
    case v1::Event::kProcess:
      return ProcessSummary(event);
    case v1::Event::kNetwork:
      return NetworkSummary(event);
    case v1::Event::PAYLOAD_NOT_SET:
      break;
  }
  return "(no payload)";
}

TableRow MakeTableRow(const ordered_json& j) {
  TableRow row;
  if (!j.is_object()) {
    row = {"-", "-", "-", "-", "(not an event)"};
    return row;
  }
  auto time_ns = j.find("time_ns");
  row.time = time_ns != j.end() && time_ns->is_number_integer()
                 ? FormatUnixNs(time_ns->get<int64_t>())
                 : EscapeForTerminal(StringField(j, "time", "-"));
  const std::string hostname = StringField(j, "hostname");
  row.host = EscapeForTerminal(hostname.empty() ? StringField(j, "agent_id") : hostname);
  const std::string user = StringField(j, "user");
  row.user = user.empty() ? "-" : EscapeForTerminal(user);
  row.type = EscapeForTerminal(StringField(j, "type", "-"));
  std::string summary;
  std::optional<v1::Event> event = EventOf(j, &summary);
  row.summary = EscapeForTerminal(event ? Summarize(*event) : summary);
  return row;
}

void WriteEvents(const ordered_json& events, OutputFormat format, const TableOptions& options,
                 std::ostream& out) {
  const size_t count = events.is_array() ? events.size() : 0;
  // `replace` keeps dump() from ever throwing.
  auto dump = [](const ordered_json& j) {
    return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  };
  if (format == OutputFormat::kJson || format == OutputFormat::kJsonLines) {
    const bool array = format == OutputFormat::kJson;
    if (array) out << (count == 0 ? "[" : "[\n");
    for (size_t i = 0; i < count; ++i) {
      out << dump(events[i]);
      out << (array && i + 1 < count ? ",\n" : "\n");
    }
    if (array) out << "]\n";
    return;
  }

  if (count == 0) return;
  std::vector<TableRow> rows;
  rows.reserve(count);
  for (const ordered_json& e : events) rows.push_back(MakeTableRow(e));
  TableRow header{"TIME", "HOST", "USER", "TYPE", "SUMMARY"};
  size_t time_w = header.time.size(), host_w = header.host.size(), user_w = header.user.size(),
         type_w = header.type.size();
  for (const TableRow& r : rows) {
    time_w = std::max(time_w, DisplayWidth(r.time));
    host_w = std::max(host_w, std::min(kMaxHostWidth, DisplayWidth(r.host)));
    user_w = std::max(user_w, std::min(kMaxUserWidth, DisplayWidth(r.user)));
    type_w = std::max(type_w, DisplayWidth(r.type));
  }
  const size_t prefix_w = time_w + host_w + user_w + type_w + 4 * kColumnGap.size();
  const size_t summary_w = options.line_width > prefix_w + kMinSummaryWidth
                               ? options.line_width - prefix_w
                               : kMinSummaryWidth;
  auto write_row = [&](const TableRow& r) {
    std::string line;
    AppendPadded(line, r.time, time_w);
    AppendPadded(line, r.host, host_w);
    AppendPadded(line, r.user, user_w);
    AppendPadded(line, r.type, type_w);
    line += FitToWidth(r.summary, summary_w);
    line += '\n';
    out << line;
  };
  write_row(header);
  for (const TableRow& r : rows) write_row(r);
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  double v = static_cast<double>(bytes) / 1000.0;
  size_t unit = 0;
  while (v >= 999.95 && unit + 1 < std::size(kUnits)) {
    v /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

}  // namespace custos::collector::cli
