// agent/sources/recording_sink.h: an EventSink for tests — keeps what sources push, lets a test
// wait for an event matching a predicate, and can refuse the next N pushes (a full pipeline).
// Thread-safe; header-only; used by the sources' and the pipeline's tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "agent/sources/source.h"

namespace custos::agent {

class RecordingSink : public EventSink {
 public:
  bool Push(custos::v1::Event&& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (refuse_ > 0) {
      --refuse_;
      return false;
    }
    events_.push_back(std::move(event));
    cv_.notify_all();
    return true;
  }

  // Waits until a pushed event satisfies `pred` (events stay recorded); nullopt on timeout.
  template <typename Pred>
  std::optional<custos::v1::Event> WaitFor(
      Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<custos::v1::Event> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::vector<custos::v1::Event> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  // Returns and forgets what was recorded.
  std::vector<custos::v1::Event> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(events_, {});
  }
  void Clear() { (void)Take(); }
  // The next `n` pushes return false and are not recorded.
  void Refuse(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_ = n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<custos::v1::Event> events_;  // guarded by mu_
  int refuse_ = 0;                         // guarded by mu_
};

}  // namespace custos::agent
