// Disk full on the collector's store, with real processes over loopback (issue 17, fault
// suites): the collector's data directory lives on a small tmpfs that a filler file has nearly
// filled; custos-loadgen streams from simulated agents until SQLite reports the disk full. While
// full the collector must keep running and refuse batches with a retryable error (never ack what
// it did not commit); once the filler is deleted, ingest must resume within 5 s and every event
// end up stored exactly once (custos-loadgen --verify-db checks each agent's acked seqs).
// The agent's side: the real spool and spool writer on a small tmpfs (the kernel's ENOSPC and
// short writes) must not crash, must count what they could not spool, resume within 5 s of
// space returning and report the loss upstream; the spool reopens without a torn tail.
// Needs root (mount); otherwise skipped with the reason. Rules and results: docs/reliability.md.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <thread>

#include "agent/pipeline/spool_writer.h"
#include "agent/spool/spool.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/fs/file_system.h"
#include "common/testing/testing.h"
#include "common/time/clock.h"
#include "custos/v1/event.pb.h"
#include "tests/integration/harness.h"

namespace custos {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::Subprocess;
using testing::TempDir;
using testing::WaitFor;

// A tmpfs of `size_mib` at `dir`, unmounted (lazily if busy) when this goes away.
class TmpfsMount {
 public:
  TmpfsMount() = default;
  ~TmpfsMount() { Unmount(); }
  bool Mount(const std::string& dir, int size_mib) {
    std::string opts = "size=" + std::to_string(size_mib) + "m,mode=0700";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) return false;
    dir_ = dir;
    return true;
  }
  void Unmount() {
    if (dir_.empty()) return;
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
    dir_.clear();
  }

 private:
  std::string dir_;
};

uint64_t FreeBytes(const std::string& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

// GET /metrics from the collector's plain-HTTP metrics port; empty on failure.
std::string FetchMetrics(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// The value of the sample line starting with `name` (labels included), 0 when absent.
double MetricValue(const std::string& metrics, const std::string& name) {
  size_t pos = 0;
  while ((pos = metrics.find(name, pos)) != std::string::npos) {
    if ((pos == 0 || metrics[pos - 1] == '\n') && pos + name.size() < metrics.size() &&
        metrics[pos + name.size()] == ' ') {
      return std::strtod(metrics.c_str() + pos + name.size() + 1, nullptr);
    }
    pos += name.size();
  }
  return 0;
}

// The acked total of custos-loadgen's last progress line ("  12.3s  acked N/M ..."), 0 if none.
uint64_t LoadgenAcked(const std::string& err) {
  static const std::regex kLine(R"(acked (\d+)/\d+)");
  uint64_t acked = 0;
  for (auto it = std::sregex_iterator(err.begin(), err.end(), kLine); it != std::sregex_iterator();
       ++it) {
    acked = std::stoull((*it)[1].str());
  }
  return acked;
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "not root: cannot mount a tmpfs";
    fs_dir_ = dir_.Sub("fs");
    ASSERT_EQ(::mkdir(fs_dir_.c_str(), 0700), 0);
    if (!mount_.Mount(fs_dir_, kFsMib)) GTEST_SKIP() << "mount -t tmpfs failed (no privilege?)";
    data_ = fs_dir_ + "/data";
    auto init = testing::Run({BinaryPath("custos-collector"), "init", "--data-dir", data_}, 60s);
    ASSERT_EQ(init.exit_code, 0) << init.err;
    auto tok = testing::Run({BinaryPath("custos-collector"), "token", "create", "--data-dir", data_,
                             "--uses", "100", "--note", "disk full test"},
                            30s);
    ASSERT_EQ(tok.exit_code, 0) << tok.err;
    token_ = tok.out.substr(0, tok.out.find('\n'));
    port_ = testing::FreeLoopbackPort();
  }

  void TearDown() override {
    if (collector_.running()) collector_.Kill();
    if (loadgen_.running()) loadgen_.Kill();
    mount_.Unmount();
  }

  void StartCollector() {
    std::string ready = dir_.Sub("ready");
    ASSERT_TRUE(collector_
                    .Start({BinaryPath("custos-collector"), "run", "--data-dir", data_, "--listen",
                            "127.0.0.1:" + std::to_string(port_), "--metrics", "127.0.0.1:0",
                            "--api", "127.0.0.1:0", "--ready-file", ready},
                           dir_.Sub("collector"))
                    .ok());
    ASSERT_TRUE(
        WaitFor([&] { return access(ready.c_str(), F_OK) == 0 || !collector_.running(); }, 30s));
    ASSERT_TRUE(collector_.running()) << collector_.Stderr();
    auto text = testing::ReadFile(ready);
    ASSERT_TRUE(text.ok());
    auto pos = text->find("\"metrics_port\":");
    ASSERT_NE(pos, std::string::npos) << *text;
    metrics_port_ = static_cast<uint16_t>(std::stoi(text->substr(pos + 15)));
  }

  static constexpr int kFsMib = 256;
  // Left free for the store after the filler: fills within the first second or two of the
  // stream, long before the stream ends.
  static constexpr uint64_t kHeadroomBytes = 12ull << 20;

  TempDir dir_;
  TmpfsMount mount_;  // after dir_: unmounted before the temp dir is removed
  Subprocess collector_, loadgen_;
  std::string fs_dir_, data_, token_;
  uint16_t port_ = 0, metrics_port_ = 0;
};

TEST_F(DiskFullTest, StoreFullRefusesRetryablyAcksOnlyCommittedAndResumesWithin5s) {
  constexpr int kAgents = 20;
  constexpr int kEventsPerAgent =
      10000;  // 200k events, ~80 MB in the store: fits once space returns
  constexpr auto kResumeLimit = 5s;
  constexpr auto kFullFor = 3s;

  // The filler takes all but kHeadroomBytes of the file system, so the store runs out soon.
  const std::string filler = fs_dir_ + "/filler";
  {
    uint64_t free_bytes = FreeBytes(fs_dir_);
    ASSERT_GT(free_bytes, kHeadroomBytes + (8ull << 20));
    int fd = ::open(filler.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::posix_fallocate(fd, 0, static_cast<off_t>(free_bytes - kHeadroomBytes)), 0);
    ::close(fd);
  }
  StartCollector();

  ASSERT_TRUE(loadgen_
                  .Start(testing::LoadgenCommand({.port = port_,
                                                  .ca_path = data_ + "/pki/ca.crt",
                                                  .token = token_,
                                                  .agents = kAgents,
                                                  .events = kEventsPerAgent,
                                                  .rate = 50000,
                                                  .state_dir = dir_.Sub("loadgen"),
                                                  .timeout = "60s",
                                                  .db = data_ + "/custos.db",
                                                  .report = dir_.Sub("report.json")}),
                         dir_.Sub("loadgen"))
                  .ok());

  // 1. The store fills: group commits fail and sessions are refused with the retryable
  //    store_error, while the collector keeps running.
  auto metrics = [&] { return FetchMetrics(metrics_port_); };
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricValue(metrics(), "custos_store_commit_failures_total") > 0 ||
               !collector_.running() || !loadgen_.running();
      },
      30s))
      << "the store never filled\n"
      << collector_.Stderr();
  ASSERT_TRUE(collector_.running()) << "collector died when the disk filled\n"
                                    << collector_.Stderr();
  ASSERT_TRUE(loadgen_.running()) << "the stream ended before the disk filled\n"
                                  << loadgen_.Stderr();
  const auto full_at = std::chrono::steady_clock::now();
  EXPECT_NE(collector_.Stderr().find("full"), std::string::npos)
      << "expected SQLITE_FULL ('database or disk is full') in the log\n"
      << collector_.Stderr();

  auto store = collector::store::OpenSqliteStore({.path = data_ + "/custos.db", .read_only = true});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto stored = [&] {
    auto n = (*store)->CountEvents(std::nullopt);
    return n.ok() ? *n : 0;
  };

  // 2. Stay full for a while: nothing acked that is not stored (acked read first, count
  //    after), the collector alive, failures counted, refusals sent as retryable errors.
  while (std::chrono::steady_clock::now() - full_at < kFullFor) {
    uint64_t acked = LoadgenAcked(loadgen_.Stderr());
    uint64_t count = stored();
    ASSERT_LE(acked, count) << "acked events that are not in the store";
    ASSERT_TRUE(collector_.running()) << collector_.Stderr();
    ASSERT_TRUE(loadgen_.running()) << loadgen_.Stderr();
    std::this_thread::sleep_for(200ms);
  }
  std::string m = metrics();
  const double failures = MetricValue(m, "custos_store_commit_failures_total");
  const double refused = MetricValue(m, "custos_ingest_rejected_total{reason=\"store_error\"}");
  EXPECT_GT(failures, 0);
  EXPECT_GT(refused, 0) << m;
  const uint64_t acked_while_full = LoadgenAcked(loadgen_.Stderr());
  const uint64_t stored_while_full = stored();
  EXPECT_LT(stored_while_full, uint64_t{kAgents} * kEventsPerAgent)
      << "the whole stream fitted: raise kEventsPerAgent or lower kHeadroomBytes";

  // 3. Space returns: the first new commit within 5 s.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  const auto freed_at = std::chrono::steady_clock::now();
  const uint64_t stored_at_free = stored();
  ASSERT_TRUE(WaitFor([&] { return stored() > stored_at_free || !collector_.running(); }, 10s))
      << "no commit within 10 s of space returning\n"
      << collector_.Stderr();
  const auto resumed_after = std::chrono::steady_clock::now() - freed_at;
  ASSERT_TRUE(collector_.running()) << collector_.Stderr();
  const double resume_ms = std::chrono::duration<double, std::milli>(resumed_after).count();
  EXPECT_LT(resumed_after, kResumeLimit) << resume_ms << " ms";

  // 4. The rest of the stream is committed; every acked event stored exactly once.
  int rc = loadgen_.Wait(90s);
  std::string report = testing::ReadFile(dir_.Sub("report.json")).value_or("(no report)");
  ASSERT_EQ(rc, 0) << "loadgen failed\nstderr:\n" << loadgen_.Stderr() << "\nreport: " << report;
  EXPECT_NE(report.find("\"verify\":\"ok\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"complete\":true"), std::string::npos) << report;
  const auto total_after_free = std::chrono::steady_clock::now() - freed_at;
  std::printf(
      "disk full: commit failures %.0f, store_error refusals %.0f, acked while full %llu, "
      "stored while full %llu; first commit %.0f ms after space returned, stream complete "
      "%.1f s after\n",
      failures, refused, static_cast<unsigned long long>(acked_while_full),
      static_cast<unsigned long long>(stored_while_full), resume_ms,
      std::chrono::duration<double>(total_after_free).count());

  store->reset();
  ASSERT_TRUE(collector_.running()) << collector_.Stderr();
  collector_.Signal(SIGTERM);
  EXPECT_EQ(collector_.Wait(30s), 0) << collector_.Stderr();
  auto check = collector::store::OpenSqliteStore({.path = data_ + "/custos.db", .read_only = true});
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_TRUE((*check)->CheckIntegrity().ok());
  EXPECT_EQ(*(*check)->CountEvents(std::nullopt), uint64_t{kAgents} * kEventsPerAgent);
}

TEST(AgentSpoolDiskFullTest, SpoolWriterCountsLossesResumesWithin5sAndReportsThem) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: cannot mount a tmpfs";
  TempDir dir;
  const std::string fs_dir = dir.Sub("spoolfs");
  ASSERT_EQ(::mkdir(fs_dir.c_str(), 0700), 0);
  TmpfsMount mount;
  if (!mount.Mount(fs_dir, 4)) GTEST_SKIP() << "mount -t tmpfs failed (no privilege?)";
  const std::string filler = fs_dir + "/filler";
  {
    // Leave 512 KiB: a few hundred 1 KiB events, then the disk is full.
    int fd = ::open(filler.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::posix_fallocate(fd, 0, static_cast<off_t>(FreeBytes(fs_dir) - (512u << 10))), 0);
    ::close(fd);
  }
  agent::spool::SpoolOptions so;
  so.dir = fs_dir + "/spool";
  so.max_bytes = 64ull << 20;  // above the file system: the disk fills, not the spool's cap
  auto spool = agent::spool::Spool::Open(fs::Posix(), so, RealClock());
  ASSERT_TRUE(spool.ok()) << spool.status().ToString();
  agent::pipeline::SpoolWriterOptions wo;
  wo.gather_delay = std::chrono::milliseconds(0);
  wo.max_group = 64;
  wo.host = "disk-full-host";
  agent::pipeline::SpoolWriter writer(spool->get(), wo, RealClock(), nullptr);
  writer.Start();
  uint64_t pushed = 0;
  auto push = [&](int n) {
    for (int i = 0; i < n; ++i) {
      custos::v1::Event e;
      e.set_time_ns(1'700'000'000'000'000'000 + static_cast<int64_t>(pushed));
      e.mutable_file()->set_op(custos::v1::FILE_OP_CREATE);
      e.mutable_file()->set_path("/data/" + std::to_string(pushed++) + "/" +
                                 std::string(1000, 'p'));
      ASSERT_TRUE(writer.PushWait(std::move(e), 5s));
    }
  };
  // Fill the disk, and keep offering events for a while after it is full.
  ASSERT_TRUE(WaitFor(
      [&] {
        push(50);
        return writer.Stats().write_errors > 0;
      },
      20s));
  for (int i = 0; i < 10; ++i) push(50);
  ASSERT_TRUE(
      WaitFor([&] { return writer.Stats().written + writer.Stats().dropped >= pushed; }, 10s));
  const auto full = writer.Stats();
  EXPECT_GT(full.dropped, 0u);
  EXPECT_GT(full.written, 0u);

  // Space returns: new events are written within 5 s.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  const auto freed_at = std::chrono::steady_clock::now();
  push(1);
  ASSERT_TRUE(WaitFor([&] { return writer.Stats().written > full.written; }, 10s));
  const auto resumed_after = std::chrono::steady_clock::now() - freed_at;
  EXPECT_LT(resumed_after, 5s);
  writer.Stop();
  const auto done = writer.Stats();
  EXPECT_EQ(done.dropped, full.dropped);  // nothing lost once space returned
  std::printf(
      "agent spool disk full: %llu written, %llu dropped in %llu write errors; first write "
      "%.0f ms after space returned\n",
      static_cast<unsigned long long>(full.written), static_cast<unsigned long long>(full.dropped),
      static_cast<unsigned long long>(full.write_errors),
      std::chrono::duration<double, std::milli>(resumed_after).count());

  // Everything spooled is readable, and the loss report says how many events the disk cost.
  auto records = (*spool)->Read(1, 1'000'000, 1u << 30);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  uint64_t events = 0, reported_lost = 0;
  for (const auto& r : *records) {
    custos::v1::Event e;
    ASSERT_TRUE(e.ParseFromString(r.payload));
    if (e.has_events_lost()) {
      reported_lost += e.events_lost().count();
      EXPECT_NE(e.events_lost().reason().find("No space left on device"), std::string::npos)
          << e.events_lost().reason();
    } else {
      ++events;
    }
  }
  EXPECT_EQ(events, pushed - done.dropped);
  EXPECT_EQ(reported_lost, done.dropped);
  spool->reset();
  // Reopened: the short writes were cut back, no torn tail left behind.
  auto reopened = agent::spool::Spool::Open(fs::Posix(), so, RealClock());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->Stats().recovered_truncated_bytes, 0u);
  EXPECT_EQ((*reopened)->Stats().next_seq, (*records).back().seq + 1);
}

}  // namespace
}  // namespace custos
