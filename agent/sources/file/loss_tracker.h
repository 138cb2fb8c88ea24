// LossTracker: the loss accounting both file mechanisms share. The reader thread records what
// its ring refused and whether the kernel queue overflowed; the worker thread takes one report
// per loss window (count, time window, reason) and then rescans. Lock-free; one reader thread,
// one worker thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace custos::agent::file {

class LossTracker {
 public:
  struct Loss {
    uint64_t count = 0;  // 0 when the kernel dropped events (it does not say how many)
    int64_t start_ns = 0;
    int64_t end_ns = 0;
    std::string reason;
  };

  // Reader thread, after each push: `refused` events did not fit the ring; `kernel_overflow`
  // when the kernel reported a queue overflow. Returns true when something was lost.
  bool AfterPush(size_t refused, bool kernel_overflow, int64_t now_ns) {
    if (!kernel_overflow && refused == 0) {
      last_queued_ns_.store(now_ns);
      return false;
    }
    // The loss window starts at the last moment everything still fitted.
    int64_t expected = 0;
    const int64_t last = last_queued_ns_.load();
    start_ns_.compare_exchange_strong(expected, last != 0 ? last : now_ns);
    if (kernel_overflow) kernel_overflow_.store(true);
    ring_lost_.fetch_add(refused);
    return true;
  }

  // Worker thread: the loss since the previous call, if any. `kernel_queue` names the kernel
  // queue in the reason ("fanotify queue", "inotify queue").
  std::optional<Loss> Take(int64_t now_ns, std::string_view kernel_queue) {
    const uint64_t ring_lost = ring_lost_.exchange(0);
    const bool kernel = kernel_overflow_.exchange(false);
    if (ring_lost == 0 && !kernel) return std::nullopt;
    const int64_t start = start_ns_.exchange(0);
    Loss loss;
    if (kernel) loss.reason = std::string(kernel_queue) + " overflow";
    if (ring_lost != 0) {
      loss.reason += std::string(loss.reason.empty() ? "" : "; ") + "source ring full (" +
                     std::to_string(ring_lost) + " events)";
    }
    // The kernel does not say how many it dropped: the count is only known when all were ours.
    loss.count = kernel ? 0 : ring_lost;
    loss.start_ns = start != 0 ? start : now_ns;
    loss.end_ns = now_ns;
    return loss;
  }

 private:
  std::atomic<uint64_t> ring_lost_{0};
  std::atomic<bool> kernel_overflow_{false};
  std::atomic<int64_t> last_queued_ns_{0};
  std::atomic<int64_t> start_ns_{0};
};

}  // namespace custos::agent::file
