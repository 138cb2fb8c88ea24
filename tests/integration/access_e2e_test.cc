// Accounts, sessions, CSRF, personal tokens, LDAP sign-in, pseudonyms with a second-person
// reveal and the audit log, through a real custos-collector over HTTPS on loopback, with a real
// OpenLDAP server (slapd) started by the test (issue 18).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "collector/access/testing/slapd.h"
#include "collector/api/https_client.h"
#include "common/testing/testing.h"
#include "tests/integration/harness.h"

namespace custos {
namespace {

using collector::access::testing::Slapd;
using collector::api::HttpResponse;
using collector::api::HttpsClient;
using nlohmann::json;
using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kDirectoryCsv[] =
    "Login,Host,EmailAddress,DisplayName,Department,Manager,Groups\n"
    "eve,*,eve@example.com,Eve Example,Finance,,\n"
    "frank,ws-frank,frank@example.com,Frank Fox,Sales,,\n";

std::string Header(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(a) == std::tolower(b);
        })) {
      return v;
    }
  }
  return "";
}

struct Session {
  std::string cookie;  // "custos_session=..."
  std::string csrf;
};

class AccessE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto slapd = Slapd::Start();
    ASSERT_TRUE(slapd.ok()) << slapd.status().ToString();
    slapd_ = std::move(*slapd);
    collector_ = std::make_unique<testing::CollectorProcess>(dir_.Sub("collector"));
    ASSERT_TRUE(collector_->Init().ok());
    ASSERT_TRUE(testing::WriteFile(dir_.Sub("ldap.pw"), Slapd::kServicePassword).ok());
    const std::string config =
        "ldap:\n"
        "  enabled: true\n"
        "  uri: " +
        slapd_->uri() +
        "\n"
        "  timeout: 3s\n"
        "  bind_dn: " +
        Slapd::kServiceDn +
        "\n"
        "  bind_password_file: " +
        dir_.Sub("ldap.pw") +
        "\n"
        "  user_search_base: " +
        Slapd::kPeopleDn +
        "\n"
        "  group_search_base: " +
        Slapd::kGroupsDn +
        "\n"
        "  group_roles:\n"
        "    custos-analysts: [analyst]\n"
        "    custos-approvers: [approver]\n";
    ASSERT_TRUE(testing::WriteFile(dir_.Sub("collector.yaml"), config).ok());
    collector_->set_extra_args({"--config", dir_.Sub("collector.yaml")});
    ASSERT_TRUE(collector_->Start().ok()) << collector_->Logs();
    auto token = testing::ReadFile(collector_->admin_token_path());
    ASSERT_TRUE(token.ok());
    admin_token_ = token->substr(0, token->find('\n'));
    auto password = testing::ReadFile(collector_->data_dir() + "/admin.password");
    ASSERT_TRUE(password.ok()) << "init writes the first admin's console password";
    admin_password_ = password->substr(0, password->find('\n'));
  }

  HttpsClient Client() {
    auto ca = testing::ReadFile(collector_->ca_path());
    return HttpsClient({"127.0.0.1", collector_->api_port(), ca.value_or(""), 10s});
  }

  // (status, body) of a request with a bearer token or a session.
  std::pair<int, json> Call(const std::string& method, const std::string& target,
                            const std::string& body, const std::string& token,
                            const Session* session = nullptr, bool send_csrf = true) {
    Headers headers;
    if (session) {
      headers.push_back({"Cookie", session->cookie});
      if (send_csrf) headers.push_back({"X-CSRF-Token", session->csrf});
    }
    auto r = Client().Request(method, target, body, token, "application/json", headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {0, json()};
    last_ = *r;
    return {r->status, r->body.empty() ? json() : json::parse(r->body, nullptr, false)};
  }

  // Signs in; ASSERTs success.
  Session SignIn(const std::string& user, const std::string& password) {
    auto [status, body] = Call("POST", "/api/v1/session",
                               json{{"username", user}, {"password", password}}.dump(), "");
    EXPECT_EQ(status, 201) << body.dump();
    const std::string set_cookie = Header(last_, "Set-Cookie");
    EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
    EXPECT_NE(set_cookie.find("Secure"), std::string::npos) << set_cookie;
    EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos) << set_cookie;
    return {set_cookie.substr(0, set_cookie.find(';')), body.value("csrf_token", "")};
  }

  testing::TempDir dir_;
  std::unique_ptr<Slapd> slapd_;
  std::unique_ptr<testing::CollectorProcess> collector_;
  std::string admin_token_, admin_password_;
  HttpResponse last_;
};

TEST_F(AccessE2eTest, SessionsCsrfTokensRevealsLdapAndAuditOverHttps) {
  // The first admin signs in to the console; state changes need the session's CSRF token.
  Session admin = SignIn("admin", admin_password_);
  ASSERT_FALSE(admin.csrf.empty());
  auto [who, whoami] = Call("GET", "/api/v1/session", "", "", &admin, /*send_csrf=*/false);
  ASSERT_EQ(who, 200) << whoami.dump();
  EXPECT_EQ(whoami["principal"]["name"], "admin");
  EXPECT_EQ(whoami["principal"]["kind"], "session");

  const std::string analyst = R"({"username":"ana","roles":"analyst","password":"ana password 1"})";
  auto [no_csrf, refused] =
      Call("POST", "/api/v1/accounts", analyst, "", &admin, /*send_csrf=*/false);
  EXPECT_EQ(no_csrf, 403);
  EXPECT_EQ(refused["error"]["code"], "csrf_failed");
  Session forged_csrf{admin.cookie, std::string(43, 'A')};
  EXPECT_EQ(Call("POST", "/api/v1/accounts", analyst, "", &forged_csrf).first, 403);
  ASSERT_EQ(Call("POST", "/api/v1/accounts", analyst, "", &admin).first, 201);
  ASSERT_EQ(Call("POST", "/api/v1/accounts",
                 R"({"username":"ann","roles":"analyst","password":"ann password 1"})", "", &admin)
                .first,
            201);

  // Forged cookies and wrong passwords: 401, one message whether or not the account exists.
  Session forged{"custos_session=" + std::string(43, 'x'), "x"};
  EXPECT_EQ(Call("GET", "/api/v1/session", "", "", &forged).first, 401);
  auto [bad1, wrong_pw] =
      Call("POST", "/api/v1/session", R"({"username":"ana","password":"not it at all"})", "");
  auto [bad2, no_user] =
      Call("POST", "/api/v1/session", R"({"username":"nobody","password":"not it at all"})", "");
  EXPECT_EQ(bad1, 401);
  EXPECT_EQ(bad2, 401);
  EXPECT_EQ(wrong_pw["error"]["message"], no_user["error"]["message"]);
  auto [long_name, too_long] =
      Call("POST", "/api/v1/session",
           json{{"username", std::string(200, 'u')}, {"password", "x"}}.dump(), "");
  EXPECT_EQ(long_name, 400) << too_long.dump();
  int throttled = 0;
  for (int i = 0; i < 8; ++i) {
    if (Call("POST", "/api/v1/session", R"({"username":"zed","password":"wrong guess"})", "")
            .first == 429) {
      ++throttled;
      EXPECT_FALSE(Header(last_, "Retry-After").empty());
    }
  }
  EXPECT_GE(throttled, 3) << "the sixth and later wrong guesses are throttled";

  // A personal token acts as its owner.
  Session ana = SignIn("ana", "ana password 1");
  auto [made, pat] =
      Call("POST", "/api/v1/tokens", R"({"name":"laptop","expires_in_days":30})", "", &ana);
  ASSERT_EQ(made, 201) << pat.dump();
  const std::string ana_token = pat["token"];
  auto [who2, me] = Call("GET", "/api/v1/session", "", ana_token);
  ASSERT_EQ(who2, 200);
  EXPECT_EQ(me["principal"]["name"], "ana");
  EXPECT_EQ(me["principal"]["kind"], "personal_token");

  // People are pseudonymised by default, for everyone.
  auto imported =
      Client().Request("POST", "/api/v1/directory/import", kDirectoryCsv, admin_token_, "text/csv");
  ASSERT_TRUE(imported.ok());
  ASSERT_EQ(imported->status, 200) << imported->body;
  auto [people_status, people] = Call("GET", "/api/v1/people", "", ana_token);
  ASSERT_EQ(people_status, 200) << people.dump();
  ASSERT_EQ(people["people"].size(), 2u);
  const std::string body_text = people.dump();
  EXPECT_EQ(body_text.find("eve@example.com"), std::string::npos) << body_text;
  EXPECT_EQ(body_text.find("Eve Example"), std::string::npos) << body_text;
  EXPECT_EQ(body_text.find("ws-frank"), std::string::npos) << body_text;
  std::string eve_code;
  for (const auto& p : people["people"]) {
    if (p["department"] == "Finance") eve_code = p["id"];
  }
  ASSERT_EQ(eve_code.rfind("Anon-", 0), 0u) << eve_code;

  // Reveal: ana asks, carol (an LDAP approver, signing in for the first time) approves.
  auto [asked, reveal] =
      Call("POST", "/api/v1/reveals",
           json{{"person", eve_code}, {"justification", "alert 7: payroll export to USB"}}.dump(),
           ana_token);
  ASSERT_EQ(asked, 201) << reveal.dump();
  const std::string reveal_id = reveal["id"];
  EXPECT_EQ(reveal["person"], eve_code);
  EXPECT_EQ(Call("POST", "/api/v1/reveals/" + reveal_id + "/approve", "{}", ana_token).first, 403)
      << "an analyst cannot approve";
  Session carol = SignIn("carol", Slapd::Password("carol"));
  auto [carol_who, carol_me] = Call("GET", "/api/v1/session", "", "", &carol, false);
  ASSERT_EQ(carol_who, 200);
  EXPECT_EQ(carol_me["principal"]["roles"], json::array({"approver"}));
  auto [approved, decided] =
      Call("POST", "/api/v1/reveals/" + reveal_id + "/approve", R"({"note":"ok"})", "", &carol);
  ASSERT_EQ(approved, 200) << decided.dump();
  EXPECT_EQ(decided["person"], eve_code)
      << "the approver decides on the justification, not the name";

  // The reveal is ana's alone.
  auto [ana_people_status, ana_people] = Call("GET", "/api/v1/people", "", ana_token);
  ASSERT_EQ(ana_people_status, 200);
  EXPECT_NE(ana_people.dump().find("eve@example.com"), std::string::npos);
  EXPECT_EQ(ana_people.dump().find("frank@example.com"), std::string::npos);
  Session ann = SignIn("ann", "ann password 1");
  auto [ann_status, ann_people] = Call("GET", "/api/v1/people", "", "", &ann, false);
  ASSERT_EQ(ann_status, 200);
  EXPECT_EQ(ann_people.dump().find("eve@example.com"), std::string::npos);

  // LDAP users without a mapped group are refused like a wrong password; a directory user in
  // no Custos group cannot sign in.
  auto [dave, dave_body] =
      Call("POST", "/api/v1/session",
           json{{"username", "dave"}, {"password", Slapd::Password("dave")}}.dump(), "");
  EXPECT_EQ(dave, 401) << dave_body.dump();

  // Sign-out ends the session server-side.
  EXPECT_EQ(Call("DELETE", "/api/v1/session", "", "", &ana).first, 204);
  EXPECT_EQ(Call("GET", "/api/v1/session", "", "", &ana, false).first, 401);

  // Everything above is in the audit log, which verifies after the collector stops.
  ASSERT_EQ(Call("POST", "/api/v1/accounts",
                 R"({"username":"aud","roles":"auditor","password":"aud password 1"})", "", &admin)
                .first,
            201);
  Session aud = SignIn("aud", "aud password 1");
  auto [log_status, log] = Call("GET", "/api/v1/audit?limit=1000", "", "", &aud, false);
  ASSERT_EQ(log_status, 200);
  std::set<std::string> actions;
  for (const auto& e : log["entries"]) actions.insert(e["action"].get<std::string>());
  for (const char* a :
       {"account.create", "session.sign_in", "personal-token.create", "directory.import",
        "reveal.request", "reveal.approve", "session.sign_out"}) {
    EXPECT_TRUE(actions.count(a)) << a << " missing from the audit log: " << log.dump();
  }
  EXPECT_EQ(log.dump().find(ana_token), std::string::npos) << "no secret in the audit log";
  EXPECT_EQ(collector_->Stop(), 0);
  auto verify = testing::Run({testing::BinaryPath("custos-collector"), "audit", "verify",
                              "--data-dir", collector_->data_dir()},
                             60s);
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace custos
