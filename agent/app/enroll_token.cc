#include "agent/app/enroll_token.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace custos::agent {
namespace {

constexpr size_t kMaxTokenFileBytes = 64 << 10;

// The whole of fd, up to kMaxTokenFileBytes; `name` is for messages.
Result<std::string> ReadAll(int fd, const std::string& name) {
  std::string data;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(name, errno);
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxTokenFileBytes) {
      return InvalidArgumentError(name + ": larger than 64 KiB, not an enrollment token");
    }
  }
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

Result<std::string> ReadEnrollmentTokenFile(const std::string& path, int stdin_fd) {
  const bool from_stdin = path == "-";
  const std::string name = from_stdin ? "standard input" : path;
  std::string text;
  if (from_stdin) {
    CUSTOS_ASSIGN_OR_RETURN(text, ReadAll(stdin_fd, name));
  } else {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(name, errno);
    auto read = ReadAll(fd, name);
    ::close(fd);
    if (!read.ok()) return read.status();
    text = std::move(*read);
  }
  std::string token = text.substr(0, text.find_first_of("\r\n"));
  while (!token.empty() && IsBlank(token.back())) token.pop_back();
  size_t start = 0;
  while (start < token.size() && IsBlank(token[start])) ++start;
  token.erase(0, start);
  if (token.empty()) {
    return InvalidArgumentError(name + ": empty, expected the enrollment token on its first line");
  }
  for (const char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      return InvalidArgumentError(name +
                                  ": the token holds a space or control character (not a token)");
    }
  }
  return token;
}

Result<std::string> EnrollmentToken(const std::optional<std::string>& token_flag,
                                    const std::optional<std::string>& token_file, int stdin_fd) {
  if (token_flag && token_file) {
    return InvalidArgumentError("enroll takes --token-file FILE or --token TOKEN, not both");
  }
  if (token_file) {
    auto token = ReadEnrollmentTokenFile(*token_file, stdin_fd);
    if (!token.ok()) return token.status().WithContext("--token-file");
    return token;
  }
  if (!token_flag || token_flag->empty()) {
    return InvalidArgumentError(
        "enroll needs the enrollment token: --token-file FILE, or --token-file - to read it "
        "from standard input");
  }
  return *token_flag;
}

}  // namespace custos::agent
