#include "collector/access/password.h"

#include <argon2.h>

#include <atomic>
#include <charconv>
#include <vector>

#include "common/crypto/crypto.h"

namespace custos::collector::access {
namespace {

constexpr uint32_t kSaltBytes = 16;
constexpr uint32_t kHashBytes = 32;
constexpr uint32_t kMaxMemoryKib = 1u << 20;  // 1 GiB
constexpr uint32_t kMaxIterations = 16;
constexpr uint32_t kMaxParallelism = 16;
// A stored hash longer than this is not one of ours (ours are ~100 bytes).
constexpr size_t kMaxEncodedBytes = 512;

std::atomic<uint64_t> argon2_computations{0};

Status CheckPassword(std::string_view password) {
  if (password.empty()) return InvalidArgumentError("password: empty");
  if (password.size() > kMaxPasswordBytes) {
    return InvalidArgumentError("password: longer than " + std::to_string(kMaxPasswordBytes) +
                                " bytes");
  }
  return OkStatus();
}

// "name=<decimal>" -> value.
bool ParseField(std::string_view field, std::string_view name, uint32_t* out) {
  if (field.size() <= name.size() + 1 || field.substr(0, name.size()) != name ||
      field[name.size()] != '=') {
    return false;
  }
  std::string_view digits = field.substr(name.size() + 1);
  if (digits.size() > 10 || (digits.size() > 1 && digits[0] == '0')) return false;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *out);
  return ec == std::errc() && p == digits.data() + digits.size();
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t i = s.find(sep, start);
    out.push_back(s.substr(start, i == std::string_view::npos ? i : i - start));
    if (i == std::string_view::npos) return out;
    start = i + 1;
  }
}

}  // namespace

Status CheckPasswordParams(const PasswordParams& p) {
  if (p.parallelism < 1 || p.parallelism > kMaxParallelism) {
    return InvalidArgumentError("password: parallelism " + std::to_string(p.parallelism) +
                                " outside 1.." + std::to_string(kMaxParallelism));
  }
  if (p.iterations < 1 || p.iterations > kMaxIterations) {
    return InvalidArgumentError("password: iterations " + std::to_string(p.iterations) +
                                " outside 1.." + std::to_string(kMaxIterations));
  }
  // libargon2 needs at least 8 KiB per lane.
  if (p.memory_kib < 8 * p.parallelism || p.memory_kib > kMaxMemoryKib) {
    return InvalidArgumentError("password: memory " + std::to_string(p.memory_kib) +
                                " KiB outside " + std::to_string(8 * p.parallelism) + ".." +
                                std::to_string(kMaxMemoryKib));
  }
  return OkStatus();
}

Result<std::string> HashPassword(std::string_view password, const PasswordParams& params) {
  CUSTOS_RETURN_IF_ERROR(CheckPassword(password));
  CUSTOS_RETURN_IF_ERROR(CheckPasswordParams(params));
  auto salt = crypto::RandomBytes(kSaltBytes);
  if (!salt.ok()) return InternalError("password: salt: " + salt.status().message());
  std::string encoded(argon2_encodedlen(params.iterations, params.memory_kib, params.parallelism,
                                        kSaltBytes, kHashBytes, Argon2_id),
                      '\0');
  argon2_computations.fetch_add(1, std::memory_order_relaxed);
  int rc = argon2id_hash_encoded(params.iterations, params.memory_kib, params.parallelism,
                                 password.data(), password.size(), salt->data(), salt->size(),
                                 kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return InternalError(std::string("password: argon2id: ") + argon2_error_message(rc));
  }
  encoded.resize(encoded.find('\0'));
  return encoded;
}

Result<PasswordParams> ParsePasswordHash(std::string_view encoded) {
  auto bad = [] { return DataLossError("password: stored hash is not an Argon2id PHC string"); };
  if (encoded.size() > kMaxEncodedBytes) return bad();
  // "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
  std::vector<std::string_view> parts = Split(encoded, '$');
  if (parts.size() != 6 || !parts[0].empty() || parts[1] != "argon2id" || parts[2] != "v=19" ||
      parts[4].empty() || parts[5].empty()) {
    return bad();
  }
  std::vector<std::string_view> fields = Split(parts[3], ',');
  PasswordParams p;
  if (fields.size() != 3 || !ParseField(fields[0], "m", &p.memory_kib) ||
      !ParseField(fields[1], "t", &p.iterations) || !ParseField(fields[2], "p", &p.parallelism)) {
    return bad();
  }
  return p;
}

Result<bool> VerifyPassword(std::string_view password, std::string_view encoded) {
  CUSTOS_RETURN_IF_ERROR(CheckPassword(password));
  CUSTOS_ASSIGN_OR_RETURN(PasswordParams p, ParsePasswordHash(encoded));
  if (Status s = CheckPasswordParams(p); !s.ok()) {
    return DataLossError("password: stored hash: " + s.message());
  }
  const std::string z(encoded);  // libargon2 wants a NUL-terminated string
  argon2_computations.fetch_add(1, std::memory_order_relaxed);
  int rc = argon2id_verify(z.c_str(), password.data(), password.size());
  if (rc == ARGON2_OK) return true;
  if (rc == ARGON2_VERIFY_MISMATCH) return false;
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) {
    return ResourceExhaustedError("password: argon2id: out of memory");
  }
  return DataLossError(std::string("password: stored hash: ") + argon2_error_message(rc));
}

bool NeedsRehash(std::string_view encoded, const PasswordParams& params) {
  auto p = ParsePasswordHash(encoded);
  return !p.ok() || !(*p == params);
}

uint64_t Argon2Computations() { return argon2_computations.load(std::memory_order_relaxed); }

}  // namespace custos::collector::access
