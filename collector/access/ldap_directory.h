// collector/access/ldap_directory.h: optional sign-in against an LDAP directory (issue 18;
// operator guide: docs/accounts.md, "LDAP").
//
// What it does: LdapDirectory::Authenticate checks a username and password against an LDAP
// server (OpenLDAP, 389-DS, Active Directory) and returns who the person is and which Custos
// roles they hold, from the groups they are a member of:
//   1. connect to `uri` (LDAPv3; StartTLS first when `start_tls`, verifying the server's
//      certificate against `ca_file`, or the system store when it is empty);
//   2. bind as the service account (`bind_dn`/`bind_password`; anonymous when bind_dn is empty);
//   3. search `user_search_base` (subtree) with `user_filter`, {username} replaced by the
//      username escaped per RFC 4515, so `*)(uid=*` is a literal and matches nobody;
//      exactly one entry or the sign-in is refused;
//   4. simple-bind as that entry's DN with the password: this is the password check;
//   5. bind as the service account again and search `group_search_base` with `group_filter`
//      ({dn} = the user's DN, {username} = the username, both escaped); the roles are the union
//      of `group_roles` over the groups found. No mapped group, no roles: refused.
// Local accounts are untouched: this is a second way to sign in, chosen by the caller.
//
// Errors (a Status; never contains the password or the service account's password):
//   InvalidArgument     bad input, refused before any network traffic: empty username, username
//                       over kMaxLdapUsernameBytes, empty password (an empty password is an
//                       "unauthenticated bind" that many servers accept as success), password
//                       over kMaxLdapPasswordBytes. Create(): bad options.
//   PermissionDenied    "ldap: invalid username or password" for an unknown user AND for a wrong
//                       password (same code, same text, so callers cannot tell which);
//                       "ldap: user '<name>' is in no group mapped to a Custos role" when the
//                       password is right but no group maps to a role.
//   Unavailable         the server cannot be reached, or did not answer within `timeout`
//                       (message names the URI and libldap's reason); retry may succeed. With
//                       ldaps:// this includes a failed TLS handshake (untrusted certificate):
//                       libldap reports both alike, and the message says so.
//   FailedPrecondition  a directory or configuration problem an operator must fix: the service
//                       account's bind is refused, a search base does not exist, the username
//                       matches more than one entry, the server refuses StartTLS or the
//                       StartTLS handshake fails (certificate not trusted with ca_file).
// Messages other than PermissionDenied's are for the operator's log; the API should answer the
// client with a generic "sign-in failed" for them.
//
// Threading: LdapDirectory is immutable after Create and Authenticate may be called from any
// number of threads at once: each call opens its own connection (sign-ins are rare) and closes
// it before returning. Authenticate blocks — call it off the I/O threads. `timeout` bounds the
// TCP connect and each LDAP operation separately: a server that is down or stops answering fails
// the call within about one timeout; a slow server that does answer may take up to seven (connect,
// StartTLS, bind, search, bind, bind, search). The process must ignore SIGPIPE (custos-collector
// does): libldap writes to its socket with write(2), and a server that closed the connection
// would otherwise kill the process.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collector/access/roles.h"
#include "common/status/status.h"

namespace custos::collector::access {

inline constexpr size_t kMaxLdapUsernameBytes = 64;
inline constexpr size_t kMaxLdapPasswordBytes = 1024;

struct LdapOptions {
  // "ldap://host:389" or "ldaps://host:636" (TLS from the first byte).
  std::string uri = {};
  // Upgrade an ldap:// connection with the StartTLS extended operation before binding. The
  // server's certificate must verify (ca_file, or the system store); never with ldaps://.
  bool start_tls = false;
  // PEM file of the CA(s) that sign the server's certificate (ldaps:// and StartTLS). Empty: the
  // system trust store.
  std::string ca_file = {};
  // Where people are searched (subtree), e.g. "ou=people,dc=example,dc=org".
  std::string user_search_base = {};
  // Must contain {username}. Active Directory: "(&(objectClass=user)(sAMAccountName={username}))".
  std::string user_filter = "(&(objectClass=inetOrgPerson)(uid={username}))";
  // The attribute whose value becomes LdapUser::username (the directory's spelling, so "Alice"
  // and "alice" are one person). AD: "sAMAccountName".
  std::string username_attribute = "uid";
  // Service account the searches run as; empty bind_dn = anonymous searches.
  std::string bind_dn = {};
  std::string bind_password = {};
  // Where groups are searched (subtree), e.g. "ou=groups,dc=example,dc=org".
  std::string group_search_base = {};
  // May contain {dn} (the user's DN) and {username}. posixGroup:
  // "(&(objectClass=posixGroup)(memberUid={username}))".
  std::string group_filter = "(&(objectClass=groupOfNames)(member={dn}))";
  // Group -> roles. A key containing '=' is a group DN (compared case-insensitively, spaces
  // around ',' and '=' ignored); otherwise it is matched against the group's cn
  // (case-insensitively). Must not be empty: with no mapping nobody could sign in.
  std::map<std::string, RoleSet> group_roles = {};
  // Bounds the TCP connect and each LDAP operation (see Threading above).
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
};

// A person the directory vouched for.
struct LdapUser {
  std::string dn = {};
  std::string username = {};             // username_attribute's value (as typed when absent)
  std::string display_name = {};         // displayName, else cn; may be empty
  std::string email = {};                // mail; may be empty
  std::vector<std::string> groups = {};  // DNs of every group group_filter found, mapped or not
  RoleSet roles = {};                    // never empty in a successful result
};

class LdapDirectory {
 public:
  // Checks the options (InvalidArgument naming the option); does not connect, so a collector
  // starts while the directory is down. CheckConnection() is the explicit health check.
  static Result<std::unique_ptr<LdapDirectory>> Create(LdapOptions options);
  ~LdapDirectory();
  LdapDirectory(const LdapDirectory&) = delete;
  LdapDirectory& operator=(const LdapDirectory&) = delete;

  // See the contract at the top of this file.
  Result<LdapUser> Authenticate(std::string_view username, std::string_view password) const;

  // Connects (with StartTLS when configured) and binds as the service account; for startup and
  // an operator's "test the LDAP settings". Errors as Authenticate's Unavailable and
  // FailedPrecondition.
  Status CheckConnection() const;

  const LdapOptions& options() const { return options_; }

 private:
  explicit LdapDirectory(LdapOptions options);
  LdapOptions options_;
  // group_roles split by key kind: normalized, lower-cased DNs; lower-cased cns.
  std::vector<std::pair<std::string, RoleSet>> roles_by_group_dn_;
  std::vector<std::pair<std::string, RoleSet>> roles_by_group_cn_;
};

// RFC 4515 assertion-value escaping: '*' '(' ')' '\' and NUL become \2a \28 \29 \5c \00; every
// other byte is kept. Exposed for tests.
std::string EscapeLdapFilterValue(std::string_view value);

}  // namespace custos::collector::access
