// custos-agent and custos-collector as real processes over loopback: file activity arrives with
// the right paths and attribution; nothing is lost or duplicated when the agent is killed with
// SIGKILL, when the collector is killed, or when the network path is cut mid-stream.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "collector/store/sqlite/sqlite_store.h"
#include "custos/v1/event.pb.h"
#include "tests/integration/harness.h"

namespace custos {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::CollectorProcess;
using testing::Subprocess;
using testing::TempDir;
using testing::WaitFor;

struct StoredSummary {
  std::vector<custos::v1::Event> events;
  std::vector<uint64_t> seqs;
};

// Every event of every agent, oldest first, decoded.
StoredSummary ReadStore(const std::string& db) {
  StoredSummary out;
  auto store = collector::store::OpenSqliteStore({.path = db, .read_only = true});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return out;
  collector::store::EventQuery q;
  q.limit = 10'000'000;
  q.newest_first = false;
  auto rows = (*store)->QueryEvents(q);
  EXPECT_TRUE(rows.ok());
  for (const auto& r : *rows) {
    custos::v1::Event e;
    EXPECT_TRUE(e.ParseFromString(r.payload));
    out.events.push_back(std::move(e));
    out.seqs.push_back(r.seq);
  }
  return out;
}

class AgentE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    collector_ = std::make_unique<CollectorProcess>(dir_.Sub("collector"));
    ASSERT_TRUE(collector_->Init().ok());
    ASSERT_TRUE(collector_->Start().ok());
    std::filesystem::create_directories(watch_);
  }

  // Writes agent.yaml pointing at `port` and enrolls through the real collector.
  void Enroll(uint16_t port, bool file_source = true) {
    std::ofstream cfg(dir_.Sub("agent.yaml"));
    cfg << "collector:\n  address: 127.0.0.1:" << port << "\n  server_name: localhost\n"
        << "sources:\n  file:\n    enabled: " << (file_source ? "true" : "false") << "\n"
        << "    roots: [" << watch_ << "]\n"
        << "    classification: ['confidential:*secret*']\n";
    cfg.close();
    auto token = collector_->Token(1);
    ASSERT_TRUE(token.ok());
    auto r = testing::Run(
        {BinaryPath("custos-agent"), "enroll", "--config", dir_.Sub("agent.yaml"), "--state-dir",
         dir_.Sub("agent"), "--token", *token, "--ca", collector_->ca_path()},
        30s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::unique_ptr<Subprocess> StartAgent(std::vector<std::string> extra = {}) {
    auto p = std::make_unique<Subprocess>();
    std::vector<std::string> argv = {BinaryPath("custos-agent"), "run",         "--config",
                                     dir_.Sub("agent.yaml"),     "--state-dir", dir_.Sub("agent")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    EXPECT_TRUE(p->Start(argv, dir_.Sub("agent" + std::to_string(++agent_runs_))).ok());
    // Running once its status file says the uplink is connected.
    EXPECT_TRUE(WaitFor(
        [&] {
          auto st = testing::ReadFile(dir_.Sub("agent/status.json"));
          return (st.ok() && st->find("\"connected\": true") != std::string::npos &&
                  st->find("\"pid\": " + std::to_string(p->pid())) != std::string::npos) ||
                 !p->running();
        },
        30s))
        << p->Stderr();
    return p;
  }

  TempDir dir_;
  std::string watch_ = dir_.Sub("watch");
  std::unique_ptr<CollectorProcess> collector_;
  int agent_runs_ = 0;
};

TEST_F(AgentE2eTest, FileActivityArrivesWithPathsAndAttribution) {
  Enroll(collector_->port());
  auto agent = StartAgent();
  // Rename chain, deep tree, unicode and hostile names, a classified file.
  std::ofstream(watch_ + "/a.txt") << "1";
  std::filesystem::rename(watch_ + "/a.txt", watch_ + "/b.txt");
  std::filesystem::rename(watch_ + "/b.txt", watch_ + "/c.txt");
  std::string deep = watch_;
  for (int i = 0; i < 20; ++i) deep += "/d" + std::to_string(i);
  std::filesystem::create_directories(deep);
  std::ofstream(deep + "/leaf.bin") << "x";
  std::ofstream(watch_ + "/résumé 履歴書.docx") << "u";
  std::ofstream(watch_ + "/-rf --no-preserve-root") << "h";
  std::ofstream(watch_ + "/line\nbreak") << "n";
  std::string invalid_utf8 = watch_ + "/bad\xff\xfe.txt";
  {
    int fd = open(invalid_utf8.c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_EQ(write(fd, "z", 1), 1);
    close(fd);
  }
  std::ofstream(watch_ + "/top-secret.xlsx") << "s";
  std::filesystem::remove(watch_ + "/c.txt");
  constexpr int kSmallFiles = 5000;
  std::filesystem::create_directories(watch_ + "/many");
  for (int i = 0; i < kSmallFiles; ++i) std::ofstream(watch_ + "/many/f" + std::to_string(i)) << i;

  std::set<std::string> creates;
  std::map<std::string, custos::v1::Event> by_path;
  ASSERT_TRUE(WaitFor(
      [&] {
        creates.clear();
        for (auto& e : ReadStore(collector_->db_path()).events) {
          if (!e.has_file()) continue;
          if (e.file().op() == custos::v1::FILE_OP_CREATE) creates.insert(e.file().path());
          by_path[std::to_string(e.file().op()) + ":" + e.file().path()] = e;
        }
        int many = 0;
        for (const auto& p : creates) many += p.rfind(watch_ + "/many/f", 0) == 0;
        return many == kSmallFiles && by_path.count("3:" + watch_ + "/c.txt");
      },
      120s))
      << "created files seen: " << creates.size() << "\n"
      << agent->Stderr();

  auto pid = static_cast<uint32_t>(getpid());
  const auto& create_a = by_path["1:" + watch_ + "/a.txt"];
  EXPECT_EQ(create_a.actor().pid(), pid);
  EXPECT_EQ(create_a.actor().uid(), getuid());
  EXPECT_NE(create_a.actor().executable().find("agent_e2e_test"), std::string::npos);
  ASSERT_TRUE(by_path.count("4:" + watch_ + "/b.txt"));
  EXPECT_EQ(by_path["4:" + watch_ + "/b.txt"].file().old_path(), watch_ + "/a.txt");
  EXPECT_EQ(by_path["4:" + watch_ + "/c.txt"].file().old_path(), watch_ + "/b.txt");
  EXPECT_TRUE(creates.count(deep + "/leaf.bin"));
  EXPECT_TRUE(creates.count(watch_ + "/résumé 履歴書.docx"));
  EXPECT_TRUE(creates.count(watch_ + "/-rf --no-preserve-root"));
  EXPECT_TRUE(creates.count(watch_ + "/line\nbreak"));
  EXPECT_TRUE(creates.count(watch_ + "/bad\\xff\\xfe.txt")) << "invalid UTF-8 is escaped";
  const auto& secret = by_path["1:" + watch_ + "/top-secret.xlsx"];
  ASSERT_EQ(secret.file().classifications_size(), 1);
  EXPECT_EQ(secret.file().classifications(0), "confidential");

  auto status =
      testing::Run({BinaryPath("custos-agent"), "status", "--state-dir", dir_.Sub("agent")}, 10s);
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_NE(status.out.find("connected"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("file via fanotify"), std::string::npos) << status.out;
}

// Writes files continuously while the agent is killed with SIGKILL and restarted: the stream
// that reached the spool arrives exactly once (consecutive seqs, no duplicates) and the spool
// drains to zero.
TEST_F(AgentE2eTest, Kill9AgentWhileFilesAreWrittenLosesAndDuplicatesNothing) {
  Enroll(collector_->port());
  // The first run records the baseline of the watched tree; files written from then on must all
  // be reported (live, or at the next start by comparison with the persisted snapshot).
  auto first = StartAgent();
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (!stop) {
      int i = written++;
      std::ofstream(watch_ + "/w" + std::to_string(i)) << i;
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  first->Kill();
  for (int round = 0; round < 3; ++round) {
    auto agent = StartAgent();
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 150 * round));
    agent->Kill();
  }
  stop = true;
  writer.join();
  auto agent = StartAgent();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto st = testing::ReadFile(dir_.Sub("agent/status.json"));
        return st.ok() && st->find("\"unacked_records\": 0") != std::string::npos;
      },
      60s));
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(30s), 0) << agent->Stderr();

  auto stored = ReadStore(collector_->db_path());
  std::set<uint64_t> seqs(stored.seqs.begin(), stored.seqs.end());
  EXPECT_EQ(seqs.size(), stored.seqs.size()) << "duplicate seqs stored";
  ASSERT_FALSE(seqs.empty());
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), seqs.size()) << "a hole in the stream";
  // Every file the writer made is reported (live, or by the startup comparison for files
  // written while the agent was down).
  std::set<std::string> paths;
  for (auto& e : stored.events) {
    if (e.has_file()) paths.insert(e.file().path());
  }
  int missing = 0;
  for (int i = 0; i < written; ++i) missing += !paths.count(watch_ + "/w" + std::to_string(i));
  EXPECT_EQ(missing, 0) << "of " << written.load() << " files written";
}

// Issue 17: the agent must not invent activity after a crash. Files are created continuously
// (also while the agent is down) through several kill -9 cycles of the real agent: every file is
// reported as created exactly once — live (kernel event, with its actor) or, when its event had
// not reached the spool or it was made while the agent was down, by the next start's scan,
// flagged observed_by SCAN and without an actor — never again at a later start.
TEST_F(AgentE2eTest, Kill9CyclesReportEveryCreatedFileExactlyOnceAndFlagScanFindings) {
  Enroll(collector_->port());
  auto agent = StartAgent();
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (!stop) {
      int i = written++;
      std::ofstream(watch_ + "/c" + std::to_string(i)) << i;
      std::this_thread::sleep_for(1ms);
    }
  });
  constexpr int kCycles = 8;
  for (int round = 0; round < kCycles; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + 97 * round));
    agent->Kill();
    std::this_thread::sleep_for(100ms);  // files made while the agent is down
    agent = StartAgent();
  }
  stop = true;
  writer.join();
  const int total = written.load();
  std::map<std::string, std::vector<custos::v1::Event>> creates;
  ASSERT_TRUE(WaitFor(
      [&] {
        creates.clear();
        for (auto& e : ReadStore(collector_->db_path()).events) {
          if (e.has_file() && e.file().op() == custos::v1::FILE_OP_CREATE) {
            creates[e.file().path()].push_back(e);
          }
        }
        for (int i = 0; i < total; ++i) {
          if (!creates.count(watch_ + "/c" + std::to_string(i))) return false;
        }
        return true;
      },
      90s))
      << creates.size() << " of " << total << " files reported\n"
      << agent->Stderr();
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(30s), 0) << agent->Stderr();

  int twice = 0, scan_found = 0, live = 0;
  std::string examples;
  for (const auto& [path, events] : creates) {
    if (events.size() > 1) {
      if (++twice <= 5) {
        examples += path + ":";
        for (const auto& e : events) {
          examples += std::string(" ") +
                      (e.file().observed_by() == custos::v1::OBSERVED_BY_SCAN ? "scan" : "live") +
                      "@" + std::to_string(e.time_ns() / 1'000'000 % 100'000) + "ms";
        }
        examples += "\n";
      }
    }
    for (const auto& e : events) {
      if (e.file().observed_by() == custos::v1::OBSERVED_BY_SCAN) {
        ++scan_found;
        EXPECT_FALSE(e.has_actor())
            << path << " scan finding with an actor: " << e.actor().ShortDebugString();
      } else {
        ++live;
        EXPECT_EQ(e.file().observed_by(), custos::v1::OBSERVED_BY_WATCH) << path;
        EXPECT_EQ(e.actor().pid(), static_cast<uint32_t>(getpid())) << path;
      }
    }
  }
  EXPECT_EQ(twice, 0) << "of " << total << " files, reported as created more than once:\n"
                      << examples;
  // Both paths ran: files made while the agent was down can only be scan findings.
  EXPECT_GT(scan_found, 0);
  EXPECT_GT(live, 0);
  std::printf("%d files, %d kill -9 cycles: %d live creates, %d scan findings\n", total, kCycles,
              live, scan_found);
}

// Replays a numbered stream while the network path is cut three times and the collector is
// killed once: every event is stored exactly once and the backlog drains.
TEST_F(AgentE2eTest, CollectorKillAndCutConnectionsLoseAndDuplicateNothing) {
  constexpr int kEvents = 60000;
  std::ofstream replay(dir_.Sub("replay.jsonl"));
  for (int i = 0; i < kEvents; ++i) {
    custos::v1::Event e;
    e.set_time_ns(1'763'700'000'000'000'000 + i);
    e.mutable_actor()->set_login_user("alice");
    e.mutable_file()->set_op(custos::v1::FILE_OP_MODIFY);
    // A pseudo-random token keeps zstd from shrinking the stream to nothing, so at the proxy's
    // 200 KB/s the stream lasts long enough (~12 s) to be cut several times in the middle.
    char token[24];
    std::snprintf(token, sizeof token, "%016llx",
                  static_cast<unsigned long long>((i + 1) * 0x9E3779B97F4A7C15ull));
    e.mutable_file()->set_path("/replay/" + std::to_string(i) + "-" + token);
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(e, &json).ok());
    replay << json << "\n";
  }
  replay.close();
  testing::TcpProxy proxy(collector_->port());
  proxy.SetRateLimit(200'000);
  ASSERT_TRUE(proxy.Start().ok());
  Enroll(proxy.port(), /*file_source=*/false);
  auto agent = StartAgent({"--replay", dir_.Sub("replay.jsonl"), "--no-file-source",
                           "--no-settings-source", "--no-usb-source"});
  auto progress = [&]() -> uint64_t {
    auto st = testing::ReadFile(dir_.Sub("agent/status.json"));
    if (!st.ok()) return uint64_t{0};
    auto pos = st->find("\"acked_seq\": ");
    return pos == std::string::npos ? 0 : static_cast<uint64_t>(std::stoull(st->substr(pos + 13)));
  };
  uint64_t last = 0;
  for (int cut = 0; cut < 3; ++cut) {
    ASSERT_TRUE(WaitFor([&] { return progress() > last; }, 60s)) << agent->Stderr();
    proxy.Cut();
    last = progress();
  }
  ASSERT_TRUE(WaitFor([&] { return progress() > last; }, 60s));
  collector_->Kill();
  std::this_thread::sleep_for(500ms);  // the agent retries against a dead port meanwhile
  ASSERT_TRUE(collector_->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return progress() >= static_cast<uint64_t>(kEvents); }, 120s))
      << agent->Stderr();
  EXPECT_GT(proxy.connections(), 4u);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(30s), 0);

  auto stored = ReadStore(collector_->db_path());
  ASSERT_EQ(stored.events.size(), static_cast<size_t>(kEvents));
  std::set<std::string> paths;
  for (auto& e : stored.events) paths.insert(e.file().path());
  EXPECT_EQ(paths.size(), static_cast<size_t>(kEvents)) << "duplicates stored";
  std::set<int> numbers;
  for (const auto& p : paths) numbers.insert(std::stoi(p.substr(8)));
  EXPECT_EQ(numbers.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(*numbers.begin(), 0);
  EXPECT_EQ(*numbers.rbegin(), kEvents - 1);
}

}  // namespace
}  // namespace custos
