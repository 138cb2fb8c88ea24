// Console sessions (POST/GET/DELETE /api/v1/session), accounts (/api/v1/accounts, admins) and
// personal API tokens (/api/v1/tokens, every signed-in person for their own).
#include <algorithm>
#include <cctype>

#include "collector/access/accounts.h"
#include "collector/api/responses.h"
#include "collector/api/routes/routes.h"
#include "collector/api/views.h"
#include "common/log/log.h"

namespace custos::collector::api {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Every principal may see who it is; accounts manage their own tokens.
constexpr access::RoleSet kEveryone{access::Role::kAdmin,        access::Role::kAnalyst,
                                    access::Role::kInvestigator, access::Role::kViewer,
                                    access::Role::kAuditor,      access::Role::kApprover};

std::string SessionCookie(const std::string& secret, int64_t max_age_seconds) {
  return std::string(kSessionCookie) + "=" + secret +
         "; Path=/api; Max-Age=" + std::to_string(max_age_seconds) +
         "; HttpOnly; Secure; SameSite=Strict";
}

// A sign-in refusal as the client sees it: one 401 for every wrong credential, 429/503 with
// Retry-After when throttled or busy.
HttpResponse SignInRefused(const Call& call, const Status& s, int64_t retry_after) {
  HttpResponse r;
  switch (s.code()) {
    case StatusCode::kPermissionDenied:
      return JsonError(401, "sign_in_failed", "wrong username or password",
                       call.request.request_id);
    case StatusCode::kResourceExhausted:
      r = JsonError(429, "too_many_attempts",
                    "too many failed sign-ins; retry in " + std::to_string(retry_after) + " s",
                    call.request.request_id);
      break;
    case StatusCode::kUnavailable:
      if (s.message().rfind("ldap:", 0) == 0) {
        logging::Error("api: directory unavailable at sign-in",
                       {{"request_id", call.request.request_id}, {"error", s.ToString()}});
        return JsonError(503, "directory_unavailable",
                         "the directory (LDAP) cannot be reached; retry, or sign in with a local "
                         "account",
                         call.request.request_id);
      }
      r = JsonError(503, "busy", "too many sign-ins at once; retry", call.request.request_id);
      break;
    case StatusCode::kInvalidArgument:
      return JsonError(400, "invalid_argument", s.message(), call.request.request_id);
    default:
      return FromStatus(call.request, s);
  }
  r.headers.push_back({"Retry-After", std::to_string(std::max<int64_t>(retry_after, 1))});
  return r;
}

// "application/json", with or without parameters ("; charset=utf-8").
bool IsJsonContentType(std::string_view v) {
  v = v.substr(0, v.find(';'));
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  return v.size() == kJson.size() &&
         std::equal(v.begin(), v.end(), kJson.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

HttpResponse SignIn(const ApiContext& ctx, const Call& call) {
  // A page on another site can post a form (text/plain, urlencoded) here without a CORS
  // preflight and sign the victim's browser in to the attacker's account; it cannot send JSON.
  if (!IsJsonContentType(call.request.content_type)) {
    return JsonError(415, "unsupported_media_type", "sign in with Content-Type: application/json",
                     call.request.request_id);
  }
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  auto fields = RequiredStrings(*body, {"username", "password"}, &err);
  if (!fields) return err;
  int64_t retry_after = 0;
  auto result =
      ctx.accounts->SignIn((*fields)[0], (*fields)[1], call.request.remote_address, &retry_after);
  if (!result.ok()) {
    const StatusCode code = result.status().code();
    (code == StatusCode::kResourceExhausted || code == StatusCode::kUnavailable
         ? ctx.sign_in_throttled
         : ctx.sign_in_failed)
        ->Inc();
    return SignInRefused(call, result.status(), retry_after);
  }
  ctx.sign_in_succeeded->Inc();
  auto account = ctx.accounts->GetAccount(result->principal.id);
  if (!account.ok()) return FromStatus(call.request, account.status());
  const int64_t now = ctx.clock->NowUnixNs();
  HttpResponse response =
      Json(201, {{"user", AccountView(*account)},
                 {"csrf_token", result->csrf_token},
                 {"expires_at", FormatUnixNs(result->expires_at_ns)},
                 {"idle_expires_at", FormatUnixNs(result->idle_expires_at_ns)}});
  response.headers.push_back(
      {"Set-Cookie",
       SessionCookie(result->session_cookie_secret,
                     std::max<int64_t>(0, (result->expires_at_ns - now) / 1'000'000'000))});
  const Call as_user{call.request, call.params, &result->principal};
  return ctx.AuditedChange(as_user, "session.sign_in", AuditObject("account", account->id),
                           "signed in (" + account->source + ")", std::move(response));
}

HttpResponse WhoAmI(const ApiContext&, const Call& call) {
  const access::Principal& p = call.caller();
  const char* kind = p.via == access::Principal::Via::kSession         ? "session"
                     : p.via == access::Principal::Via::kPersonalToken ? "personal_token"
                                                                       : "service_token";
  return Json(200,
              {{"principal",
                {{"kind", kind}, {"id", p.id}, {"name", p.name}, {"roles", RolesView(p.roles)}}}});
}

HttpResponse SignOut(const ApiContext& ctx, const Call& call) {
  const access::Principal& p = call.caller();
  if (p.via != access::Principal::Via::kSession) {
    return JsonError(400, "not_a_session", "signed in with a token: revoke the token instead",
                     call.request.request_id);
  }
  Status s = ctx.accounts->SignOut(p.session_id);
  if (!s.ok()) return FromStatus(call.request, s);
  HttpResponse done = NoContent();
  done.headers.push_back({"Set-Cookie", SessionCookie("", 0)});
  return ctx.AuditedChange(call, "session.sign_out", AuditObject("account", p.id), "signed out",
                           std::move(done));
}

// ---- accounts (admins) ----

// An account by id ("usr_...") or username.
Result<access::Account> FindAccount(const ApiContext& ctx, const std::string& key) {
  if (key.rfind("usr_", 0) == 0) return ctx.accounts->GetAccount(key);
  return ctx.accounts->FindByUsername(key);
}

// "roles": "a,b" or ["a", "b"]; nullopt with a 400 in *error when present but bad.
std::optional<access::RoleSet> RolesField(const json& body, bool required, HttpResponse* error) {
  if (!body.contains("roles")) {
    if (required) *error = JsonError(400, "missing_field", "missing field: roles");
    return std::nullopt;
  }
  std::string text;
  if (body["roles"].is_string()) {
    text = body["roles"].get<std::string>();
  } else if (body["roles"].is_array()) {
    for (const auto& r : body["roles"]) {
      if (!r.is_string()) break;
      if (!text.empty()) text += ",";
      text += r.get<std::string>();
    }
  } else {
    *error = JsonError(400, "invalid_field", "roles: a comma-separated string or an array");
    return std::nullopt;
  }
  auto roles = access::RoleSet::Parse(text);
  if (!roles.ok()) {
    *error = JsonError(400, "invalid_field", "roles: " + roles.status().message());
    return std::nullopt;
  }
  return *roles;
}

HttpResponse ListAccounts(const ApiContext& ctx, const Call& call) {
  auto rows = ctx.accounts->ListAccounts();
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  ordered_json list = ordered_json::array();
  for (const auto& a : *rows) list.push_back(AccountView(a));
  return Json(200, Keyed("accounts", std::move(list)));
}

HttpResponse CreateAccount(const ApiContext& ctx, const Call& call) {
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  auto username = StringField(*body, "username", true, &err);
  if (!username) return err;
  auto roles = RolesField(*body, true, &err);
  if (!roles) return err;
  access::NewAccount n{.username = *username, .roles = *roles};
  for (auto [key, out] : {std::pair{"display_name", &n.display_name}, {"email", &n.email}}) {
    auto v = StringField(*body, key, false, &err);
    if (!v && err.status != 200) return err;
    if (v) *out = *v;
  }
  auto password = StringField(*body, "password", false, &err);
  if (!password && err.status != 200) return err;
  n.password = password;
  auto created = ctx.accounts->CreateAccount(n);
  if (!created.ok()) return FromStatus(call.request, created.status());
  return ctx.AuditedChange(call, "account.create", AuditObject("account", created->id),
                           "username " + created->username + ", roles " +
                               created->roles.ToString() + ", " + created->source,
                           Json(201, AccountView(*created)));
}

HttpResponse UpdateAccount(const ApiContext& ctx, const Call& call) {
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  auto account = FindAccount(ctx, call.param("id"));
  if (!account.ok()) return FromStatus(call.request, account.status());
  auto roles = RolesField(*body, false, &err);
  if (!roles && err.status != 200) return err;
  std::optional<bool> disabled;
  if (body->contains("disabled")) {
    if (!(*body)["disabled"].is_boolean()) {
      return JsonError(400, "invalid_field", "disabled: true or false");
    }
    disabled = (*body)["disabled"].get<bool>();
  }
  auto password = StringField(*body, "password", false, &err);
  if (!password && err.status != 200) return err;
  if (!roles && !disabled && !password) {
    return JsonError(400, "missing_field", "nothing to change: roles, disabled or password");
  }
  // An admin cannot lock everyone out by disabling or demoting themselves.
  if (account->id == call.caller().id &&
      ((disabled && *disabled) || (roles && !roles->Has(access::Role::kAdmin)))) {
    return JsonError(409, "failed_precondition",
                     "you cannot disable yourself or remove your own admin role");
  }
  std::vector<std::string> changes;
  if (roles) {
    Status s = ctx.accounts->SetRoles(account->id, *roles);
    if (!s.ok()) return FromStatus(call.request, s);
    changes.push_back("roles " + account->roles.ToString() + " -> " + roles->ToString());
  }
  if (disabled) {
    Status s = ctx.accounts->SetDisabled(account->id, *disabled);
    if (!s.ok()) return FromStatus(call.request, s);
    changes.push_back(*disabled ? "disabled (sessions ended)" : "enabled");
  }
  if (password) {
    Status s = ctx.accounts->SetPassword(account->id, *password);
    if (!s.ok()) return FromStatus(call.request, s);
    changes.push_back("password set (sessions ended)");
  }
  auto updated = ctx.accounts->GetAccount(account->id);
  if (!updated.ok()) return FromStatus(call.request, updated.status());
  std::string summary;
  for (const auto& c : changes) summary += (summary.empty() ? "" : "; ") + c;
  return ctx.AuditedChange(call, "account.update", AuditObject("account", account->id),
                           std::move(summary), Json(200, AccountView(*updated)));
}

// ---- personal tokens ----

HttpResponse ListTokens(const ApiContext& ctx, const Call& call) {
  const access::Principal& p = call.caller();
  const bool all = call.request.Query("all") == "true";
  if (all && !p.roles.Has(access::Role::kAdmin)) {
    return JsonError(403, "forbidden", "all=true: admins only");
  }
  if (!all && p.via == access::Principal::Via::kServiceToken) {
    return JsonError(400, "not_an_account", "service tokens own no personal tokens");
  }
  auto rows =
      ctx.accounts->ListPersonalTokens(all ? std::nullopt : std::optional<std::string_view>(p.id));
  if (!rows.ok()) return FromStatus(call.request, rows.status());
  std::map<std::string, std::string> usernames;
  if (auto accounts = ctx.accounts->ListAccounts(); accounts.ok()) {
    for (const auto& a : *accounts) usernames[a.id] = a.username;
  }
  ordered_json list = ordered_json::array();
  for (const auto& t : *rows) list.push_back(PersonalTokenView(t, usernames[t.owner]));
  return Json(200, Keyed("tokens", std::move(list)));
}

HttpResponse CreateToken(const ApiContext& ctx, const Call& call) {
  const access::Principal& p = call.caller();
  HttpResponse err;
  auto body = ObjectBody(call.request, &err);
  if (!body) return err;
  auto name = StringField(*body, "name", true, &err);
  if (!name) return err;
  std::string owner = p.id;
  if (auto o = StringField(*body, "owner", false, &err)) {
    auto account = FindAccount(ctx, *o);
    if (!account.ok()) return FromStatus(call.request, account.status());
    owner = account->id;
  } else if (err.status != 200) {
    return err;
  }
  if (p.via == access::Principal::Via::kServiceToken && owner == p.id) {
    return JsonError(400, "not_an_account", "service tokens own no personal tokens: pass owner");
  }
  std::optional<int64_t> expires;
  if (body->contains("expires_in_days")) {
    const auto& d = (*body)["expires_in_days"];
    if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > 365) {
      return JsonError(400, "invalid_field", "expires_in_days: a whole number from 1 to 365");
    }
    expires = ctx.clock->NowUnixNs() + d.get<int64_t>() * kNanosPerDay;
  }
  auto token = ctx.accounts->CreatePersonalToken(p, owner, *name, expires);
  if (!token.ok()) return FromStatus(call.request, token.status());
  ordered_json out = {{"id", token->id}, {"token", token->secret}};
  out["expires_at"] = token->expires_at_ns ? FormatUnixNs(*token->expires_at_ns) : "";
  return ctx.AuditedChange(call, "personal-token.create", AuditObject("token", token->id),
                           "owner " + owner + ", name " + *name, Json(201, out));
}

HttpResponse RevokeToken(const ApiContext& ctx, const Call& call) {
  Status s = ctx.accounts->RevokePersonalToken(call.caller(), call.param("id"));
  // Someone else's token is none of the caller's business: 404, not 403.
  if (s.code() == StatusCode::kPermissionDenied) {
    return JsonError(404, "not_found", "token " + call.param("id") + ": not found");
  }
  if (!s.ok()) return FromStatus(call.request, s);
  return ctx.AuditedChange(call, "personal-token.revoke", AuditObject("token", call.param("id")),
                           "revoked", NoContent());
}

}  // namespace

void AddSessionRoutes(Router& router, const ApiContext& ctx) {
  router.Add("POST", "/api/v1/session", [&ctx](const Call& c) { return SignIn(ctx, c); },
             {.anonymous = true});
  router.Add("GET", "/api/v1/session", [&ctx](const Call& c) { return WhoAmI(ctx, c); },
             {.roles = kEveryone});
  router.Add("DELETE", "/api/v1/session", [&ctx](const Call& c) { return SignOut(ctx, c); },
             {.roles = kEveryone});

  router.Add("GET", "/api/v1/accounts", [&ctx](const Call& c) { return ListAccounts(ctx, c); },
             {.roles = roles::kAdmins});
  router.Add("POST", "/api/v1/accounts", [&ctx](const Call& c) { return CreateAccount(ctx, c); },
             {.roles = roles::kAdmins});
  router.Add("PATCH", "/api/v1/accounts/{id}",
             [&ctx](const Call& c) { return UpdateAccount(ctx, c); }, {.roles = roles::kAdmins});

  router.Add("GET", "/api/v1/tokens", [&ctx](const Call& c) { return ListTokens(ctx, c); },
             {.roles = kEveryone});
  router.Add("POST", "/api/v1/tokens", [&ctx](const Call& c) { return CreateToken(ctx, c); },
             {.roles = kEveryone});
  router.Add("DELETE", "/api/v1/tokens/{id}", [&ctx](const Call& c) { return RevokeToken(ctx, c); },
             {.roles = kEveryone});
}

}  // namespace custos::collector::api
