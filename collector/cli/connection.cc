#include "collector/cli/connection.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "common/config/config.h"
#include "common/flags/flags.h"

namespace custos::collector::cli {

Environment EnvironmentFromProcess(size_t line_width) {
  Environment env;
  auto get = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  env.api = get("CUSTOS_API");
  env.ca = get("CUSTOS_CA");
  env.token = get("CUSTOS_TOKEN");
  env.line_width = line_width;
  env.stdin_is_terminal = ::isatty(STDIN_FILENO) == 1;
  return env;
}

size_t TableWidth() {
  struct winsize ws {};
  if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  if (const char* columns = std::getenv("COLUMNS")) {
    size_t n = 0;
    auto [end, ec] = std::from_chars(columns, columns + std::strlen(columns), n);
    if (ec == std::errc() && *end == '\0' && n >= 40 && n <= 100'000) return n;
  }
  return 160;
}

const std::vector<OptionSpec>& ConnectionOptions() {
  static const std::vector<OptionSpec> kOptions = {{"api"}, {"ca"}, {"token-file"}, {"data-dir"}};
  return kOptions;
}

Result<ApiEndpoint> ParseApiUrl(std::string_view url) {
  ApiEndpoint e;
  e.url = std::string(url);
  std::string_view rest = url;
  const std::string lower = ToLower(std::string(url.substr(0, 8)));
  if (lower.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (lower.starts_with("http://")) {
    return InvalidArgumentError("--api: the API is HTTPS only; use https://" +
                                std::string(url.substr(7)));
  } else if (rest.find("://") != std::string_view::npos) {
    return InvalidArgumentError("--api: expected https://HOST:PORT, got '" + e.url + "'");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty()) return InvalidArgumentError("--api: no host in '" + e.url + "'");
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return InvalidArgumentError("--api: expected https://HOST:PORT without a path or user, got '" +
                                e.url + "'");
  }
  // A port is present when the text after the last ':' follows a host (not inside [v6]).
  std::string hostport(rest);
  const size_t colon = hostport.rfind(':');
  const size_t bracket = hostport.rfind(']');
  const bool has_port =
      colon != std::string::npos &&
      (bracket == std::string::npos ? hostport.find(':') == colon : colon > bracket);
  if (!has_port) {
    if (bracket == std::string::npos && hostport.find(':') != std::string::npos) {
      return InvalidArgumentError("--api: write an IPv6 address in brackets: https://[" + hostport +
                                  "]:8443");
    }
    hostport += ":8443";
  }
  if (Status s = flags::ParseHostPort(hostport, &e.host, &e.port); !s.ok()) {
    return InvalidArgumentError("--api: " + s.message() + " in '" + e.url + "'");
  }
  if (e.host.empty() || e.port == 0) {
    return InvalidArgumentError(
        "--api: expected https://HOST:PORT with a port from 1 to 65535, "
        "got '" +
        e.url + "'");
  }
  return e;
}

Result<std::string> DataDirFromConfig(const std::string& path) {
  auto reader = config::ConfigReader::LoadFile(path);
  if (!reader.ok()) return InvalidArgumentError(reader.status().message());
  std::string data_dir = reader->String("data_dir", kDefaultDataDir);
  if (data_dir.empty() || data_dir[0] != '/') {
    return InvalidArgumentError(
        "config: " + path + ": key 'data_dir': must be an absolute path, got '" + data_dir + "'");
  }
  return data_dir;
}

namespace {

// DATA_DIR, for the defaults that need it.
Result<std::string> DataDir(const Invocation& args, bool takes_config) {
  if (auto d = args.Get("data-dir")) return *d;
  if (auto c = args.Get("config")) return DataDirFromConfig(*c);
  // The default configuration is read only when --data-dir does not answer the question, so an
  // analyst who cannot read the collector's (root-only) configuration can still pass --data-dir.
  if (takes_config && ::access(kDefaultConfigPath, F_OK) == 0) {
    return DataDirFromConfig(kDefaultConfigPath);
  }
  return std::string(kDefaultDataDir);
}

}  // namespace

Result<Connection> ResolveConnection(const Invocation& args, const Environment& env,
                                     bool takes_config) {
  Connection c;
  // An explicit --config must load even when no default needs it.
  if (auto config = args.Get("config")) {
    CUSTOS_RETURN_IF_ERROR(DataDirFromConfig(*config).status());
  }
  std::optional<std::string> api = args.Get("api");
  if (!api) api = env.api;
  CUSTOS_ASSIGN_OR_RETURN(c.endpoint, ParseApiUrl(api.value_or(kDefaultApiUrl)));
  if (auto ca = args.Get("ca")) {
    c.ca_path = *ca;
  } else if (env.ca) {
    c.ca_path = *env.ca;
  } else {
    CUSTOS_ASSIGN_OR_RETURN(std::string data_dir, DataDir(args, takes_config));
    c.ca_path = data_dir + "/pki/ca.crt";
  }
  std::string token;
  if (auto file = args.Get("token-file")) {
    c.token_source = *file;
  } else if (env.token) {
    c.token_source = "CUSTOS_TOKEN";
    token = *env.token;
  } else {
    CUSTOS_ASSIGN_OR_RETURN(std::string data_dir, DataDir(args, takes_config));
    c.token_source = data_dir + "/admin.token";
  }
  if (c.token_source != "CUSTOS_TOKEN" || args.Has("token-file")) {
    auto text = ReadWholeFile(c.token_source, 64 << 10);
    if (!text.ok()) {
      Status s = text.status().WithContext("read token file");
      std::string hint =
          s.code() == StatusCode::kPermissionDenied
              ? " (run as a user that may read it, e.g. with sudo, or set CUSTOS_TOKEN)"
              : " (pass --token-file FILE or set CUSTOS_TOKEN)";
      return Status(s.code(), s.message() + hint);
    }
    token = std::move(*text);
  }
  // The first line, without surrounding white space: files end in a newline.
  token = token.substr(0, token.find_first_of("\r\n"));
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.erase(0, 1);
  if (token.empty()) {
    return FailedPreconditionError("the token from " + c.token_source + " is empty");
  }
  for (unsigned char ch : token) {
    if (ch < 0x21 || ch == 0x7F) {
      return FailedPreconditionError("the token from " + c.token_source +
                                     " contains a space or control character");
    }
  }
  c.token = std::move(token);
  return c;
}

}  // namespace custos::collector::cli
