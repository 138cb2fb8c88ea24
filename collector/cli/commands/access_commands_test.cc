// whoami, user, token, audit, reveal and settings: the requests each command sends (method,
// target, body), what it prints from the replies, and the usage errors it finds before sending
// anything. A fake ApiCaller answers; nothing listens on the network.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <sstream>

#include <nlohmann/json.hpp>

#include "collector/cli/api_client.h"
#include "collector/cli/command_line.h"
#include "collector/cli/commands/commands.h"
#include "collector/cli/connection.h"
#include "common/testing/testing.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Sent {
  std::string method;
  std::string target;
  std::string body;
};

// Records every request and answers with the queued replies in order (HTTP 500 when none is
// left).
class FakeApi : public ApiCaller {
 public:
  FakeApi(const Invocation& args, std::ostream& err)
      : ApiCaller(args, Env(), "test", /*takes_config=*/false, err) {}

  std::optional<Reply> Send(std::string_view method, const std::string& target,
                            std::string_view body, std::string_view) override {
    sent.push_back({std::string(method), target, std::string(body)});
    if (replies.empty()) return Reply{500, "", nlohmann::json()};
    Reply r = std::move(replies.front());
    replies.pop_front();
    return r;
  }

  std::vector<Sent> sent;
  std::deque<Reply> replies;

 private:
  static const Environment& Env() {
    static const Environment kEnv;
    return kEnv;
  }
};

Reply Answer(int status, const std::string& body) {
  return {status, body, nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false)};
}

struct Ran {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::vector<Sent> sent;
};

// Parses `words` as the binary does and runs the command against the fake.
Ran RunFake(std::vector<std::string> words, std::vector<Reply> replies,
            const Environment& env = Environment{}) {
  CommandLine line = ParseCommandLine(AllCommands(), words);
  EXPECT_EQ(line.error, "");
  Ran ran;
  if (line.command == nullptr) return ran;
  std::ostringstream out, err;
  FakeApi api(line.args, err);
  api.replies.assign(replies.begin(), replies.end());
  Context c{line.args, env, api, out, err};
  ran.exit_code = line.command->run(c);
  ran.out = out.str();
  ran.err = err.str();
  ran.sent = api.sent;
  return ran;
}

// Through RunCustos, as the binary runs (no fake: usage errors must come before any request).
Ran RunCli(std::vector<std::string> words, const Environment& env = {}) {
  words.insert(words.begin(), "custos");
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  std::ostringstream out, err;
  Ran ran;
  ran.exit_code =
      RunCustos(AllCommands(), static_cast<int>(argv.size()), argv.data(), env, out, err);
  ran.out = out.str();
  ran.err = err.str();
  return ran;
}

void ExpectSent(const Ran& r, const std::string& method, const std::string& target,
                const std::string& body = "") {
  ASSERT_EQ(r.sent.size(), 1u) << r.err;
  EXPECT_EQ(r.sent[0].method, method);
  EXPECT_EQ(r.sent[0].target, target);
  EXPECT_EQ(r.sent[0].body, body);
}

constexpr const char* kDana =
    R"({"id":"usr_1","username":"dana","display_name":"Dana S","email":"dana@example.com",)"
    R"("roles":["analyst","viewer"],"source":"local","disabled":false,)"
    R"("created_at":"2026-11-21T10:00:00.123Z","updated_at":"2026-11-21T10:00:00Z"})";

// ---- whoami ----

TEST(WhoamiCommandTest, ShowsThePrincipalEscaped) {
  Ran r = RunFake({"whoami"},
                  {Answer(200, R"({"principal":{"kind":"personal_token","id":"ptk_1",)"
                               R"("name":"dana\u001b[2J","roles":["analyst","viewer"]}})")});
  ExpectSent(r, "GET", "/api/v1/session");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "name:  dana\\x1b[2J\nid:    ptk_1\nkind:  personal_token\nroles: analyst,viewer\n");

  Ran json = RunFake({"whoami", "--format", "json"},
                     {Answer(200, R"({"principal":{"kind":"service_token","roles":[]}})")});
  EXPECT_EQ(json.out, R"({"kind":"service_token","roles":[]})"
                      "\n");
}

TEST(WhoamiCommandTest, ReportsAnApiError) {
  Ran r = RunFake({"whoami"}, {Answer(401, R"({"error":{"status":401,"code":"unauthenticated",)"
                                           R"("message":"unknown or revoked token"}})")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("custos: unknown or revoked token (HTTP 401)"));
  EXPECT_EQ(r.out, "");
}

// ---- user ----

TEST(UserCommandTest, ListIsATableOrTheApiObjects) {
  Ran r = RunFake({"user", "list"}, {Answer(200, std::string(R"({"accounts":[)") + kDana + "]}")});
  ExpectSent(r, "GET", "/api/v1/accounts");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("USERNAME  NAME    EMAIL             ROLES           SOURCE  "
                               "STATUS   CREATED"));
  EXPECT_THAT(r.out, HasSubstr("dana      Dana S  dana@example.com  analyst,viewer  local   "
                               "enabled  2026-11-21T10:00:00Z"));

  Ran json = RunFake({"user", "list", "--format", "json"},
                     {Answer(200, std::string(R"({"accounts":[)") + kDana + "]}")});
  EXPECT_THAT(json.out, HasSubstr(R"("username":"dana")"));
  EXPECT_THAT(json.out, ::testing::StartsWith("[\n{"));
}

TEST(UserCommandTest, AddSendsTheAccountWithThePasswordFromTheFirstLineOfTheFile) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("pw"), "s3cret \"x\"\r\nsecond line\n").ok());
  Ran r = RunFake({"user", "add", "dana", "--roles", "analyst,viewer", "--name", "Dana S",
                   "--email", "dana@example.com", "--password-file", dir.Sub("pw")},
                  {Answer(201, kDana)});
  ExpectSent(r, "POST", "/api/v1/accounts",
             R"({"username":"dana","display_name":"Dana S","email":"dana@example.com",)"
             R"("roles":"analyst,viewer","password":"s3cret \"x\""})");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "created account dana (usr_1): roles analyst,viewer, enabled\n");
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("s3cret")));
}

TEST(UserCommandTest, AddWithLdapSendsNoPassword) {
  Ran r = RunFake({"user", "add", "mulder", "--roles", "investigator", "--ldap"},
                  {Answer(201, R"({"id":"usr_2","username":"mulder","roles":["investigator"],)"
                               R"("source":"ldap","disabled":false})")});
  ExpectSent(r, "POST", "/api/v1/accounts", R"({"username":"mulder","roles":"investigator"})");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("signs in with the directory password"));
}

TEST(UserCommandTest, RolesAreTheServersToCheck) {
  Ran r = RunFake({"user", "roles", "dana", "analyst,overlord"},
                  {Answer(400, R"({"error":{"status":400,"code":"invalid_argument",)"
                               R"("message":"roles: unknown role 'overlord'"}})")});
  ExpectSent(r, "PATCH", "/api/v1/accounts/dana", R"({"roles":"analyst,overlord"})");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("custos: roles: unknown role 'overlord' (HTTP 400)"));
}

TEST(UserCommandTest, ChangesArePatchesOfTheAccount) {
  Ran disable = RunFake({"user", "disable", "dana"}, {Answer(200, kDana)});
  ExpectSent(disable, "PATCH", "/api/v1/accounts/dana", R"({"disabled":true})");
  EXPECT_EQ(disable.exit_code, 0);
  Ran enable = RunFake({"user", "enable", "a b/c"}, {Answer(200, kDana)});
  ExpectSent(enable, "PATCH", "/api/v1/accounts/a%20b%2Fc", R"({"disabled":false})");
  Ran roles = RunFake({"user", "roles", "dana", "analyst,viewer"}, {Answer(200, kDana)});
  ExpectSent(roles, "PATCH", "/api/v1/accounts/dana", R"({"roles":"analyst,viewer"})");
  EXPECT_EQ(roles.out, "account dana (usr_1): roles analyst,viewer, enabled\n");

  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("pw"), "n3w\n").ok());
  Ran password =
      RunFake({"user", "password", "dana", "--password-file", dir.Sub("pw")}, {Answer(200, kDana)});
  ExpectSent(password, "PATCH", "/api/v1/accounts/dana", R"({"password":"n3w"})");
  EXPECT_EQ(password.out, "password of dana changed\n");
}

TEST(UserCommandTest, PasswordProblemsAreFoundBeforeSending) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("empty"), "\nsecond\n").ok());
  Ran empty = RunFake({"user", "password", "dana", "--password-file", dir.Sub("empty")}, {});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(empty.err, HasSubstr("the first line (the password) is empty"));
  EXPECT_TRUE(empty.sent.empty());

  Ran missing = RunFake({"user", "password", "dana", "--password-file", dir.Sub("nope")}, {});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("--password-file: " + dir.Sub("nope")));
  EXPECT_TRUE(missing.sent.empty());

  // Standard input is not a terminal (Environment's default): nothing to ask on.
  Ran no_source = RunFake({"user", "add", "dana", "--roles", "analyst"}, {});
  EXPECT_EQ(no_source.exit_code, 2);
  EXPECT_THAT(no_source.err, HasSubstr("user add needs --password-file FILE (or - for standard "
                                       "input) or --ldap"));
  EXPECT_TRUE(no_source.sent.empty());
}

TEST(UserCommandTest, APasswordOnTheCommandLineIsRefusedWithoutRepeatingIt) {
  for (auto words : std::vector<std::vector<std::string>>{
           {"user", "add", "dana", "--roles", "analyst", "--password", "hunter2"},
           {"user", "add", "dana", "--roles", "analyst", "--password=hunter2"},
           {"user", "password", "dana", "--password", "hunter2"}}) {
    Ran r = RunCli(words);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr("a password is never taken on the command line"));
    EXPECT_THAT(r.err, HasSubstr("--password-file FILE"));
    EXPECT_THAT(r.err, Not(HasSubstr("hunter2")));
  }
  // A password as an extra word is an extra argument, not a password.
  Ran extra = RunCli({"user", "add", "dana", "hunter2", "--roles", "analyst", "--ldap"});
  EXPECT_EQ(extra.exit_code, 2);
  EXPECT_THAT(extra.err, HasSubstr("user add needs one USERNAME"));
}

// ---- token ----

TEST(TokenCommandTest, CreatePrintsOnlyTheSecretOnStdout) {
  Ran r = RunFake(
      {"token", "create", "--name", "laptop", "--expires-in-days", "90", "--owner", "dana"},
      {Answer(201, R"({"id":"ptk_1","token":"cus_pat_abc","expires_at":"2027-02-19T10:00:00Z"})")});
  ExpectSent(r, "POST", "/api/v1/tokens",
             R"({"name":"laptop","expires_in_days":90,"owner":"dana"})");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "cus_pat_abc\n");
  EXPECT_THAT(r.err, HasSubstr("token ptk_1 created, expires 2027-02-19T10:00:00Z; it is shown "
                               "only this once"));

  Ran plain =
      RunFake({"token", "create", "--name", "ci"}, {Answer(201, R"({"id":"ptk_2","token":"t"})")});
  ExpectSent(plain, "POST", "/api/v1/tokens", R"({"name":"ci"})");
  EXPECT_THAT(plain.err, HasSubstr("token ptk_2 created, never expires"));
}

TEST(TokenCommandTest, ListAndRevoke) {
  constexpr const char* kTokens =
      R"({"tokens":[{"id":"ptk_1","owner":"usr_1","owner_username":"dana","name":"laptop",)"
      R"("created_at":"2026-11-21T10:00:00Z","last_used":null,"expires_at":"2027-02-19T10:00:00Z",)"
      R"("revoked_at":null}]})";
  Ran own = RunFake({"token", "list"}, {Answer(200, kTokens)});
  ExpectSent(own, "GET", "/api/v1/tokens");
  EXPECT_THAT(own.out, HasSubstr("ID     OWNER  NAME    CREATED               LAST USED  EXPIRES"));
  EXPECT_THAT(own.out, HasSubstr("ptk_1  dana   laptop  2026-11-21T10:00:00Z  -          "
                                 "2027-02-19T10:00:00Z  -"));
  Ran all = RunFake({"token", "list", "--all", "--format", "json"}, {Answer(200, kTokens)});
  ExpectSent(all, "GET", "/api/v1/tokens?all=true");
  EXPECT_THAT(all.out, HasSubstr(R"("owner_username":"dana")"));

  Ran revoke = RunFake({"token", "revoke", "ptk_1"}, {Answer(204, "")});
  ExpectSent(revoke, "DELETE", "/api/v1/tokens/ptk_1");
  EXPECT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_EQ(revoke.out, "revoked token ptk_1\n");

  Ran gone = RunFake({"token", "revoke", "ptk_9"},
                     {Answer(404, R"({"error":{"status":404,"message":"no such token"}})")});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("no such token (HTTP 404)"));
}

// ---- audit ----

constexpr int64_t kNow = 1'795'262'400'000'000'000;  // 2026-11-21T12:00:00Z

TEST(AuditTargetTest, BuildsTheQueryFromTheFilters) {
  auto parse = [](std::vector<std::string> words) {
    CommandLine line = ParseCommandLine(AllCommands(), std::move(words));
    EXPECT_EQ(line.error, "");
    return line.args;
  };
  int64_t limit = 0;
  auto none = AuditTarget(parse({"audit"}), kNow, &limit);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, "/api/v1/audit?limit=100");
  EXPECT_EQ(limit, 100);
  auto all = AuditTarget(
      parse({"audit", "--actor", "user:dana", "--action", "alert.", "--object", "alert:42",
             "--since", "-2h", "--until", "2026-11-21", "--before", "977", "--limit", "1000"}),
      kNow - 86'400'000'000'000 + 3 * 3'600'000'000'000, &limit);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all,
            "/api/v1/audit?actor=user%3Adana&action=alert.&object=alert%3A42"
            "&since=2026-11-20T13%3A00%3A00.000000000Z&until=2026-11-21T00%3A00%3A00.000000000Z"
            "&before=977&limit=1000");
  EXPECT_EQ(limit, 1000);

  auto message = [&](std::vector<std::string> words) {
    return AuditTarget(parse(std::move(words)), kNow, &limit).status().message();
  };
  EXPECT_THAT(message({"audit", "--limit", "1001"}),
              HasSubstr("--limit: expected an integer between 1 and 1000, got '1001'"));
  EXPECT_THAT(message({"audit", "--before", "0"}), HasSubstr("--before: expected an integer"));
  EXPECT_THAT(message({"audit", "--since", "yesterday"}), HasSubstr("--since: expected RFC 3339"));
  EXPECT_THAT(message({"audit", "--since", "-1h", "--until", "-2h"}),
              HasSubstr("--since -1h is not before --until -2h"));
  EXPECT_THAT(message({"audit", "--actor", ""}), HasSubstr("--actor is empty"));
}

constexpr const char* kEntries =
    R"({"entries":[)"
    R"({"seq":978,"time":"2026-11-21T11:00:00.123456789Z","actor":"user:dana",)"
    R"("action":"alert.status","object":"alert:42",)"
    R"("summary":"=HYPERLINK(\"http://x\",\"y\"), then\nmore","source":"10.0.0.7",)"
    R"("hash":"ab12"},)"
    R"({"seq":977,"time":"2026-11-21T10:00:00Z","actor":"@evil","action":"policy.create",)"
    R"("object":"policy:pol_1","summary":"\u001b]8;;http://x\u0007click","source":"-1+1",)"
    R"("hash":"cd34"}],"next_before":977})";

TEST(AuditCommandTest, CsvQuotesEscapesAndNeutralisesFormulas) {
  Ran r = RunFake({"audit", "--format", "csv", "--action", "alert."}, {Answer(200, kEntries)});
  ExpectSent(r, "GET", "/api/v1/audit?action=alert.&limit=100");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "seq,time,actor,action,object,summary,source,hash\r\n"
            "978,2026-11-21T11:00:00.123456789Z,user:dana,alert.status,alert:42,"
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\"), then\\nmore\",10.0.0.7,ab12\r\n"
            "977,2026-11-21T10:00:00Z,'@evil,policy.create,policy:pol_1,"
            "\\x1b]8;;http://x\\x07click,'-1+1,cd34\r\n");
  EXPECT_EQ(r.err, "");
}

TEST(AuditCommandTest, TableIsCutToTheWidthWithAFooterNamingTheNextPage) {
  Environment env;
  env.line_width = 80;
  Ran r = RunFake({"audit", "--limit", "2"}, {Answer(200, kEntries)}, env);
  ExpectSent(r, "GET", "/api/v1/audit?limit=2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_LE(text::DisplayWidth(line), 80u) << line;
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  }
  EXPECT_EQ(n, 3);
  EXPECT_THAT(r.out, HasSubstr("SEQ  TIME                  ACTOR      ACTION"));
  EXPECT_THAT(r.out, HasSubstr("978  2026-11-21T11:00:00Z  user:dana  alert.status"));
  EXPECT_EQ(r.err, "2 entries shown (newest first; --limit 2 reached; older: --before 977)\n");

  Ran json = RunFake({"audit", "--format", "json"}, {Answer(200, kEntries)});
  EXPECT_THAT(json.out, HasSubstr(R"("hash":"ab12")"));
  EXPECT_EQ(json.err, "");
}

TEST(AuditCommandTest, ForbiddenIsReported) {
  Ran r = RunFake({"audit"}, {Answer(403, R"({"error":{"status":403,"code":"forbidden",)"
                                          R"("message":"needs the auditor or admin role"}})")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("needs the auditor or admin role (HTTP 403)"));
}

// ---- reveal ----

constexpr const char* kReveal =
    R"({"id":"rvl_1","person":"psn_7f3a","requester":"dana","justification":"alert 42",)"
    R"("status":"requested","created_at":"2026-11-21T10:00:00Z"})";

TEST(RevealCommandTest, RequestAndDecisions) {
  Ran request = RunFake({"reveal", "request", "psn_7f3a", "--justification", "alert 42"},
                        {Answer(201, kReveal)});
  ExpectSent(request, "POST", "/api/v1/reveals",
             R"({"person":"psn_7f3a","justification":"alert 42"})");
  EXPECT_EQ(request.exit_code, 0) << request.err;
  EXPECT_EQ(request.out, "reveal rvl_1 for psn_7f3a: requested\n");
  EXPECT_THAT(request.err, HasSubstr("custos reveal approve|refuse rvl_1"));

  Ran approve = RunFake({"reveal", "approve", "rvl_1", "--note", "case 17"},
                        {Answer(200, R"({"id":"rvl_1","status":"approved"})")});
  ExpectSent(approve, "POST", "/api/v1/reveals/rvl_1/approve", R"({"note":"case 17"})");
  EXPECT_EQ(approve.out, "reveal rvl_1: approved\n");
  Ran bare = RunFake({"reveal", "approve", "rvl_1"}, {Answer(200, R"({"status":"approved"})")});
  ExpectSent(bare, "POST", "/api/v1/reveals/rvl_1/approve", "{}");
  Ran refuse = RunFake({"reveal", "refuse", "rvl_1", "--note", "no"},
                       {Answer(200, R"({"id":"rvl_1","status":"refused"})")});
  ExpectSent(refuse, "POST", "/api/v1/reveals/rvl_1/refuse", R"({"note":"no"})");
  Ran withdraw = RunFake({"reveal", "withdraw", "rvl_1"},
                         {Answer(200, R"({"id":"rvl_1","status":"withdrawn"})")});
  ExpectSent(withdraw, "POST", "/api/v1/reveals/rvl_1/withdraw", "{}");
  EXPECT_EQ(withdraw.out, "reveal rvl_1: withdrawn\n");
}

TEST(RevealCommandTest, WhatTheApiSendsIsEscaped) {
  Ran r =
      RunFake({"reveal", "withdraw", "rvl_1"},
              {Answer(200, R"({"id":"rvl_1\u001b[31m","person":"Anon-1\u202e","status":"x\ny"})")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "reveal rvl_1\\x1b[31m for Anon-1\\u202e: x\\ny\n");
  Ran token = RunFake({"token", "create", "--name", "x"},
                      {Answer(201, R"({"id":"ptk_1","token":"cus_pat_\u001b]0;x\u0007"})")});
  EXPECT_EQ(token.out, "cus_pat_\\x1b]0;x\\x07\n");
}

TEST(RevealCommandTest, ListShowsPeopleAsTheApiSendsThem) {
  Ran r =
      RunFake({"reveal", "list"}, {Answer(200, std::string(R"({"reveals":[)") + kReveal + "]}")});
  ExpectSent(r, "GET", "/api/v1/reveals");
  EXPECT_THAT(r.out, HasSubstr("ID     STATUS     PERSON    REQUESTER  CREATED"));
  EXPECT_THAT(r.out, HasSubstr("rvl_1  requested  psn_7f3a  dana       2026-11-21T10:00:00Z  -"));
}

// ---- settings ----

TEST(SettingsCommandTest, ShowsOrSwitchesPseudonymisation) {
  Ran show =
      RunFake({"settings"}, {Answer(200, R"({"pseudonymisation":true,"retention_days":90})")});
  ExpectSent(show, "GET", "/api/v1/settings");
  EXPECT_EQ(show.out, "pseudonymisation: on\nretention_days: 90\n");
  Ran off = RunFake({"settings", "--pseudonymisation", "off"},
                    {Answer(200, R"({"pseudonymisation":false})")});
  ExpectSent(off, "PATCH", "/api/v1/settings", R"({"pseudonymisation":false})");
  EXPECT_EQ(off.out, "pseudonymisation: off\n");
  Ran on = RunFake({"settings", "--pseudonymisation", "ON", "--format", "json"},
                   {Answer(200, R"({"pseudonymisation":true})")});
  ExpectSent(on, "PATCH", "/api/v1/settings", R"({"pseudonymisation":true})");
  EXPECT_EQ(on.out, "{\"pseudonymisation\":true}\n");
}

// ---- usage errors, before anything is sent ----

TEST(AccessCommandsTest, UsageErrorsExitTwoBeforeConnecting) {
  struct Case {
    std::vector<std::string> words;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"whoami", "dana"}, "whoami takes no arguments, got 'dana'"},
      {{"whoami", "--format", "csv"}, "--format: expected text or json"},
      {{"user"}, "user needs a sub-command (list, add, disable, enable, roles or password)"},
      {{"user", "delete", "dana"}, "user: unknown sub-command 'delete'"},
      {{"user", "list", "x"}, "user list takes no arguments"},
      {{"user", "list", "--format", "csv"}, "--format: expected table or json"},
      {{"user", "list", "--roles", "a"}, "--roles does not apply to 'custos user list'"},
      {{"user", "add", "--roles", "a", "--ldap"}, "user add needs one USERNAME"},
      {{"user", "add", "dana", "--ldap"}, "user add needs --roles R1,R2"},
      {{"user", "add", "dana", "--roles", "a", "--ldap", "--password-file", "-"},
       "--ldap and --password-file exclude each other"},
      {{"user", "add", "dana", "--roles", "a", "--ldap=yes"}, "flag --ldap takes no value"},
      {{"user", "disable"}, "user disable needs one USERNAME"},
      {{"user", "disable", "dana", "--ldap"}, "--ldap does not apply to 'custos user disable'"},
      {{"user", "roles", "dana"}, "user roles needs USERNAME and R1,R2"},
      {{"user", "password", "dana"}, "user password needs --password-file FILE"},
      {{"token"}, "token needs a sub-command (create, list or revoke)"},
      {{"token", "create"}, "token create needs --name NAME"},
      {{"token", "create", "--name", "x", "--expires-in-days", "366"},
       "--expires-in-days: expected an integer between 1 and 365, got '366'"},
      {{"token", "create", "--name", "x", "--all"},
       "--all does not apply to 'custos token create'"},
      {{"token", "list", "--owner", "dana"}, "--owner does not apply to 'custos token list'"},
      {{"token", "revoke"}, "token revoke needs one token ID"},
      {{"audit", "x"}, "audit takes no arguments, got 'x'"},
      {{"audit", "--format", "xml"}, "--format: expected table, json or csv, got 'xml'"},
      {{"audit", "--limit", "0"}, "--limit: expected an integer between 1 and 1000"},
      {{"audit", "--until", "soon"}, "--until: expected RFC 3339"},
      {{"audit", "--severity", "high"}, "--severity does not apply to 'custos audit'"},
      {{"reveal"}, "reveal needs a sub-command"},
      {{"reveal", "request", "--justification", "j"}, "reveal request needs one PERSON"},
      {{"reveal", "request", "psn_1"}, "reveal request needs --justification TEXT"},
      {{"reveal", "refuse", "rvl_1"}, "reveal refuse needs --note TEXT"},
      {{"reveal", "withdraw", "rvl_1", "--note", "x"},
       "--note does not apply to 'custos reveal withdraw'"},
      {{"reveal", "approve"}, "reveal approve needs one reveal ID"},
      {{"settings", "--pseudonymisation", "maybe"},
       "--pseudonymisation: expected on or off, got 'maybe'"},
      {{"settings", "x"}, "settings takes no arguments"},
  };
  for (const auto& c : cases) {
    Ran r = RunCli(c.words);
    std::string joined;
    for (const auto& w : c.words) joined += w + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << joined;
    EXPECT_THAT(r.err, HasSubstr("Run 'custos " + c.words[0] + " --help' for usage.")) << joined;
    EXPECT_EQ(r.out, "") << joined;
  }
}

TEST(AccessCommandsTest, HelpSaysWhoMayRunItAndGivesExamples) {
  for (const char* command : {"whoami", "user", "token", "audit", "reveal", "settings"}) {
    Ran help = RunCli({command, "--help"});
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_THAT(help.out, HasSubstr(std::string("custos ") + command)) << command;
    EXPECT_THAT(help.out, HasSubstr("Who may run it")) << command;
    EXPECT_THAT(help.out, HasSubstr("Example")) << command;
    EXPECT_THAT(help.out, HasSubstr("--token-file FILE")) << command;
  }
  EXPECT_THAT(RunCli({"audit", "--help"}).out, HasSubstr("gets a leading '"));
  EXPECT_THAT(RunCli({"user", "--help"}).out, HasSubstr("is never taken on the command line"));
}

}  // namespace
}  // namespace custos::collector::cli
