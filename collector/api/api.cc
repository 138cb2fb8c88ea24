#include "collector/api/api.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "collector/api/json_body.h"
#include "collector/api/router.h"
#include "collector/cli/event_format.h"
#include "collector/scoring/directory_import.h"
#include "collector/scoring/hr_import.h"
#include "collector/scoring/indicators.h"
#include "collector/scoring/policy.h"
#include "common/crypto/crypto.h"
#include "common/log/log.h"
#include "common/time/clock.h"

namespace custos::collector::api {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::string_view kAdmin = "admin";
constexpr std::string_view kAnalyst = "analyst";
constexpr std::string_view kViewer = "viewer";

HttpResponse Json(int status, const ordered_json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// CSV imports (HR, directory) carry whole exports; every other route takes a small JSON document.
constexpr size_t kImportMaxBodyBytes = 32u << 20;

// A failure below the API (storage, scoring) is the server's business: the client gets a generic
// message with the request id, the log gets the detail (which names files, SQL and SQLite's
// words) under the same id. Messages of the store start with "store:" (sqlite_util.h).
HttpResponse InternalFailure(const HttpRequest& r, const Status& s, int status,
                             std::string_view code, std::string_view message) {
  logging::Error("api: request failed", {{"request_id", r.request_id},
                                         {"method", r.method},
                                         {"path", r.path},
                                         {"status", status},
                                         {"error", s.ToString()}});
  return JsonError(status, code, std::string(message) + " (request id " + r.request_id + ")",
                   r.request_id);
}

HttpResponse FromStatus(const HttpRequest& r, const Status& s) {
  const bool from_store = s.message().rfind("store:", 0) == 0;
  switch (s.code()) {
    case StatusCode::kUnavailable:
      return InternalFailure(r, s, 503, "unavailable", "storage temporarily unavailable, retry");
    case StatusCode::kDeadlineExceeded:
      return InternalFailure(r, s, 504, "timeout", "the request timed out, retry");
    case StatusCode::kAlreadyExists:
      if (from_store) {
        return InternalFailure(r, s, 409, "already_exists", "conflicts with an existing record");
      }
      return JsonError(409, "already_exists", s.message(), r.request_id);
    default:
      break;
  }
  if (!from_store) {
    switch (s.code()) {
      case StatusCode::kInvalidArgument:
        return JsonError(400, "invalid_argument", s.message(), r.request_id);
      case StatusCode::kNotFound:
        return JsonError(404, "not_found", s.message(), r.request_id);
      case StatusCode::kFailedPrecondition:
        return JsonError(409, "failed_precondition", s.message(), r.request_id);
      case StatusCode::kPermissionDenied:
        return JsonError(403, "forbidden", s.message(), r.request_id);
      default:
        break;
    }
  }
  return InternalFailure(r, s, 500, "internal", "internal error");
}

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

// People are e-mail addresses (lower-cased by the directory import) or login names (kept as
// they are: logins are case-sensitive).
std::string PersonId(std::string person) {
  if (person.find('@') != std::string::npos) {
    for (char& c : person) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return person;
}

ordered_json ProblemsJson(const std::vector<scoring::ImportProblem>& problems) {
  ordered_json a = ordered_json::array();
  for (const auto& p : problems) {
    a.push_back({{"line", p.line},
                 {"column", p.column},
                 {"message", p.message},
                 {"text", scoring::FormatImportProblem(p)}});
  }
  return a;
}

// A JSON document read back from the store; null (not an invalid "<discarded>") if it is damaged.
ordered_json StoredJson(const std::string& text) {
  ordered_json j = ordered_json::parse(text, nullptr, false);
  return j.is_discarded() ? ordered_json() : j;
}

// 422: the import is all or nothing; every problem is listed.
HttpResponse ImportRejected(const std::vector<scoring::ImportProblem>& problems) {
  return Json(422, {{"error",
                     {{"status", 422},
                      {"code", "import_rejected"},
                      {"message", "nothing imported: fix every problem and retry"}}},
                    {"problems", ProblemsJson(problems)}});
}

ordered_json AlertSummary(const store::AlertRecord& a, const std::string& policy_name) {
  return {{"id", a.id},
          {"person", a.person},
          {"policy_id", a.policy_id},
          {"policy", policy_name},
          {"status", a.status},
          {"severity", a.severity},
          {"score", a.score},
          {"created_at", FormatUnixNs(a.created_at_ns)},
          {"updated_at", FormatUnixNs(a.updated_at_ns)},
          {"first_activity", a.first_activity_ns ? FormatUnixNs(a.first_activity_ns) : ""},
          {"last_activity", a.last_activity_ns ? FormatUnixNs(a.last_activity_ns) : ""},
          {"updates", a.updates},
          {"status_reason", a.status_reason},
          {"status_by", a.status_by}};
}

// Every JSON body goes through here: a JSON object whose strings are within ApiJsonFieldLimits.
std::optional<json> ObjectBody(const HttpRequest& r, HttpResponse* error) {
  return ParseJsonObjectBody(r, ApiJsonFieldLimits(), error);
}

std::optional<std::string> StringField(const json& j, const char* key, bool required,
                                       HttpResponse* error) {
  if (!j.contains(key)) {
    if (required) *error = JsonError(400, "missing_field", std::string("missing field: ") + key);
    return std::nullopt;
  }
  if (!j[key].is_string()) {
    *error = JsonError(400, "invalid_field", std::string(key) + ": expected a string");
    return std::nullopt;
  }
  return j[key].get<std::string>();
}

// The listed fields, each a non-empty string, in order; nullopt with a 400 in *error otherwise.
std::optional<std::vector<std::string>> RequiredStrings(const json& j,
                                                        std::initializer_list<const char*> keys,
                                                        HttpResponse* error) {
  std::vector<std::string> out;
  for (const char* key : keys) {
    auto v = StringField(j, key, true, error);
    if (!v) return std::nullopt;
    if (v->empty()) {
      *error = JsonError(400, "invalid_field", std::string(key) + " must not be empty");
      return std::nullopt;
    }
    out.push_back(std::move(*v));
  }
  return out;
}

// Every error body the API sends names the request, so that a report finds the log lines.
HttpResponse WithRequestId(const HttpRequest& r, HttpResponse response) {
  if (response.status < 400 || r.request_id.empty()) return response;
  ordered_json j = ordered_json::parse(response.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("error") || !j["error"].is_object() ||
      j["error"].contains("request_id")) {
    return response;
  }
  j["error"]["request_id"] = r.request_id;
  response.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

}  // namespace

bool IsKnownRole(std::string_view role) {
  return role == kAdmin || role == kAnalyst || role == kViewer;
}

struct ApiService::Impl {
  store::Store* events;
  store::RiskStore* risk;
  scoring::Scorer* scorer;
  Clock* clock;
  Router router;

  struct Caller {
    std::string role;
    std::string name;
  };

  // The token's record; 401 (or a storage failure) in *error when the request carries no valid
  // token.
  std::optional<store::ApiTokenRecord> Authenticate(const HttpRequest& r,
                                                    HttpResponse* error) const {
    constexpr std::string_view kBearer = "Bearer ";
    if (r.authorization.size() <= kBearer.size() ||
        r.authorization.compare(0, kBearer.size(), kBearer) != 0) {
      *error = JsonError(401, "unauthenticated",
                         "send 'Authorization: Bearer <token>' (custos-collector api-token create)",
                         r.request_id);
      error->headers.push_back({"WWW-Authenticate", "Bearer realm=\"custos\""});
      return std::nullopt;
    }
    auto token = risk->FindApiToken(crypto::Sha256(r.authorization.substr(kBearer.size())));
    if (!token.ok() || token->revoked_at_ns) {
      if (!token.ok() && token.status().code() != StatusCode::kNotFound) {
        *error = FromStatus(r, token.status());
        return std::nullopt;
      }
      *error = JsonError(401, "unauthenticated", "unknown or revoked token", r.request_id);
      error->headers.push_back(
          {"WWW-Authenticate", "Bearer realm=\"custos\", error=\"invalid_token\""});
      return std::nullopt;
    }
    return std::move(*token);
  }

  // 401/403 in *error when the caller may not proceed.
  std::optional<Caller> Authorize(const HttpRequest& r,
                                  std::initializer_list<std::string_view> roles,
                                  HttpResponse* error) const {
    auto token = Authenticate(r, error);
    if (!token) return std::nullopt;
    bool allowed = false;
    for (auto role : roles) allowed = allowed || token->role == role;
    if (!allowed) {
      *error =
          JsonError(403, "forbidden", "role '" + token->role + "' may not do this", r.request_id);
      return std::nullopt;
    }
    return Caller{token->role, token->name};
  }

  // Before the body is read: the token first (so that an unauthenticated client learns nothing,
  // not even whether a route exists), then the route and its body limit.
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

  std::map<std::string, std::string> PolicyNames() const {
    std::map<std::string, std::string> names;
    auto rows = risk->ListPolicies();
    if (rows.ok()) {
      for (const auto& p : *rows) names[p.id] = p.name;
    }
    return names;
  }

  // With scoring disabled (no scorer) changes are stored and take effect when it is enabled.
  Status ReloadScoring() const { return scorer ? scorer->Reload() : OkStatus(); }
  Status ApplyTriggers(std::vector<store::TriggerRecord> t) const {
    return scorer ? scorer->AddTriggers(std::move(t)) : OkStatus();
  }
  Result<store::AlertRecord> SetStatus(int64_t id, std::string_view status, std::string_view reason,
                                       std::string_view by) const {
    if (scorer) return scorer->SetAlertStatus(id, status, reason, by);
    // Without the engine there is no snapshot; the close time alone still keeps a later
    // rebuild from scoring the closed activity again (floor at the close).
    const int64_t now = clock->NowUnixNs();
    const bool closing = status == store::kDismissed || status == store::kResolved;
    return risk->SetAlertStatus(id, status, reason, by, now,
                                closing ? "{\"floor_ns\":" + std::to_string(now) + "}" : "");
  }

  void AddRoutes();
};

#define CUSTOS_API_AUTH(...)                              \
  HttpResponse auth_error;                                \
  auto caller = Authorize(r, {__VA_ARGS__}, &auth_error); \
  if (!caller) return auth_error;

void ApiService::Impl::AddRoutes() {
  router.Add("GET", "/api/v1/health",
             [](const HttpRequest&, const PathParams&) {
               return Json(200, {{"status", "ok"}});
             },
             {.anonymous = true});

  // ---- alerts ----
  router.Add("GET", "/api/v1/alerts", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    store::AlertQuery q;
    if (auto v = r.Query("status"); !v.empty()) {
      if (v != "open" && v != store::kNeedsReview && v != store::kConfirmed &&
          v != store::kDismissed && v != store::kResolved) {
        return JsonError(400, "invalid_query",
                         "status: one of open, needs_review, confirmed, dismissed, resolved");
      }
      if (v != "open") q.status = v;
    }
    if (auto v = r.Query("severity"); !v.empty()) {
      if (v != "low" && v != "medium" && v != "high") {
        return JsonError(400, "invalid_query", "severity: one of low, medium, high");
      }
      q.severity = v;
    }
    if (auto v = r.Query("person"); !v.empty()) q.person = PersonId(v);
    if (auto v = r.Query("policy"); !v.empty()) q.policy_id = v;
    if (auto v = r.Query("min_score"); !v.empty()) {
      auto n = ParseInt(v);
      if (!n || *n < 0 || *n > 100) return JsonError(400, "invalid_query", "min_score: 0..100");
      q.min_score = static_cast<uint32_t>(*n);
    }
    if (auto v = r.Query("limit"); !v.empty()) {
      auto n = ParseInt(v);
      if (!n || *n < 1 || *n > 1000) return JsonError(400, "invalid_query", "limit: 1..1000");
      q.limit = static_cast<uint32_t>(*n);
    }
    if (auto v = r.Query("before"); !v.empty()) {
      auto n = ParseInt(v);
      if (!n) return JsonError(400, "invalid_query", "before: an alert id");
      q.before_id = *n;
    }
    q.open_only = r.Query("status") == "open";
    auto alerts = risk->QueryAlerts(q);
    if (!alerts.ok()) return FromStatus(r, alerts.status());
    auto names = PolicyNames();
    ordered_json list = ordered_json::array();
    int64_t last_id = 0;
    for (const auto& a : *alerts) {
      list.push_back(AlertSummary(a, names[a.policy_id]));
      last_id = a.id;
    }
    ordered_json out = {{"alerts", list}};
    if (!list.empty()) out["next_before"] = last_id;
    return Json(200, out);
  });

  router.Add("GET", "/api/v1/alerts/{id}", [this](const HttpRequest& r, const PathParams& p) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    auto id = ParseInt(p.at("id"));
    if (!id) return JsonError(400, "invalid_id", "alert id must be a number");
    auto a = risk->GetAlert(*id);
    if (!a.ok()) return FromStatus(r, a.status());
    ordered_json out = AlertSummary(*a, PolicyNames()[a->policy_id]);
    out["explanation"] = StoredJson(a->explanation_json);
    return Json(200, out);
  });

  router.Add(
      "POST", "/api/v1/alerts/{id}/status", [this](const HttpRequest& r, const PathParams& p) {
        CUSTOS_API_AUTH(kAdmin, kAnalyst);
        auto id = ParseInt(p.at("id"));
        if (!id) return JsonError(400, "invalid_id", "alert id must be a number");
        HttpResponse err;
        auto body = ObjectBody(r, &err);
        if (!body) return err;
        auto status = StringField(*body, "status", true, &err);
        if (!status) return err;
        auto reason = StringField(*body, "reason", false, &err);
        if (!reason && err.status != 200) return err;
        if (*status != store::kNeedsReview && *status != store::kConfirmed &&
            *status != store::kDismissed && *status != store::kResolved) {
          return JsonError(400, "invalid_field",
                           "status: one of needs_review, confirmed, dismissed, resolved");
        }
        if (*status == store::kDismissed && reason.value_or("").empty()) {
          return JsonError(400, "missing_field", "reason: dismissing an alert needs a reason");
        }
        auto a = SetStatus(*id, *status, reason.value_or(""), caller->name);
        if (!a.ok()) return FromStatus(r, a.status());
        logging::Info("api: alert status changed",
                      {{"alert", *id}, {"status", *status}, {"by", caller->name}});
        return Json(200, AlertSummary(*a, PolicyNames()[a->policy_id]));
      });

  // ---- events ----
  router.Add("GET", "/api/v1/events", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    store::EventQuery q;
    const int64_t now = clock->NowUnixNs();
    for (const char* key : {"since", "until"}) {
      auto v = r.Query(key);
      if (v.empty()) continue;
      int64_t t = 0;
      if (!ParseTimeSpec(v, now, &t)) {
        return JsonError(
            400, "invalid_query",
            std::string(key) + ": a time like 2026-11-21T10:00:00Z, 2026-11-21 or -2h");
      }
      (std::string_view(key) == "since" ? q.since_ns : q.until_ns) = t;
    }
    if (auto v = r.Query("user"); !v.empty()) q.user = v;
    if (auto v = r.Query("agent"); !v.empty()) q.agent_id = v;
    if (auto v = r.Query("type"); !v.empty()) {
      auto t = store::ParseEventType(v);
      if (!t) return JsonError(400, "invalid_query", "type: file, usb, setting, process, ...");
      q.type = *t;
    }
    q.limit = 100;
    if (auto v = r.Query("limit"); !v.empty()) {
      auto n = ParseInt(v);
      if (!n || *n < 1 || *n > 10000) return JsonError(400, "invalid_query", "limit: 1..10000");
      q.limit = static_cast<uint32_t>(*n);
    }
    q.newest_first = r.Query("order", "newest") != "oldest";
    auto rows = events->QueryEvents(q);
    if (!rows.ok()) return FromStatus(r, rows.status());
    ordered_json list = ordered_json::array();
    for (const auto& e : *rows) {
      auto decoded = cli::DecodePayload(e);
      list.push_back(cli::EventToJson(e, decoded ? &*decoded : nullptr));
    }
    return Json(200, {{"events", list}});
  });

  // ---- catalog ----
  router.Add("GET", "/api/v1/indicators", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    ordered_json list = ordered_json::array();
    for (const auto& i : scoring::Catalog()) {
      list.push_back(
          {{"id", i.key},
           {"name", i.name},
           {"category", i.category},
           {"weight", i.weight},
           {"tiers", {{"low", i.tiers.low}, {"medium", i.tiers.medium}, {"high", i.tiers.high}}}});
    }
    return Json(200, {{"indicators", list}});
  });

  router.Add("GET", "/api/v1/templates", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    ordered_json list = ordered_json::array();
    for (const auto& t : scoring::Templates()) {
      auto p = scoring::PolicyFromTemplate(t.id, t.name);
      ordered_json e = {{"id", t.id}, {"name", t.name}, {"description", t.description}};
      if (p.ok()) e["defaults"] = ordered_json::parse(scoring::PolicyToJson(*p));
      list.push_back(std::move(e));
    }
    return Json(200, {{"templates", list}});
  });

  // ---- policies ----
  router.Add("GET", "/api/v1/policies", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    auto rows = risk->ListPolicies();
    if (!rows.ok()) return FromStatus(r, rows.status());
    ordered_json list = ordered_json::array();
    for (const auto& p : *rows) list.push_back(StoredJson(p.body_json));
    return Json(200, {{"policies", list}});
  });

  router.Add("GET", "/api/v1/policies/{id}", [this](const HttpRequest& r, const PathParams& p) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    auto rows = risk->ListPolicies();
    if (!rows.ok()) return FromStatus(r, rows.status());
    for (const auto& row : *rows) {
      if (row.id == p.at("id"))
        return Json(200, ordered_json::parse(row.body_json, nullptr, false));
    }
    return JsonError(404, "not_found", "policy " + p.at("id") + ": not found");
  });

  router.Add("POST", "/api/v1/policies", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin);
    HttpResponse err;
    auto body = ObjectBody(r, &err);
    if (!body) return err;
    auto tmpl = StringField(*body, "template", true, &err);
    if (!tmpl) return err;
    auto name = StringField(*body, "name", true, &err);
    if (!name) return err;
    auto policy = scoring::PolicyFromTemplate(*tmpl, *name);
    if (!policy.ok()) return FromStatus(r, policy.status());
    Status s = scoring::ApplyPolicyJson(r.body, &*policy);
    if (!s.ok()) return FromStatus(r, s);
    auto rnd = crypto::RandomBytes(6);
    if (!rnd.ok()) return FromStatus(r, rnd.status());
    policy->id = "pol_" + crypto::HexEncode(*rnd);
    policy->created_at_ns = clock->NowUnixNs();
    const std::string text = scoring::PolicyToJson(*policy);
    s = risk->InsertPolicy(
        {policy->id, policy->name, policy->template_id, text, policy->created_at_ns});
    if (!s.ok()) return FromStatus(r, s);
    s = ReloadScoring();
    if (!s.ok()) return FromStatus(r, s);
    logging::Info("api: policy created",
                  {{"policy", policy->id}, {"template", *tmpl}, {"by", caller->name}});
    return Json(201, ordered_json::parse(text));
  });

  router.Add("DELETE", "/api/v1/policies/{id}", [this](const HttpRequest& r, const PathParams& p) {
    CUSTOS_API_AUTH(kAdmin);
    Status s = risk->DeletePolicy(p.at("id"));
    if (!s.ok()) return FromStatus(r, s);
    s = ReloadScoring();
    if (!s.ok()) return FromStatus(r, s);
    HttpResponse resp;
    resp.status = 204;
    resp.content_type.clear();
    return resp;
  });

  // ---- directory ----
  // The directory's people are the users policies and alerts speak of: /users is the same list.
  RouteHandler list_people = [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    auto people = risk->ListPeople();
    if (!people.ok()) return FromStatus(r, people.status());
    auto logins = risk->ListLogins();
    if (!logins.ok()) return FromStatus(r, logins.status());
    std::map<std::string, ordered_json> by_person;
    for (const auto& l : *logins) {
      by_person[l.person].push_back({{"login", l.login}, {"host", l.host.empty() ? "*" : l.host}});
    }
    ordered_json list = ordered_json::array();
    for (const auto& p : *people) {
      ordered_json ls = by_person.count(p.id) ? by_person[p.id] : ordered_json::array();
      list.push_back({{"id", p.id},
                      {"display_name", p.display_name},
                      {"department", p.department},
                      {"manager", p.manager},
                      {"groups", p.groups},
                      {"logins", ls}});
    }
    return Json(200, {{"people", list}});
  };
  router.Add("GET", "/api/v1/people", list_people);
  router.Add("GET", "/api/v1/users", list_people);

  // The imports carry whole CSV exports: the only routes with a large body limit.
  RouteHandler import_directory = [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin);
    auto result = scoring::ParseDirectoryCsv(r.body);
    if (!result.problems.empty()) {
      return ImportRejected(result.problems);
    }
    std::map<std::string, store::PersonRecord> people;
    std::vector<store::LoginRecord> logins;
    for (const auto& e : result.entries) {
      auto& p = people[e.email];
      p.id = e.email;
      if (!e.display_name.empty()) p.display_name = e.display_name;
      if (!e.department.empty()) p.department = e.department;
      if (!e.manager.empty()) p.manager = e.manager;
      for (const auto& g : e.groups) {
        if (std::find(p.groups.begin(), p.groups.end(), g) == p.groups.end()) p.groups.push_back(g);
      }
      logins.push_back({e.login, e.host == "*" ? "" : e.host, e.email});
    }
    std::vector<store::PersonRecord> list;
    for (auto& [id, p] : people) list.push_back(std::move(p));
    Status s = risk->ReplaceDirectory(list, logins);
    if (!s.ok()) return FromStatus(r, s);
    s = ReloadScoring();
    if (!s.ok()) return FromStatus(r, s);
    logging::Info("api: directory imported",
                  {{"people", list.size()}, {"logins", logins.size()}, {"by", caller->name}});
    return Json(200, {{"people", list.size()}, {"logins", logins.size()}});
  };
  router.Add("POST", "/api/v1/directory/import", import_directory,
             {.max_body_bytes = kImportMaxBodyBytes});

  // ---- triggers: HR import, external alerts, manual ----
  RouteHandler import_hr = [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin);
    std::optional<scoring::HrScenario> hint;
    if (auto v = r.Query("scenario"); !v.empty()) {
      hint = scoring::ParseHrScenario(v);
      if (!hint) {
        return JsonError(400, "invalid_query",
                         "scenario: resignation, job_level_change, performance_review or "
                         "performance_improvement_plan");
      }
    }
    auto people = risk->ListPeople();
    if (!people.ok()) return FromStatus(r, people.status());
    std::set<std::string, std::less<>> known;
    for (const auto& p : *people) known.insert(p.id);
    auto result = scoring::ParseHrCsv(
        r.body, hint, [&](std::string_view email) { return known.count(email) > 0; });
    if (!result.problems.empty()) {
      return ImportRejected(result.problems);
    }
    const int64_t now = clock->NowUnixNs();
    std::vector<store::TriggerRecord> triggers;
    for (const auto& rec : result.records) {
      store::TriggerRecord t;
      t.person = rec.email;
      t.kind = std::string(scoring::HrScenarioName(rec.scenario));
      t.time_ns = rec.effective_time_ns;
      std::string detail = "HR " + t.kind + " effective " + FormatUnixNs(rec.effective_time_ns);
      if (rec.last_working_time_ns) {
        detail += ", last working day " + FormatUnixNs(*rec.last_working_time_ns);
      }
      if (!rec.old_level.empty() || !rec.new_level.empty()) {
        detail += ", level " + rec.old_level + " -> " + rec.new_level;
      }
      if (!rec.rating.empty()) detail += ", rating " + rec.rating;
      t.detail = detail;
      t.source = "hr-import";
      t.created_at_ns = now;
      t.dedup_key = "hr|" + rec.email + "|" + t.kind + "|" + std::to_string(rec.effective_time_ns);
      triggers.push_back(std::move(t));
    }
    auto added = risk->InsertTriggers(triggers);
    if (!added.ok()) return FromStatus(r, added.status());
    Status s = ApplyTriggers(std::move(triggers));
    if (!s.ok()) return FromStatus(r, s);
    logging::Info("api: HR rows imported",
                  {{"rows", result.records.size()}, {"new", *added}, {"by", caller->name}});
    return Json(200, {{"rows", result.records.size()},
                      {"new", *added},
                      {"already_imported", result.records.size() - *added}});
  };
  router.Add("POST", "/api/v1/hr/import", import_hr, {.max_body_bytes = kImportMaxBodyBytes});

  router.Add("POST", "/api/v1/external-alerts", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst);
    HttpResponse err;
    auto body = ObjectBody(r, &err);
    if (!body) return err;
    auto fields = RequiredStrings(*body, {"person", "source", "title"}, &err);
    if (!fields) return err;
    const std::string& person = (*fields)[0];
    const std::string& source = (*fields)[1];
    const std::string& title = (*fields)[2];
    auto ext_id = StringField(*body, "id", false, &err);
    if (!ext_id && err.status != 200) return err;
    auto time = StringField(*body, "time", false, &err);
    if (!time && err.status != 200) return err;
    const int64_t now = clock->NowUnixNs();
    int64_t t = now;
    if (time && !ParseTimeSpec(*time, now, &t)) {
      return JsonError(400, "invalid_field", "time: e.g. 2026-11-21T10:00:00Z");
    }
    store::TriggerRecord tr;
    tr.person = PersonId(person);
    tr.kind = "external_alert";
    tr.time_ns = t;
    tr.detail = source + ": " + title;
    tr.source = "external-alert:" + source;
    tr.created_at_ns = now;
    if (ext_id && !ext_id->empty()) tr.dedup_key = "ext|" + source + "|" + *ext_id;
    auto added = risk->InsertTriggers({&tr, 1});
    if (!added.ok()) return FromStatus(r, added.status());
    if (*added > 0) {
      Status s = ApplyTriggers({tr});
      if (!s.ok()) return FromStatus(r, s);
    }
    return Json(*added > 0 ? 201 : 200, {{"accepted", true}, {"duplicate", *added == 0}});
  });

  router.Add("POST", "/api/v1/triggers", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst);
    HttpResponse err;
    auto body = ObjectBody(r, &err);
    if (!body) return err;
    auto fields = RequiredStrings(*body, {"person", "reason"}, &err);
    if (!fields) return err;
    const std::string& person = (*fields)[0];
    const std::string& reason = (*fields)[1];
    if (!body->contains("days") || !(*body)["days"].is_number_integer() ||
        (*body)["days"].get<int64_t>() < 1 || (*body)["days"].get<int64_t>() > 365) {
      return JsonError(400, "invalid_field", "days: a whole number from 1 to 365");
    }
    const int64_t now = clock->NowUnixNs();
    store::TriggerRecord tr;
    tr.person = PersonId(person);
    tr.kind = "manual";
    tr.time_ns = now;
    tr.end_ns = now + (*body)["days"].get<int64_t>() * kNanosPerDay;
    tr.detail = "manual by " + caller->name + ": " + reason;
    tr.source = "manual:" + caller->name;
    tr.created_at_ns = now;
    auto added = risk->InsertTriggers({&tr, 1});
    if (!added.ok()) return FromStatus(r, added.status());
    Status s = ApplyTriggers({tr});
    if (!s.ok()) return FromStatus(r, s);
    return Json(201, {{"person", tr.person},
                      {"from", FormatUnixNs(tr.time_ns)},
                      {"until", FormatUnixNs(tr.end_ns)}});
  });

  router.Add("GET", "/api/v1/triggers", [this](const HttpRequest& r, const PathParams&) {
    CUSTOS_API_AUTH(kAdmin, kAnalyst, kViewer);
    std::optional<std::string> person;
    if (auto v = r.Query("person"); !v.empty()) person = v;
    auto rows = risk->ListTriggers(person);
    if (!rows.ok()) return FromStatus(r, rows.status());
    ordered_json list = ordered_json::array();
    for (const auto& t : *rows) {
      list.push_back({{"id", t.id},
                      {"person", t.person},
                      {"kind", t.kind},
                      {"time", FormatUnixNs(t.time_ns)},
                      {"until", t.end_ns ? FormatUnixNs(t.end_ns) : ""},
                      {"detail", t.detail},
                      {"source", t.source}});
    }
    return Json(200, {{"triggers", list}});
  });
}

ApiService::ApiService(store::Store* events, store::RiskStore* risk, scoring::Scorer* scorer,
                       Clock* clock)
    : impl_(std::make_unique<Impl>()) {
  impl_->events = events;
  impl_->risk = risk;
  impl_->scorer = scorer;
  impl_->clock = clock;
  impl_->AddRoutes();
}

ApiService::~ApiService() = default;

HttpResponse ApiService::Handle(const HttpRequest& request) const {
  // Through the HTTPS server Admit has run already; a direct caller gets the same 401 first.
  if (impl_->router.Find(request) == nullptr) {
    HttpResponse error;
    if (!impl_->Authenticate(request, &error)) return WithRequestId(request, std::move(error));
  }
  return WithRequestId(request, impl_->router.Dispatch(request));
}

Admission ApiService::Admit(const HttpRequest& request) const {
  Admission admission = impl_->Admit(request);
  if (admission.refusal) {
    admission.refusal = WithRequestId(request, std::move(*admission.refusal));
  }
  return admission;
}

Handler ApiService::AsHandler() const {
  return [this](const HttpRequest& r) { return Handle(r); };
}

Admitter ApiService::AsAdmitter() const {
  return [this](const HttpRequest& r) { return Admit(r); };
}

}  // namespace custos::collector::api
