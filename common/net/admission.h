// common/net/admission: who may open a connection or try a costly request, before anyone is
// authenticated. Two small thread-safe bookkeepers keyed by source address, shared by the
// agents' port (collector/ingest) and the HTTPS API (collector/api):
//  - AddressSlots: at most `per_address` concurrent holders per address and `total` in all
//    (e.g. connections still in their TLS handshake). Acquire returns a Slot that gives its
//    place back when destroyed.
//  - RateLimiter: a token bucket per key (`burst` tokens, refilled at `per_minute`), through
//    the Clock seam so tests move time by hand. Charged per attempt (Allow), by size
//    (Allow(key, bytes): a quota), or checked first and charged only for failures (HasToken,
//    then Allow on failure).
// Memory is bounded: a RateLimiter forgets full (idle) buckets once it tracks `max_keys`
// addresses, and refuses new addresses while every tracked one is still draining.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/time/clock.h"

namespace custos::net {

class AddressSlots {
 public:
  // A held place; gives it back on destruction. Empty (false) when refused.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept : owner_(o.owner_), address_(std::move(o.address_)) {
      o.owner_ = nullptr;
    }
    Slot& operator=(Slot&& o) noexcept;
    ~Slot() { Release(); }
    explicit operator bool() const { return owner_ != nullptr; }
    // Gives the place back now (idempotent).
    void Release();

   private:
    friend class AddressSlots;
    Slot(AddressSlots* owner, std::string address) : owner_(owner), address_(std::move(address)) {}
    AddressSlots* owner_ = nullptr;
    std::string address_;
  };

  enum class Refusal { kNone, kPerAddress, kTotal };

  AddressSlots(uint32_t per_address, uint32_t total) : per_address_(per_address), total_(total) {}
  // The AddressSlots must outlive every Slot it handed out.
  Slot TryAcquire(const std::string& address, Refusal* why = nullptr);
  uint32_t held(const std::string& address) const;
  uint32_t total_held() const;

 private:
  void Give(const std::string& address);

  const uint32_t per_address_;
  const uint32_t total_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, uint32_t> held_;  // guarded by mu_
  uint32_t total_held_ = 0;                         // guarded by mu_
};

class RateLimiter {
 public:
  // `clock` must outlive the limiter. per_minute <= 0 refuses nothing (no limit).
  RateLimiter(Clock* clock, double per_minute, uint64_t burst, size_t max_keys = 65536)
      : clock_(clock),
        per_minute_(per_minute),
        burst_(burst == 0 ? 1 : burst),
        max_keys_(max_keys) {}
  // Takes `cost` tokens for `key`; false (taking nothing) when its bucket holds fewer. A cost
  // above the burst is allowed only from a full bucket, so it can never starve for ever.
  bool Allow(const std::string& key, double cost = 1.0);
  // Whether `key` has a token left, without taking it: for limits on failures, checked before
  // an attempt and charged (Allow) only when it fails.
  bool HasToken(const std::string& key);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
  };
  double Refill(Bucket& b, std::chrono::steady_clock::time_point now) const;

  Clock* clock_;
  const double per_minute_;
  const uint64_t burst_;
  const size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

}  // namespace custos::net
