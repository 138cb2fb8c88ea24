#include "collector/api/router.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace custos::collector::api {
namespace {

HttpRequest Req(std::string method, std::string target) {
  HttpRequest request;
  request.method = std::move(method);
  EXPECT_TRUE(ParseTarget(target, &request).ok()) << target;
  return request;
}

// A route function that answers with its name and its parameters.
RouteHandler Echo(std::string name) {
  return [name](const Call& call) {
    nlohmann::json j;
    j["route"] = name;
    for (const auto& [k, v] : call.params) j["params"][k] = v;
    if (call.principal != nullptr) j["caller"] = call.principal->name;
    HttpResponse response;
    response.body = j.dump();
    return response;
  };
}

// Every test route admits the analyst; kAnalyst calls them.
const RouteOptions kForAnalysts{.roles = {access::Role::kAnalyst}};
const access::Principal kAnalyst{.id = "usr_1", .name = "alice", .roles = {access::Role::kAnalyst}};

nlohmann::json Body(const HttpResponse& response) { return nlohmann::json::parse(response.body); }

std::string Header(const HttpResponse& response, const std::string& name) {
  for (const auto& [k, v] : response.headers) {
    if (k == name) return v;
  }
  return "";
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Add("GET", "/api/v1/alerts", Echo("list"), kForAnalysts);
    router_.Add("GET", "/api/v1/alerts/{id}", Echo("show"), kForAnalysts);
    router_.Add("PATCH", "/api/v1/alerts/{id}", Echo("update"), kForAnalysts);
    router_.Add("GET", "/api/v1/alerts/export", Echo("export"), kForAnalysts);
    router_.Add("POST", "/api/v1/alerts/{id}/status", Echo("status"), kForAnalysts);
    router_.Add("GET", "/api/v1/people/{person}/alerts/{id}", Echo("person_alert"), kForAnalysts);
    router_.Add("GET", "/", Echo("root"), kForAnalysts);
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralRoute) {
  const HttpResponse response =
      router_.Dispatch(Req("GET", "/api/v1/alerts?state=open"), &kAnalyst);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["route"], "list");
}

TEST_F(RouterTest, ExtractsDecodedParameters) {
  const HttpResponse response =
      router_.Dispatch(Req("GET", "/api/v1/people/alice%20smith/alerts/42"), &kAnalyst);
  ASSERT_EQ(response.status, 200);
  const nlohmann::json body = Body(response);
  EXPECT_EQ(body["route"], "person_alert");
  EXPECT_EQ(body["params"]["person"], "alice smith");
  EXPECT_EQ(body["params"]["id"], "42");
}

TEST_F(RouterTest, ParameterInTheMiddle) {
  const HttpResponse response =
      router_.Dispatch(Req("POST", "/api/v1/alerts/a-7/status"), &kAnalyst);
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["route"], "status");
  EXPECT_EQ(Body(response)["params"]["id"], "a-7");
}

TEST_F(RouterTest, LiteralSegmentBeatsParameter) {
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/export"), &kAnalyst))["route"],
            "export");
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/exports"), &kAnalyst))["route"],
            "show");
}

TEST_F(RouterTest, EarlierLiteralWinsOverLaterLiteral) {
  Router router;
  router.Add("GET", "/a/{x}/c", Echo("param_first"), kForAnalysts);
  router.Add("GET", "/a/b/{y}", Echo("literal_first"), kForAnalysts);
  EXPECT_EQ(Body(router.Dispatch(Req("GET", "/a/b/c"), &kAnalyst))["route"], "literal_first");
  EXPECT_EQ(Body(router.Dispatch(Req("GET", "/a/z/c"), &kAnalyst))["route"], "param_first");
}

TEST_F(RouterTest, ToleratesTrailingSlash) {
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/"), &kAnalyst))["route"], "list");
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/7/"), &kAnalyst))["params"]["id"],
            "7");
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/"), &kAnalyst))["route"], "root");
}

TEST_F(RouterTest, UnknownPathIs404Json) {
  for (const char* target : {"/api/v1/nothing", "/api/v1/alerts/1/status/extra", "/api",
                             "/api/v1//alerts", "/api/v1/alerts//status"}) {
    const HttpResponse response = router_.Dispatch(Req("GET", target), &kAnalyst);
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_EQ(response.content_type, "application/json");
    EXPECT_EQ(Body(response)["error"]["status"], 404);
    EXPECT_EQ(Body(response)["error"]["code"], "not_found");
  }
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  HttpResponse response = router_.Dispatch(Req("DELETE", "/api/v1/alerts/9"), &kAnalyst);
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(Header(response, "Allow"), "GET, PATCH");
  EXPECT_EQ(Body(response)["error"]["code"], "method_not_allowed");

  response = router_.Dispatch(Req("GET", "/api/v1/alerts/9/status"), &kAnalyst);
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(Header(response, "Allow"), "POST");
}

TEST_F(RouterTest, MethodIsCaseSensitive) {
  EXPECT_EQ(router_.Dispatch(Req("get", "/api/v1/alerts"), &kAnalyst).status, 405);
}

TEST_F(RouterTest, HandsTheCallerToTheRoute) {
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/3"), &kAnalyst))["caller"], "alice");
}

TEST(RouterRolesTest, RunsARouteOnlyForItsRoles) {
  Router router;
  int runs = 0;
  router.Add("POST", "/policies",
             [&runs](const Call&) {
               ++runs;
               return HttpResponse{};
             },
             {.roles = {access::Role::kAdmin}});
  router.Add("GET", "/health",
             [&runs](const Call&) {
               ++runs;
               return HttpResponse{};
             },
             {.anonymous = true});
  const access::Principal viewer{.name = "v", .roles = {access::Role::kViewer}};
  const access::Principal admin{.name = "a",
                                .roles = {access::Role::kViewer, access::Role::kAdmin}};

  HttpResponse refused = router.Dispatch(Req("POST", "/policies"), &viewer);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(Body(refused)["error"]["code"], "forbidden");
  EXPECT_EQ(router.Dispatch(Req("POST", "/policies"), nullptr).status, 401);
  EXPECT_EQ(runs, 0);
  EXPECT_EQ(router.Dispatch(Req("POST", "/policies"), &admin).status, 200);
  EXPECT_EQ(router.Dispatch(Req("GET", "/health"), nullptr).status, 200);
  EXPECT_EQ(runs, 2);
}

TEST(RouterRolesTest, ListsEveryRouteWithItsRoles) {
  Router router;
  router.Add("GET", "/a", Echo("a"), {.roles = {access::Role::kAuditor}});
  router.Add("GET", "/b", Echo("b"), {.anonymous = true});
  const auto routes = router.Routes();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].pattern, "/a");
  EXPECT_TRUE(routes[0].options.roles.Has(access::Role::kAuditor));
  EXPECT_TRUE(routes[1].options.anonymous);
}

TEST(RouterOptionsTest, BodyLimitIsPartOfTheRouteAndSmallByDefault) {
  Router router;
  router.Add("POST", "/api/v1/hr/import", Echo("import"),
             {.max_body_bytes = 32u << 20, .roles = {access::Role::kAdmin}});
  router.Add("POST", "/api/v1/triggers", Echo("triggers"), kForAnalysts);
  router.Add("GET", "/api/v1/health", Echo("health"), {.anonymous = true});

  const Admission import = router.Admit(Req("POST", "/api/v1/hr/import"));
  EXPECT_FALSE(import.refusal.has_value());
  EXPECT_EQ(import.max_body_bytes, 32u << 20);
  const Admission triggers = router.Admit(Req("POST", "/api/v1/triggers/"));
  EXPECT_FALSE(triggers.refusal.has_value());
  EXPECT_EQ(triggers.max_body_bytes, kDefaultMaxBodyBytes);
  EXPECT_EQ(kDefaultMaxBodyBytes, 64u << 10);

  ASSERT_NE(router.Find(Req("GET", "/api/v1/health")), nullptr);
  EXPECT_TRUE(router.Find(Req("GET", "/api/v1/health"))->anonymous);
  EXPECT_FALSE(router.Find(Req("POST", "/api/v1/triggers"))->anonymous);
  EXPECT_EQ(router.Find(Req("GET", "/api/v1/triggers")), nullptr);
  EXPECT_EQ(router.Find(Req("GET", "/nothing")), nullptr);
}

TEST(RouterOptionsTest, AdmitRefusesWhatDispatchWouldRefuse) {
  Router router;
  router.Add("POST", "/a", Echo("a"), kForAnalysts);
  const Admission unknown = router.Admit(Req("POST", "/b"));
  ASSERT_TRUE(unknown.refusal.has_value());
  EXPECT_EQ(unknown.refusal->status, 404);
  const Admission wrong_method = router.Admit(Req("GET", "/a"));
  ASSERT_TRUE(wrong_method.refusal.has_value());
  EXPECT_EQ(wrong_method.refusal->status, 405);
  EXPECT_EQ(Header(*wrong_method.refusal, "Allow"), "POST");
}

TEST(RouterDeathTest, RejectsMalformedAndDuplicatePatterns) {
  const auto fn = [](const Call&) { return HttpResponse{}; };
  EXPECT_DEATH(Router().Add("GET", "no-slash", fn, kForAnalysts), "must start with");
  EXPECT_DEATH(Router().Add("GET", "/a/{}", fn, kForAnalysts), "bad parameter");
  EXPECT_DEATH(Router().Add("GET", "/a/{x}/{x}", fn, kForAnalysts), "repeated");
  EXPECT_DEATH(Router().Add("GET", "/a//b", fn, kForAnalysts), "empty segment");
  EXPECT_DEATH(Router().Add("GET", "/a/b{x}", fn, kForAnalysts), "braces");
  EXPECT_DEATH(Router().Add("GE T", "/a", fn, kForAnalysts), "invalid method");
  EXPECT_DEATH(
      {
        Router router;
        router.Add("GET", "/a/{x}", fn, kForAnalysts);
        router.Add("GET", "/a/{y}", fn, kForAnalysts);
      },
      "duplicates");
  EXPECT_DEATH(Router().Add("GET", "/a", fn, {}), "at least one role");
}

}  // namespace
}  // namespace custos::collector::api
