// collector/access/accounts.h: accounts, sign-in, console sessions with CSRF tokens, personal
// API tokens and sign-in throttling (issue 18). The front door of the access module's
// authentication; the HTTPS API translates requests to these calls and their results to JSON.
//
// Contract:
//  - Ownership: Accounts borrows `store` and `clock`, which must outlive it. It keeps only the
//    throttling counters in memory; everything else is in the AccessStore.
//  - Threading: every method may be called from any thread concurrently.
//  - Secrets: the session cookie secret, the CSRF token and a personal token's secret are
//    returned exactly once (by SignIn / CreatePersonalToken) and stored only as SHA-256.
//    Passwords are stored as Argon2id PHC strings (password.h).
//  - Bounded input: usernames over 64 bytes, passwords over 1024 bytes, cookies, CSRF and
//    personal tokens over 256 bytes or not of their shape are refused with InvalidArgument
//    before any hashing or storage access (a malformed secret is never a valid one, so telling
//    it apart reveals nothing).
//  - Errors: PermissionDenied for every authentication refusal (the codebase has no
//    Unauthenticated; the API maps these to 401). SignIn gives ONE message for an unknown
//    username, a wrong password, a disabled account and an LDAP-only account, and runs Argon2
//    once in each case (against a fixed dummy hash when there is no stored one), so neither the
//    answer nor its timing tells whether an account exists. ResourceExhausted when sign-in is
//    throttled (retry_after_seconds set), Unavailable when too many password checks are
//    running (retry_after_seconds = 1). InvalidArgument for bad input, NotFound for unknown
//    ids, AlreadyExists for a taken username, storage errors as the store returns them.
//  - Throttling: failed sign-ins are counted per username (lower-cased) and per source address
//    in fixed windows. Once a key reaches its limit, attempts are refused without running Argon2
//    until its window ends, so a flood costs no CPU. Each map holds at most
//    `throttle_max_entries` keys, evicting the oldest window first: memory stays bounded
//    however many usernames an attacker sprays (the per-address limit still applies to them).
//    A success clears its username's count, never its address's.
//  - Sessions: refused once revoked (SignOut, RevokeSessionsOf, SetDisabled, SetPassword), idle
//    for `session_idle_timeout`, past `session_lifetime` from sign-in, or when the account is
//    disabled. Roles are read from the account at every authentication, so a role change takes
//    effect on the next request without ending sessions. last_seen (and a personal token's
//    last_used) is written at most once a `session_touch_interval`, so the idle timeout runs
//    from a use up to that much earlier than the last one.
//  - Audit: this module appends nothing to the audit log; the API layer audits the changes it
//    makes through it (actor from Principal::Actor()). No secret is ever in an error message.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/access/password.h"
#include "collector/access/roles.h"
#include "collector/store/access_store.h"
#include "common/status/status.h"
#include "common/time/clock.h"

namespace custos::collector::access {

inline constexpr size_t kMaxUsernameBytes = 64;
inline constexpr size_t kMaxSecretBytes = 256;
// A personal token's secret is this prefix and 43 base64url characters (32 random bytes).
inline constexpr std::string_view kPersonalTokenPrefix = "cus_pat_";

// Who a directory (LDAP) says a person is, once it has checked their password.
struct ExternalIdentity {
  std::string username = {};  // in the directory's spelling
  std::string display_name = {};
  std::string email = {};
  RoleSet roles = {};  // from the person's groups; never empty on success
};
// Checks a username and password against a directory: PermissionDenied when they do not match
// (one message for unknown user and wrong password), Unavailable when it cannot be reached.
using ExternalVerifier =
    std::function<Result<ExternalIdentity>(std::string_view username, std::string_view password)>;

struct AccountsOptions {
  std::chrono::nanoseconds session_idle_timeout = std::chrono::minutes(30);
  std::chrono::nanoseconds session_lifetime = std::chrono::hours(12);  // absolute, from sign-in
  std::chrono::nanoseconds session_touch_interval = std::chrono::minutes(1);
  PasswordParams password_params = {};
  // For new passwords (CreateAccount, SetPassword); sign-in accepts any stored password.
  size_t min_password_bytes = 8;
  // Throttling (see the contract above).
  std::chrono::nanoseconds throttle_window = std::chrono::minutes(15);
  uint32_t max_failures_per_username = 5;
  uint32_t max_failures_per_address = 20;
  size_t throttle_max_entries = 10'000;
  // Password checks running at once (each holds password_params.memory_kib).
  uint32_t max_concurrent_password_checks = 4;
  // Optional directory sign-in (LDAP). Used for usernames with no local account and for
  // accounts it created (source "ldap"); a local account always signs in with its own
  // password, so the first admin keeps working when the directory is down. The account is
  // created at the first sign-in and its roles follow the directory's groups at every sign-in.
  ExternalVerifier external = {};
};

// An account as the API shows it (never its password hash).
struct Account {
  std::string id = {};  // "usr_<16 hex>"
  std::string username = {};
  std::string display_name = {};
  std::string email = {};
  RoleSet roles = {};
  std::string source = {};  // "local" or "ldap"
  bool disabled = false;
  int64_t created_at_ns = 0;
  int64_t updated_at_ns = 0;
};

struct NewAccount {
  std::string username = {};  // 1..64 of [A-Za-z0-9._@-]; unique ignoring case
  std::string display_name = {};
  std::string email = {};
  RoleSet roles = {};
  // A local account's password; nullopt for an LDAP-only account (no local password).
  std::optional<std::string> password = {};
};

struct SignInResult {
  Principal principal = {};  // via kSession, session_id and csrf_sha256 filled
  // The cookie's value: 43 base64url characters. Set it HttpOnly, Secure, SameSite=Strict.
  std::string session_cookie_secret = {};
  // Given to the console once; every state-changing request with the cookie presents it.
  std::string csrf_token = {};
  int64_t expires_at_ns = 0;       // absolute end of the session
  int64_t idle_expires_at_ns = 0;  // end if unused; moves forward as the session is used
};

struct NewPersonalToken {
  std::string id = {};      // "ptk_<16 hex>"
  std::string secret = {};  // kPersonalTokenPrefix + 43 base64url characters; shown once
  std::optional<int64_t> expires_at_ns = {};
};

struct PersonalToken {
  std::string id = {};
  std::string owner = {};  // account id
  std::string name = {};
  int64_t created_at_ns = 0;
  std::optional<int64_t> last_used_ns = {};
  std::optional<int64_t> expires_at_ns = {};
  std::optional<int64_t> revoked_at_ns = {};
};

// What sign-in has done since start (monotonic; for /metrics and tests).
struct SignInCounters {
  uint64_t succeeded = 0;
  uint64_t failed = 0;  // wrong password, unknown or disabled account
  // Refused without checking the password: over a failure limit (ResourceExhausted) or over
  // max_concurrent_password_checks (Unavailable).
  uint64_t throttled = 0;
};

class Accounts {
 public:
  // InvalidArgument for bad options; Internal when the dummy hash cannot be made.
  static Result<std::unique_ptr<Accounts>> Create(store::AccessStore* store, Clock* clock,
                                                  AccountsOptions options = {});
  ~Accounts();
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // ---- accounts ----
  // InvalidArgument (username, lengths, password), AlreadyExists (username taken).
  Result<Account> CreateAccount(const NewAccount& account);
  Result<std::vector<Account>> ListAccounts();
  Result<Account> GetAccount(std::string_view id);
  // By username, ignoring case (as usernames are unique). NotFound.
  Result<Account> FindByUsername(std::string_view username);
  // Roles take effect at the account's next request; sessions stay.
  Status SetRoles(std::string_view id, RoleSet roles);
  // Disabling revokes the account's sessions in the same transaction; its personal tokens stay
  // but are refused while it is disabled.
  Status SetDisabled(std::string_view id, bool disabled);
  // Sets a local password (an LDAP account gains one) and revokes the account's sessions.
  Status SetPassword(std::string_view id, std::string_view password);

  // ---- sign-in and sessions ----
  // `source_address`: the client's IP address as text (at most 64 bytes kept). When refused by
  // throttling or load, `*retry_after_seconds` (if given) is set to when to try again, else 0.
  Result<SignInResult> SignIn(std::string_view username, std::string_view password,
                              std::string_view source_address,
                              int64_t* retry_after_seconds = nullptr);
  Result<Principal> AuthenticateSession(std::string_view cookie_secret);
  // Ok when `principal` did not come from a session (bearer tokens are never sent by a browser
  // on its own) or `presented_token` is its session's CSRF token (constant-time compare);
  // PermissionDenied otherwise.
  Status CheckCsrf(const Principal& principal, std::string_view presented_token) const;
  // Revokes one session: the signed-in principal's own (Principal::session_id; the handle is not
  // a secret, so the API passes only the caller's own). NotFound.
  Status SignOut(std::string_view session_id);
  Result<uint32_t> RevokeSessionsOf(std::string_view account_id);
  // Deletes rows of sessions that ended more than a day ago; returns how many.
  Result<uint32_t> PruneSessions();

  // ---- personal tokens ----
  // `by` must be the owner or an admin (PermissionDenied). The owner must exist and not be
  // disabled; name 1..64 bytes of printable ASCII; expiry, when given, in the future.
  Result<NewPersonalToken> CreatePersonalToken(const Principal& by, std::string_view owner_id,
                                               std::string_view name,
                                               std::optional<int64_t> expires_at_ns);
  // The owner's tokens, or all when nullopt (secrets are never listed).
  Result<std::vector<PersonalToken>> ListPersonalTokens(std::optional<std::string_view> owner_id);
  // `by` must be the token's owner or an admin (PermissionDenied). NotFound.
  Status RevokePersonalToken(const Principal& by, std::string_view token_id);
  // The owner's principal (via kPersonalToken, the owner's current roles). PermissionDenied for
  // an unknown, revoked or expired token or a disabled owner.
  Result<Principal> AuthenticateToken(std::string_view secret);

  SignInCounters counters() const;

 private:
  class FailureCounts;
  Accounts(store::AccessStore* store, Clock* clock, AccountsOptions options,
           std::string dummy_hash);

  Result<SignInResult> StartSession(const store::AccountRecord& account,
                                    std::string_view source_address);
  Result<SignInResult> SignInExternally(const store::AccountRecord* existing,
                                        std::string_view username, std::string_view password,
                                        const std::string& user_key, const std::string& address_key,
                                        std::string_view source_address);
  // Refuses (ResourceExhausted) a throttled attempt, else counts it as a failure up front.
  Status ReserveAttempt(const std::string& user_key, const std::string& address_key,
                        int64_t* retry_after_seconds);
  // Undoes the up-front count of an attempt that did not fail (a success clears the username's
  // count) or that ended in a storage error.
  void SettleAttempt(const std::string& user_key, const std::string& address_key, bool succeeded);
  void MaybeRehash(const store::AccountRecord& account, std::string_view password);

  store::AccessStore* const store_;
  Clock* const clock_;
  const AccountsOptions options_;
  // Verified against when there is no stored hash, so every sign-in costs one Argon2 run.
  const std::string dummy_hash_;

  std::mutex throttle_mu_;
  std::unique_ptr<FailureCounts> by_username_;  // guarded by throttle_mu_
  std::unique_ptr<FailureCounts> by_address_;   // guarded by throttle_mu_
  std::atomic<uint32_t> password_checks_running_{0};

  std::atomic<uint64_t> succeeded_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> throttled_{0};
};

}  // namespace custos::collector::access
