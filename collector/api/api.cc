#include "collector/api/api.h"

#include "collector/alerts/alerts.h"
#include "collector/api/responses.h"
#include "collector/api/router.h"
#include "collector/api/routes/routes.h"
#include "common/crypto/crypto.h"
#include "common/log/log.h"

namespace custos::collector::api {
namespace {

HttpResponse Unauthenticated(const HttpRequest& r, std::string_view message,
                             std::string_view challenge) {
  HttpResponse error = JsonError(401, "unauthenticated", message, r.request_id);
  error.headers.push_back({"WWW-Authenticate", std::string(challenge)});
  return error;
}

}  // namespace

struct ApiService::Impl {
  ApiContext ctx;
  std::unique_ptr<alerts::Alerts> alerts;
  std::unique_ptr<access::Accounts> accounts;
  std::unique_ptr<access::Reveals> reveals;
  std::unique_ptr<access::Pseudonymizer> pseudonymizer;
  std::unique_ptr<MaskerHolder> masker;
  Router router;
  std::unique_ptr<metrics::Registry> own_metrics;  // when the service was given none
  metrics::Counter* unauthenticated = nullptr;
  metrics::Counter* csrf_refused = nullptr;
  std::atomic<int64_t> last_reveal_expiry_ns{0};

  std::optional<access::Principal> Authenticate(const HttpRequest& r, HttpResponse* error) const {
    auto p = AuthenticateUncounted(r, error);
    if (!p && error->status == 401) unauthenticated->Inc();
    return p;
  }

  // Who the request acts as; 401 (or a storage failure) in *error when it carries no valid
  // credential.
  std::optional<access::Principal> AuthenticateUncounted(const HttpRequest& r,
                                                         HttpResponse* error) const {
    constexpr std::string_view kBearer = "Bearer ";
    if (r.authorization.empty()) {
      std::string_view cookie = CookieValue(r.cookie, kSessionCookie);
      if (!cookie.empty()) {
        auto session = accounts->AuthenticateSession(cookie);
        if (session.ok()) return std::move(*session);
        if (session.status().code() == StatusCode::kPermissionDenied ||
            session.status().code() == StatusCode::kInvalidArgument) {
          *error = Unauthenticated(r, "session expired or signed out: sign in again",
                                   "Bearer realm=\"custos\"");
        } else {
          *error = FromStatus(r, session.status());
        }
        return std::nullopt;
      }
    }
    if (r.authorization.size() > kBearer.size() &&
        r.authorization.compare(0, kBearer.size(), kBearer) == 0 &&
        r.authorization.compare(kBearer.size(), access::kPersonalTokenPrefix.size(),
                                access::kPersonalTokenPrefix) == 0) {
      auto token = accounts->AuthenticateToken(r.authorization.substr(kBearer.size()));
      if (token.ok()) return std::move(*token);
      if (token.status().code() == StatusCode::kPermissionDenied ||
          token.status().code() == StatusCode::kInvalidArgument) {
        *error = Unauthenticated(r, "unknown, expired or revoked token",
                                 "Bearer realm=\"custos\", error=\"invalid_token\"");
      } else {
        *error = FromStatus(r, token.status());
      }
      return std::nullopt;
    }
    if (r.authorization.size() <= kBearer.size() ||
        r.authorization.compare(0, kBearer.size(), kBearer) != 0) {
      *error = Unauthenticated(
          r, "send 'Authorization: Bearer <token>' (custos-collector api-token create)",
          "Bearer realm=\"custos\"");
      return std::nullopt;
    }
    auto token = ctx.risk->FindApiToken(crypto::Sha256(r.authorization.substr(kBearer.size())));
    if (!token.ok() || token->revoked_at_ns) {
      if (!token.ok() && token.status().code() != StatusCode::kNotFound) {
        *error = FromStatus(r, token.status());
        return std::nullopt;
      }
      *error = Unauthenticated(r, "unknown or revoked token",
                               "Bearer realm=\"custos\", error=\"invalid_token\"");
      return std::nullopt;
    }
    auto roles = access::RoleSet::Parse(token->role);
    if (!roles.ok()) {
      // A role this version does not know (a newer collector wrote it): no access rather than a
      // guess.
      logging::Warn("api: token with unknown role refused",
                    {{"token", token->id}, {"error", roles.status().ToString()}});
      *error = Unauthenticated(r, "token has no role this collector knows",
                               "Bearer realm=\"custos\", error=\"invalid_token\"");
      return std::nullopt;
    }
    return access::Principal{.via = access::Principal::Via::kServiceToken,
                             .id = token->id,
                             .name = token->name,
                             .roles = *roles};
  }

  // Before the body is read: the credential first (so that an unauthenticated client learns
  // nothing, not even whether a route exists), then the route and its body limit.
  Admission Admit(const HttpRequest& r) const {
    const RouteOptions* route = router.Find(r);
    if (route == nullptr || !route->anonymous) {
      HttpResponse error;
      if (!Authenticate(r, &error)) {
        Admission refused;
        refused.refusal = std::move(error);
        return refused;
      }
    }
    return router.Admit(r);
  }

  HttpResponse Handle(const HttpRequest& r) const {
    const RouteOptions* route = router.Find(r);
    if (route != nullptr && route->anonymous) return router.Dispatch(r, nullptr);
    // Through the HTTPS server Admit has run already; a direct caller gets the same 401 first.
    HttpResponse error;
    auto principal = Authenticate(r, &error);
    if (!principal) return error;
    // A browser sends the cookie on its own; only the console's script knows the CSRF token.
    if (principal->via == access::Principal::Via::kSession && route != nullptr &&
        route->csrf.value_or(r.method != "GET" && r.method != "HEAD")) {
      if (!accounts->CheckCsrf(*principal, r.csrf_token).ok()) {
        csrf_refused->Inc();
        return JsonError(403, "csrf_failed",
                         "send the session's CSRF token in X-CSRF-Token (from sign-in)",
                         r.request_id);
      }
    }
    return router.Dispatch(r, &*principal);
  }
};

ApiService::ApiService(const ApiDependencies& deps) : impl_(std::make_unique<Impl>()) {
  CUSTOS_CHECK(deps.events && deps.risk && deps.clock) << "api: stores and clock are required";
  CUSTOS_CHECK(deps.audit != nullptr) << "api: the audit log is required";
  CUSTOS_CHECK(deps.access_store && deps.privacy_store && !deps.pseudonym_key.empty())
      << "api: accounts, privacy store and pseudonym key are required";
  impl_->alerts = std::make_unique<alerts::Alerts>(deps.risk, deps.scorer, deps.clock);
  auto accounts = access::Accounts::Create(deps.access_store, deps.clock, deps.accounts_options);
  CUSTOS_CHECK(accounts.ok()) << "api: accounts: " << accounts.status().ToString();
  impl_->accounts = std::move(*accounts);
  impl_->reveals =
      std::make_unique<access::Reveals>(deps.privacy_store, deps.clock, deps.reveals_options);
  impl_->pseudonymizer = std::make_unique<access::Pseudonymizer>(deps.pseudonym_key);
  metrics::Registry* registry = deps.metrics;
  if (registry == nullptr) {
    impl_->own_metrics = std::make_unique<metrics::Registry>();
    registry = impl_->own_metrics.get();
  }
  constexpr std::string_view kSignIns = "custos_api_sign_ins_total";
  constexpr std::string_view kSignInsHelp =
      "Sign-ins to the console by result (failed: wrong credentials; throttled: refused "
      "without checking, over a failure limit or too many at once)";
  constexpr std::string_view kRefusals = "custos_api_auth_refusals_total";
  constexpr std::string_view kRefusalsHelp =
      "API requests refused for their credentials (unauthenticated: missing, unknown, expired "
      "or revoked; csrf: a session request without its CSRF token)";
  impl_->unauthenticated =
      registry->GetCounter(kRefusals, kRefusalsHelp, {{"reason", "unauthenticated"}});
  impl_->csrf_refused = registry->GetCounter(kRefusals, kRefusalsHelp, {{"reason", "csrf"}});
  metrics::Counter* signed_in =
      registry->GetCounter(kSignIns, kSignInsHelp, {{"result", "succeeded"}});
  metrics::Counter* sign_in_failed =
      registry->GetCounter(kSignIns, kSignInsHelp, {{"result", "failed"}});
  metrics::Counter* sign_in_throttled =
      registry->GetCounter(kSignIns, kSignInsHelp, {{"result", "throttled"}});
  impl_->masker =
      std::make_unique<MaskerHolder>(impl_->pseudonymizer.get(), deps.risk, deps.privacy_store);
  if (Status s = impl_->masker->Rebuild(); !s.ok()) {
    // Requests that show people answer 503 until an import or restart loads the directory.
    logging::Error("api: cannot load the directory for pseudonyms", {{"error", s.ToString()}});
  }
  impl_->ctx = ApiContext{.events = deps.events,
                          .risk = deps.risk,
                          .scorer = deps.scorer,
                          .clock = deps.clock,
                          .alerts = impl_->alerts.get(),
                          .audit = deps.audit,
                          .accounts = impl_->accounts.get(),
                          .reveals = impl_->reveals.get(),
                          .privacy_store = deps.privacy_store,
                          .masker = impl_->masker.get(),
                          .last_reveal_expiry_ns = &impl_->last_reveal_expiry_ns,
                          .sign_in_succeeded = signed_in,
                          .sign_in_failed = sign_in_failed,
                          .sign_in_throttled = sign_in_throttled};
  Router& router = impl_->router;
  const ApiContext& ctx = impl_->ctx;
  AddHealthRoutes(router, ctx);
  AddAlertRoutes(router, ctx);
  AddEventRoutes(router, ctx);
  AddCatalogRoutes(router, ctx);
  AddPolicyRoutes(router, ctx);
  AddPeopleRoutes(router, ctx);
  AddImportRoutes(router, ctx);
  AddTriggerRoutes(router, ctx);
  AddAuditRoutes(router, ctx);
  AddSessionRoutes(router, ctx);
  AddRevealRoutes(router, ctx);
  AddPriorityGroupRoutes(router, ctx);
}

ApiService::~ApiService() = default;

HttpResponse ApiService::Handle(const HttpRequest& request) const {
  return WithRequestId(request, impl_->Handle(request));
}

Admission ApiService::Admit(const HttpRequest& request) const {
  Admission admission = impl_->Admit(request);
  if (admission.refusal) {
    admission.refusal = WithRequestId(request, std::move(*admission.refusal));
  }
  return admission;
}

std::vector<RouteInfo> ApiService::Routes() const { return impl_->router.Routes(); }

access::Accounts* ApiService::accounts() const { return impl_->accounts.get(); }

ApiService::AuthCounters ApiService::auth_counters() const {
  return {impl_->unauthenticated->value(), impl_->csrf_refused->value()};
}

Handler ApiService::AsHandler() const {
  return [this](const HttpRequest& r) { return Handle(r); };
}

Admitter ApiService::AsAdmitter() const {
  return [this](const HttpRequest& r) { return Admit(r); };
}

}  // namespace custos::collector::api
