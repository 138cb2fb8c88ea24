// Internal to agent/sources/file: the bounded ring between a kernel reader thread and the event
// worker. The reader never waits: PushSome() takes what fits and the caller counts the rest as
// lost. One producer, one consumer (any number is safe; the mutex serialises them).
#pragma once

#include <chrono>
#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

namespace custos::agent::file {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // Moves items from the front of *items until the queue is full; erases what was taken and
  // returns how many were taken. Wakes the consumer only when the queue was empty or reaches
  // wake_at() items, so a consumer gathering (PopAll's `gather`) is not woken per push.
  size_t PushSome(std::vector<T>* items) {
    size_t taken = 0;
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const size_t before = queue_.size();
      while (taken < items->size() && queue_.size() < capacity_ && !closed_) {
        queue_.push_back(std::move((*items)[taken]));
        ++taken;
      }
      wake = taken > 0 && (before == 0 || (before < wake_at() && queue_.size() >= wake_at()));
    }
    items->erase(items->begin(), items->begin() + static_cast<std::ptrdiff_t>(taken));
    if (wake) cv_.notify_one();
    return taken;
  }
  // Appends everything queued to *out, waiting up to `timeout` while the queue is empty and
  // neither Close() nor Wake() was called; once something is queued, waits up to `gather` more
  // while fewer than wake_at() items are (so a trickle is handled in batches, one wake-up each).
  // Returns false once closed and drained.
  bool PopAll(std::vector<T>* out, std::chrono::nanoseconds timeout,
              std::chrono::nanoseconds gather = std::chrono::nanoseconds(0)) {
    std::unique_lock<std::mutex> lock(mu_);
    if (queue_.empty() && !closed_ && !woken_) {
      cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_ || woken_; });
    }
    if (gather.count() > 0 && !queue_.empty() && queue_.size() < wake_at() && !closed_ &&
        !woken_) {
      cv_.wait_for(lock, gather, [&] { return queue_.size() >= wake_at() || closed_ || woken_; });
    }
    woken_ = false;
    const bool had_items = !queue_.empty();
    for (T& item : queue_) out->push_back(std::move(item));
    queue_.clear();
    return had_items || !closed_;
  }
  // Queue length at which a gathering consumer is woken at once.
  size_t wake_at() const { return std::max<size_t>(1, capacity_ / 16); }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.size();
  }
  size_t capacity() const { return capacity_; }

  // Wakes a waiting PopAll (e.g. the reader flagged an overflow).
  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      woken_ = true;
    }
    cv_.notify_one();
  }

  // Accepts pushes again after Close (a source restarted after Stop); drops leftovers.
  void Reopen() {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();
    closed_ = false;
    woken_ = false;
  }

  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> queue_;  // guarded by mu_
  bool closed_ = false;  // guarded by mu_
  bool woken_ = false;   // guarded by mu_
};

}  // namespace custos::agent::file
