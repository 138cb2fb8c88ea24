#include "collector/api/http.h"

#include <nlohmann/json.hpp>

namespace custos::collector::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

}  // namespace

std::string HttpRequest::Query(std::string_view key, std::string_view fallback) const {
  // multimap::find with a string_view needs a transparent comparator; keep the type simple.
  const auto it = query.find(std::string(key));
  return it == query.end() ? std::string(fallback) : it->second;
}

HttpResponse JsonError(int status, std::string_view code, std::string_view message,
                       std::string_view request_id) {
  nlohmann::json j;
  j["error"]["status"] = status;
  j["error"]["code"] = std::string(code);
  j["error"]["message"] = std::string(message);
  if (!request_id.empty()) j["error"]["request_id"] = std::string(request_id);
  HttpResponse response;
  response.status = status;
  response.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Result<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return InvalidArgumentError("http: target: truncated %-escape");
      const int h = HexValue(in[i + 1]);
      const int l = HexValue(in[i + 2]);
      if (h < 0 || l < 0) return InvalidArgumentError("http: target: malformed %-escape");
      out += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Status ParseTarget(std::string_view target, HttpRequest* request) {
  request->target = std::string(target);
  request->path.clear();
  request->query.clear();
  if (target.empty() || target.front() != '/') {
    return InvalidArgumentError("http: target: must start with '/'");
  }
  for (const char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return InvalidArgumentError("http: target: control byte or space");
    if (c == '#') return InvalidArgumentError("http: target: fragment not allowed");
  }
  const size_t question = target.find('?');
  const std::string_view raw_path = target.substr(0, question);

  // Decode segment by segment so that "%2F" is recognised and refused rather than silently
  // merged into the path structure.
  std::string path;
  size_t start = 1;
  while (true) {
    const size_t slash = raw_path.find('/', start);
    const std::string_view raw_segment = raw_path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    CUSTOS_ASSIGN_OR_RETURN(std::string segment, PercentDecode(raw_segment, false));
    for (const char c : segment) {
      if (c == '/') return InvalidArgumentError("http: target: encoded '/' in path");
      if (IsControl(static_cast<unsigned char>(c))) {
        return InvalidArgumentError("http: target: control byte in path");
      }
    }
    if (segment == "." || segment == "..") {
      return InvalidArgumentError("http: target: dot segment in path");
    }
    path += '/';
    path += segment;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  request->path = std::move(path);

  if (question == std::string_view::npos) return OkStatus();
  std::string_view rest = target.substr(question + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    CUSTOS_ASSIGN_OR_RETURN(std::string key, PercentDecode(pair.substr(0, eq), true));
    std::string value;
    if (eq != std::string_view::npos) {
      CUSTOS_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(eq + 1), true));
    }
    if (key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return InvalidArgumentError("http: target: NUL in query");
    }
    request->query.emplace(std::move(key), std::move(value));
  }
  return OkStatus();
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace custos::collector::api
