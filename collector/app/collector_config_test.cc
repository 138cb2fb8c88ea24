#include "collector/app/collector_config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace custos::collector {
namespace {

TEST(CollectorConfigTest, DefaultsAreSafe) {
  auto c = LoadCollectorConfig("");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/var/lib/custos/collector");
  EXPECT_EQ(c->ingest.port, 7443);
  EXPECT_EQ(c->metrics_host, "127.0.0.1");
  EXPECT_EQ(c->metrics_port, 9464);
  EXPECT_EQ(c->ingest.max_frame_bytes, 4u << 20);
  EXPECT_TRUE(c->api_enabled);
  EXPECT_EQ(c->api_port, 8443);
  EXPECT_EQ(c->api_max_connections, 1000u);
  EXPECT_EQ(c->api_max_connections_per_address, 64u);
  EXPECT_EQ(c->api_handshake_timeout, std::chrono::seconds(5));
  EXPECT_TRUE(c->scoring_enabled);
  EXPECT_TRUE(c->approved_software.empty());
}

TEST(CollectorConfigTest, ReadsEveryDocumentedKey) {
  auto c = ParseCollectorConfig(R"(
data_dir: /srv/custos
ingest:
  listen: 127.0.0.1:17443
  io_threads: 2
  max_frame_bytes: 1MiB
  max_batch_bytes: 8MiB
  max_batch_events: 5000
  window_batches: 4
  max_connections: 100
  handshake_timeout: 5s
  idle_timeout: 1m
  max_events_per_commit: 50000
enrollment:
  agent_certificate_validity: 7d
  server_names: [collector.example.com, 10.0.0.5]
metrics:
  listen: "off"
api:
  listen: 127.0.0.1:18443
  max_connections: 500
  max_connections_per_address: 8
  handshake_timeout: 2s
scoring:
  enabled: false
  approved_software: [vim, "python3-*"]
log:
  format: json
  level: debug
store:
  engine: sqlite
)",
                                "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/srv/custos");
  EXPECT_EQ(c->ingest.listen_host, "127.0.0.1");
  EXPECT_EQ(c->ingest.port, 17443);
  EXPECT_EQ(c->ingest.max_frame_bytes, 1u << 20);
  EXPECT_EQ(c->ingest.window_batches, 4u);
  EXPECT_EQ(c->ingest.idle_timeout, std::chrono::minutes(1));
  EXPECT_EQ(c->ingest.agent_certificate_validity, std::chrono::hours(24 * 7));
  EXPECT_EQ(c->server_names.size(), 2u);
  EXPECT_FALSE(c->metrics_enabled);
  EXPECT_EQ(c->api_host, "127.0.0.1");
  EXPECT_EQ(c->api_port, 18443);
  EXPECT_EQ(c->api_max_connections, 500u);
  EXPECT_EQ(c->api_max_connections_per_address, 8u);
  EXPECT_EQ(c->api_handshake_timeout, std::chrono::seconds(2));
  EXPECT_FALSE(c->scoring_enabled);
  EXPECT_EQ(c->approved_software, (std::vector<std::string>{"vim", "python3-*"}));
  EXPECT_EQ(c->log_format, logging::Format::kJson);
}

TEST(CollectorConfigTest, ErrorsNameFileKeyAndProblem) {
  auto c =
      ParseCollectorConfig("ingest:\n  listen: nowhere\n  window_batches: 0\nlog:\n  levle: x\n",
                           "/etc/custos/collector.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("/etc/custos/collector.yaml"), std::string::npos) << m;
  EXPECT_NE(m.find("ingest.listen"), std::string::npos) << m;
  EXPECT_NE(m.find("ingest.window_batches"), std::string::npos) << m;
  EXPECT_NE(m.find("log.levle"), std::string::npos) << m;
}

}  // namespace
}  // namespace custos::collector

namespace custos::collector {
namespace {

TEST(CollectorConfigTest, ShippedExampleConfigLoadsWithDefaults) {
  std::string path =
      std::string(std::getenv("CUSTOS_SOURCE_DIR") ? std::getenv("CUSTOS_SOURCE_DIR") : ".") +
      "/installers/config/collector.yaml";
  auto c = LoadCollectorConfig(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto d = LoadCollectorConfig("");
  EXPECT_EQ(c->ingest.port, d->ingest.port);
  EXPECT_EQ(c->ingest.window_batches, d->ingest.window_batches);
  EXPECT_EQ(c->data_dir, d->data_dir);
  EXPECT_EQ(c->api_max_connections, d->api_max_connections);
  EXPECT_EQ(c->api_max_connections_per_address, d->api_max_connections_per_address);
  EXPECT_EQ(c->api_handshake_timeout, d->api_handshake_timeout);
}

TEST(CollectorConfigTest, RefusesApiLimitsOutOfRange) {
  auto c = ParseCollectorConfig(
      "api:\n  max_connections_per_address: 0\n  handshake_timeout: 10m\n", "test.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("api.max_connections_per_address"), std::string::npos) << m;
  EXPECT_NE(m.find("api.handshake_timeout"), std::string::npos) << m;
}

}  // namespace
}  // namespace custos::collector
