#include "agent/app/enroll_token.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/testing/testing.h"

namespace custos::agent {
namespace {

using ::testing::HasSubstr;

constexpr const char* kToken = "cet_3f9a1c2b0d4e5f60718293a4b5c6d7e8";

// A pipe whose read end holds `content`, as standard input would.
class FakeStdin {
 public:
  explicit FakeStdin(const std::string& content) {
    EXPECT_EQ(pipe2(fds_, O_CLOEXEC), 0);
    EXPECT_EQ(write(fds_[1], content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fds_[1]);
  }
  ~FakeStdin() { close(fds_[0]); }
  int fd() const { return fds_[0]; }

 private:
  int fds_[2] = {-1, -1};
};

TEST(EnrollTokenTest, ReadsTheFirstLineOfTheFileWithoutItsLineEnding) {
  testing::TempDir dir;
  for (const std::string& content :
       {std::string(kToken), std::string(kToken) + "\n", std::string(kToken) + "\r\n",
        "  " + std::string(kToken) + " \t\nsecond line\n"}) {
    ASSERT_TRUE(testing::WriteFile(dir.Sub("token"), content).ok());
    auto token = ReadEnrollmentTokenFile(dir.Sub("token"), -1);
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    EXPECT_EQ(*token, kToken);
  }
}

TEST(EnrollTokenTest, DashReadsStandardInput) {
  FakeStdin in(std::string(kToken) + "\n");
  auto token = ReadEnrollmentTokenFile("-", in.fd());
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(*token, kToken);
}

TEST(EnrollTokenTest, EmptyFileOrInputIsAClearError) {
  testing::TempDir dir;
  for (const std::string& content : {std::string(), std::string("\n"), std::string(" \t\r\n")}) {
    ASSERT_TRUE(testing::WriteFile(dir.Sub("token"), content).ok());
    auto token = ReadEnrollmentTokenFile(dir.Sub("token"), -1);
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(token.status().message(), HasSubstr(dir.Sub("token") + ": empty"));
  }
  FakeStdin in("");
  auto token = ReadEnrollmentTokenFile("-", in.fd());
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("standard input: empty"));
}

TEST(EnrollTokenTest, MissingOrUnreadableFileNamesTheFile) {
  testing::TempDir dir;
  auto missing = ReadEnrollmentTokenFile(dir.Sub("nope"), -1);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir.Sub("nope")));

  auto directory = ReadEnrollmentTokenFile(dir.path(), -1);
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.status().message(), HasSubstr(dir.path()));

  ASSERT_TRUE(testing::WriteFile(dir.Sub("secret"), kToken).ok());
  ASSERT_EQ(chmod(dir.Sub("secret").c_str(), 0), 0);
  const std::string path = dir.Sub("secret");
  EXPECT_EQ(testing::RunUnprivileged([&]() -> std::string {
              auto r = ReadEnrollmentTokenFile(path, -1);
              if (r.ok()) return "read a file of mode 0000";
              if (r.status().code() != StatusCode::kPermissionDenied) return r.status().ToString();
              if (r.status().message().find(path) == std::string::npos) {
                return "message does not name the file: " + r.status().message();
              }
              return "";
            }),
            "");
}

TEST(EnrollTokenTest, RefusesSpacesControlCharactersAndHugeFiles) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("two"), "cet_a cet_b\n").ok());
  EXPECT_EQ(ReadEnrollmentTokenFile(dir.Sub("two"), -1).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(testing::WriteFile(dir.Sub("esc"), "cet_\x1b[2K\n").ok());
  EXPECT_EQ(ReadEnrollmentTokenFile(dir.Sub("esc"), -1).status().code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(testing::WriteFile(dir.Sub("huge"), std::string(1 << 20, 'a')).ok());
  auto huge = ReadEnrollmentTokenFile(dir.Sub("huge"), -1);
  ASSERT_FALSE(huge.ok());
  EXPECT_THAT(huge.status().message(), HasSubstr("larger than 64 KiB"));
}

TEST(EnrollTokenTest, TakesExactlyOneOfTokenAndTokenFile) {
  testing::TempDir dir;
  ASSERT_TRUE(testing::WriteFile(dir.Sub("token"), std::string(kToken) + "\n").ok());
  auto from_file = EnrollmentToken(std::nullopt, dir.Sub("token"), -1);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_EQ(*from_file, kToken);
  auto from_flag = EnrollmentToken(std::string(kToken), std::nullopt, -1);
  ASSERT_TRUE(from_flag.ok());
  EXPECT_EQ(*from_flag, kToken);

  auto neither = EnrollmentToken(std::nullopt, std::nullopt, -1);
  ASSERT_FALSE(neither.ok());
  EXPECT_THAT(neither.status().message(), HasSubstr("--token-file FILE"));
  auto both = EnrollmentToken(std::string(kToken), dir.Sub("token"), -1);
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(both.status().message(), HasSubstr("not both"));
  auto bad_file = EnrollmentToken(std::nullopt, dir.Sub("nope"), -1);
  ASSERT_FALSE(bad_file.ok());
  EXPECT_THAT(bad_file.status().message(), HasSubstr("--token-file: " + dir.Sub("nope")));
}

}  // namespace
}  // namespace custos::agent
