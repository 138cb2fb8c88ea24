// Crash safety of the collector, with real processes over loopback: custos-loadgen streams from
// many enrolled agents while custos-collector is killed with SIGKILL and restarted several times.
// At the end every acknowledged event must be stored exactly once (custos-loadgen --verify-db
// checks each agent's seqs) and SQLite's integrity check must pass.
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "collector/store/sqlite/sqlite_store.h"
#include "common/testing/testing.h"
#include "tests/integration/harness.h"

namespace custos {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;

using testing::Subprocess;
using testing::TempDir;
using testing::WaitFor;

class CollectorCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.Sub("collector");
    auto init = testing::Run({BinaryPath("custos-collector"), "init", "--data-dir", data_}, 60s);
    ASSERT_EQ(init.exit_code, 0) << init.err;
    auto tok = testing::Run({BinaryPath("custos-collector"), "token", "create", "--data-dir", data_,
                             "--uses", "100", "--note", "crash test"},
                            30s);
    ASSERT_EQ(tok.exit_code, 0) << tok.err;
    token_ = tok.out.substr(0, tok.out.find('\n'));
    port_ = testing::FreeLoopbackPort();
  }

  void StartCollector(Subprocess* p, int generation) {
    std::string ready = dir_.Sub("ready" + std::to_string(generation));
    ASSERT_TRUE(p->Start({BinaryPath("custos-collector"), "run", "--data-dir", data_, "--listen",
                          "127.0.0.1:" + std::to_string(port_), "--metrics", "off", "--api",
                          "127.0.0.1:0", "--ready-file", ready},
                         dir_.Sub("collector" + std::to_string(generation)))
                    .ok());
    ASSERT_TRUE(WaitFor([&] { return access(ready.c_str(), F_OK) == 0 || !p->running(); }, 30s));
    ASSERT_TRUE(p->running()) << p->Stderr();
  }

  TempDir dir_;
  std::string data_;
  std::string token_;
  uint16_t port_ = 0;
};

TEST_F(CollectorCrashTest, EveryAckedEventStoredExactlyOnceAcrossRepeatedKill9) {
  constexpr int kAgents = 20;
  constexpr int kEventsPerAgent = 30000;  // 600k events at 60k/s: ~10 s of streaming
  auto collector = std::make_unique<Subprocess>();
  StartCollector(collector.get(), 0);

  Subprocess loadgen;
  ASSERT_TRUE(loadgen
                  .Start(testing::LoadgenCommand({.port = port_,
                                                  .ca_path = data_ + "/pki/ca.crt",
                                                  .token = token_,
                                                  .agents = kAgents,
                                                  .events = kEventsPerAgent,
                                                  .rate = 60000,
                                                  .state_dir = dir_.Sub("loadgen"),
                                                  .timeout = "240s",
                                                  .db = data_ + "/custos.db",
                                                  .report = dir_.Sub("report.json")}),
                         dir_.Sub("loadgen"))
                  .ok());

  std::mt19937 rng(12345);
  int kills = 0;
  for (int kill = 1; kill <= 4; ++kill) {
    // Wait until agents stream into this collector (its log shows them connecting), then kill -9
    // at a random moment inside the stream.
    ASSERT_TRUE(WaitFor(
        [&] {
          return collector->Stderr().find("agent connected") != std::string::npos ||
                 !loadgen.running();
        },
        60s));
    if (!loadgen.running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    collector->Kill();
    ++kills;
    collector = std::make_unique<Subprocess>();
    StartCollector(collector.get(), kill);
  }

  EXPECT_EQ(kills, 4) << "the stream ended before every kill; raise kEventsPerAgent";
  int rc = loadgen.Wait(240s);
  std::string report = testing::ReadFile(dir_.Sub("report.json")).value_or("(no report)");
  ASSERT_EQ(rc, 0) << "loadgen failed\nstderr:\n" << loadgen.Stderr() << "\nreport: " << report;
  EXPECT_NE(report.find("\"verify\":\"ok\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"complete\":true"), std::string::npos) << report;
  // Sessions > agents proves the agents really reconnected after the kills.
  EXPECT_EQ(report.find("\"sessions\":20,"), std::string::npos) << report;

  collector->Signal(SIGTERM);
  EXPECT_EQ(collector->Wait(30s), 0) << collector->Stderr();
  auto store = collector::store::OpenSqliteStore({.path = data_ + "/custos.db", .read_only = true});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  EXPECT_EQ(*(*store)->CountEvents(std::nullopt), uint64_t{kAgents} * kEventsPerAgent);
}

}  // namespace
}  // namespace custos
