// collector/store/access_store.h: what sign-in keeps — accounts, console sessions and personal
// API tokens (issue 18). The rules (who may sign in, expiry, throttling) live in
// collector/access/accounts.h; this is storage only.
//
// One interface, engines by mechanism (SqliteAccessStore beside SqliteStore, same database file).
// Contract for every engine:
//  - Each call is one transaction.
//  - Thread-safe: any thread may call any method.
//  - Secrets never reach the store: sessions and tokens are found by the SHA-256 of their
//    secret (32 raw bytes), which is UNIQUE.
//  - Usernames are unique ignoring ASCII case; lookups by username ignore case too.
//  - Errors: NotFound for an unknown id or hash, AlreadyExists for a taken username or id,
//    otherwise the engine's storage errors (Unavailable when busy, ...).
// Schema: docs/storage.md ("Access tables").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"

namespace custos::collector::store {

// Account sources as stored.
inline constexpr std::string_view kAccountSourceLocal = "local";
inline constexpr std::string_view kAccountSourceLdap = "ldap";

struct AccountRecord {
  std::string id;  // "usr_<hex>"
  std::string username;
  std::string display_name;
  std::string email;
  uint8_t role_bits = 0;      // access::RoleSet::bits()
  std::string password_hash;  // PHC string (access/password.h); "" for LDAP-only accounts
  std::string source;         // kAccountSourceLocal or kAccountSourceLdap
  bool disabled = false;
  int64_t created_at_ns = 0;
  int64_t updated_at_ns = 0;
};

// A change to one account: the fields that are set are written, updated_at_ns becomes now.
struct AccountChange {
  std::optional<uint8_t> role_bits = {};
  std::optional<bool> disabled = {};
  std::optional<std::string> password_hash = {};
  // When set, the change applies only if the stored hash is still this one (FailedPrecondition
  // otherwise): a rehash at sign-in never overwrites a password set meanwhile.
  std::optional<std::string> expected_password_hash = {};
  // Revoke the account's live sessions in the same transaction.
  bool revoke_sessions = false;
};

struct SessionRecord {
  std::string id;  // public handle "ses_<hex>"; the cookie secret is not stored
  std::string csrf_sha256;
  std::string account;  // AccountRecord::id
  int64_t created_at_ns = 0;
  int64_t last_seen_ns = 0;
  int64_t expires_at_ns = 0;  // absolute expiry
  std::optional<int64_t> revoked_at_ns = {};
  std::string source_address;
};

struct PersonalTokenRecord {
  std::string id;     // "ptk_<hex>"
  std::string owner;  // AccountRecord::id
  std::string name;
  int64_t created_at_ns = 0;
  std::optional<int64_t> last_used_ns = {};
  std::optional<int64_t> expires_at_ns = {};
  std::optional<int64_t> revoked_at_ns = {};
};

class AccessStore {
 public:
  virtual ~AccessStore() = default;

  // ---- accounts ----
  virtual Status InsertAccount(const AccountRecord& account) = 0;  // AlreadyExists
  virtual Result<AccountRecord> GetAccount(std::string_view id) = 0;
  virtual Result<AccountRecord> FindAccountByUsername(std::string_view username) = 0;
  virtual Result<std::vector<AccountRecord>> ListAccounts() = 0;  // by username
  // NotFound; FailedPrecondition (AccountChange::expected_password_hash).
  virtual Status UpdateAccount(std::string_view id, const AccountChange& change,
                               int64_t now_ns) = 0;

  // ---- sessions ----
  virtual Status InsertSession(const SessionRecord& session, std::string_view secret_sha256) = 0;
  virtual Result<SessionRecord> FindSession(std::string_view secret_sha256) = 0;
  virtual Status TouchSession(std::string_view id, int64_t last_seen_ns) = 0;
  // Sets revoked_at_ns unless already revoked (the first revocation time is kept). NotFound.
  virtual Status RevokeSession(std::string_view id, int64_t now_ns) = 0;
  // Revokes the account's sessions not yet revoked; returns how many.
  virtual Result<uint32_t> RevokeSessionsOf(std::string_view account, int64_t now_ns) = 0;
  // Deletes sessions that expired or were revoked before `before_ns`; returns how many.
  virtual Result<uint32_t> DeleteSessionsEndedBefore(int64_t before_ns) = 0;

  // ---- personal tokens ----
  virtual Status InsertPersonalToken(const PersonalTokenRecord& token,
                                     std::string_view token_sha256) = 0;
  virtual Result<PersonalTokenRecord> FindPersonalToken(std::string_view token_sha256) = 0;
  virtual Result<PersonalTokenRecord> GetPersonalToken(std::string_view id) = 0;
  // All tokens, or the owner's, by creation time.
  virtual Result<std::vector<PersonalTokenRecord>> ListPersonalTokens(
      std::optional<std::string_view> owner) = 0;
  virtual Status TouchPersonalToken(std::string_view id, int64_t last_used_ns) = 0;
  // Sets revoked_at_ns unless already revoked. NotFound.
  virtual Status RevokePersonalToken(std::string_view id, int64_t now_ns) = 0;
};

}  // namespace custos::collector::store
