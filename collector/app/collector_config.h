// The collector's configuration: /etc/custos/collector.yaml (every key documented in
// docs/configuration.md), then command-line flags on top. Defaults are safe: TLS 1.3 mutual
// auth, metrics on loopback only, data under /var/lib/custos/collector.
#pragma once

#include "collector/access/ldap_directory.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "collector/ingest/ingest.h"
#include "common/log/log.h"
#include "common/status/status.h"

namespace custos::collector {

inline constexpr const char* kDefaultCollectorConfigPath = "/etc/custos/collector.yaml";
inline constexpr const char* kDefaultCollectorDataDir = "/var/lib/custos/collector";

struct CollectorConfig {
  std::string config_path;  // empty: built-in defaults only
  std::string data_dir = kDefaultCollectorDataDir;
  ingest::IngestOptions ingest;
  bool metrics_enabled = true;
  std::string metrics_host = "127.0.0.1";
  uint16_t metrics_port = 9464;
  // HTTPS API (/api/v1) for analysts, the CLI and integrations; bearer-token authenticated.
  bool api_enabled = true;
  // Streaming risk scoring (docs/indicators.md). Off: events are stored, never scored; the API's
  // scoring endpoints answer 503.
  bool scoring_enabled = true;
  // Packages whose installation is not "unapproved software" (exact names or globs, "python3-*").
  std::vector<std::string> approved_software;
  std::string api_host = "0.0.0.0";
  uint16_t api_port = 8443;
  // Open API connections in all and from one source address; a TLS handshake (counted from the
  // accept) must finish within api_handshake_timeout. docs/api.md#limits.
  uint32_t api_max_connections = 1000;
  uint32_t api_max_connections_per_address = 64;
  std::chrono::milliseconds api_handshake_timeout{5000};
  logging::Format log_format = logging::Format::kHuman;
  logging::Level log_level = logging::Level::kInfo;
  // Names and addresses the server certificate is valid for (used by `init`).
  std::vector<std::string> server_names;

  std::string pki_dir() const { return data_dir + "/pki"; }
  std::string db_path() const { return data_dir + "/custos.db"; }
  std::string admin_token_path() const { return data_dir + "/admin.token"; }
  // The first admin account's console password, written once by init (docs/accounts.md).
  std::string admin_password_path() const { return data_dir + "/admin.password"; }
  std::string pseudonym_key_path() const { return data_dir + "/pseudonym.key"; }
  // Optional LDAP sign-in (`ldap:` in collector.yaml, docs/accounts.md).
  bool ldap_enabled = false;
  access::LdapOptions ldap;
  std::string ldap_bind_password_file;
  // Audit entries older than this are removed (`audit.retention`, at least 180 days).
  std::chrono::milliseconds audit_retention{int64_t{365} * 24 * 3600 * 1000};
  // How long an approved identity reveal lasts (`privacy.reveal_ttl`).
  std::chrono::milliseconds reveal_ttl{24 * 3600 * 1000};
};

// Reads `path` (when non-empty; a missing explicitly named file is an error) into a config.
// Errors name the file and the key.
Result<CollectorConfig> LoadCollectorConfig(const std::string& path);
// Parses a YAML document (tests); `source` names it in messages.
Result<CollectorConfig> ParseCollectorConfig(std::string_view yaml, const std::string& source);

}  // namespace custos::collector
