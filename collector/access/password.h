// collector/access/password.h: Argon2id password hashes as PHC strings (libargon2).
//
// A hash is the encoded string libargon2 writes, e.g.
//   $argon2id$v=19$m=65536,t=1,p=1$<salt, base64 no padding>$<hash, base64 no padding>
// so every stored hash records the parameters it was made with; raising the defaults leaves old
// hashes verifiable and NeedsRehash says which to replace at the next successful sign-in.
//
// Contract:
//  - Passwords are bytes (no normalisation), 1..kMaxPasswordBytes; anything else is
//    InvalidArgument before any hashing, so an oversized password costs no CPU.
//  - Salts are 16 random bytes (crypto::RandomBytes), hashes 32 bytes.
//  - Verification recomputes with the parameters in the hash and compares in constant time
//    (libargon2's argon2_verify); a stored hash whose parameters are out of bounds (memory
//    above 1 GiB, more than 16 passes or lanes) is refused as DataLoss without hashing.
//  - Thread-safe (no shared state but a counter). One computation holds `memory_kib` of memory
//    for its duration: callers bound how many run at once (access::Accounts does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status/status.h"

namespace custos::collector::access {

inline constexpr size_t kMaxPasswordBytes = 1024;

// Argon2id cost parameters. Defaults: 64 MiB, 1 pass, 1 lane. Measured on the 2-core CI
// machine (password_bench, docs/performance.md): about 60 ms of CPU per hash or verification;
// 2 passes cost 117 ms of CPU and 180-225 ms of wall time while other builds ran, too close to
// the 250 ms sign-in budget. One pass over 64 MiB is RFC 9106's recommended shape (t=1, as much
// memory as affordable) and above OWASP's 46 MiB x 1 pass: memory per guess costs an
// attacker's GPU more than passes do. Raise them here; NeedsRehash upgrades stored hashes.
struct PasswordParams {
  uint32_t memory_kib = 64 * 1024;
  uint32_t iterations = 1;
  uint32_t parallelism = 1;
  friend bool operator==(const PasswordParams&, const PasswordParams&) = default;
};

// InvalidArgument when the parameters are below libargon2's minimums or above the bounds above.
Status CheckPasswordParams(const PasswordParams& params);

// The PHC string of `password` under `params`. InvalidArgument for an empty or oversized password
// or bad parameters; Internal when the random source or libargon2 fails.
Result<std::string> HashPassword(std::string_view password, const PasswordParams& params);

// true when `password` matches `encoded`, false when it does not. InvalidArgument for an empty
// or oversized password; DataLoss when `encoded` is not an Argon2id PHC string within bounds.
Result<bool> VerifyPassword(std::string_view password, std::string_view encoded);

// The parameters recorded in `encoded`; DataLoss when it is not an Argon2id v=19 PHC string.
Result<PasswordParams> ParsePasswordHash(std::string_view encoded);

// true when `encoded` was not made with exactly `params` (or does not parse): the caller should
// store a fresh hash the next time it holds the password.
bool NeedsRehash(std::string_view encoded, const PasswordParams& params);

// How many Argon2 computations (hash or verify) this process has started: for tests that check
// a refusal cost no hashing, and for metrics.
uint64_t Argon2Computations();

}  // namespace custos::collector::access
