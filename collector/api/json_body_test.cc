#include "collector/api/json_body.h"

#include <gtest/gtest.h>

#include <string>

namespace custos::collector::api {
namespace {

HttpRequest Body(std::string body) {
  HttpRequest request;
  request.request_id = "req-1";
  request.body = std::move(body);
  return request;
}

nlohmann::json ErrorOf(const HttpResponse& response) {
  return nlohmann::json::parse(response.body)["error"];
}

TEST(JsonBodyTest, AcceptsAnObjectWithinTheLimits) {
  HttpResponse error;
  auto j = ParseJsonObjectBody(Body(R"({"person":"a@x","title":"t","n":[1,2],"o":{"k":"v"}})"),
                               ApiJsonFieldLimits(), &error);
  ASSERT_TRUE(j.has_value()) << error.body;
  EXPECT_EQ((*j)["title"], "t");
}

TEST(JsonBodyTest, RefusesWhatIsNotAnObject) {
  for (const char* body : {"", "[]", "\"x\"", "{", "{\"a\":1} x"}) {
    HttpResponse error;
    EXPECT_FALSE(ParseJsonObjectBody(Body(body), ApiJsonFieldLimits(), &error)) << body;
    EXPECT_EQ(error.status, 400) << body;
    EXPECT_EQ(ErrorOf(error)["code"], "invalid_json") << body;
    EXPECT_EQ(ErrorOf(error)["request_id"], "req-1") << body;
  }
}

TEST(JsonBodyTest, NamesTheFieldAndTheLimitOfAnOverlongString) {
  HttpResponse error;
  const std::string title(5u << 20, 'x');  // the 5 MB external-alert title of issue 17
  EXPECT_FALSE(ParseJsonObjectBody(Body(nlohmann::json{{"person", "a"}, {"title", title}}.dump()),
                                   ApiJsonFieldLimits(), &error));
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(ErrorOf(error)["code"], "field_too_long");
  EXPECT_EQ(ErrorOf(error)["message"], "title: at most 1024 bytes (got 5242880)");

  // At the limit passes; one byte more does not.
  EXPECT_TRUE(ParseJsonObjectBody(Body(nlohmann::json{{"reason", std::string(4096, 'r')}}.dump()),
                                  ApiJsonFieldLimits(), &error));
  EXPECT_FALSE(ParseJsonObjectBody(Body(nlohmann::json{{"reason", std::string(4097, 'r')}}.dump()),
                                   ApiJsonFieldLimits(), &error));
  EXPECT_EQ(ErrorOf(error)["message"], "reason: at most 4096 bytes (got 4097)");
  // Fields not listed get the default.
  EXPECT_FALSE(ParseJsonObjectBody(Body(nlohmann::json{{"name", std::string(257, 'n')}}.dump()),
                                   ApiJsonFieldLimits(), &error));
  EXPECT_EQ(ErrorOf(error)["message"], "name: at most 256 bytes (got 257)");
}

TEST(JsonBodyTest, ChecksStringsAtAnyDepthAndInArrays) {
  HttpResponse error;
  nlohmann::json policy = {{"name", "p"},
                           {"indicators", {{{"id", "usb"}}, {{"id", std::string(300, 'i')}}}}};
  EXPECT_FALSE(ParseJsonObjectBody(Body(policy.dump()), ApiJsonFieldLimits(), &error));
  EXPECT_EQ(ErrorOf(error)["message"], "indicators[1].id: at most 256 bytes (got 300)");

  nlohmann::json list = {{"approved_software", {"vim", std::string(300, 's')}}};
  EXPECT_FALSE(ParseJsonObjectBody(Body(list.dump()), ApiJsonFieldLimits(), &error));
  EXPECT_EQ(ErrorOf(error)["message"], "approved_software[1]: at most 256 bytes (got 300)");
}

TEST(JsonBodyTest, RefusesLongKeysAndDeepNesting) {
  HttpResponse error;
  EXPECT_FALSE(ParseJsonObjectBody(Body(nlohmann::json{{std::string(200, 'k'), 1}}.dump()),
                                   ApiJsonFieldLimits(), &error));
  EXPECT_EQ(ErrorOf(error)["code"], "field_too_long");

  std::string deep = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_FALSE(ParseJsonObjectBody(Body(deep), ApiJsonFieldLimits(), &error));
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(ErrorOf(error)["code"], "invalid_json");
}

TEST(JsonBodyTest, PasswordsAndJustificationsHaveRoomForWhatAccountsAndRevealsAccept) {
  HttpResponse error;
  const std::string password(1024, 'p');
  EXPECT_TRUE(ParseJsonObjectBody(Body(nlohmann::json{{"password", password}}.dump()),
                                  ApiJsonFieldLimits(), &error)
                  .has_value());
  EXPECT_FALSE(ParseJsonObjectBody(Body(nlohmann::json{{"password", password + "p"}}.dump()),
                                   ApiJsonFieldLimits(), &error)
                   .has_value());
  const std::string why(2000, 'w');
  EXPECT_TRUE(ParseJsonObjectBody(Body(nlohmann::json{{"justification", why}}.dump()),
                                  ApiJsonFieldLimits(), &error)
                  .has_value());
}

}  // namespace
}  // namespace custos::collector::api
