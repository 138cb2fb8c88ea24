// Test helpers shared by unit and integration tests: temp directories, files, child processes.
// Only tests link this library.
#pragma once

#include <sys/types.h>

#include <sys/types.h>
#include <sys/wait.h>
#include <chrono>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status/status.h"

namespace custos::testing {

// False in sanitizer builds (dev: ASan, tsan), whose shadow memory and freed-memory quarantine
// dominate a process's RSS: tests assert memory bounds only where this is true, and keep every
// other assertion in all builds.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kMemoryFiguresAreMeaningful = false;
#else
inline constexpr bool kMemoryFiguresAreMeaningful = true;
#endif

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction unless
// CUSTOS_KEEP_TEST_DIRS is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

Result<std::string> ReadFile(const std::string& path);
Status WriteFile(const std::string& path, const std::string& content);

// Path of a built program: $CUSTOS_BIN_DIR/name (set by ctest), else next to the test binary.
std::string BinaryPath(const std::string& name);
std::string SourcePath(const std::string& relative);

// A child process with stdout and stderr sent to files. The destructor kills (SIGKILL) and
// reaps a child that is still running.
class Subprocess {
 public:
  Subprocess() = default;
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // argv[0] is the program path. stdout/stderr go to log_prefix + ".out" / ".err".
  Status Start(const std::vector<std::string>& argv, const std::string& log_prefix,
               const std::map<std::string, std::string>& extra_env = {});
  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // Waits for exit; returns the exit code, 128+signal when killed, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  void Kill();  // SIGKILL and reap
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;  // < -1: exited, status in exit_status_store_
  int exit_status_store_ = 0;
  std::string log_prefix_;
};

// Runs a program to completion; returns exit code and captured output.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
RunResult Run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::map<std::string, std::string>& extra_env = {});

// Runs `path` with argv (argv[0] included; no shell, nothing captured) and waits for it to exit:
// its pid and waitpid status. pid -1 when fork failed; exit status 127 when exec did. For tests of
// what a process did after it is gone (its pid is the evidence), without Run()'s temp dir and logs.
struct Exited {
  pid_t pid = -1;
  int status = 0;
  bool ok() const { return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};
Exited RunToExit(const std::string& path, const std::vector<std::string>& argv);

// Runs `check` without root and returns what it returned ("" = all well) or why it could not
// run. Unprivileged already: in-process. As root: in a forked child that gives up root (uid and
// gid 65534, and with root every capability); the test process must have no other threads then,
// as the child allocates after fork.
std::string RunUnprivileged(const std::function<std::string()>& check);

// Polls `pred` every 10 ms until it is true or `timeout` passes. Used to wait for a child
// process's observable state (a file appearing, a count reached), never as synchronisation
// inside one process.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace custos::testing
