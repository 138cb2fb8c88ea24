#include "collector/cli/command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "collector/cli/api_client.h"
#include "common/text/terminal.h"
#include "common/time/clock.h"

namespace custos::collector::cli {

using nlohmann::json;
using text::EscapeForTerminal;

namespace {

// ParseTimeSpec works in int64 nanoseconds without overflow checks: years outside 1678..2261
// and relative spans of centuries overflow (undefined behaviour). Refuse those before calling it.
std::optional<std::string> OutOfNanosecondRange(std::string_view text) {
  if (text.starts_with('-')) {
    uint64_t n = 0;
    size_t i = 1;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      n = n * 10 + static_cast<uint64_t>(text[i] - '0');
      if (n > 1'000'000'000'000) return "is more than 100 years ago";
    }
    uint64_t unit = 1;
    if (i + 1 == text.size()) {
      unit = text[i] == 'd' ? 86'400 : text[i] == 'h' ? 3'600 : text[i] == 'm' ? 60 : 1;
    }
    if (n * unit > 100ull * 366 * 86'400) return "is more than 100 years ago";
    return std::nullopt;
  }
  int year = 0;
  if (text.size() >= 4 &&
      std::from_chars(text.data(), text.data() + 4, year).ptr == text.data() + 4 &&
      (year < 1678 || year > 2261)) {
    return "is outside the years 1678 to 2261";
  }
  return std::nullopt;
}

Status ParseTimeFlag(const Invocation& args, const std::string& name, int64_t now_ns,
                     std::optional<int64_t>* out) {
  auto text = args.Get(name);
  if (!text) return OkStatus();
  if (auto problem = OutOfNanosecondRange(*text)) {
    return InvalidArgumentError("--" + name + ": '" + *text + "' " + *problem);
  }
  int64_t ns = 0;
  if (!ParseTimeSpec(*text, now_ns, &ns)) {
    return InvalidArgumentError("--" + name +
                                ": expected RFC 3339 time like 2026-11-21T10:00:00Z, a date, or "
                                "-15m/-2h/-7d (got '" +
                                *text + "')");
  }
  *out = ns;
  return OkStatus();
}

}  // namespace

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
  return ShowList(c, command, target, key, write_table);
}

int ShowList(Context& c, const std::string& command, const std::string& target, const char* key,
             void (*write_table)(const json&, size_t, std::ostream&)) {
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

Result<TimeWindow> ParseTimeWindow(const Invocation& args, int64_t now_ns) {
  TimeWindow window;
  CUSTOS_RETURN_IF_ERROR(ParseTimeFlag(args, "since", now_ns, &window.since_ns));
  CUSTOS_RETURN_IF_ERROR(ParseTimeFlag(args, "until", now_ns, &window.until_ns));
  if (window.since_ns && window.until_ns && *window.since_ns >= *window.until_ns) {
    return InvalidArgumentError("--since " + *args.Get("since") + " is not before --until " +
                                *args.Get("until"));
  }
  return window;
}

std::string Rfc3339Nanos(int64_t unix_ns) {
  int64_t seconds = unix_ns / 1'000'000'000;
  int64_t nanos = unix_ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  const time_t t = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(nanos));
  return buf;
}

}  // namespace custos::collector::cli
