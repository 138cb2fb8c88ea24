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
  Router router;

  // Who the request acts as; 401 (or a storage failure) in *error when it carries no valid
  // credential.
  std::optional<access::Principal> Authenticate(const HttpRequest& r, HttpResponse* error) const {
    constexpr std::string_view kBearer = "Bearer ";
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
    return router.Dispatch(r, &*principal);
  }
};

ApiService::ApiService(const ApiDependencies& deps) : impl_(std::make_unique<Impl>()) {
  CUSTOS_CHECK(deps.events && deps.risk && deps.clock) << "api: stores and clock are required";
  CUSTOS_CHECK(deps.audit != nullptr) << "api: the audit log is required";
  impl_->alerts = std::make_unique<alerts::Alerts>(deps.risk, deps.scorer, deps.clock);
  impl_->ctx = ApiContext{.events = deps.events,
                          .risk = deps.risk,
                          .scorer = deps.scorer,
                          .clock = deps.clock,
                          .alerts = impl_->alerts.get(),
                          .audit = deps.audit};
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

Handler ApiService::AsHandler() const {
  return [this](const HttpRequest& r) { return Handle(r); };
}

Admitter ApiService::AsAdmitter() const {
  return [this](const HttpRequest& r) { return Admit(r); };
}

}  // namespace custos::collector::api
