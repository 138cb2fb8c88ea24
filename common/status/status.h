// custos::Status and custos::Result<T>: expected failures as values.
//
// Contract:
//  - Status is either ok() or carries a StatusCode and a message that reads
//    "context: object: reason" (e.g. "spool: open segment 000042: Permission denied").
//  - Result<T> holds a T or a non-ok Status (shaped like std::expected<T, Status>).
//  - Both are [[nodiscard]]; use CUSTOS_RETURN_IF_ERROR / CUSTOS_ASSIGN_OR_RETURN to propagate.
//  - Thread-safe as values (no shared state).
#pragma once

#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace custos {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: config, frames, CSV, flags
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,   // authn/authz, revoked, refused
  kResourceExhausted,  // caps, quotas, full spool
  kFailedPrecondition,
  kOutOfRange,
  kDataLoss,     // corruption detected in stored data
  kUnavailable,  // transient: retry may succeed
  kDeadlineExceeded,
  kInternal,
  kCancelled,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: config: /etc/custos/agent.yaml: key 'spool.max_bytes': not a size"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with "context: ".
  Status WithContext(std::string_view context) const;

  // Marks a status as deliberately ignored.
  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) {
  return {StatusCode::kInvalidArgument, std::move(m)};
}
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) {
  return {StatusCode::kAlreadyExists, std::move(m)};
}
inline Status PermissionDeniedError(std::string m) {
  return {StatusCode::kPermissionDenied, std::move(m)};
}
inline Status ResourceExhaustedError(std::string m) {
  return {StatusCode::kResourceExhausted, std::move(m)};
}
inline Status FailedPreconditionError(std::string m) {
  return {StatusCode::kFailedPrecondition, std::move(m)};
}
inline Status OutOfRangeError(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status CancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status DeadlineExceededError(std::string m) {
  return {StatusCode::kDeadlineExceeded, std::move(m)};
}

// An error from errno: "<context>: <strerror(errnum)>"; ENOENT maps to kNotFound,
// EACCES/EPERM to kPermissionDenied, ENOSPC/EDQUOT to kResourceExhausted, others kInternal.
Status ErrnoError(std::string_view context, int errnum);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok())
      v_ = Status(StatusCode::kInternal, "Result built from ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace custos

#define CUSTOS_STATUS_CONCAT_INNER_(a, b) a##b
#define CUSTOS_STATUS_CONCAT_(a, b) CUSTOS_STATUS_CONCAT_INNER_(a, b)

#define CUSTOS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::custos::Status custos_status_ = (expr);        \
    if (!custos_status_.ok()) return custos_status_; \
  } while (0)

#define CUSTOS_ASSIGN_OR_RETURN(lhs, expr) \
  CUSTOS_ASSIGN_OR_RETURN_IMPL_(CUSTOS_STATUS_CONCAT_(custos_result_, __LINE__), lhs, expr)
#define CUSTOS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

namespace custos::internal {
// Streams a message then aborts; used by CUSTOS_CHECK for invariants (never for bad input).
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond) {
    stream_ << file << ":" << line << ": CHECK failed: " << cond << ": ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << stream_.str() << std::endl;
    std::abort();
  }
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};
}  // namespace custos::internal

#define CUSTOS_CHECK(cond) \
  if (cond) {              \
  } else                   \
    ::custos::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()
