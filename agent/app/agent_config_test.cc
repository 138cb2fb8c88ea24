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
  EXPECT_EQ(c->process_events, d->process_events);
  EXPECT_EQ(c->process_events_pause_above, d->process_events_pause_above);
}

TEST(AgentConfigTest, ReadsAttribution) {
  auto d = LoadAgentConfig("");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->process_events);
  EXPECT_EQ(d->process_events_pause_above, 400u);
  auto c = ParseAgentConfig("attribution: {process_events: false, process_events_pause_above: 0}\n",
                            "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->process_events);
  EXPECT_EQ(c->process_events_pause_above, 0u);
  auto bad = ParseAgentConfig(
      "attribution: {process_events: maybe, process_events_pause_above: -1}\n", "agent.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("attribution.process_events"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("attribution.process_events_pause_above"),
            std::string::npos)
      << bad.status().message();
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

TEST(AgentConfigTest, ReadsRemovableMediaCopyCorrelationAndUsbPolicy) {
  auto d = LoadAgentConfig("");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->usb_removable_mount_points.empty());
  EXPECT_TRUE(d->copy_correlation_enabled);
  EXPECT_EQ(d->copy_window, std::chrono::seconds(60));
  EXPECT_EQ(d->copy_hold, std::chrono::seconds(2));
  EXPECT_EQ(d->copy_max_reads, 4096u);
  EXPECT_FALSE(d->copy_send_reads);
  EXPECT_EQ(d->usb_policy.mode, usb::UsbPolicyMode::kObserve);
  EXPECT_TRUE(d->usb_policy.block.empty());

  auto c = ParseAgentConfig(R"(
sources:
  usb:
    removable_mount_points: [/media/stick]
    copy_correlation: {window: 5m, hold: 500ms, max_reads: 100, send_reads: true}
    policy:
      mode: enforce
      block: ["class=08", "vendor=18d1 product=4ee7"]
      allow: ["vendor=0781,product=5581,serial=4C53"]
)",
                            "agent.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->usb_removable_mount_points, std::vector<std::string>{"/media/stick"});
  EXPECT_EQ(c->copy_window, std::chrono::minutes(5));
  EXPECT_EQ(c->copy_hold, std::chrono::milliseconds(500));
  EXPECT_EQ(c->copy_max_reads, 100u);
  EXPECT_TRUE(c->copy_send_reads);
  EXPECT_EQ(c->usb_policy.mode, usb::UsbPolicyMode::kEnforce);
  ASSERT_EQ(c->usb_policy.block.size(), 2u);
  EXPECT_EQ(c->usb_policy.block[1].vendor_id, 0x18d1u);
  ASSERT_EQ(c->usb_policy.allow.size(), 1u);
  EXPECT_EQ(c->usb_policy.allow[0].serial, "4C53");

  auto bad = ParseAgentConfig(R"(
sources:
  usb:
    removable_mount_points: [media/stick]
    policy: {mode: block, block: ["vendor=xyz"]}
)",
                              "agent.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string& m = bad.status().message();
  EXPECT_NE(m.find("sources.usb.removable_mount_points"), std::string::npos) << m;
  EXPECT_NE(m.find("sources.usb.policy.mode"), std::string::npos) << m;
  EXPECT_NE(m.find("usb rule 'vendor=xyz': vendor must be 1-4 hex digits"), std::string::npos) << m;
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
