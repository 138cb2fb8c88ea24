// The authorisation matrix (docs/api.md, "Authorisation matrix") against the routes ApiService
// really registers: every route has exactly one row, every row a route, the roles agree, and a
// service token holding any one role is refused (403) exactly where its column is empty. Runs on
// a real SQLite store in a temp dir.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "collector/access/roles.h"
#include "collector/api/api.h"
#include "collector/api/testing/test_api.h"
#include "collector/store/testing/sqlite_stores.h"
#include "common/crypto/crypto.h"
#include "common/testing/testing.h"

namespace custos::collector::api {
namespace {

using access::Role;
using access::RoleSet;

struct MatrixRow {
  bool anonymous = false;
  RoleSet roles;
  std::string object_rule;
};

std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream in(line.substr(1));
  std::string cell;
  while (std::getline(in, cell, '|')) {
    size_t b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
    cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
  }
  return cells;
}

// "METHOD /path" -> row, from the matrix section of docs/api.md.
std::map<std::string, MatrixRow> ReadMatrix() {
  std::ifstream in(testing::SourcePath("docs/api.md"));
  EXPECT_TRUE(in.good()) << "docs/api.md not found";
  std::map<std::string, MatrixRow> rows;
  std::string line;
  bool in_matrix = false;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_matrix = line == "## Authorisation matrix";
    if (!in_matrix || line.rfind("| ", 0) != 0) continue;
    auto cells = Cells(line);
    if (cells.size() < 9) continue;
    if (cells[0] == "method") {
      header = cells;
      continue;
    }
    if (cells[0].rfind("---", 0) == 0) continue;
    MatrixRow row;
    row.object_rule = cells[8];
    row.anonymous = cells[2] == "—";
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(header.at(2 + i), access::RoleName(access::kAllRoles[i])) << "matrix header";
      if (cells[2 + i] == "✓") row.roles.Add(access::kAllRoles[i]);
    }
    const std::string key = cells[0] + " " + cells[1];
    EXPECT_TRUE(rows.emplace(key, row).second) << "two rows for " << key;
  }
  return rows;
}

class ApiAuthorizationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    risk_ = stores_.risk.get();
    t_ = api_testing::MakeTestApi(stores_.db_path, stores_.events.get(), risk_, &clock_);
    api_ = t_.api.get();
    // One account per role, each calling with a personal token (as the console and CLI do).
    for (Role role : access::kAllRoles) {
      const std::string name(access::RoleName(role));
      auto account = api_->accounts()->CreateAccount(
          {.username = "u-" + name, .roles = {role}, .password = "a long password"});
      ASSERT_TRUE(account.ok()) << account.status().ToString();
      const access::Principal self{.via = access::Principal::Via::kSession,
                                   .id = account->id,
                                   .name = account->username,
                                   .roles = account->roles};
      auto token = api_->accounts()->CreatePersonalToken(self, account->id, "matrix", {});
      ASSERT_TRUE(token.ok()) << token.status().ToString();
      secrets_[name] = token->secret;
    }
  }

  // The pattern with every {param} replaced by a value that parses ("1").
  static std::string Concrete(const std::string& pattern) {
    std::string out;
    for (size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] == '{') {
        out += "1";
        i = pattern.find('}', i);
      } else {
        out += pattern[i];
      }
    }
    return out;
  }

  HttpResponse Call(const RouteInfo& route, const std::string& token) {
    HttpRequest r;
    r.method = route.method;
    EXPECT_TRUE(ParseTarget(Concrete(route.pattern), &r).ok());
    if (!token.empty()) r.authorization = "Bearer " + token;
    r.body = "{}";
    r.request_id = "req-matrix";
    return api_->Handle(r);
  }

  store::testing::SqliteStores stores_;
  FakeClock clock_;
  store::RiskStore* risk_ = nullptr;
  api_testing::TestApi t_;
  ApiService* api_ = nullptr;
  std::map<std::string, std::string> secrets_;  // role name -> personal token
};

TEST_F(ApiAuthorizationTest, EveryRouteHasARowAndEveryRowARoute) {
  const auto matrix = ReadMatrix();
  ASSERT_FALSE(matrix.empty()) << "no matrix in docs/api.md";
  std::set<std::string> seen;
  for (const RouteInfo& route : api_->Routes()) {
    const std::string key = route.method + " " + route.pattern;
    seen.insert(key);
    auto it = matrix.find(key);
    ASSERT_NE(it, matrix.end()) << key << " is registered but has no row in docs/api.md";
    EXPECT_EQ(it->second.anonymous, route.options.anonymous) << key;
    EXPECT_EQ(it->second.roles.ToString(), route.options.roles.ToString()) << key;
  }
  for (const auto& [key, row] : matrix) {
    EXPECT_TRUE(seen.count(key)) << key << " is in docs/api.md but not registered";
  }
}

TEST_F(ApiAuthorizationTest, EachRoleIsRefusedExactlyWhereTheMatrixSays) {
  const auto matrix = ReadMatrix();
  int refused = 0, admitted = 0;
  for (const RouteInfo& route : api_->Routes()) {
    const std::string key = route.method + " " + route.pattern;
    if (route.options.anonymous) {
      EXPECT_NE(Call(route, "").status, 401) << key;
      continue;
    }
    EXPECT_EQ(Call(route, "").status, 401) << key << " without a token";
    EXPECT_EQ(Call(route, "not-a-token").status, 401) << key << " with a bad token";
    for (Role role : access::kAllRoles) {
      const std::string name(access::RoleName(role));
      const HttpResponse response = Call(route, secrets_[name]);
      const bool allowed = matrix.at(key).roles.Has(role);
      if (allowed) {
        EXPECT_NE(response.status, 403) << key << " as " << name << ": " << response.body;
        EXPECT_NE(response.status, 401) << key << " as " << name;
        ++admitted;
      } else {
        EXPECT_EQ(response.status, 403) << key << " as " << name << ": " << response.body;
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(admitted, 0);
}

TEST_F(ApiAuthorizationTest, SeveralRolesAdmitWhatAnyOfThemAdmits) {
  ASSERT_TRUE(risk_
                  ->CreateApiToken({"atk_two", "auditor,viewer", "two", 1, {}},
                                   crypto::Sha256("secret-two"))
                  .ok());
  for (const RouteInfo& route : api_->Routes()) {
    if (route.method == "GET" && route.pattern == "/api/v1/alerts") {
      EXPECT_EQ(Call(route, "secret-two").status, 200);
    }
    if (route.method == "GET" && route.pattern == "/api/v1/events") {
      EXPECT_EQ(Call(route, "secret-two").status, 403);
    }
  }
}

}  // namespace
}  // namespace custos::collector::api
