// Internal to agent/sources/file: SHA-256 of closed-after-write files on a thread of its own, so
// no kernel reader or event worker ever reads file content.
//
// Submit() takes a MODIFY event and either hands it to the hashing thread or emits it at once
// unhashed: when the file is larger than max_bytes (policy, counted as too_big), when the rate
// budget (a token bucket of rate_bytes_per_s, burst max(rate, max_bytes)) cannot cover its size
// (counted as skipped_rate) or when the queue of 256 pending files is full (skipped_queue). The
// hashing thread opens the file through the job's opener (fanotify opens the very inode by file
// handle, so a rename after close does not lose the hash), streams at most max_bytes + 1 bytes
// and fills FileEvent.sha256 (32 bytes) and size (bytes hashed); when the file cannot be opened,
// is not regular or grew past max_bytes it is emitted unhashed (failed). Stop() emits whatever
// is still queued, unhashed. Submit/Stop from the owning worker; stats from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/time/clock.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::file {

class Hasher {
 public:
  using Opener = std::function<int()>;  // an O_RDONLY descriptor, or -1
  // `tag` is the one given to Submit (the caller's reference to the event's snapshot change).
  using Emit = std::function<void(custos::v1::Event&&, uint64_t tag)>;

  Hasher(uint64_t max_bytes, uint64_t rate_bytes_per_s, Clock* clock, Emit emit);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Start();
  void Stop();
  void Submit(custos::v1::Event&& event, Opener opener, uint64_t tag = 0);

  // Opens `path` for hashing (no symlinks, no atime update when permitted, never blocks on a
  // FIFO).
  static int OpenPath(const std::string& path);

  struct Stats {
    uint64_t hashed = 0;
    uint64_t too_big = 0;
    uint64_t skipped_rate = 0;
    uint64_t skipped_queue = 0;
    uint64_t failed = 0;
  };
  Stats stats() const;

 private:
  struct Job {
    custos::v1::Event event;
    Opener opener;
    uint64_t tag = 0;
  };
  void Run();
  bool Hash(Job* job);
  bool TakeTokens(uint64_t bytes);

  const uint64_t max_bytes_;
  const uint64_t rate_;
  Clock* const clock_;
  const Emit emit_;

  double tokens_ = 0;  // worker thread only
  std::chrono::steady_clock::time_point refilled_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;   // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  bool running_ = false;   // guarded by mu_
  std::thread thread_;

  std::atomic<uint64_t> hashed_{0}, too_big_{0}, skipped_rate_{0}, skipped_queue_{0}, failed_{0};
};

}  // namespace custos::agent::file
