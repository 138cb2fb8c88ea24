// The agent's configuration: /etc/custos/agent.yaml (every key: docs/configuration.md), then
// flags. Defaults are safe: mutual TLS to a pinned CA, a 1 GiB spool, file capture of /home.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/sources/usb/device_policy.h"
#include "common/log/log.h"
#include "common/status/status.h"

namespace custos::agent {

inline constexpr const char* kDefaultAgentConfigPath = "/etc/custos/agent.yaml";
inline constexpr const char* kDefaultAgentStateDir = "/var/lib/custos/agent";

struct AgentConfig {
  std::string config_path;
  std::string collector_host;  // from collector.address
  uint16_t collector_port = 7443;
  std::string server_name;  // default: collector_host
  std::string ca_file;      // default: STATE_DIR/ca.crt (copied at enroll)
  std::string state_dir = kDefaultAgentStateDir;
  uint64_t spool_max_bytes = 1ull << 30;
  uint64_t spool_segment_bytes = 16ull << 20;
  // Acks are persisted at most this often unless a segment can be deleted (0: every ack).
  std::chrono::milliseconds spool_ack_persist_interval{1000};
  // A trickle of events waits this long to share one append + fsync (and one uplink batch).
  std::chrono::milliseconds spool_group_delay{50};
  uint32_t max_batch_events = 10000;
  // File source.
  bool file_enabled = true;
  std::vector<std::string> file_roots = {"/home"};
  std::vector<std::string> file_include;
  std::vector<std::string> file_exclude = {"*/.cache/*"};
  uint64_t file_hash_max_bytes = 0;
  uint64_t file_hash_rate_bytes = 50ull << 20;
  bool file_force_inotify = false;
  uint32_t inotify_watch_budget = 65536;
  std::vector<std::string> classification;  // "label:glob"
  // Process attribution: follow the kernel's process events (fork, exec, uid change) so facts
  // are read when a process execs, not per file event (needs CAP_NET_ADMIN; else per-event /proc
  // checks).
  bool process_events = true;
  // More process events than this in one second (an exec storm) pause them for 30 s; 0: never.
  uint32_t process_events_pause_above = 400;
  // USB devices, removable volumes, copy-to-removable, device policy.
  bool usb_enabled = true;
  std::vector<std::string> usb_removable_mount_points;
  bool copy_correlation_enabled = true;
  std::chrono::milliseconds copy_window{60'000};
  std::chrono::milliseconds copy_hold{2'000};
  uint32_t copy_max_reads = 4096;
  bool copy_send_reads = false;
  usb::UsbPolicy usb_policy;
  // Security settings source.
  bool settings_enabled = true;
  std::chrono::milliseconds settings_probe_interval{60'000};
  logging::Format log_format = logging::Format::kHuman;
  logging::Level log_level = logging::Level::kInfo;

  std::string spool_dir() const { return state_dir + "/spool"; }
  std::string key_path() const { return state_dir + "/agent.key"; }
  std::string cert_path() const { return state_dir + "/agent.crt"; }
  std::string id_path() const { return state_dir + "/agent.id"; }
  std::string ca_path() const { return ca_file.empty() ? state_dir + "/ca.crt" : ca_file; }
  std::string status_path() const { return state_dir + "/status.json"; }
  std::string file_state_dir() const { return state_dir + "/file-source"; }
  std::string settings_state_dir() const { return state_dir + "/settings-source"; }
};

Result<AgentConfig> LoadAgentConfig(const std::string& path);
Result<AgentConfig> ParseAgentConfig(std::string_view yaml, const std::string& source);

}  // namespace custos::agent
