#include "common/net/admission.h"

#include <algorithm>
#include <iterator>

namespace custos::net {

AddressSlots::Slot& AddressSlots::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    address_ = std::move(o.address_);
    o.owner_ = nullptr;
  }
  return *this;
}

void AddressSlots::Slot::Release() {
  if (owner_ == nullptr) return;
  owner_->Give(address_);
  owner_ = nullptr;
}

AddressSlots::Slot AddressSlots::TryAcquire(const std::string& address, Refusal* why) {
  std::lock_guard<std::mutex> l(mu_);
  Refusal r = Refusal::kNone;
  auto it = held_.find(address);
  uint32_t mine = it == held_.end() ? 0 : it->second;
  if (total_held_ >= total_) {
    r = Refusal::kTotal;
  } else if (mine >= per_address_) {
    r = Refusal::kPerAddress;
  }
  if (why != nullptr) *why = r;
  if (r != Refusal::kNone) return Slot();
  ++held_[address];
  ++total_held_;
  return Slot(this, address);
}

void AddressSlots::Give(const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = held_.find(address);
  if (it == held_.end()) return;
  if (--it->second == 0) held_.erase(it);
  --total_held_;
}

uint32_t AddressSlots::held(const std::string& address) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = held_.find(address);
  return it == held_.end() ? 0 : it->second;
}

uint32_t AddressSlots::total_held() const {
  std::lock_guard<std::mutex> l(mu_);
  return total_held_;
}

double RateLimiter::Refill(Bucket& b, std::chrono::steady_clock::time_point now) const {
  double elapsed_min = std::chrono::duration<double, std::ratio<60>>(now - b.refilled).count();
  if (elapsed_min > 0) {
    b.tokens = std::min<double>(burst_, b.tokens + elapsed_min * per_minute_);
    b.refilled = now;
  }
  return b.tokens;
}

bool RateLimiter::HasToken(const std::string& key) {
  if (per_minute_ <= 0) return true;
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(key);
  return it == buckets_.end() || Refill(it->second, clock_->SteadyNow()) >= 1.0 - 1e-9;
}

bool RateLimiter::Allow(const std::string& key, double cost) {
  if (per_minute_ <= 0) return true;
  auto now = clock_->SteadyNow();
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      // Forget keys whose bucket has refilled: they are idle.
      for (auto i = buckets_.begin(); i != buckets_.end();) {
        i = Refill(i->second, now) >= burst_ ? buckets_.erase(i) : std::next(i);
      }
      if (buckets_.size() >= max_keys_) return false;
    }
    it = buckets_.emplace(key, Bucket{static_cast<double>(burst_), now}).first;
  }
  // Enough tokens, give or take the rounding of the refill arithmetic.
  const double need = std::min(cost, static_cast<double>(burst_));
  if (Refill(it->second, now) < need - 1e-9) return false;
  it->second.tokens = std::max(0.0, it->second.tokens - cost);
  return true;
}

}  // namespace custos::net
