#include "common/status/status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace custos {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("half: " + std::to_string(x) + ": odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  CUSTOS_ASSIGN_OR_RETURN(int h, Half(x));
  CUSTOS_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, OkByDefaultAndCarriesCodeAndMessage) {
  EXPECT_TRUE(Status().ok());
  Status s = NotFoundError("spool: segment 7: missing");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: spool: segment 7: missing");
  EXPECT_EQ(s.WithContext("agent").message(), "agent: spool: segment 7: missing");
}

TEST(StatusTest, ResultPropagatesFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "half: 3: odd");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(StatusTest, ErrnoMapsCommonCodes) {
  EXPECT_EQ(ErrnoError("open x", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoError("open x", EACCES).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoError("write x", ENOSPC).code(), StatusCode::kResourceExhausted);
  EXPECT_NE(ErrnoError("open x", ENOENT).message().find("No such file"), std::string::npos);
}

TEST(StatusTest, ResultFromOkStatusIsAnError) {
  Result<int> r = Status();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace custos
