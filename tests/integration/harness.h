// Cross-process test harness: real custos-collector processes over loopback, a TCP proxy the
// test can cut, free ports. Used by tests/integration/*_test.cc.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status/status.h"
#include "common/testing/testing.h"

namespace custos::testing {

// A loopback port that was free a moment ago (for processes that must keep a fixed port across
// restarts; everything else uses port 0).
uint16_t FreeLoopbackPort();

// custos-loadgen streaming `events` per agent from `agents` enrolled agents to 127.0.0.1:port at
// `rate` events/s, then checking every acked event is in `db` exactly once (--verify-db) and
// writing its report to `report`.
struct LoadgenRun {
  uint16_t port = 0;
  std::string ca_path;
  std::string token;
  int agents = 1;
  int events = 1000;
  int rate = 10000;
  std::string state_dir;
  std::string timeout = "60s";
  std::string db;
  std::string report;
};
std::vector<std::string> LoadgenCommand(const LoadgenRun& run);

// A collector in its own data directory: `init` once, then Start/Kill/Restart the process on a
// fixed port.
class CollectorProcess {
 public:
  explicit CollectorProcess(std::string dir);
  ~CollectorProcess();
  Status Init();
  // Mints an enrollment token for `uses` enrollments.
  Result<std::string> Token(int uses);
  Status Start();  // waits until it listens
  // Arguments added to `custos-collector run` from the next Start on (e.g. --config FILE).
  void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
  void Kill();  // SIGKILL
  int Stop();   // SIGTERM, returns exit code
  uint16_t port() const { return port_; }
  uint16_t api_port() const { return api_port_; }  // the HTTPS API (picked at each Start)
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::string admin_token_path() const { return data_dir() + "/admin.token"; }
  std::string data_dir() const { return dir_ + "/data"; }
  std::string ca_path() const { return data_dir() + "/pki/ca.crt"; }
  std::string db_path() const { return data_dir() + "/custos.db"; }
  std::string Logs() const;

 private:
  std::string dir_;
  uint16_t port_;
  uint16_t api_port_ = 0;
  int generation_ = 0;
  std::unique_ptr<Subprocess> process_;
  std::string logs_;
  std::vector<std::string> extra_args_;
};

// Forwards 127.0.0.1:listen_port -> 127.0.0.1:target_port. Cut() closes every open connection
// (both sides see a reset mid-stream); while paused, new connections are refused at once.
class TcpProxy {
 public:
  explicit TcpProxy(uint16_t target_port);
  ~TcpProxy();
  Status Start();
  uint16_t port() const { return port_; }
  void Cut();
  void SetRefusing(bool refusing) { refusing_ = refusing; }
  // Limits each direction of each connection to about this many bytes per second (0 = none),
  // like a slow uplink, so a stream lasts long enough to be cut in the middle.
  void SetRateLimit(uint64_t bytes_per_second) { rate_ = bytes_per_second; }
  uint64_t connections() const { return connections_.load(); }

 private:
  void AcceptLoop();
  void Pump(int a, int b);
  uint16_t target_port_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> refusing_{false};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> rate_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;            // guarded by mu_
  std::vector<std::thread> pumps_;  // guarded by mu_
};

}  // namespace custos::testing
