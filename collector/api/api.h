// collector/api/api.h: the REST API under /api/v1 (front door of collector/api/; endpoints and
// examples in docs/api.md).
//
// ApiService builds the routes over the stores and the scorer and checks every request:
//  - Authentication, one of: "Authorization: Bearer <token>" — a personal token ("cus_pat_...",
//    acting as its owner's account) or a service token (`custos-collector api-token create`,
//    `init`'s admin.token), both stored as SHA-256 only; or the console's session cookie
//    (`custos_session`, from POST /api/v1/session), with the session's CSRF token in
//    X-CSRF-Token on every request but GET and HEAD (403 csrf_failed otherwise). Missing,
//    unknown, expired or revoked credentials: 401, counted. Checked by Admit, before the body is
//    read, and before anything else is answered: an unauthenticated request to an unknown path
//    gets 401. Only GET /api/v1/health and POST /api/v1/session are served without one.
//  - Body limits: 64 KiB (kDefaultMaxBodyBytes) except the CSV imports (HR, directory): 32 MiB.
//    Every JSON body is read by collector/api/json_body.h, which caps every string field.
//  - Authorization: each route is registered with the roles it admits (collector/access/roles.h;
//    the matrix is docs/api.md) and the router refuses others with 403 before the route runs.
//    A service token's roles are its stored comma-separated list ("admin,investigator").
//  - Bad input is a 4xx JSON error naming the field; nothing a client sends produces a 500.
//  - Failures below the API (storage, scoring) are a generic 5xx message with the request id;
//    the detail (paths, SQL, SQLite's message) goes only to the log, with the same id. Every
//    error body carries "request_id".
//  - Audit: every change (alert status, policies, imports, triggers) is appended to the audit
//    log with the caller as actor and the client's address as source; sensitive reads (events)
//    are recorded before they are served and refused (503) when they cannot be.
//  - Secrets are never logged: tokens, request bodies (HR data, directory) stay out of logs.
// Threading: Handle may be called concurrently from the HTTPS server's workers. The stores,
// scorer and clock must outlive the service.
#pragma once

#include <memory>

#include "collector/access/accounts.h"
#include "collector/access/audit.h"
#include "collector/access/reveals.h"
#include "collector/api/http.h"
#include "collector/api/router.h"
#include "collector/scoring/scorer.h"
#include "collector/store/risk_store.h"
#include "collector/store/store.h"
#include "common/metrics/metrics.h"
#include "common/time/clock.h"

namespace custos::collector::api {

// What the API works with; everything must outlive the service.
struct ApiDependencies {
  store::Store* events = nullptr;
  store::RiskStore* risk = nullptr;
  scoring::Scorer* scorer = nullptr;  // null: scoring disabled (changes stored, applied later)
  Clock* clock = nullptr;
  access::AuditLog* audit = nullptr;  // required: every change and sensitive read is recorded
  // Accounts, sessions and personal tokens (collector/access/accounts.h); required.
  store::AccessStore* access_store = nullptr;
  access::AccountsOptions accounts_options = {};  // LDAP sign-in via accounts_options.external
  // Reveals and the privacy switch (collector/access/reveals.h); required.
  store::PrivacyStore* privacy_store = nullptr;
  access::RevealsOptions reveals_options = {};
  // The pseudonym key (DATA_DIR/pseudonym.key, access::LoadOrCreatePseudonymKey); required.
  std::string pseudonym_key = {};
  // Where sign-in and refusal counters go (custos_api_sign_ins_total{result},
  // custos_api_auth_refusals_total{reason}); optional.
  metrics::Registry* metrics = nullptr;
};

class ApiService {
 public:
  explicit ApiService(const ApiDependencies& deps);
  ~ApiService();
  HttpResponse Handle(const HttpRequest& request) const;
  // For HttpsServer: authenticates and picks the body limit from the request's header.
  Admission Admit(const HttpRequest& request) const;
  Handler AsHandler() const;
  Admitter AsAdmitter() const;
  // Every route with its roles (the authorisation matrix test walks them).
  std::vector<RouteInfo> Routes() const;
  // The accounts the API signs in against (sign-in counters, tests).
  access::Accounts* accounts() const;

  // Refusals of credentials since start (monotonic).
  struct AuthCounters {
    uint64_t unauthenticated = 0;  // missing, unknown, expired or revoked credential
    uint64_t csrf_refused = 0;     // a session request without its CSRF token
  };
  AuthCounters auth_counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace custos::collector::api
