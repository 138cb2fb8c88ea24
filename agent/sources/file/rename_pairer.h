// Internal to agent/sources/file: pairs the two halves of a rename (MOVED_FROM, MOVED_TO) that
// the kernel reports as separate events. inotify keys them by its cookie; fanotify without
// FAN_RENAME (kernels before 5.17) has no cookie and keys them by pid and is-directory, relying
// on the kernel queueing both halves back to back within the rename(2) call. A MOVED_FROM that
// finds no partner within `window` is given back by TakeExpired (the caller reports it as moved
// out of the watched tree: a delete). Bounded: beyond 1024 pending halves the oldest expire.
// Not thread-safe (the event worker owns it).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace custos::agent::file {

template <typename Item>
class RenamePairer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  explicit RenamePairer(std::chrono::nanoseconds window) : window_(window) {}

  void AddFrom(uint64_t key, Item item, TimePoint now) {
    pending_.push_back(Pending{key, std::move(item), now + window_});
  }

  // The oldest pending MOVED_FROM with this key.
  std::optional<Item> TakeFrom(uint64_t key) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->key == key) {
        Item item = std::move(it->item);
        pending_.erase(it);
        return item;
      }
    }
    return std::nullopt;
  }

  std::vector<Item> TakeExpired(TimePoint now) {
    std::vector<Item> out;
    while (!pending_.empty() && (pending_.front().deadline <= now || pending_.size() > kMax)) {
      out.push_back(std::move(pending_.front().item));
      pending_.pop_front();
    }
    return out;
  }

  std::vector<Item> TakeAll() {
    std::vector<Item> out;
    for (Pending& p : pending_) out.push_back(std::move(p.item));
    pending_.clear();
    return out;
  }

  std::optional<TimePoint> NextDeadline() const {
    if (pending_.empty()) return std::nullopt;
    return pending_.front().deadline;
  }

 private:
  static constexpr size_t kMax = 1024;
  struct Pending {
    uint64_t key;
    Item item;
    TimePoint deadline;
  };
  const std::chrono::nanoseconds window_;
  std::deque<Pending> pending_;  // in arrival order, so deadlines are ascending
};

}  // namespace custos::agent::file
