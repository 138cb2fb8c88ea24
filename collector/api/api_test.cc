// Tests of the REST API's request checks (collector/api/api.h) over a real SQLite store in a temp
// dir: authentication before anything else, per-route body limits, capped JSON fields, and
// storage failures that reach the client only as a generic message with a request id; and one
// run through the real HTTPS server on loopback.
#include "collector/api/api.h"
#include "collector/api/testing/test_api.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "collector/api/https_client.h"
#include "collector/api/https_server.h"
#include "collector/api/router.h"
#include "collector/store/sqlite/sqlite_risk_store.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/crypto/crypto.h"
#include "common/log/log.h"
#include "common/testing/testing.h"

namespace custos::collector::api {
namespace {

using std::chrono::hours;

// A RiskStore that answers like SQLite under a held write lock when `locked` is set, else
// forwards to the real store.
class LockableRiskStore : public store::RiskStore {
 public:
  explicit LockableRiskStore(store::RiskStore* real) : real_(real) {}
  bool locked = false;

  Result<uint32_t> ScanEventsAfter(
      int64_t after_id, uint32_t limit,
      const std::function<void(const store::FeedEventView&)>& visit) override {
    return real_->ScanEventsAfter(after_id, limit, visit);
  }
  Result<int64_t> FirstEventIdSince(int64_t t) override { return real_->FirstEventIdSince(t); }
  Result<int64_t> LastEventId() override { return real_->LastEventId(); }
  Status ReplaceDirectory(std::span<const store::PersonRecord> people,
                          std::span<const store::LoginRecord> logins) override {
    if (locked) return Locked();
    return real_->ReplaceDirectory(people, logins);
  }
  Result<std::vector<store::PersonRecord>> ListPeople() override { return real_->ListPeople(); }
  Result<std::vector<store::LoginRecord>> ListLogins() override { return real_->ListLogins(); }
  Status InsertPolicy(const store::PolicyRecord& p) override { return real_->InsertPolicy(p); }
  Status DeletePolicy(std::string_view id) override { return real_->DeletePolicy(id); }
  Result<std::vector<store::PolicyRecord>> ListPolicies() override { return real_->ListPolicies(); }
  Result<uint32_t> InsertTriggers(std::span<const store::TriggerRecord> t) override {
    if (locked) return Locked();
    return real_->InsertTriggers(t);
  }
  Result<std::vector<store::TriggerRecord>> ListTriggers(
      std::optional<std::string> person) override {
    return real_->ListTriggers(std::move(person));
  }
  Status ApplyAlertUpdates(std::span<store::AlertRecord> u, int64_t now_ns) override {
    return real_->ApplyAlertUpdates(u, now_ns);
  }
  Result<std::vector<store::AlertRecord>> QueryAlerts(const store::AlertQuery& q) override {
    return real_->QueryAlerts(q);
  }
  Result<store::AlertRecord> GetAlert(int64_t id) override { return real_->GetAlert(id); }
  Result<store::AlertRecord> SetAlertStatus(int64_t id, std::string_view status,
                                            std::string_view reason, std::string_view by,
                                            int64_t now_ns,
                                            std::string_view close_snapshot) override {
    return real_->SetAlertStatus(id, status, reason, by, now_ns, close_snapshot);
  }
  Status CreateApiToken(const store::ApiTokenRecord& t, std::string_view sha) override {
    return real_->CreateApiToken(t, sha);
  }
  Result<store::ApiTokenRecord> FindApiToken(std::string_view sha) override {
    return real_->FindApiToken(sha);
  }
  Result<std::vector<store::ApiTokenRecord>> ListApiTokens() override {
    return real_->ListApiTokens();
  }
  Status RevokeApiToken(std::string_view id, int64_t now_ns) override {
    return real_->RevokeApiToken(id, now_ns);
  }

 private:
  static Status Locked() {
    return UnavailableError(
        "store: /var/lib/custos/collector/custos.db: BEGIN IMMEDIATE: database is locked");
  }
  store::RiskStore* real_;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto events = store::OpenSqliteStore({.path = dir_.Sub("custos.db")});
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    events_ = std::move(*events);
    auto risk = store::OpenSqliteRiskStore(dir_.Sub("custos.db"));
    ASSERT_TRUE(risk.ok()) << risk.status().ToString();
    real_risk_ = std::move(*risk);
    risk_ = std::make_unique<LockableRiskStore>(real_risk_.get());
    ASSERT_TRUE(risk_
                    ->CreateApiToken({"tok_admin", "admin", "alice", clock_.NowUnixNs(), {}},
                                     crypto::Sha256("admin-secret"))
                    .ok());
    t_ = api_testing::MakeTestApi(dir_.Sub("custos.db"), events_.get(), risk_.get(), &clock_);
    api_ = t_.api.get();
  }

  static HttpRequest Req(std::string method, std::string target, std::string token = "",
                         std::string body = "") {
    HttpRequest r;
    r.method = std::move(method);
    EXPECT_TRUE(ParseTarget(target, &r).ok()) << target;
    if (!token.empty()) r.authorization = "Bearer " + token;
    r.body = std::move(body);
    r.request_id = "req-42";
    return r;
  }

  static nlohmann::json Error(const HttpResponse& response) {
    return nlohmann::json::parse(response.body)["error"];
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::Store> events_;
  std::unique_ptr<store::RiskStore> real_risk_;
  std::unique_ptr<LockableRiskStore> risk_;
  api_testing::TestApi t_;
  ApiService* api_ = nullptr;
};

TEST_F(ApiTest, UnauthenticatedRequestsGet401BeforeAnythingAboutTheRoute) {
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/v1/no-such-thing"},
           {"DELETE", "/api/v1/alerts"},  // a 405 for a caller with a token
           {"GET", "/api/v1/alerts"}}) {
    for (const std::string token : {"", "wrong"}) {
      const HttpRequest r = Req(method, path, token);
      const Admission admission = api_->Admit(r);
      ASSERT_TRUE(admission.refusal.has_value()) << method << " " << path;
      EXPECT_EQ(admission.refusal->status, 401) << method << " " << path;
      EXPECT_EQ(Error(*admission.refusal)["request_id"], "req-42");
      EXPECT_EQ(api_->Handle(r).status, 401) << method << " " << path;
    }
  }
  // With a token the router answers.
  EXPECT_EQ(api_->Handle(Req("GET", "/api/v1/no-such-thing", "admin-secret")).status, 404);
  EXPECT_EQ(api_->Admit(Req("GET", "/api/v1/no-such-thing", "admin-secret")).refusal->status, 404);
  EXPECT_EQ(api_->Handle(Req("DELETE", "/api/v1/alerts", "admin-secret")).status, 405);
  // The health check alone needs no token.
  EXPECT_FALSE(api_->Admit(Req("GET", "/api/v1/health")).refusal.has_value());
  EXPECT_EQ(api_->Handle(Req("GET", "/api/v1/health")).status, 200);
}

TEST_F(ApiTest, ChangesAndSensitiveReadsAreAuditedWithActorAndSource) {
  ASSERT_TRUE(real_risk_
                  ->CreateApiToken({"tok_inv", "investigator", "dana", clock_.NowUnixNs(), {}},
                                   crypto::Sha256("inv-secret"))
                  .ok());
  store::AlertRecord a;
  a.person = "eve@example.com";
  a.policy_id = "pol_1";
  a.severity = "high";
  a.score = 90;
  a.explanation_json = "{}";
  std::vector<store::AlertRecord> updates{a};
  ASSERT_TRUE(real_risk_->ApplyAlertUpdates(updates, clock_.NowUnixNs()).ok());
  const std::string id = std::to_string(updates[0].id);

  HttpRequest change = Req("POST", "/api/v1/alerts/" + id + "/status", "inv-secret",
                           R"({"status":"confirmed","reason":"copied the payroll export"})");
  change.remote_address = "192.0.2.7";
  ASSERT_EQ(api_->Handle(change).status, 200);
  HttpRequest read = Req("GET", "/api/v1/events?user=eve&limit=5", "inv-secret");
  read.remote_address = "192.0.2.7";
  ASSERT_EQ(api_->Handle(read).status, 200);
  // Refused and failed requests change nothing and are not changes.
  ASSERT_EQ(api_->Handle(Req("POST", "/api/v1/alerts/" + id + "/status", "admin-secret",
                             R"({"status":"resolved"})"))
                .status,
            403);

  auto entries = t_.audit.log->Query({});
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 2u);
  const access::AuditEntry& status = (*entries)[1];
  EXPECT_EQ(status.actor, "token:dana");
  EXPECT_EQ(status.action, "alert.status");
  EXPECT_EQ(status.object, "alert:" + id);
  EXPECT_EQ(status.summary, "needs_review -> confirmed; reason: copied the payroll export");
  EXPECT_EQ(status.source, "192.0.2.7");
  const access::AuditEntry& events = (*entries)[0];
  EXPECT_EQ(events.action, "events.read");
  EXPECT_EQ(events.summary, "query: /api/v1/events?user=eve&limit=5");

  // Auditors list it through the API, filtered; investigators may not.
  ASSERT_TRUE(real_risk_
                  ->CreateApiToken({"tok_aud", "auditor", "ines", clock_.NowUnixNs(), {}},
                                   crypto::Sha256("aud-secret"))
                  .ok());
  HttpResponse listed = api_->Handle(Req("GET", "/api/v1/audit?action=alert.", "aud-secret"));
  ASSERT_EQ(listed.status, 200) << listed.body;
  auto body = nlohmann::json::parse(listed.body);
  ASSERT_EQ(body["entries"].size(), 1u);
  EXPECT_EQ(body["entries"][0]["object"], "alert:" + id);
  EXPECT_EQ(body["entries"][0]["actor"], "token:dana");
  EXPECT_EQ(body["entries"][0]["hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(api_->Handle(Req("GET", "/api/v1/audit", "inv-secret")).status, 403);
  EXPECT_EQ(api_->Handle(Req("GET", "/api/v1/audit?limit=0", "aud-secret")).status, 400);
}

TEST_F(ApiTest, OnlyTheImportsAdmitLargeBodies) {
  const auto limit = [&](const std::string& path) {
    const Admission a = api_->Admit(Req("POST", path, "admin-secret"));
    EXPECT_FALSE(a.refusal.has_value()) << path;
    return a.max_body_bytes;
  };
  EXPECT_EQ(limit("/api/v1/hr/import"), 32u << 20);
  EXPECT_EQ(limit("/api/v1/directory/import"), 32u << 20);
  for (const char* path : {"/api/v1/external-alerts", "/api/v1/triggers", "/api/v1/policies",
                           "/api/v1/alerts/1/status"}) {
    EXPECT_EQ(limit(path), kDefaultMaxBodyBytes) << path;
  }
}

TEST_F(ApiTest, OverlongFieldsGet400NamingTheFieldAndLimit) {
  const std::string title(5u << 20, 't');  // issue 17: a 5 MB title was accepted
  HttpResponse response = api_->Handle(Req(
      "POST", "/api/v1/external-alerts", "admin-secret",
      nlohmann::json{{"person", "a@example.com"}, {"source", "siem"}, {"title", title}}.dump()));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(Error(response)["code"], "field_too_long");
  EXPECT_EQ(Error(response)["message"], "title: at most 1024 bytes (got 5242880)");
  EXPECT_EQ(Error(response)["request_id"], "req-42");

  response = api_->Handle(Req(
      "POST", "/api/v1/triggers", "admin-secret",
      nlohmann::json{{"person", "a@example.com"}, {"reason", std::string(5000, 'r')}, {"days", 3}}
          .dump()));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(Error(response)["message"], "reason: at most 4096 bytes (got 5000)");

  response = api_->Handle(
      Req("POST", "/api/v1/policies", "admin-secret",
          nlohmann::json{{"template", "departing"}, {"name", std::string(300, 'n')}}.dump()));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(Error(response)["message"], "name: at most 256 bytes (got 300)");

  // Within the limits the same request is taken.
  response = api_->Handle(Req(
      "POST", "/api/v1/external-alerts", "admin-secret",
      nlohmann::json{{"person", "a@example.com"}, {"source", "siem"}, {"title", "USB"}}.dump()));
  EXPECT_EQ(response.status, 201) << response.body;
}

TEST_F(ApiTest, StorageFailuresReachTheClientOnlyAsAGenericMessage) {
  const std::string log_path = dir_.Sub("log.txt");
  const int fd = ::open(log_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  logging::SetOutputFd(fd);
  risk_->locked = true;
  const HttpResponse response =
      api_->Handle(Req("POST", "/api/v1/external-alerts", "admin-secret",
                       R"({"person":"a@example.com","source":"siem","title":"USB"})"));
  logging::SetOutputFd(2);
  ::close(fd);

  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(Error(response)["code"], "unavailable");
  EXPECT_EQ(Error(response)["request_id"], "req-42");
  for (const char* secret : {"custos.db", "/var/lib", "BEGIN", "locked", "store:"}) {
    EXPECT_EQ(response.body.find(secret), std::string::npos) << secret << ": " << response.body;
  }
  EXPECT_NE(response.body.find("req-42"), std::string::npos) << response.body;
  auto log = testing::ReadFile(log_path);
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("request_id=req-42"), std::string::npos) << *log;
  EXPECT_NE(log->find("BEGIN IMMEDIATE: database is locked"), std::string::npos) << *log;
}

// Through the real server: an unauthenticated client announcing a 30 MB body to an unknown path
// gets 401 without being invited to send it.
TEST_F(ApiTest, ServerAsksTheApiBeforeReadingABody) {
  auto ca = crypto::CreateCa("Custos API Test CA", hours(24));
  ASSERT_TRUE(ca.ok());
  auto cert =
      crypto::IssueServerCertificate(*ca, "localhost", {"localhost"}, {"127.0.0.1"}, hours(24));
  ASSERT_TRUE(cert.ok());
  HttpsServerOptions options;
  options.port = 0;
  auto server = HttpsServer::Start(options, cert->cert_pem, cert->key_pem, api_->AsHandler(),
                                   api_->AsAdmitter());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  HttpsClient::Options client_options;
  client_options.host = "127.0.0.1";
  client_options.port = (*server)->port();
  client_options.ca_pem = ca->cert_pem;
  HttpsClient client(client_options);

  auto unknown = client.Request("POST", "/api/v1/nothing-here", std::string(100u << 10, 'x'));
  ASSERT_TRUE(unknown.ok()) << unknown.status().ToString();
  EXPECT_EQ(unknown->status, 401);
  auto too_big =
      client.Request("POST", "/api/v1/triggers", std::string(100u << 10, 'x'), "admin-secret");
  ASSERT_TRUE(too_big.ok()) << too_big.status().ToString();
  EXPECT_EQ(too_big->status, 413);
  auto health = client.Request("GET", "/api/v1/health");
  ASSERT_TRUE(health.ok()) << health.status().ToString();
  EXPECT_EQ(health->status, 200);
  (*server)->Stop();
}

}  // namespace
}  // namespace custos::collector::api

namespace custos::collector::api {
namespace {

// Priority groups through ApiService: members are visible only to their reviewers (the object
// rule of docs/api.md's matrix); everyone else gets 404 for one of their objects and lists
// without them.
TEST_F(ApiTest, PriorityGroupMembersAreHiddenFromAllButTheirReviewers) {
  // Two investigators with personal tokens.
  std::map<std::string, std::string> token;
  for (const char* name : {"rita", "ana"}) {
    auto a = api_->accounts()->CreateAccount({.username = name,
                                              .roles = {access::Role::kInvestigator},
                                              .password = "long enough password"});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    const access::Principal self{.via = access::Principal::Via::kSession,
                                 .id = a->id,
                                 .name = a->username,
                                 .roles = a->roles};
    auto t = api_->accounts()->CreatePersonalToken(self, a->id, "t", {});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    token[name] = t->secret;
  }
  ASSERT_EQ(api_->Handle(Req("POST", "/api/v1/directory/import", "admin-secret",
                             "Login,Host,EmailAddress,DisplayName,Department,Manager,Groups\n"
                             "ceo,*,ceo@example.com,Cee,Board,,executives\n"
                             "ann,*,ann@example.com,Ann,Sales,,staff\n"))
                .status,
            200);
  ASSERT_EQ(api_->Handle(Req("PATCH", "/api/v1/settings", "admin-secret",
                             R"({"pseudonymisation":false})"))
                .status,
            200);
  std::vector<store::AlertRecord> updates(2);
  updates[0].person = "ceo@example.com";
  updates[1].person = "ann@example.com";
  for (auto& a : updates) {
    a.policy_id = "pol_1";
    a.severity = "high";
    a.score = 80;
    a.explanation_json = "{}";
  }
  ASSERT_TRUE(real_risk_->ApplyAlertUpdates(updates, clock_.NowUnixNs()).ok());
  const std::string ceo_alert = "/api/v1/alerts/" + std::to_string(updates[0].id);

  // Before any priority group both see both.
  EXPECT_EQ(api_->Handle(Req("GET", ceo_alert, token["ana"])).status, 200);

  HttpResponse put = api_->Handle(Req("PUT", "/api/v1/priority-groups/executives", "admin-secret",
                                      R"({"reviewers":["rita"]})"));
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(api_->Handle(Req("PUT", "/api/v1/priority-groups/x", "admin-secret",
                             R"({"reviewers":["nobody"]})"))
                .status,
            400);

  auto people_of = [&](const std::string& who, const std::string& target) {
    HttpResponse r = api_->Handle(Req("GET", target, token[who]));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  };
  EXPECT_EQ(people_of("ana", "/api/v1/alerts").find("ceo@example.com"), std::string::npos);
  EXPECT_NE(people_of("ana", "/api/v1/alerts").find("ann@example.com"), std::string::npos);
  EXPECT_NE(people_of("rita", "/api/v1/alerts").find("ceo@example.com"), std::string::npos);
  EXPECT_EQ(people_of("ana", "/api/v1/people").find("ceo@example.com"), std::string::npos);
  HttpResponse hidden = api_->Handle(Req("GET", ceo_alert, token["ana"]));
  EXPECT_EQ(hidden.status, 404) << "404, not 403: ana may not know the alert exists";
  EXPECT_EQ(
      api_->Handle(Req("POST", ceo_alert + "/status", token["ana"], R"({"status":"confirmed"})"))
          .status,
      404);
  EXPECT_EQ(api_->Handle(Req("GET", ceo_alert, token["rita"])).status, 200);
  // A service token is never a reviewer.
  ASSERT_TRUE(real_risk_
                  ->CreateApiToken({"tok_svc", "investigator", "svc", clock_.NowUnixNs(), {}},
                                   crypto::Sha256("svc-secret"))
                  .ok());
  EXPECT_EQ(api_->Handle(Req("GET", ceo_alert, "svc-secret")).status, 404);

  // Deleting the group shows the members again.
  EXPECT_EQ(
      api_->Handle(Req("DELETE", "/api/v1/priority-groups/executives", "admin-secret")).status,
      204);
  EXPECT_EQ(api_->Handle(Req("GET", ceo_alert, token["ana"])).status, 200);
}

}  // namespace
}  // namespace custos::collector::api

namespace custos::collector::api {
namespace {

TEST_F(ApiTest, ForgedCredentialsAndMissingCsrfTokensAreRefusedAndCounted) {
  auto a = api_->accounts()->CreateAccount(
      {.username = "ana", .roles = {access::Role::kAnalyst}, .password = "long enough password"});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto session = api_->accounts()->SignIn("ana", "long enough password", "192.0.2.1");
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  const auto before = api_->auth_counters();

  HttpRequest forged = Req("GET", "/api/v1/alerts");
  forged.cookie = "theme=dark; custos_session=" + std::string(43, 'A');
  EXPECT_EQ(api_->Handle(forged).status, 401);
  HttpRequest malformed = Req("GET", "/api/v1/alerts");
  malformed.cookie = "custos_session=" + std::string(5000, '%');
  EXPECT_EQ(api_->Handle(malformed).status, 401);
  EXPECT_EQ(api_->Handle(Req("GET", "/api/v1/alerts", "cus_pat_" + std::string(43, 'z'))).status,
            401);

  HttpRequest read = Req("GET", "/api/v1/alerts");
  read.cookie = "custos_session=" + session->session_cookie_secret;
  EXPECT_EQ(api_->Handle(read).status, 200) << "reads need no CSRF token";
  HttpRequest change =
      Req("POST", "/api/v1/triggers", "", R"({"person":"x","days":1,"reason":"r"})");
  change.cookie = read.cookie;
  HttpResponse no_csrf = api_->Handle(change);
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_EQ(Error(no_csrf)["code"], "csrf_failed");
  change.csrf_token = "wrong";
  EXPECT_EQ(api_->Handle(change).status, 403);
  change.csrf_token = session->csrf_token;
  EXPECT_EQ(api_->Handle(change).status, 201);

  // Sign-in takes JSON only: a cross-site form post cannot sign a browser in (login CSRF).
  HttpRequest form =
      Req("POST", "/api/v1/session", "", R"({"username":"ana","password":"long enough password"})");
  form.content_type = "text/plain";
  EXPECT_EQ(api_->Handle(form).status, 415);
  form.content_type = "application/json; charset=utf-8";
  HttpResponse signed_in = api_->Handle(form);
  EXPECT_EQ(signed_in.status, 201) << signed_in.body;

  const auto after = api_->auth_counters();
  EXPECT_EQ(after.unauthenticated - before.unauthenticated, 3u);
  EXPECT_EQ(after.csrf_refused - before.csrf_refused, 2u);
}

}  // namespace
}  // namespace custos::collector::api
