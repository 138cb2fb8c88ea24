// Realistic synthetic endpoint events for the load generator and benchmarks: file activity in
// users' document trees by ordinary programs, with occasional USB and security-setting events.
// Deterministic per (host index, seed).
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "custos/v1/event.pb.h"

namespace custos::testing {

class SyntheticEvents {
 public:
  SyntheticEvents(uint32_t host_index, uint64_t seed);
  const std::string& hostname() const { return hostname_; }
  const std::string& user() const { return user_; }
  // Fills *e with the next event (agent_id, epoch and seq left empty, as in a BATCH).
  void Next(int64_t time_ns, custos::v1::Event* e);

 private:
  std::string RandomPath();
  std::mt19937_64 rng_;
  std::string hostname_;
  std::string user_;
  uint32_t uid_;
  uint32_t pid_base_;
};

}  // namespace custos::testing
