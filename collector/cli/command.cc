#include "collector/cli/command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>

#include "collector/cli/api_client.h"
#include "common/text/terminal.h"

namespace custos::collector::cli {

using nlohmann::json;
using text::EscapeForTerminal;

std::optional<std::string> Invocation::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Invocation::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

Result<int64_t> Invocation::GetInt(const std::string& name, int64_t fallback, int64_t min,
                                   int64_t max) const {
  auto v = Get(name);
  if (!v) return fallback;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size() || out < min || out > max) {
    return InvalidArgumentError("--" + name + ": expected an integer between " +
                                std::to_string(min) + " and " + std::to_string(max) + ", got '" +
                                *v + "'");
  }
  return out;
}

int UsageError(std::ostream& err, const std::string& message, const std::string& command) {
  err << "custos: " << EscapeForTerminal(message) << "\nRun 'custos "
      << (command.empty() ? "" : EscapeForTerminal(command) + " ") << "--help' for usage.\n";
  return 2;
}

int Failure(std::ostream& err, const std::string& message) {
  err << "custos: " << EscapeForTerminal(message) << '\n';
  return 1;
}

int Finish(Context& c) {
  c.out.flush();
  if (!c.out) return Failure(c.err, "write to standard output failed");
  return 0;
}

bool ExpectFormat(const Context& c, const std::string& command,
                  std::initializer_list<std::string_view> allowed, std::string* format,
                  int* exit_code) {
  *format = c.args.GetOr("format", std::string(*allowed.begin()));
  for (auto a : allowed) {
    if (*format == a) return true;
  }
  std::string list;
  size_t i = 0;
  for (auto a : allowed) {
    list += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + std::string(a);
    ++i;
  }
  *exit_code = UsageError(c.err, "--format: expected " + list + ", got '" + *format + "'", command);
  return false;
}

std::optional<json> ObjectReply(Context& c, std::string_view method, const std::string& target,
                                int* exit_code, std::string_view body,
                                std::string_view content_type) {
  auto reply = c.api.Send(method, target, body, content_type);
  if (!reply) {
    *exit_code = c.api.exit_code();
    return std::nullopt;
  }
  if (reply->status < 200 || reply->status > 299) {
    *exit_code = c.api.ReportError(*reply);
    return std::nullopt;
  }
  if (!reply->json_body.is_object()) {
    *exit_code = Failure(
        c.err, "the API answered HTTP " + std::to_string(reply->status) + " without a JSON object");
    return std::nullopt;
  }
  return reply->json_body;
}

int ListCommand(Context& c, const std::string& command, const char* target, const char* key,
                void (*write_table)(const json&, size_t, std::ostream&)) {
  if (c.args.positional().size() > 1) {
    return UsageError(c.err, command + " takes no arguments, got '" + c.args.positional()[1] + "'",
                      command);
  }
  std::string format;
  int rc = 0;
  if (!ExpectFormat(c, command, {"table", "json"}, &format, &rc)) return rc;
  auto body = ObjectReply(c, "GET", target, &rc);
  if (!body) return rc;
  if (format == "json") {
    WriteJsonArray((*body)[key], c.out);
  } else {
    write_table((*body)[key], c.env.line_width, c.out);
  }
  return Finish(c);
}

std::string StringOr(const json& j, const char* key, const std::string& fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

void WriteJsonArray(const json& list, std::ostream& out) {
  if (!list.is_array() || list.empty()) {
    out << "[]\n";
    return;
  }
  out << "[\n";
  for (size_t i = 0; i < list.size(); ++i) {
    out << Dump(list[i]) << (i + 1 < list.size() ? ",\n" : "\n");
  }
  out << "]\n";
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 0xF];
    }
  }
  return out;
}

Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  const bool stdin_input = path == "-";
  int fd = stdin_input ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, errno);
  std::string data;
  char buf[65536];
  Status status = OkStatus();
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoError(stdin_input ? "standard input" : path, errno);
      break;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      status = ResourceExhaustedError((stdin_input ? std::string("standard input") : path) +
                                      ": larger than " + std::to_string(max_bytes >> 20) + " MiB");
      break;
    }
  }
  if (!stdin_input) ::close(fd);
  if (!status.ok()) return status;
  return data;
}

}  // namespace custos::collector::cli
