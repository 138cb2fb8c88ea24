#include "agent/app/agent_config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace custos::agent {
namespace {

TEST(AgentConfigTest, DefaultsAreSafe) {
  auto c = LoadAgentConfig("");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state_dir, "/var/lib/custos/agent");
  EXPECT_EQ(c->spool_max_bytes, 1ull << 30);
  EXPECT_TRUE(c->file_enabled);
  EXPECT_EQ(c->file_roots, std::vector<std::string>{"/home"});
  EXPECT_EQ(c->ca_path(), "/var/lib/custos/agent/ca.crt");
}

TEST(AgentConfigTest, ShippedExampleLoadsWithTheDefaults) {
  const char* src = std::getenv("CUSTOS_SOURCE_DIR");
  auto c = LoadAgentConfig(std::string(src ? src : ".") + "/installers/config/agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto d = LoadAgentConfig("");
  EXPECT_EQ(c->spool_max_bytes, d->spool_max_bytes);
  EXPECT_EQ(c->file_exclude, d->file_exclude);
  EXPECT_EQ(c->inotify_watch_budget, d->inotify_watch_budget);
}

TEST(AgentConfigTest, ReadsCollectorAndSources) {
  auto c = ParseAgentConfig(R"(
collector: {address: "collector.corp.example:17443", server_name: collector, ca_file: /etc/custos/ca.crt}
state_dir: /srv/agent
spool: {max_bytes: 64MiB, segment_bytes: 4MiB}
sources:
  file:
    roots: [/home, /srv/share]
    classification: ["finance:*/finance/*"]
    force_inotify: true
)",
                            "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->collector_host, "collector.corp.example");
  EXPECT_EQ(c->collector_port, 17443);
  EXPECT_EQ(c->ca_path(), "/etc/custos/ca.crt");
  EXPECT_EQ(c->spool_dir(), "/srv/agent/spool");
  EXPECT_EQ(c->file_roots.size(), 2u);
  EXPECT_TRUE(c->file_force_inotify);
}

TEST(AgentConfigTest, ErrorsNameKeyAndProblem) {
  auto c = ParseAgentConfig(
      "collector: {address: nowhere}\nsources: {file: {roots: [relative/path], classification: "
      "[nolabel]}}\n"
      "spool: {max_bytes: 16MiB, segment_bytes: 16MiB}\n",
      "/etc/custos/agent.yaml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("/etc/custos/agent.yaml"), std::string::npos) << m;
  EXPECT_NE(m.find("collector.address"), std::string::npos) << m;
  EXPECT_NE(m.find("sources.file.roots"), std::string::npos) << m;
  EXPECT_NE(m.find("sources.file.classification"), std::string::npos) << m;
  EXPECT_NE(m.find("spool.segment_bytes"), std::string::npos) << m;
}

}  // namespace
}  // namespace custos::agent
