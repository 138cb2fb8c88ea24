#include "agent/sources/replay/replay_source.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/log/log.h"
#include "common/time/clock.h"

namespace custos::agent {

namespace v1 = custos::v1;
using nlohmann::json;

Result<ReplayOptions::Format> ParseReplayFormat(std::string_view name) {
  if (name == "custos-jsonl") return ReplayOptions::Format::kCustosJsonl;
  if (name == "bench-ndjson") return ReplayOptions::Format::kBenchNdjson;
  return InvalidArgumentError("replay format '" + std::string(name) +
                              "': expected custos-jsonl or bench-ndjson");
}

Status ReplaySource::ParseCustosJsonLine(std::string_view line, v1::Event* event) {
  event->Clear();
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), event, opts);
  if (!st.ok()) return InvalidArgumentError(std::string(st.message()));
  event->clear_agent_id();
  event->clear_stream_epoch();
  event->clear_seq();
  return OkStatus();
}

namespace {

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
uint64_t UInt(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()));
  return 0;
}
// Hex digest to raw bytes; empty when malformed.
std::string HexBytes(const std::string& hex) {
  if (hex.size() % 2 != 0) return {};
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(hex.c_str() + i, "%2x", &v) != 1) return {};
    out.push_back(static_cast<char>(v));
  }
  return out;
}
uint32_t HexId(const std::string& s) {
  unsigned v = 0;
  return std::sscanf(s.c_str(), "%x", &v) == 1 ? v : 0;
}
uint32_t UsbClass(const std::string& c) {
  if (c == "mass_storage") return 8;
  if (c == "hid") return 3;
  if (c == "phone" || c == "mtp" || c == "imaging") return 6;
  if (c == "network" || c == "wireless") return 0xE0;
  if (c == "printer") return 7;
  return 0xFF;
}

}  // namespace

Status ReplaySource::ParseBenchLine(std::string_view line, v1::Event* e) {
  e->Clear();
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgumentError("not a JSON object");
  std::string type = Str(j, "type");
  int64_t ns = 0;
  if (!ParseTimeSpec(Str(j, "ts"), 0, &ns)) return InvalidArgumentError("bad or missing ts");
  e->set_time_ns(ns);
  e->set_host(Str(j, "host"));
  auto* actor = e->mutable_actor();
  std::string user = Str(j, "user");
  actor->set_login_user(user);
  actor->set_user_name(user);
  if (auto p = j.find("proc"); p != j.end() && p->is_object()) {
    actor->set_pid(static_cast<uint32_t>(UInt(*p, "pid")));
    actor->set_ppid(static_cast<uint32_t>(UInt(*p, "ppid")));
    actor->set_executable(Str(*p, "exe"));
    actor->set_command_line(Str(*p, "cmd"));
  }
  const json empty = json::object();
  auto fit = j.find("file");
  const json& file = fit != j.end() && fit->is_object() ? *fit : empty;
  if (type.rfind("file.", 0) == 0) {
    auto* f = e->mutable_file();
    f->set_path(Str(file, "path"));
    f->set_size(UInt(file, "size"));
    f->set_sha256(HexBytes(Str(file, "sha256")));
    if (type == "file.create") f->set_op(v1::FILE_OP_CREATE);
    else if (type == "file.modify") f->set_op(v1::FILE_OP_MODIFY);
    else if (type == "file.delete") f->set_op(v1::FILE_OP_DELETE);
    else if (type == "file.read") f->set_op(v1::FILE_OP_READ);
    else if (type == "file.rename") {
      f->set_op(v1::FILE_OP_RENAME);
      f->set_old_path(Str(file, "path"));
      f->set_path(Str(file, "new_path"));
    } else if (type == "file.copy_to_removable") {
      f->set_op(v1::FILE_OP_COPY_TO_REMOVABLE);
      f->set_source_path(Str(file, "path"));
      f->set_path(Str(j, "dst"));
    } else {
      return InvalidArgumentError("unknown type '" + type + "'");
    }
  } else if (type == "proc.start") {
    auto* p = e->mutable_process();
    p->set_action(v1::PROCESS_ACTION_START);
    if (auto pr = j.find("proc"); pr != j.end() && pr->is_object()) p->set_sha256(HexBytes(Str(*pr, "sha256")));
  } else if (type == "usb.attach" || type == "usb.detach") {
    auto uit = j.find("usb");
    const json& usb = uit != j.end() && uit->is_object() ? *uit : empty;
    auto* u = e->mutable_usb();
    u->set_action(type == "usb.attach" ? v1::USB_ACTION_ADDED : v1::USB_ACTION_REMOVED);
    u->set_vendor_id(HexId(Str(usb, "vid")));
    u->set_product_id(HexId(Str(usb, "pid")));
    u->set_manufacturer(Str(usb, "vendor"));
    u->set_product(Str(usb, "product"));
    u->set_serial(Str(usb, "serial"));
    u->add_interface_classes(UsbClass(Str(usb, "class")));
    u->set_mount_point(Str(usb, "mount"));
    u->set_fingerprint(Str(usb, "vid") + ":" + Str(usb, "pid") + ":" + Str(usb, "serial"));
  } else if (type == "net.upload") {
    auto* n = e->mutable_network();
    n->set_action(v1::NETWORK_ACTION_UPLOAD);
    n->set_destination(Str(j, "dst"));
    n->set_path(Str(file, "path"));
  } else if (type == "security.setting_change") {
    auto sit = j.find("setting");
    const json& st = sit != j.end() && sit->is_object() ? *sit : empty;
    auto* s = e->mutable_setting();
    std::string name = Str(st, "name");
    s->set_area(name.substr(0, name.find('.')));
    s->set_key(name);
    s->set_old_value(Str(st, "old"));
    s->set_new_value(Str(st, "new"));
    s->set_observed_by(v1::OBSERVED_BY_PROBE);
  } else {
    return InvalidArgumentError("unknown type '" + type + "'");
  }
  return OkStatus();
}

Status ReplaySource::Start(EventSink* sink) {
  std::ifstream probe(options_.path);
  if (!probe) return ErrnoError("replay: open " + options_.path, errno);
  thread_ = std::thread([this, sink] { Run(sink); });
  return OkStatus();
}

void ReplaySource::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

SourceHealth ReplaySource::Health() const {
  SourceHealth h;
  h.mechanism = "replay";
  h.events = events_.load();
  h.lost = bad_lines_.load();
  std::lock_guard<std::mutex> l(mu_);
  if (!first_error_.empty()) {
    h.level = v1::HEALTH_LEVEL_DEGRADED;
    h.message = std::to_string(bad_lines_.load()) + " line(s) skipped; first: " + first_error_;
  }
  return h;
}

void ReplaySource::Run(EventSink* sink) {
  std::ifstream in(options_.path);
  std::string line;
  uint64_t line_no = 0;
  v1::Event event;
  while (!stop_ && std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    Status s = options_.format == ReplayOptions::Format::kBenchNdjson ? ParseBenchLine(line, &event)
                                                                      : ParseCustosJsonLine(line, &event);
    if (!s.ok()) {
      if (bad_lines_.fetch_add(1) == 0) {
        std::lock_guard<std::mutex> l(mu_);
        first_error_ = options_.path + ":" + std::to_string(line_no) + ": " + s.message();
        logging::Warn("replay: skipping bad line", {{"where", first_error_}});
      }
      continue;
    }
    if (options_.restamp_time) event.set_time_ns(RealClock()->NowUnixNs());
    while (!stop_ && !sink->PushWait(std::move(event), std::chrono::milliseconds(100))) {
    }
    event = v1::Event();
    events_.fetch_add(1, std::memory_order_relaxed);
  }
  logging::Info("replay: finished", {{"file", options_.path}, {"events", events_.load()},
                                     {"skipped_lines", bad_lines_.load()}});
  finished_ = true;
}

}  // namespace custos::agent
