#include "agent/app/agent_config.h"

#include "common/config/config.h"
#include "common/flags/flags.h"

namespace custos::agent {
namespace {

Result<AgentConfig> FromReader(config::ConfigReader& r, const std::string& path) {
  AgentConfig c;
  c.config_path = path;
  std::string address = r.String("collector.address", "");
  if (!address.empty() &&
      !flags::ParseHostPort(address, &c.collector_host, &c.collector_port).ok()) {
    r.AddProblem("collector.address", "expected HOST:PORT, got '" + address + "'");
  }
  c.server_name = r.String("collector.server_name", "");
  c.ca_file = r.String("collector.ca_file", "");
  c.state_dir = r.String("state_dir", kDefaultAgentStateDir);
  if (c.state_dir.empty() || c.state_dir[0] != '/')
    r.AddProblem("state_dir", "must be an absolute path");
  c.spool_max_bytes = r.Bytes("spool.max_bytes", 1ull << 30, 16ull << 20, 1ull << 40);
  c.spool_segment_bytes = r.Bytes("spool.segment_bytes", 16ull << 20, 1ull << 20, 1ull << 30);
  if (c.spool_segment_bytes * 4 > c.spool_max_bytes) {
    r.AddProblem("spool.segment_bytes", "must be at most a quarter of spool.max_bytes");
  }
  c.spool_ack_persist_interval = r.Duration("spool.ack_persist_interval", std::chrono::seconds(1),
                                            std::chrono::milliseconds(0), std::chrono::seconds(60));
  c.spool_group_delay = r.Duration("spool.group_delay", std::chrono::milliseconds(50),
                                   std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
  c.max_batch_events = static_cast<uint32_t>(r.Int("uplink.max_batch_events", 10000, 1, 20000));
  c.file_enabled = r.Bool("sources.file.enabled", true);
  c.file_roots = r.StringList("sources.file.roots", {"/home"});
  for (const auto& root : c.file_roots) {
    if (root.empty() || root[0] != '/') {
      r.AddProblem("sources.file.roots", "'" + root + "' is not an absolute path");
    }
  }
  c.file_include = r.StringList("sources.file.include", {});
  c.file_exclude = r.StringList("sources.file.exclude", {"*/.cache/*"});
  c.file_hash_max_bytes = r.Bytes("sources.file.hash_max_bytes", 0, 0, 1ull << 34);
  c.file_hash_rate_bytes = r.Bytes("sources.file.hash_rate", 50ull << 20, 1ull << 20, 1ull << 34);
  c.file_force_inotify = r.Bool("sources.file.force_inotify", false);
  c.inotify_watch_budget =
      static_cast<uint32_t>(r.Int("sources.file.inotify_watch_budget", 65536, 1, 10'000'000));
  c.classification = r.StringList("sources.file.classification", {});
  c.process_events = r.Bool("attribution.process_events", true);
  c.process_events_pause_above =
      static_cast<uint32_t>(r.Int("attribution.process_events_pause_above", 400, 0, 1'000'000));
  for (const auto& rule : c.classification) {
    auto colon = rule.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rule.size()) {
      r.AddProblem("sources.file.classification", "'" + rule + "': expected LABEL:GLOB");
    }
  }
  c.usb_enabled = r.Bool("sources.usb.enabled", true);
  c.usb_removable_mount_points = r.StringList("sources.usb.removable_mount_points", {});
  for (const auto& mount_point : c.usb_removable_mount_points) {
    if (mount_point.empty() || mount_point[0] != '/') {
      r.AddProblem("sources.usb.removable_mount_points",
                   "'" + mount_point + "' is not an absolute path");
    }
  }
  c.copy_correlation_enabled = r.Bool("sources.usb.copy_correlation.enabled", true);
  c.copy_window = r.Duration("sources.usb.copy_correlation.window", std::chrono::seconds(60),
                             std::chrono::seconds(1), std::chrono::hours(24));
  c.copy_hold = r.Duration("sources.usb.copy_correlation.hold", std::chrono::seconds(2),
                           std::chrono::milliseconds(0), std::chrono::seconds(60));
  c.copy_max_reads =
      static_cast<uint32_t>(r.Int("sources.usb.copy_correlation.max_reads", 4096, 16, 1'000'000));
  c.copy_send_reads = r.Bool("sources.usb.copy_correlation.send_reads", false);
  c.usb_policy.mode =
      r.Enum("sources.usb.policy.mode", "observe", {"observe", "enforce"}) == "enforce"
          ? usb::UsbPolicyMode::kEnforce
          : usb::UsbPolicyMode::kObserve;
  for (const char* list : {"allow", "block"}) {
    const std::string key = std::string("sources.usb.policy.") + list;
    for (const auto& text : r.StringList(key, {})) {
      auto rule = usb::ParseUsbRule(text);
      if (!rule.ok()) {
        r.AddProblem(key, rule.status().message());
      } else {
        (list[0] == 'a' ? c.usb_policy.allow : c.usb_policy.block).push_back(std::move(*rule));
      }
    }
  }
  c.settings_enabled = r.Bool("sources.settings.enabled", true);
  c.settings_probe_interval =
      r.Duration("sources.settings.probe_interval", std::chrono::milliseconds(60'000),
                 std::chrono::milliseconds(5'000), std::chrono::milliseconds(86'400'000));
  std::string fmt = r.Enum("log.format", "human", {"human", "json"});
  c.log_format = fmt == "json" ? logging::Format::kJson : logging::Format::kHuman;
  c.log_level = logging::ParseLevel(r.Enum("log.level", "info", {"debug", "info", "warn", "error"}))
                    .value_or(logging::Level::kInfo);
  CUSTOS_RETURN_IF_ERROR(r.Finish());
  return c;
}

}  // namespace

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  if (path.empty()) {
    auto r = config::ConfigReader::Empty("(defaults)");
    return FromReader(r, "");
  }
  CUSTOS_ASSIGN_OR_RETURN(config::ConfigReader r, config::ConfigReader::LoadFile(path));
  return FromReader(r, path);
}

Result<AgentConfig> ParseAgentConfig(std::string_view yaml, const std::string& source) {
  CUSTOS_ASSIGN_OR_RETURN(config::ConfigReader r, config::ConfigReader::FromString(yaml, source));
  return FromReader(r, source);
}

}  // namespace custos::agent
