// Clock seam: everything that reads time takes a Clock*, so tests advance time without sleeping.
// RealClock() is thread-safe and lives forever. FakeClock is thread-safe (atomics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace custos {

inline constexpr int64_t kNanosPerDay = int64_t{86'400} * 1'000'000'000;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock Unix time in nanoseconds (for event timestamps and certificates).
  virtual int64_t NowUnixNs() const = 0;
  // Monotonic time for intervals, timeouts and rates.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
  std::chrono::system_clock::time_point SystemNow() const {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(NowUnixNs())));
  }
};

// The process-wide real clock.
Clock* RealClock();

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_ns = 1'700'000'000'000'000'000) : unix_ns_(start_unix_ns) {}
  int64_t NowUnixNs() const override { return unix_ns_.load(); }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(steady_ns_.load()));
  }
  // Moves both clocks forward.
  void Advance(std::chrono::nanoseconds d) {
    unix_ns_ += d.count();
    steady_ns_ += d.count();
  }
  // Sets wall time only (clock jumps); steady time never goes backwards.
  void SetUnixNs(int64_t ns) { unix_ns_ = ns; }

 private:
  std::atomic<int64_t> unix_ns_;
  std::atomic<int64_t> steady_ns_{1'000'000'000};
};

// RFC 3339 UTC with milliseconds: "2026-11-21T10:14:24.123Z".
std::string FormatUnixNs(int64_t unix_ns);
// Parses "2026-11-21", "2026-11-21T10:14:24Z", "2026-11-21T10:14:24.5Z", "2026-11-21 10:14:24",
// with an optional "+hh:mm"/"-hh:mm" offset, or a relative "-15m", "-2h", "-7d" (from now_ns).
// Returns Unix ns, or nullopt-like error text via the bool.
bool ParseTimeSpec(std::string_view text, int64_t now_ns, int64_t* out_unix_ns);

}  // namespace custos
