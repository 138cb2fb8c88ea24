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
  return [name](const HttpRequest&, const PathParams& params) {
    nlohmann::json j;
    j["route"] = name;
    for (const auto& [k, v] : params) j["params"][k] = v;
    HttpResponse response;
    response.body = j.dump();
    return response;
  };
}

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
    router_.Add("GET", "/api/v1/alerts", Echo("list"));
    router_.Add("GET", "/api/v1/alerts/{id}", Echo("show"));
    router_.Add("PATCH", "/api/v1/alerts/{id}", Echo("update"));
    router_.Add("GET", "/api/v1/alerts/export", Echo("export"));
    router_.Add("POST", "/api/v1/alerts/{id}/status", Echo("status"));
    router_.Add("GET", "/api/v1/people/{person}/alerts/{id}", Echo("person_alert"));
    router_.Add("GET", "/", Echo("root"));
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralRoute) {
  const HttpResponse response = router_.Dispatch(Req("GET", "/api/v1/alerts?state=open"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["route"], "list");
}

TEST_F(RouterTest, ExtractsDecodedParameters) {
  const HttpResponse response =
      router_.Dispatch(Req("GET", "/api/v1/people/alice%20smith/alerts/42"));
  ASSERT_EQ(response.status, 200);
  const nlohmann::json body = Body(response);
  EXPECT_EQ(body["route"], "person_alert");
  EXPECT_EQ(body["params"]["person"], "alice smith");
  EXPECT_EQ(body["params"]["id"], "42");
}

TEST_F(RouterTest, ParameterInTheMiddle) {
  const HttpResponse response = router_.Dispatch(Req("POST", "/api/v1/alerts/a-7/status"));
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(Body(response)["route"], "status");
  EXPECT_EQ(Body(response)["params"]["id"], "a-7");
}

TEST_F(RouterTest, LiteralSegmentBeatsParameter) {
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/export")))["route"], "export");
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/exports")))["route"], "show");
}

TEST_F(RouterTest, EarlierLiteralWinsOverLaterLiteral) {
  Router router;
  router.Add("GET", "/a/{x}/c", Echo("param_first"));
  router.Add("GET", "/a/b/{y}", Echo("literal_first"));
  EXPECT_EQ(Body(router.Dispatch(Req("GET", "/a/b/c")))["route"], "literal_first");
  EXPECT_EQ(Body(router.Dispatch(Req("GET", "/a/z/c")))["route"], "param_first");
}

TEST_F(RouterTest, ToleratesTrailingSlash) {
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/")))["route"], "list");
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/api/v1/alerts/7/")))["params"]["id"], "7");
  EXPECT_EQ(Body(router_.Dispatch(Req("GET", "/")))["route"], "root");
}

TEST_F(RouterTest, UnknownPathIs404Json) {
  for (const char* target : {"/api/v1/nothing", "/api/v1/alerts/1/status/extra", "/api",
                             "/api/v1//alerts", "/api/v1/alerts//status"}) {
    const HttpResponse response = router_.Dispatch(Req("GET", target));
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_EQ(response.content_type, "application/json");
    EXPECT_EQ(Body(response)["error"]["status"], 404);
    EXPECT_EQ(Body(response)["error"]["code"], "not_found");
  }
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  HttpResponse response = router_.Dispatch(Req("DELETE", "/api/v1/alerts/9"));
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(Header(response, "Allow"), "GET, PATCH");
  EXPECT_EQ(Body(response)["error"]["code"], "method_not_allowed");

  response = router_.Dispatch(Req("GET", "/api/v1/alerts/9/status"));
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(Header(response, "Allow"), "POST");
}

TEST_F(RouterTest, MethodIsCaseSensitive) {
  EXPECT_EQ(router_.Dispatch(Req("get", "/api/v1/alerts")).status, 405);
}

TEST_F(RouterTest, AsHandlerDispatches) {
  const Handler handler = router_.AsHandler();
  EXPECT_EQ(Body(handler(Req("GET", "/api/v1/alerts/3")))["params"]["id"], "3");
}

TEST(RouterOptionsTest, BodyLimitIsPartOfTheRouteAndSmallByDefault) {
  Router router;
  router.Add("POST", "/api/v1/hr/import", Echo("import"), {.max_body_bytes = 32u << 20});
  router.Add("POST", "/api/v1/triggers", Echo("triggers"));
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
  router.Add("POST", "/a", Echo("a"));
  const Admission unknown = router.Admit(Req("POST", "/b"));
  ASSERT_TRUE(unknown.refusal.has_value());
  EXPECT_EQ(unknown.refusal->status, 404);
  const Admission wrong_method = router.Admit(Req("GET", "/a"));
  ASSERT_TRUE(wrong_method.refusal.has_value());
  EXPECT_EQ(wrong_method.refusal->status, 405);
  EXPECT_EQ(Header(*wrong_method.refusal, "Allow"), "POST");
}

TEST(RouterDeathTest, RejectsMalformedAndDuplicatePatterns) {
  const auto fn = [](const HttpRequest&, const PathParams&) { return HttpResponse{}; };
  EXPECT_DEATH(Router().Add("GET", "no-slash", fn), "must start with");
  EXPECT_DEATH(Router().Add("GET", "/a/{}", fn), "bad parameter");
  EXPECT_DEATH(Router().Add("GET", "/a/{x}/{x}", fn), "repeated");
  EXPECT_DEATH(Router().Add("GET", "/a//b", fn), "empty segment");
  EXPECT_DEATH(Router().Add("GET", "/a/b{x}", fn), "braces");
  EXPECT_DEATH(Router().Add("GE T", "/a", fn), "invalid method");
  EXPECT_DEATH(
      {
        Router router;
        router.Add("GET", "/a/{x}", fn);
        router.Add("GET", "/a/{y}", fn);
      },
      "duplicates");
}

}  // namespace
}  // namespace custos::collector::api
