#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace custos::testing {

using namespace std::chrono_literals;

uint16_t FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

CollectorProcess::CollectorProcess(std::string dir)
    : dir_(std::move(dir)), port_(FreeLoopbackPort()) {}

CollectorProcess::~CollectorProcess() {
  if (process_) process_->Kill();
}

Status CollectorProcess::Init() {
  auto r = Run({BinaryPath("custos-collector"), "init", "--data-dir", data_dir()}, 60s);
  if (r.exit_code != 0) return InternalError("collector init failed: " + r.err);
  return OkStatus();
}

Result<std::string> CollectorProcess::Token(int uses) {
  auto r = Run({BinaryPath("custos-collector"), "token", "create", "--data-dir", data_dir(),
                "--uses", std::to_string(uses)},
               30s);
  if (r.exit_code != 0) return InternalError("token create failed: " + r.err);
  return r.out.substr(0, r.out.find('\n'));
}

std::vector<std::string> LoadgenCommand(const LoadgenRun& run) {
  return {BinaryPath("custos-loadgen"),
          "--collector",
          "127.0.0.1:" + std::to_string(run.port),
          "--server-name",
          "localhost",
          "--ca",
          run.ca_path,
          "--token",
          run.token,
          "--agents",
          std::to_string(run.agents),
          "--events",
          std::to_string(run.events),
          "--batch",
          "200",
          "--rate",
          std::to_string(run.rate),
          "--state-dir",
          run.state_dir,
          "--timeout",
          run.timeout,
          "--verify-db",
          run.db,
          "--report",
          run.report};
}

Status CollectorProcess::Start() {
  std::string ready = dir_ + "/ready" + std::to_string(++generation_);
  process_ = std::make_unique<Subprocess>();
  std::vector<std::string> argv = {BinaryPath("custos-collector"),
                                   "run",
                                   "--data-dir",
                                   data_dir(),
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port_),
                                   "--metrics",
                                   "off",
                                   "--api",
                                   "127.0.0.1:0",
                                   "--ready-file",
                                   ready};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  CUSTOS_RETURN_IF_ERROR(process_->Start(argv, dir_ + "/collector" + std::to_string(generation_)));
  if (!WaitFor([&] { return access(ready.c_str(), F_OK) == 0 || !process_->running(); }, 30s) ||
      !process_->running()) {
    return InternalError("collector did not start: " + process_->Stderr());
  }
  // {"ingest_port":N,"metrics_port":M,"api_port":A}
  auto text = ReadFile(ready);
  if (!text.ok()) return text.status();
  auto pos = text->find("\"api_port\":");
  api_port_ =
      pos == std::string::npos ? 0 : static_cast<uint16_t>(std::stoi(text->substr(pos + 11)));
  return OkStatus();
}

void CollectorProcess::Kill() {
  if (!process_) return;
  logs_ += process_->Stderr();
  process_->Kill();
  process_.reset();
}

int CollectorProcess::Stop() {
  if (!process_) return -1;
  process_->Signal(SIGTERM);
  int rc = process_->Wait(30s);
  logs_ += process_->Stderr();
  process_.reset();
  return rc;
}

std::string CollectorProcess::Logs() const {
  return logs_ + (process_ ? process_->Stderr() : std::string());
}

TcpProxy::TcpProxy(uint16_t target_port) : target_port_(target_port) {}

TcpProxy::~TcpProxy() {
  stop_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  Cut();
  std::vector<std::thread> pumps;
  {
    std::lock_guard<std::mutex> l(mu_);
    pumps.swap(pumps_);
  }
  for (auto& t : pumps) t.join();
}

Status TcpProxy::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(listen_fd_, 128) != 0) {
    return ErrnoError("proxy: listen", errno);
  }
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return OkStatus();
}

void TcpProxy::Cut() {
  std::lock_guard<std::mutex> l(mu_);
  for (int fd : fds_) {
    struct linger lg {
      1, 0
    };  // reset, as a broken network path would look to both ends
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    shutdown(fd, SHUT_RDWR);
  }
}

void TcpProxy::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (refusing_) {
      struct linger lg {
        1, 0
      };
      setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close(client);
      continue;
    }
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(target_port_);
    if (connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(server);
      close(client);
      continue;
    }
    connections_++;
    std::lock_guard<std::mutex> l(mu_);
    fds_.push_back(client);
    fds_.push_back(server);
    pumps_.emplace_back([this, client, server] { Pump(client, server); });
  }
}

void TcpProxy::Pump(int a, int b) {
  char buf[16384];
  pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  while (!stop_) {
    if (poll(p, 2, 100) < 0) break;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0) {
        done = true;
        break;
      }
      if (uint64_t rate = rate_.load(); rate > 0) {
        std::this_thread::sleep_for(
            std::chrono::microseconds(static_cast<uint64_t>(n) * 1'000'000 / rate));
      }
      int out = p[1 - i].fd;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = send(out, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) {
          done = true;
          break;
        }
        off += w;
      }
    }
    if (done) break;
  }
  shutdown(a, SHUT_RDWR);
  shutdown(b, SHUT_RDWR);
  std::lock_guard<std::mutex> l(mu_);
  std::erase(fds_, a);
  std::erase(fds_, b);
  close(a);
  close(b);
}

}  // namespace custos::testing
