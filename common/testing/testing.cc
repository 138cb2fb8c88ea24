#include "common/testing/testing.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

namespace custos::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/custos-test-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  CUSTOS_CHECK(p != nullptr) << "mkdtemp: " << std::strerror(errno);
  path_ = p;
}

TempDir::~TempDir() {
  if (std::getenv("CUSTOS_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("read " + path, errno);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return ErrnoError("write " + path, errno);
  out << content;
  out.close();
  if (!out) return ErrnoError("write " + path, errno);
  return OkStatus();
}

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("CUSTOS_BIN_DIR");
  if (dir != nullptr && *dir) return std::string(dir) + "/" + name;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    return (std::filesystem::path(self).parent_path() / name).string();
  }
  return name;
}

std::string SourcePath(const std::string& relative) {
  const char* dir = std::getenv("CUSTOS_SOURCE_DIR");
  return std::string(dir && *dir ? dir : ".") + "/" + relative;
}

Subprocess::~Subprocess() {
  if (pid_ > 0) Kill();
}

Status Subprocess::Start(const std::vector<std::string>& argv, const std::string& log_prefix,
                         const std::map<std::string, std::string>& extra_env) {
  CUSTOS_CHECK(!argv.empty());
  log_prefix_ = log_prefix;
  std::string out_path = log_prefix + ".out", err_path = log_prefix + ".err";
  pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork", errno);
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0 || err < 0) _exit(127);
    dup2(out, 1);
    dup2(err, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    for (const auto& [k, v] : extra_env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    dprintf(2, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  pid_ = pid;
  return OkStatus();
}

bool Subprocess::running() {
  if (pid_ <= 0) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -pid_;  // exited; keep a marker so Wait can still report
    exit_status_store_ = status;
    return false;
  }
  return r == 0;
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int Subprocess::Wait(std::chrono::milliseconds timeout) {
  auto decode = [](int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
  };
  if (pid_ < -1) {
    pid_ = -1;
    return decode(exit_status_store_);
  }
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return decode(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Subprocess::Kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

std::string Subprocess::Stdout() const { return ReadFile(log_prefix_ + ".out").value_or(""); }
std::string Subprocess::Stderr() const { return ReadFile(log_prefix_ + ".err").value_or(""); }

RunResult Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::map<std::string, std::string>& extra_env) {
  TempDir dir;
  Subprocess p;
  RunResult r;
  if (!p.Start(argv, dir.Sub("run"), extra_env).ok()) return r;
  r.exit_code = p.Wait(timeout);
  if (r.exit_code == -1) p.Kill();
  r.out = p.Stdout();
  r.err = p.Stderr();
  return r;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Exited RunToExit(const std::string& path, const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Exited e;
  e.pid = fork();
  if (e.pid == 0) {
    execv(path.c_str(), args.data());
    _exit(127);
  }
  if (e.pid > 0 && waitpid(e.pid, &e.status, 0) != e.pid) e.status = -1;
  return e;
}

std::string RunUnprivileged(const std::function<std::string()>& check) {
  if (geteuid() != 0) return check();
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return std::string("pipe: ") + std::strerror(errno);
  const pid_t child = fork();
  if (child < 0) return std::string("fork: ") + std::strerror(errno);
  if (child == 0) {
    close(pipe_fds[0]);
    std::string problem = "could not give up root";
    if (setgid(65534) == 0 && setuid(65534) == 0) problem = check();
    size_t off = 0;
    while (off < problem.size()) {
      const ssize_t n = write(pipe_fds[1], problem.data() + off, problem.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    _exit(problem.empty() ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string problem;
  char buf[512];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) problem.append(buf, static_cast<size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  if (waitpid(child, &status, 0) != child) return "waitpid failed";
  if (!WIFEXITED(status)) return "child killed by signal " + std::to_string(WTERMSIG(status));
  if (WEXITSTATUS(status) != 0 && problem.empty())
    return "child exit " + std::to_string(WEXITSTATUS(status));
  return problem;
}

}  // namespace custos::testing
