#include "collector/access/ldap_directory.h"

#include <ldap.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <utility>

namespace custos::collector::access {
namespace {

constexpr char kInvalidCredentials[] = "ldap: invalid username or password";

struct LdapUnbinder {
  void operator()(LDAP* ld) const { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
using LdapHandle = std::unique_ptr<LDAP, LdapUnbinder>;

struct LdapMessageFree {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using LdapMessagePtr = std::unique_ptr<LDAPMessage, LdapMessageFree>;

using RoleMap = std::vector<std::pair<std::string, RoleSet>>;

// libldap initialises its global options lazily on first use; doing that once, before any
// concurrent Authenticate, keeps the lazy initialisation off the racy path.
void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    int version = 0;
    ldap_get_option(nullptr, LDAP_OPT_PROTOCOL_VERSION, &version);
  });
}

std::string AsciiLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  });
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && AsciiLower(std::string(a)) == AsciiLower(std::string(b));
}

// "CN=Admins, OU=Groups,DC=x" and "cn=admins,ou=groups,dc=x" compare equal. Values are folded
// too: group names in directories are case-insensitive (cn, ou, dc are caseIgnoreMatch).
Result<std::string> NormalizeDn(std::string_view dn) {
  std::string in(dn);
  char* out = nullptr;
  if (ldap_dn_normalize(in.c_str(), LDAP_DN_FORMAT_LDAP, &out, LDAP_DN_FORMAT_LDAPV3) !=
          LDAP_SUCCESS ||
      out == nullptr) {
    return InvalidArgumentError("not a DN: '" + in + "'");
  }
  std::string normalized = AsciiLower(out);
  ldap_memfree(out);
  return normalized;
}

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// libldap's text for rc, with the connection's diagnostic message when it adds something
// ("Can't contact LDAP server (Connection refused)").
std::string Reason(LDAP* ld, int rc) {
  std::string reason = ldap_err2string(rc);
  char* diagnostic = nullptr;
  if (ld != nullptr &&
      ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic) == LDAP_OPT_SUCCESS &&
      diagnostic != nullptr) {
    const std::string_view d = diagnostic;
    if (!d.empty() && d != reason) {
      reason +=
          d.front() == '(' && d.back() == ')' ? " " + std::string(d) : " (" + std::string(d) + ")";
    }
    ldap_memfree(diagnostic);
  }
  return reason;
}

// Client-side failures to reach or hear from the server, and servers saying "try later".
bool IsTransient(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR ||
         rc == LDAP_BUSY || rc == LDAP_UNAVAILABLE || rc == LDAP_TIMELIMIT_EXCEEDED;
}

bool IsLdaps(const LdapOptions& o) { return AsciiLower(o.uri.substr(0, 8)) == "ldaps://"; }

// With ldaps://, libldap reports a failed TLS handshake (an untrusted certificate) exactly as an
// unreachable server; the hint saves the operator a packet capture.
Status TransientError(const LdapOptions& o, LDAP* ld, int rc) {
  std::string message = "ldap: " + o.uri + ": " + Reason(ld, rc);
  if (IsLdaps(o) && (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR)) {
    message +=
        " (server down, or the TLS handshake failed: is the server's certificate signed by " +
        (o.ca_file.empty() ? std::string("a CA in the system store")
                           : "ca_file '" + o.ca_file + "'") +
        " and issued for the host in uri?)";
  }
  return UnavailableError(std::move(message));
}

std::string ReplaceAll(std::string text, std::string_view token, std::string_view value) {
  for (size_t pos = text.find(token); pos != std::string::npos;
       pos = text.find(token, pos + value.size())) {
    text.replace(pos, token.size(), value);
  }
  return text;
}

template <typename T>
Status SetOption(LDAP* ld, int option, const T* value, std::string_view name) {
  if (ldap_set_option(ld, option, value) != LDAP_OPT_SUCCESS) {
    return FailedPreconditionError("ldap: libldap refused option " + std::string(name));
  }
  return OkStatus();
}

Result<LdapHandle> Connect(const LdapOptions& o) {
  InitLibraryOnce();
  LDAP* raw = nullptr;
  int rc = ldap_initialize(&raw, o.uri.c_str());
  if (rc != LDAP_SUCCESS || raw == nullptr) {
    return InvalidArgumentError("ldap: uri '" + o.uri + "': " + ldap_err2string(rc));
  }
  LdapHandle ld(raw);
  const int version = LDAP_VERSION3;
  CUSTOS_RETURN_IF_ERROR(SetOption(ld.get(), LDAP_OPT_PROTOCOL_VERSION, &version, "version"));
  // A referral could send the user's password to another server.
  CUSTOS_RETURN_IF_ERROR(SetOption(ld.get(), LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals"));
  const timeval tv = ToTimeval(o.timeout);
  CUSTOS_RETURN_IF_ERROR(SetOption(ld.get(), LDAP_OPT_NETWORK_TIMEOUT, &tv, "network timeout"));
  CUSTOS_RETURN_IF_ERROR(SetOption(ld.get(), LDAP_OPT_TIMEOUT, &tv, "timeout"));

  if (IsLdaps(o) || o.start_tls) {
    // Per-connection TLS settings (NEWCTX below), never libldap's process-wide defaults.
    const int demand = LDAP_OPT_X_TLS_DEMAND;
    CUSTOS_RETURN_IF_ERROR(
        SetOption(ld.get(), LDAP_OPT_X_TLS_REQUIRE_CERT, &demand, "TLS require cert"));
    const int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    CUSTOS_RETURN_IF_ERROR(
        SetOption(ld.get(), LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12, "TLS protocol min"));
    if (!o.ca_file.empty()) {
      CUSTOS_RETURN_IF_ERROR(
          SetOption(ld.get(), LDAP_OPT_X_TLS_CACERTFILE, o.ca_file.c_str(), "TLS CA file"));
    }
    const int is_server = 0;
    if (ldap_set_option(ld.get(), LDAP_OPT_X_TLS_NEWCTX, &is_server) != LDAP_OPT_SUCCESS) {
      return FailedPreconditionError("ldap: TLS settings (ca_file '" + o.ca_file +
                                     "'): " + Reason(ld.get(), LDAP_LOCAL_ERROR));
    }
  }
  if (o.start_tls) {
    rc = ldap_start_tls_s(ld.get(), nullptr, nullptr);
    if (rc == LDAP_CONNECT_ERROR) {
      // The server answered the StartTLS request, so it is up: the handshake failed.
      return FailedPreconditionError("ldap: " + o.uri +
                                     ": StartTLS: TLS handshake failed: " + Reason(ld.get(), rc) +
                                     " (is the server's certificate signed by " +
                                     (o.ca_file.empty() ? std::string("a CA in the system store")
                                                        : "ca_file '" + o.ca_file + "'") +
                                     " and issued for the host in uri?)");
    }
    if (rc != LDAP_SUCCESS) {
      if (IsTransient(rc)) return TransientError(o, ld.get(), rc);
      return FailedPreconditionError("ldap: " + o.uri + ": StartTLS: " + Reason(ld.get(), rc));
    }
  }
  return ld;
}

int SimpleBind(LDAP* ld, const std::string& dn, std::string_view password) {
  berval cred{};
  cred.bv_val = const_cast<char*>(password.data());
  cred.bv_len = password.size();
  return ldap_sasl_bind_s(ld, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
}

// The service account, or anonymous when bind_dn is empty (Create() refuses a bind_dn without
// a password, which would be an unauthenticated bind).
Status BindServiceAccount(LDAP* ld, const LdapOptions& o) {
  const int rc = SimpleBind(ld, o.bind_dn, o.bind_password);
  if (rc == LDAP_SUCCESS) return OkStatus();
  if (IsTransient(rc)) return TransientError(o, ld, rc);
  const std::string who = o.bind_dn.empty() ? "anonymous" : "service account '" + o.bind_dn + "'";
  return FailedPreconditionError("ldap: " + o.uri + ": bind as " + who + ": " + Reason(ld, rc));
}

// Sizelimit 0 = the server's limit. A result cut by the size limit is returned as it is.
Result<LdapMessagePtr> Search(LDAP* ld, const LdapOptions& o, const std::string& base,
                              const std::string& filter, std::vector<const char*> attrs,
                              int sizelimit) {
  attrs.push_back(nullptr);
  timeval tv = ToTimeval(o.timeout);
  LDAPMessage* raw = nullptr;
  const int rc = ldap_search_ext_s(ld, base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                                   const_cast<char**>(attrs.data()), 0, nullptr, nullptr, &tv,
                                   sizelimit, &raw);
  LdapMessagePtr result(raw);
  if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) return result;
  if (IsTransient(rc)) return TransientError(o, ld, rc);
  if (rc == LDAP_NO_SUCH_OBJECT) {
    return FailedPreconditionError("ldap: search base '" + base + "' does not exist");
  }
  return FailedPreconditionError("ldap: search '" + base + "' for " + filter + ": " +
                                 Reason(ld, rc));
}

std::vector<std::string> Values(LDAP* ld, LDAPMessage* entry, const std::string& attribute) {
  std::vector<std::string> out;
  berval** values = ldap_get_values_len(ld, entry, attribute.c_str());
  if (values == nullptr) return out;
  for (berval** v = values; *v != nullptr; ++v) out.emplace_back((*v)->bv_val, (*v)->bv_len);
  ldap_value_free_len(values);
  return out;
}

std::string FirstValue(LDAP* ld, LDAPMessage* entry, const std::string& attribute) {
  std::vector<std::string> values = Values(ld, entry, attribute);
  return values.empty() ? std::string() : values.front();
}

std::string EntryDn(LDAP* ld, LDAPMessage* entry) {
  char* dn = ldap_get_dn(ld, entry);
  if (dn == nullptr) return {};
  std::string out(dn);
  ldap_memfree(dn);
  return out;
}

// The one entry user_filter finds: dn, username, display name and e-mail filled in.
Result<LdapUser> FindUser(LDAP* ld, const LdapOptions& o, std::string_view username) {
  const std::string filter =
      ReplaceAll(o.user_filter, "{username}", EscapeLdapFilterValue(username));
  CUSTOS_ASSIGN_OR_RETURN(
      LdapMessagePtr result,
      Search(ld, o, o.user_search_base, filter,
             {"cn", "displayName", "mail", o.username_attribute.c_str()}, /*sizelimit=*/2));
  const int count = ldap_count_entries(ld, result.get());
  if (count == 0) return PermissionDeniedError(kInvalidCredentials);
  if (count > 1) {
    return FailedPreconditionError("ldap: username '" + std::string(username) +
                                   "' matches more than one entry under '" + o.user_search_base +
                                   "'; refusing to guess");
  }
  LDAPMessage* entry = ldap_first_entry(ld, result.get());
  LdapUser user;
  user.dn = EntryDn(ld, entry);
  if (user.dn.empty()) return InternalError("ldap: user entry without a DN");
  user.username = std::string(username);
  std::vector<std::string> names = Values(ld, entry, o.username_attribute);
  auto same = std::find_if(names.begin(), names.end(),
                           [&](const std::string& n) { return EqualsIgnoreCase(n, username); });
  if (same != names.end()) {
    user.username = *same;
  } else if (!names.empty()) {
    user.username = names.front();
  }
  user.display_name = FirstValue(ld, entry, "displayName");
  if (user.display_name.empty()) user.display_name = FirstValue(ld, entry, "cn");
  user.email = FirstValue(ld, entry, "mail");
  return user;
}

// The password check. Anything but success is "invalid username or password" unless the
// server could not be reached: servers answer locked or expired accounts with 49 or 53 too.
Status BindUser(LDAP* ld, const LdapOptions& o, const std::string& dn, std::string_view password) {
  const int rc = SimpleBind(ld, dn, password);
  if (rc == LDAP_SUCCESS) return OkStatus();
  if (IsTransient(rc)) return TransientError(o, ld, rc);
  return PermissionDeniedError(kInvalidCredentials);
}

// Appends the groups group_filter finds to user->groups and their mapped roles to user->roles.
Status AddGroups(LDAP* ld, const LdapOptions& o, const RoleMap& dn_roles, const RoleMap& cn_roles,
                 LdapUser* user) {
  std::string filter = ReplaceAll(o.group_filter, "{dn}", EscapeLdapFilterValue(user->dn));
  filter = ReplaceAll(std::move(filter), "{username}", EscapeLdapFilterValue(user->username));
  CUSTOS_ASSIGN_OR_RETURN(LdapMessagePtr result, Search(ld, o, o.group_search_base, filter, {"cn"},
                                                        /*sizelimit=*/0));
  auto merge = [&](RoleSet roles) {
    user->roles = RoleSet::FromBits(user->roles.bits() | roles.bits());
  };
  for (LDAPMessage* entry = ldap_first_entry(ld, result.get()); entry != nullptr;
       entry = ldap_next_entry(ld, entry)) {
    std::string dn = EntryDn(ld, entry);
    if (dn.empty()) continue;
    Result<std::string> normalized = NormalizeDn(dn);
    for (const auto& [key, roles] : dn_roles) {
      if (normalized.ok() && *normalized == key) merge(roles);
    }
    for (const std::string& cn : Values(ld, entry, "cn")) {
      for (const auto& [key, roles] : cn_roles) {
        if (AsciiLower(cn) == key) merge(roles);
      }
    }
    user->groups.push_back(std::move(dn));
  }
  return OkStatus();
}

}  // namespace

std::string EscapeLdapFilterValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '*':
        out += "\\2a";
        break;
      case '(':
        out += "\\28";
        break;
      case ')':
        out += "\\29";
        break;
      case '\\':
        out += "\\5c";
        break;
      case '\0':
        out += "\\00";
        break;
      default:
        out += c;
    }
  }
  return out;
}

LdapDirectory::LdapDirectory(LdapOptions options) : options_(std::move(options)) {}
LdapDirectory::~LdapDirectory() = default;

Result<std::unique_ptr<LdapDirectory>> LdapDirectory::Create(LdapOptions options) {
  auto invalid = [](const std::string& what) { return InvalidArgumentError("ldap: " + what); };
  const std::string scheme = AsciiLower(options.uri.substr(0, options.uri.find("://") + 3));
  if (scheme != "ldap://" && scheme != "ldaps://") {
    return invalid("uri '" + options.uri + "': not ldap://host[:port] or ldaps://host[:port]");
  }
  if (options.uri.find_first_of(" ,") != std::string::npos) {
    return invalid("uri '" + options.uri + "': one server only");
  }
  if (options.start_tls && scheme == "ldaps://") {
    return invalid("start_tls with an ldaps:// uri: choose one");
  }
  if (!options.ca_file.empty() && ::access(options.ca_file.c_str(), R_OK) != 0) {
    return invalid("ca_file '" + options.ca_file + "' cannot be read");
  }
  if (options.user_search_base.empty()) return invalid("user_search_base is empty");
  if (options.group_search_base.empty()) return invalid("group_search_base is empty");
  if (options.user_filter.find("{username}") == std::string::npos) {
    return invalid("user_filter '" + options.user_filter + "' lacks {username}");
  }
  if (options.group_filter.empty()) return invalid("group_filter is empty");
  if (options.username_attribute.empty()) return invalid("username_attribute is empty");
  if (options.bind_dn.empty() != options.bind_password.empty()) {
    // A DN without a password is an unauthenticated bind: servers accept it and the searches
    // would silently run as anonymous.
    return invalid("bind_dn and bind_password must be set together (both empty = anonymous)");
  }
  if (options.timeout <= std::chrono::milliseconds::zero()) return invalid("timeout must be > 0");
  if (options.group_roles.empty()) {
    return invalid("group_roles is empty: no group maps to a role, nobody could sign in");
  }
  RoleMap dn_roles, cn_roles;
  for (const auto& [group, roles] : options.group_roles) {
    if (roles.empty()) return invalid("group_roles['" + group + "']: no roles");
    if (group.find('=') != std::string::npos) {
      Result<std::string> dn = NormalizeDn(group);
      if (!dn.ok()) return invalid("group_roles: " + dn.status().message());
      dn_roles.emplace_back(*dn, roles);
    } else {
      cn_roles.emplace_back(AsciiLower(group), roles);
    }
  }
  InitLibraryOnce();
  LDAP* probe = nullptr;
  if (int rc = ldap_initialize(&probe, options.uri.c_str()); rc != LDAP_SUCCESS) {
    return invalid("uri '" + options.uri + "': " + ldap_err2string(rc));
  }
  ldap_unbind_ext_s(probe, nullptr, nullptr);
  auto directory = std::unique_ptr<LdapDirectory>(new LdapDirectory(std::move(options)));
  directory->roles_by_group_dn_ = std::move(dn_roles);
  directory->roles_by_group_cn_ = std::move(cn_roles);
  return directory;
}

Status LdapDirectory::CheckConnection() const {
  CUSTOS_ASSIGN_OR_RETURN(LdapHandle ld, Connect(options_));
  return BindServiceAccount(ld.get(), options_);
}

Result<LdapUser> LdapDirectory::Authenticate(std::string_view username,
                                             std::string_view password) const {
  // Before any traffic: an empty password would be an unauthenticated bind, which LDAP
  // servers answer with success.
  if (username.empty()) return InvalidArgumentError("ldap: empty username");
  if (username.size() > kMaxLdapUsernameBytes) {
    return InvalidArgumentError("ldap: username longer than " +
                                std::to_string(kMaxLdapUsernameBytes) + " bytes");
  }
  if (password.empty()) return InvalidArgumentError("ldap: empty password");
  if (password.size() > kMaxLdapPasswordBytes) {
    return InvalidArgumentError("ldap: password longer than " +
                                std::to_string(kMaxLdapPasswordBytes) + " bytes");
  }

  CUSTOS_ASSIGN_OR_RETURN(LdapHandle ld, Connect(options_));
  CUSTOS_RETURN_IF_ERROR(BindServiceAccount(ld.get(), options_));
  CUSTOS_ASSIGN_OR_RETURN(LdapUser user, FindUser(ld.get(), options_, username));
  CUSTOS_RETURN_IF_ERROR(BindUser(ld.get(), options_, user.dn, password));
  // Groups are read with the service account's rights, not the user's.
  CUSTOS_RETURN_IF_ERROR(BindServiceAccount(ld.get(), options_));
  CUSTOS_RETURN_IF_ERROR(
      AddGroups(ld.get(), options_, roles_by_group_dn_, roles_by_group_cn_, &user));
  if (user.roles.empty()) {
    return PermissionDeniedError("ldap: user '" + user.username +
                                 "' is in no group mapped to a Custos role");
  }
  return user;
}

}  // namespace custos::collector::access
