#include "collector/access/accounts.h"

#include <list>
#include <unordered_map>
#include <utility>

#include "common/crypto/crypto.h"

namespace custos::collector::access {
namespace {

// The one answer to every refused sign-in (see the contract: it must not tell which case).
constexpr const char* kSignInRefused = "accounts: sign in: wrong username or password";
constexpr size_t kRandomTokenChars = 43;  // crypto::RandomToken(32)
constexpr size_t kMaxAddressBytes = 64;
constexpr size_t kMaxTokenNameBytes = 64;
constexpr size_t kMaxDisplayNameBytes = 256;
constexpr size_t kMaxEmailBytes = 254;

bool IsUsernameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '@' || c == '-';
}

Status CheckUsername(std::string_view username) {
  if (username.empty() || username.size() > kMaxUsernameBytes) {
    return InvalidArgumentError("accounts: username: must be 1.." +
                                std::to_string(kMaxUsernameBytes) + " characters");
  }
  for (char c : username) {
    if (!IsUsernameChar(c)) {
      return InvalidArgumentError(
          "accounts: username: only letters, digits and . _ @ - are allowed");
    }
  }
  return OkStatus();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsBase64UrlToken(std::string_view s) {
  if (s.size() != kRandomTokenChars) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

Status CheckPrintable(std::string_view what, std::string_view value, size_t max_bytes,
                      bool allow_empty) {
  if ((!allow_empty && value.empty()) || value.size() > max_bytes) {
    return InvalidArgumentError("accounts: " + std::string(what) + ": must be " +
                                (allow_empty ? "0" : "1") + ".." + std::to_string(max_bytes) +
                                " bytes");
  }
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return InvalidArgumentError("accounts: " + std::string(what) +
                                  ": control characters are not allowed");
    }
  }
  return OkStatus();
}

Result<std::string> RandomId(std::string_view prefix, size_t bytes) {
  CUSTOS_ASSIGN_OR_RETURN(std::string raw, crypto::RandomBytes(bytes));
  return std::string(prefix) + crypto::HexEncode(raw);
}

Account ToAccount(const store::AccountRecord& r) {
  return Account{.id = r.id,
                 .username = r.username,
                 .display_name = r.display_name,
                 .email = r.email,
                 .roles = RoleSet::FromBits(r.role_bits),
                 .source = r.source,
                 .disabled = r.disabled,
                 .created_at_ns = r.created_at_ns,
                 .updated_at_ns = r.updated_at_ns};
}

PersonalToken ToToken(const store::PersonalTokenRecord& r) {
  return PersonalToken{.id = r.id,
                       .owner = r.owner,
                       .name = r.name,
                       .created_at_ns = r.created_at_ns,
                       .last_used_ns = r.last_used_ns,
                       .expires_at_ns = r.expires_at_ns,
                       .revoked_at_ns = r.revoked_at_ns};
}

int64_t Ns(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

// Failures per key in fixed windows: a key's window starts at its first failure and lasts
// `window`; at `limit` failures the key is refused until the window ends. Entries are kept in
// order of window start, so the oldest is evicted first when the map is full and expired ones
// are dropped from the front. Not thread-safe (Accounts holds throttle_mu_).
class Accounts::FailureCounts {
 public:
  FailureCounts(uint32_t limit, int64_t window_ns, size_t max_entries)
      : limit_(limit), window_ns_(window_ns), max_entries_(max_entries) {}

  // Nanoseconds until `key` may try again; 0 when it may now.
  int64_t RefusedFor(const std::string& key, int64_t now) {
    DropExpired(now);
    auto it = index_.find(key);
    if (it == index_.end() || it->second->failures < limit_) return 0;
    return it->second->window_start + window_ns_ - now;
  }

  void Add(const std::string& key, int64_t now) {
    DropExpired(now);
    auto it = index_.find(key);
    if (it == index_.end()) {
      while (order_.size() >= max_entries_) {
        index_.erase(order_.front().key);
        order_.pop_front();
      }
      order_.push_back({key, now, 1});
      index_.emplace(key, std::prev(order_.end()));
      return;
    }
    ++it->second->failures;
  }

  void Refund(const std::string& key) {
    auto it = index_.find(key);
    if (it != index_.end() && it->second->failures > 0) --it->second->failures;
  }

  void Clear(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    order_.erase(it->second);
    index_.erase(it);
  }

 private:
  struct Entry {
    std::string key;
    int64_t window_start;
    uint32_t failures;
  };

  void DropExpired(int64_t now) {
    while (!order_.empty() && order_.front().window_start + window_ns_ <= now) {
      index_.erase(order_.front().key);
      order_.pop_front();
    }
  }

  const uint32_t limit_;
  const int64_t window_ns_;
  const size_t max_entries_;
  std::list<Entry> order_;  // by window_start
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

Result<std::unique_ptr<Accounts>> Accounts::Create(store::AccessStore* store, Clock* clock,
                                                   AccountsOptions options) {
  CUSTOS_CHECK(store != nullptr && clock != nullptr) << "Accounts needs a store and a clock";
  CUSTOS_RETURN_IF_ERROR(CheckPasswordParams(options.password_params));
  if (options.session_idle_timeout <= std::chrono::nanoseconds(0) ||
      options.session_lifetime <= std::chrono::nanoseconds(0) ||
      options.throttle_window <= std::chrono::nanoseconds(0)) {
    return InvalidArgumentError("accounts: options: timeouts and windows must be positive");
  }
  if (options.max_failures_per_username == 0 || options.max_failures_per_address == 0 ||
      options.throttle_max_entries == 0 || options.max_concurrent_password_checks == 0 ||
      options.min_password_bytes == 0 || options.min_password_bytes > kMaxPasswordBytes) {
    return InvalidArgumentError("accounts: options: limits must be positive");
  }
  // A password nobody knows, hashed with the current parameters: verifying against it costs
  // what verifying against a real account's hash costs.
  CUSTOS_ASSIGN_OR_RETURN(std::string nobody, crypto::RandomToken(32));
  CUSTOS_ASSIGN_OR_RETURN(std::string dummy, HashPassword(nobody, options.password_params));
  return std::unique_ptr<Accounts>(new Accounts(store, clock, options, std::move(dummy)));
}

Accounts::Accounts(store::AccessStore* store, Clock* clock, AccountsOptions options,
                   std::string dummy_hash)
    : store_(store),
      clock_(clock),
      options_(options),
      dummy_hash_(std::move(dummy_hash)),
      by_username_(std::make_unique<FailureCounts>(options.max_failures_per_username,
                                                   Ns(options.throttle_window),
                                                   options.throttle_max_entries)),
      by_address_(std::make_unique<FailureCounts>(options.max_failures_per_address,
                                                  Ns(options.throttle_window),
                                                  options.throttle_max_entries)) {}

Accounts::~Accounts() = default;

// ---- accounts ----------------------------------------------------------------------------

Result<Account> Accounts::CreateAccount(const NewAccount& a) {
  CUSTOS_RETURN_IF_ERROR(CheckUsername(a.username));
  CUSTOS_RETURN_IF_ERROR(CheckPrintable("display name", a.display_name, kMaxDisplayNameBytes,
                                        /*allow_empty=*/true));
  CUSTOS_RETURN_IF_ERROR(CheckPrintable("email", a.email, kMaxEmailBytes, /*allow_empty=*/true));
  store::AccountRecord r;
  if (a.password) {
    if (a.password->size() < options_.min_password_bytes) {
      return InvalidArgumentError("accounts: password: shorter than " +
                                  std::to_string(options_.min_password_bytes) + " bytes");
    }
    CUSTOS_ASSIGN_OR_RETURN(r.password_hash, HashPassword(*a.password, options_.password_params));
    r.source = store::kAccountSourceLocal;
  } else {
    r.source = store::kAccountSourceLdap;
  }
  CUSTOS_ASSIGN_OR_RETURN(r.id, RandomId("usr_", 8));
  r.username = a.username;
  r.display_name = a.display_name;
  r.email = a.email;
  r.role_bits = a.roles.bits();
  r.created_at_ns = r.updated_at_ns = clock_->NowUnixNs();
  CUSTOS_RETURN_IF_ERROR(store_->InsertAccount(r));
  return ToAccount(r);
}

Result<std::vector<Account>> Accounts::ListAccounts() {
  CUSTOS_ASSIGN_OR_RETURN(auto records, store_->ListAccounts());
  std::vector<Account> out;
  out.reserve(records.size());
  for (const auto& r : records) out.push_back(ToAccount(r));
  return out;
}

Result<Account> Accounts::GetAccount(std::string_view id) {
  CUSTOS_ASSIGN_OR_RETURN(auto r, store_->GetAccount(id));
  return ToAccount(r);
}

Result<Account> Accounts::FindByUsername(std::string_view username) {
  CUSTOS_ASSIGN_OR_RETURN(auto r, store_->FindAccountByUsername(username));
  return ToAccount(r);
}

Status Accounts::SetRoles(std::string_view id, RoleSet roles) {
  return store_->UpdateAccount(id, {.role_bits = roles.bits()}, clock_->NowUnixNs());
}

Status Accounts::SetDisabled(std::string_view id, bool disabled) {
  return store_->UpdateAccount(id, {.disabled = disabled, .revoke_sessions = disabled},
                               clock_->NowUnixNs());
}

Status Accounts::SetPassword(std::string_view id, std::string_view password) {
  if (password.size() < options_.min_password_bytes) {
    return InvalidArgumentError("accounts: password: shorter than " +
                                std::to_string(options_.min_password_bytes) + " bytes");
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string hash, HashPassword(password, options_.password_params));
  return store_->UpdateAccount(id, {.password_hash = std::move(hash), .revoke_sessions = true},
                               clock_->NowUnixNs());
}

// ---- sign-in -----------------------------------------------------------------------------

Result<SignInResult> Accounts::SignIn(std::string_view username, std::string_view password,
                                      std::string_view source_address,
                                      int64_t* retry_after_seconds) {
  if (retry_after_seconds) *retry_after_seconds = 0;
  CUSTOS_RETURN_IF_ERROR(CheckUsername(username));
  if (password.empty() || password.size() > kMaxPasswordBytes) {
    return InvalidArgumentError("accounts: sign in: password must be 1.." +
                                std::to_string(kMaxPasswordBytes) + " bytes");
  }
  const std::string user_key = Lower(username);
  const std::string address_key(source_address.substr(0, kMaxAddressBytes));

  // A slot first: each check holds password_params.memory_kib while it runs.
  if (password_checks_running_.fetch_add(1) >= options_.max_concurrent_password_checks) {
    password_checks_running_.fetch_sub(1);
    throttled_.fetch_add(1, std::memory_order_relaxed);
    if (retry_after_seconds) *retry_after_seconds = 1;
    return UnavailableError("accounts: sign in: too many sign-ins at once; retry in 1 s");
  }
  struct Slot {
    std::atomic<uint32_t>* running;
    ~Slot() { running->fetch_sub(1); }
  } slot{&password_checks_running_};

  CUSTOS_RETURN_IF_ERROR(ReserveAttempt(user_key, address_key, retry_after_seconds));

  auto account = store_->FindAccountByUsername(username);
  if (!account.ok() && account.status().code() != StatusCode::kNotFound) {
    SettleAttempt(user_key, address_key, /*succeeded=*/false);
    return account.status();
  }
  if (options_.external && (!account.ok() || account->source == store::kAccountSourceLdap)) {
    return SignInExternally(account.ok() ? &*account : nullptr, username, password, user_key,
                            address_key, source_address);
  }
  const bool has_hash = account.ok() && !account->password_hash.empty();
  auto match = VerifyPassword(password, has_hash ? account->password_hash : dummy_hash_);
  if (!match.ok() && match.status().code() != StatusCode::kDataLoss) {
    SettleAttempt(user_key, address_key, /*succeeded=*/false);
    return match.status();
  }
  // A stored hash that does not parse is a refusal like any other (and never a way in).
  if (!has_hash || !match.ok() || !*match || account->disabled) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    return PermissionDeniedError(kSignInRefused);
  }
  SettleAttempt(user_key, address_key, /*succeeded=*/true);
  MaybeRehash(*account, password);
  CUSTOS_ASSIGN_OR_RETURN(SignInResult result, StartSession(*account, source_address));
  succeeded_.fetch_add(1, std::memory_order_relaxed);
  return result;
}

Result<SignInResult> Accounts::SignInExternally(
    const store::AccountRecord* existing, std::string_view username, std::string_view password,
    const std::string& user_key, const std::string& address_key, std::string_view source_address) {
  auto identity = options_.external(username, password);
  if (!identity.ok()) {
    if (identity.status().code() == StatusCode::kPermissionDenied) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      return PermissionDeniedError(kSignInRefused);
    }
    // The directory is down or misconfigured: not the person's failure.
    SettleAttempt(user_key, address_key, /*succeeded=*/false);
    return identity.status();
  }
  if (existing != nullptr && existing->disabled) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    return PermissionDeniedError(kSignInRefused);
  }
  store::AccountRecord account;
  if (existing == nullptr) {
    auto created = CreateAccount({.username = identity->username,
                                  .display_name = identity->display_name,
                                  .email = identity->email,
                                  .roles = identity->roles});
    if (!created.ok()) {
      SettleAttempt(user_key, address_key, /*succeeded=*/false);
      return created.status();
    }
    auto stored = store_->GetAccount(created->id);
    if (!stored.ok()) return stored.status();
    account = std::move(*stored);
  } else {
    account = *existing;
    if (account.role_bits != identity->roles.bits()) {
      CUSTOS_RETURN_IF_ERROR(SetRoles(account.id, identity->roles));
      account.role_bits = identity->roles.bits();
    }
  }
  SettleAttempt(user_key, address_key, /*succeeded=*/true);
  CUSTOS_ASSIGN_OR_RETURN(SignInResult result, StartSession(account, source_address));
  succeeded_.fetch_add(1, std::memory_order_relaxed);
  return result;
}

Status Accounts::ReserveAttempt(const std::string& user_key, const std::string& address_key,
                                int64_t* retry_after_seconds) {
  std::lock_guard<std::mutex> l(throttle_mu_);
  const int64_t now = clock_->SteadyNow().time_since_epoch().count();
  const int64_t wait_ns =
      std::max(by_username_->RefusedFor(user_key, now), by_address_->RefusedFor(address_key, now));
  if (wait_ns > 0) {
    throttled_.fetch_add(1, std::memory_order_relaxed);
    const int64_t seconds = (wait_ns + 999'999'999) / 1'000'000'000;
    if (retry_after_seconds) *retry_after_seconds = seconds;
    return ResourceExhaustedError("accounts: sign in: too many failed attempts; retry in " +
                                  std::to_string(seconds) + " s");
  }
  // Counted as a failure now and settled afterwards: concurrent guesses cannot overshoot the
  // limit by all passing the check before any of them has failed.
  by_username_->Add(user_key, now);
  by_address_->Add(address_key, now);
  return OkStatus();
}

void Accounts::SettleAttempt(const std::string& user_key, const std::string& address_key,
                             bool succeeded) {
  std::lock_guard<std::mutex> l(throttle_mu_);
  if (succeeded) {
    by_username_->Clear(user_key);
  } else {
    by_username_->Refund(user_key);
  }
  // Never cleared by a success: an attacker holding one account must not be able to reset the
  // count of the address they guess others' passwords from.
  by_address_->Refund(address_key);
}

void Accounts::MaybeRehash(const store::AccountRecord& account, std::string_view password) {
  if (!NeedsRehash(account.password_hash, options_.password_params)) return;
  auto fresh = HashPassword(password, options_.password_params);
  if (!fresh.ok()) return;  // the old hash still works; try again at the next sign-in
  // Only if the password was not changed meanwhile; a failure leaves the old, valid hash.
  store_
      ->UpdateAccount(
          account.id,
          {.password_hash = std::move(*fresh), .expected_password_hash = account.password_hash},
          clock_->NowUnixNs())
      .IgnoreError();
}

Result<SignInResult> Accounts::StartSession(const store::AccountRecord& account,
                                            std::string_view source_address) {
  SignInResult out;
  CUSTOS_ASSIGN_OR_RETURN(out.session_cookie_secret, crypto::RandomToken(32));
  CUSTOS_ASSIGN_OR_RETURN(out.csrf_token, crypto::RandomToken(32));
  store::SessionRecord s;
  CUSTOS_ASSIGN_OR_RETURN(s.id, RandomId("ses_", 16));
  s.csrf_sha256 = crypto::Sha256(out.csrf_token);
  s.account = account.id;
  const int64_t now = clock_->NowUnixNs();
  s.created_at_ns = s.last_seen_ns = now;
  s.expires_at_ns = now + Ns(options_.session_lifetime);
  s.source_address = std::string(source_address.substr(0, kMaxAddressBytes));
  CUSTOS_RETURN_IF_ERROR(store_->InsertSession(s, crypto::Sha256(out.session_cookie_secret)));
  out.principal = Principal{.via = Principal::Via::kSession,
                            .id = account.id,
                            .name = account.username,
                            .roles = RoleSet::FromBits(account.role_bits),
                            .session_id = s.id,
                            .csrf_sha256 = s.csrf_sha256};
  out.expires_at_ns = s.expires_at_ns;
  out.idle_expires_at_ns = std::min(s.expires_at_ns, now + Ns(options_.session_idle_timeout));
  return out;
}

// ---- sessions ----------------------------------------------------------------------------

Result<Principal> Accounts::AuthenticateSession(std::string_view cookie_secret) {
  if (cookie_secret.size() > kMaxSecretBytes || !IsBase64UrlToken(cookie_secret)) {
    return InvalidArgumentError("accounts: session: malformed cookie");
  }
  auto session = store_->FindSession(crypto::Sha256(cookie_secret));
  if (!session.ok()) {
    if (session.status().code() == StatusCode::kNotFound) {
      return PermissionDeniedError("accounts: session: not signed in");
    }
    return session.status();
  }
  const int64_t now = clock_->NowUnixNs();
  if (session->revoked_at_ns) return PermissionDeniedError("accounts: session: signed out");
  if (now >= session->expires_at_ns) return PermissionDeniedError("accounts: session: expired");
  if (now - session->last_seen_ns >= Ns(options_.session_idle_timeout)) {
    return PermissionDeniedError("accounts: session: expired after inactivity");
  }
  CUSTOS_ASSIGN_OR_RETURN(store::AccountRecord account, store_->GetAccount(session->account));
  if (account.disabled) return PermissionDeniedError("accounts: session: account disabled");
  if (now - session->last_seen_ns >= Ns(options_.session_touch_interval)) {
    // A failed touch only shortens the idle window; the request itself is authentic.
    store_->TouchSession(session->id, now).IgnoreError();
  }
  return Principal{.via = Principal::Via::kSession,
                   .id = account.id,
                   .name = account.username,
                   .roles = RoleSet::FromBits(account.role_bits),
                   .session_id = session->id,
                   .csrf_sha256 = session->csrf_sha256};
}

Status Accounts::CheckCsrf(const Principal& principal, std::string_view presented_token) const {
  if (principal.via != Principal::Via::kSession) return OkStatus();
  if (presented_token.size() > kMaxSecretBytes || !IsBase64UrlToken(presented_token)) {
    return PermissionDeniedError("accounts: CSRF token missing or malformed");
  }
  if (principal.csrf_sha256.empty() ||
      !crypto::ConstantTimeEquals(crypto::Sha256(presented_token), principal.csrf_sha256)) {
    return PermissionDeniedError("accounts: CSRF token does not match the session");
  }
  return OkStatus();
}

Status Accounts::SignOut(std::string_view session_id) {
  return store_->RevokeSession(session_id, clock_->NowUnixNs());
}

Result<uint32_t> Accounts::RevokeSessionsOf(std::string_view account_id) {
  return store_->RevokeSessionsOf(account_id, clock_->NowUnixNs());
}

Result<uint32_t> Accounts::PruneSessions() {
  return store_->DeleteSessionsEndedBefore(clock_->NowUnixNs() - kNanosPerDay);
}

// ---- personal tokens ---------------------------------------------------------------------

Result<NewPersonalToken> Accounts::CreatePersonalToken(const Principal& by,
                                                       std::string_view owner_id,
                                                       std::string_view name,
                                                       std::optional<int64_t> expires_at_ns) {
  if (by.id != owner_id && !by.roles.Has(Role::kAdmin)) {
    return PermissionDeniedError(
        "accounts: personal token: only its owner or an admin may "
        "create it");
  }
  CUSTOS_RETURN_IF_ERROR(CheckPrintable("token name", name, kMaxTokenNameBytes,
                                        /*allow_empty=*/false));
  const int64_t now = clock_->NowUnixNs();
  if (expires_at_ns && *expires_at_ns <= now) {
    return InvalidArgumentError("accounts: personal token: expiry is not in the future");
  }
  CUSTOS_ASSIGN_OR_RETURN(store::AccountRecord owner, store_->GetAccount(owner_id));
  if (owner.disabled) {
    return FailedPreconditionError("accounts: account " + owner.id + ": disabled");
  }
  NewPersonalToken out;
  CUSTOS_ASSIGN_OR_RETURN(std::string random, crypto::RandomToken(32));
  out.secret = std::string(kPersonalTokenPrefix) + random;
  CUSTOS_ASSIGN_OR_RETURN(out.id, RandomId("ptk_", 8));
  out.expires_at_ns = expires_at_ns;
  store::PersonalTokenRecord r{.id = out.id,
                               .owner = owner.id,
                               .name = std::string(name),
                               .created_at_ns = now,
                               .expires_at_ns = expires_at_ns};
  CUSTOS_RETURN_IF_ERROR(store_->InsertPersonalToken(r, crypto::Sha256(out.secret)));
  return out;
}

Result<std::vector<PersonalToken>> Accounts::ListPersonalTokens(
    std::optional<std::string_view> owner_id) {
  CUSTOS_ASSIGN_OR_RETURN(auto records, store_->ListPersonalTokens(owner_id));
  std::vector<PersonalToken> out;
  out.reserve(records.size());
  for (const auto& r : records) out.push_back(ToToken(r));
  return out;
}

Status Accounts::RevokePersonalToken(const Principal& by, std::string_view token_id) {
  CUSTOS_ASSIGN_OR_RETURN(store::PersonalTokenRecord token, store_->GetPersonalToken(token_id));
  if (by.id != token.owner && !by.roles.Has(Role::kAdmin)) {
    return PermissionDeniedError("accounts: personal token " + token.id +
                                 ": only its owner or an admin may revoke it");
  }
  return store_->RevokePersonalToken(token.id, clock_->NowUnixNs());
}

Result<Principal> Accounts::AuthenticateToken(std::string_view secret) {
  if (secret.size() > kMaxSecretBytes || !secret.starts_with(kPersonalTokenPrefix) ||
      !IsBase64UrlToken(secret.substr(kPersonalTokenPrefix.size()))) {
    return InvalidArgumentError("accounts: personal token: malformed");
  }
  auto token = store_->FindPersonalToken(crypto::Sha256(secret));
  if (!token.ok()) {
    if (token.status().code() == StatusCode::kNotFound) {
      return PermissionDeniedError("accounts: personal token: unknown");
    }
    return token.status();
  }
  const int64_t now = clock_->NowUnixNs();
  if (token->revoked_at_ns) return PermissionDeniedError("accounts: personal token: revoked");
  if (token->expires_at_ns && now >= *token->expires_at_ns) {
    return PermissionDeniedError("accounts: personal token: expired");
  }
  CUSTOS_ASSIGN_OR_RETURN(store::AccountRecord owner, store_->GetAccount(token->owner));
  if (owner.disabled) return PermissionDeniedError("accounts: personal token: owner disabled");
  if (!token->last_used_ns || now - *token->last_used_ns >= Ns(options_.session_touch_interval)) {
    store_->TouchPersonalToken(token->id, now).IgnoreError();
  }
  return Principal{.via = Principal::Via::kPersonalToken,
                   .id = owner.id,
                   .name = owner.username,
                   .roles = RoleSet::FromBits(owner.role_bits)};
}

SignInCounters Accounts::counters() const {
  return SignInCounters{.succeeded = succeeded_.load(std::memory_order_relaxed),
                        .failed = failed_.load(std::memory_order_relaxed),
                        .throttled = throttled_.load(std::memory_order_relaxed)};
}

}  // namespace custos::collector::access
