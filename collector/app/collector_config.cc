#include "collector/app/collector_config.h"

#include "collector/access/audit.h"

#include <unistd.h>

#include "common/config/config.h"
#include "common/flags/flags.h"

namespace custos::collector {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

Result<CollectorConfig> FromReader(config::ConfigReader& r, const std::string& path) {
  CollectorConfig c;
  c.config_path = path;
  c.data_dir = r.String("data_dir", kDefaultCollectorDataDir);
  if (c.data_dir.empty() || c.data_dir[0] != '/')
    r.AddProblem("data_dir", "must be an absolute path");

  std::string listen = r.String("ingest.listen", "0.0.0.0:7443");
  if (!flags::ParseHostPort(listen, &c.ingest.listen_host, &c.ingest.port).ok()) {
    r.AddProblem("ingest.listen", "expected HOST:PORT, got '" + listen + "'");
  }
  c.ingest.io_threads = static_cast<int>(r.Int("ingest.io_threads", 0, 0, 256));
  c.ingest.max_frame_bytes =
      static_cast<uint32_t>(r.Bytes("ingest.max_frame_bytes", 4u << 20, 64u << 10, 64u << 20));
  c.ingest.max_batch_uncompressed_bytes =
      r.Bytes("ingest.max_batch_bytes", 32u << 20, 64u << 10, 256u << 20);
  c.ingest.max_batch_events =
      static_cast<uint32_t>(r.Int("ingest.max_batch_events", 20000, 1, 1'000'000));
  c.ingest.window_batches = static_cast<uint32_t>(r.Int("ingest.window_batches", 16, 1, 1024));
  c.ingest.max_sessions =
      static_cast<uint32_t>(r.Int("ingest.max_connections", 20000, 1, 1'000'000));
  c.ingest.handshake_timeout = r.Duration("ingest.handshake_timeout", milliseconds(5'000),
                                          milliseconds(100), milliseconds(600'000));
  c.ingest.max_preauth_per_address =
      static_cast<uint32_t>(r.Int("ingest.max_preauth_per_address", 64, 1, 1'000'000));
  c.ingest.max_preauth_sessions =
      static_cast<uint32_t>(r.Int("ingest.max_preauth_connections", 1024, 1, 1'000'000));
  c.ingest.preauth_timeout = r.Duration("ingest.preauth_timeout", milliseconds(10'000),
                                        milliseconds(100), milliseconds(600'000));
  c.ingest.enroll_failures_per_minute =
      static_cast<uint32_t>(r.Int("enrollment.failed_attempts_per_minute", 20, 0, 1'000'000));
  c.ingest.enroll_failures_burst =
      static_cast<uint32_t>(r.Int("enrollment.failed_attempts_burst", 10, 1, 1'000'000));
  c.ingest.renewals_per_day =
      static_cast<uint32_t>(r.Int("enrollment.renewals_per_day", 6, 1, 1'000));
  c.ingest.max_event_bytes =
      static_cast<uint32_t>(r.Bytes("ingest.max_event_bytes", 1u << 20, 4u << 10, 64u << 20));
  c.ingest.idle_timeout = r.Duration("ingest.idle_timeout", milliseconds(120'000),
                                     milliseconds(1'000), milliseconds(86'400'000));
  c.ingest.max_events_per_commit =
      static_cast<uint32_t>(r.Int("ingest.max_events_per_commit", 200'000, 1'000, 10'000'000));
  c.ingest.max_commit_delay =
      r.Duration("ingest.max_commit_delay", milliseconds(50), milliseconds(0), milliseconds(1000));
  c.ingest.max_queued_events =
      static_cast<uint64_t>(r.Int("ingest.max_queued_events", 200'000, 1'000, 100'000'000));
  c.ingest.max_queued_bytes = r.Bytes("ingest.max_queued_bytes", 256u << 20, 1u << 20, 64ull << 30);
  c.ingest.agent_quota_bytes_per_minute =
      r.Bytes("ingest.agent_quota_per_minute", 256ull << 20, 0, 1ull << 40);
  c.ingest.agent_quota_burst_bytes =
      r.Bytes("ingest.agent_quota_burst", 1ull << 30, 256ull << 20, 1ull << 40);
  auto validity = r.Duration("enrollment.agent_certificate_validity", hours(24 * 30), hours(1),
                             hours(24 * 825));
  c.ingest.agent_certificate_validity = std::chrono::duration_cast<hours>(validity);
  c.server_names = r.StringList("enrollment.server_names", {});

  c.scoring_enabled = r.Bool("scoring.enabled", true);
  c.approved_software = r.StringList("scoring.approved_software", {});
  std::string api = r.String("api.listen", "0.0.0.0:8443");
  if (api == "off") {
    c.api_enabled = false;
  } else if (!flags::ParseHostPort(api, &c.api_host, &c.api_port).ok()) {
    r.AddProblem("api.listen", "expected HOST:PORT or 'off', got '" + api + "'");
  }
  c.api_max_connections = static_cast<uint32_t>(r.Int("api.max_connections", 1000, 1, 1'000'000));
  c.api_max_connections_per_address =
      static_cast<uint32_t>(r.Int("api.max_connections_per_address", 64, 1, 1'000'000));
  c.api_handshake_timeout = r.Duration("api.handshake_timeout", milliseconds(5'000),
                                       milliseconds(100), milliseconds(60'000));
  std::string metrics = r.String("metrics.listen", "127.0.0.1:9464");
  if (metrics == "off") {
    c.metrics_enabled = false;
  } else if (!flags::ParseHostPort(metrics, &c.metrics_host, &c.metrics_port).ok()) {
    r.AddProblem("metrics.listen", "expected HOST:PORT or 'off', got '" + metrics + "'");
  }
  c.ldap_enabled = r.Bool("ldap.enabled", false);
  c.ldap.uri = r.String("ldap.uri", "");
  c.ldap.start_tls = r.Bool("ldap.start_tls", false);
  c.ldap.ca_file = r.String("ldap.ca_file", "");
  c.ldap.timeout =
      r.Duration("ldap.timeout", milliseconds(5'000), milliseconds(100), milliseconds(60'000));
  c.ldap.bind_dn = r.String("ldap.bind_dn", "");
  c.ldap_bind_password_file = r.String("ldap.bind_password_file", "");
  c.ldap.user_search_base = r.String("ldap.user_search_base", "");
  c.ldap.user_filter = r.String("ldap.user_filter", c.ldap.user_filter);
  c.ldap.username_attribute = r.String("ldap.username_attribute", c.ldap.username_attribute);
  c.ldap.group_search_base = r.String("ldap.group_search_base", "");
  c.ldap.group_filter = r.String("ldap.group_filter", c.ldap.group_filter);
  for (const auto& [group, names] : r.StringListMap("ldap.group_roles")) {
    access::RoleSet roles;
    for (const auto& name : names) {
      auto role = access::ParseRole(name);
      if (!role) {
        r.AddProblem("ldap.group_roles." + group,
                     "unknown role '" + name +
                         "' (roles: admin, analyst, investigator, viewer, auditor, approver)");
        continue;
      }
      roles.Add(*role);
    }
    c.ldap.group_roles[group] = roles;
  }
  if (c.ldap_enabled) {
    if (c.ldap.uri.empty()) r.AddProblem("ldap.uri", "required when ldap.enabled is true");
    if (c.ldap.group_roles.empty()) {
      r.AddProblem("ldap.group_roles", "required when ldap.enabled is true (no group, no role)");
    }
  }
  c.audit_retention = r.Duration("audit.retention", hours(24 * 365),
                                 hours(24 * access::kMinAuditRetentionDays), hours(24 * 36500));
  c.reveal_ttl = r.Duration("privacy.reveal_ttl", hours(24), hours(1), hours(24 * 30));
  std::string fmt = r.Enum("log.format", "human", {"human", "json"});
  c.log_format = fmt == "json" ? logging::Format::kJson : logging::Format::kHuman;
  std::string level = r.Enum("log.level", "info", {"debug", "info", "warn", "error"});
  c.log_level = logging::ParseLevel(level).value_or(logging::Level::kInfo);
  r.Enum("store.engine", "sqlite", {"sqlite"});
  CUSTOS_RETURN_IF_ERROR(r.Finish());
  return c;
}

}  // namespace

Result<CollectorConfig> LoadCollectorConfig(const std::string& path) {
  if (path.empty()) {
    auto r = config::ConfigReader::Empty("(defaults)");
    return FromReader(r, "");
  }
  CUSTOS_ASSIGN_OR_RETURN(config::ConfigReader r, config::ConfigReader::LoadFile(path));
  return FromReader(r, path);
}

Result<CollectorConfig> ParseCollectorConfig(std::string_view yaml, const std::string& source) {
  CUSTOS_ASSIGN_OR_RETURN(config::ConfigReader r, config::ConfigReader::FromString(yaml, source));
  return FromReader(r, source);
}

}  // namespace custos::collector
