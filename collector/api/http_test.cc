#include "collector/api/http.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace custos::collector::api {
namespace {

TEST(ParseTargetTest, DecodesPathAndQuery) {
  HttpRequest request;
  ASSERT_TRUE(
      ParseTarget("/api/v1/alerts/a%20b?state=open&q=x+y%2Bz&empty=&flag&&state=closed", &request)
          .ok());
  EXPECT_EQ(request.target, "/api/v1/alerts/a%20b?state=open&q=x+y%2Bz&empty=&flag&&state=closed");
  EXPECT_EQ(request.path, "/api/v1/alerts/a b");
  EXPECT_EQ(request.query.size(), 5u);
  EXPECT_EQ(request.Query("state"), "open");  // the first of two
  EXPECT_EQ(request.query.count("state"), 2u);
  EXPECT_EQ(request.Query("q"), "x y+z");
  EXPECT_EQ(request.Query("empty", "fallback"), "");
  EXPECT_EQ(request.Query("flag", "fallback"), "");
  EXPECT_EQ(request.Query("missing", "fallback"), "fallback");
}

TEST(ParseTargetTest, PlusIsLiteralInPath) {
  HttpRequest request;
  ASSERT_TRUE(ParseTarget("/a+b/%2B", &request).ok());
  EXPECT_EQ(request.path, "/a+b/+");
}

TEST(ParseTargetTest, KeepsUtf8AndEncodedQueryDelimiters) {
  HttpRequest request;
  ASSERT_TRUE(ParseTarget("/p/%E2%9C%93?k%3D1=v%26w", &request).ok());
  EXPECT_EQ(request.path, "/p/\xE2\x9C\x93");
  EXPECT_EQ(request.Query("k=1"), "v&w");
}

TEST(ParseTargetTest, RefusesBadTargets) {
  for (const char* target : {"", "api/v1", "http://host/x", "*", "/a%2Fb", "/a%2fb", "/a/%",
                             "/a/%4", "/a/%zz", "/a/../b", "/a/./b", "/a/%2e%2e/b", "/a/%00",
                             "/a/%0A", "/a b", "/a#frag", "/a?x=%00", "/a?x=%G1", "/a\x7f"}) {
    HttpRequest request;
    const Status status = ParseTarget(target, &request);
    EXPECT_FALSE(status.ok()) << target;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << target;
    EXPECT_EQ(status.message().rfind("http: target: ", 0), 0u) << status.message();
  }
}

TEST(PercentDecodeTest, DecodesAndRefusesMalformed) {
  EXPECT_EQ(PercentDecode("a%41%62+c", false).value(), "aAb+c");
  EXPECT_EQ(PercentDecode("a%41%62+c", true).value(), "aAb c");
  EXPECT_EQ(PercentDecode("%00", true).value(), std::string(1, '\0'));
  EXPECT_FALSE(PercentDecode("%", true).ok());
  EXPECT_FALSE(PercentDecode("%a", true).ok());
  EXPECT_FALSE(PercentDecode("%ag", true).ok());
}

TEST(JsonErrorTest, BuildsErrorBody) {
  const HttpResponse response = JsonError(404, "not_found", "no \"alert\" 7");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  const nlohmann::json j = nlohmann::json::parse(response.body);
  EXPECT_EQ(j["error"]["status"], 404);
  EXPECT_EQ(j["error"]["code"], "not_found");
  EXPECT_EQ(j["error"]["message"], "no \"alert\" 7");
}

TEST(JsonErrorTest, ReplacesInvalidUtf8) {
  const HttpResponse response = JsonError(400, "bad_request", "bad \xff byte");
  const nlohmann::json j = nlohmann::json::parse(response.body);
  EXPECT_EQ(j["error"]["message"], "bad \xEF\xBF\xBD byte");
}

TEST(StatusReasonTest, KnownAndUnknown) {
  EXPECT_EQ(StatusReason(413), "Content Too Large");
  EXPECT_EQ(StatusReason(299), "Unknown");
}

TEST(CookieValueTest, FindsTheNamedCookieAmongOthers) {
  EXPECT_EQ(CookieValue("theme=dark; custos_session=abc; x=1", "custos_session"), "abc");
  EXPECT_EQ(CookieValue("custos_session=abc", "custos_session"), "abc");
  EXPECT_EQ(CookieValue("custos_session=first;custos_session=second", "custos_session"), "first");
  EXPECT_EQ(CookieValue("my_custos_session=abc", "custos_session"), "");
  EXPECT_EQ(CookieValue("custos_sessionx=abc", "custos_session"), "");
  EXPECT_EQ(CookieValue("custos_session", "custos_session"), "");
  EXPECT_EQ(CookieValue("", "custos_session"), "");
  EXPECT_EQ(CookieValue(";;; ;", "custos_session"), "");
}

}  // namespace
}  // namespace custos::collector::api
