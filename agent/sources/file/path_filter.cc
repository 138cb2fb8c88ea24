#include "agent/sources/file/path_filter.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace custos::agent::file {
namespace {

// A glob without '/' matches a name, one with '/' a full path; '*' crosses '/' in paths.
bool GlobMatches(const std::string& glob, std::string_view path) {
  const std::string subject(glob.find('/') == std::string::npos ? BaseName(path) : path);
  return fnmatch(glob.c_str(), subject.c_str(), 0) == 0;
}

Result<std::string> Canonical(const std::string& path, const char* what) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) {
    return InvalidArgumentError(std::string("file: ") + what + " " + path + ": " +
                                std::strerror(errno));
  }
  return std::string(buf);
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (suffix.size() > s.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (Lower(s[s.size() - suffix.size() + i]) != Lower(suffix[i])) return false;
  }
  return true;
}

}  // namespace

std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool IsUnder(std::string_view path, std::string_view dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.size() >= dir.size() && path.substr(0, dir.size()) == dir &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out.append(name);
  return out;
}

Result<PathFilter> PathFilter::Create(const FileSourceOptions& options) {
  if (options.roots.empty()) return InvalidArgumentError("file: no roots configured");
  PathFilter filter;
  for (const std::string& root : options.roots) {
    CUSTOS_ASSIGN_OR_RETURN(std::string canonical, Canonical(root, "root"));
    struct stat st;
    if (stat(canonical.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return InvalidArgumentError("file: root " + root + ": not a directory");
    }
    bool nested = false;
    for (const std::string& other : filter.roots_) nested |= IsUnder(canonical, other);
    if (nested) continue;  // already covered by an enclosing root
    std::erase_if(filter.roots_, [&](const std::string& r) { return IsUnder(r, canonical); });
    filter.roots_.push_back(canonical);
  }
  if (!options.state_dir.empty()) {
    // The state directory may not exist yet; canonicalise its parent then.
    auto canonical = Canonical(options.state_dir, "state_dir");
    filter.state_dir_ = canonical.ok() ? *canonical : options.state_dir;
  }
  for (const auto* globs : {&options.include_globs, &options.exclude_globs}) {
    for (const std::string& g : *globs) {
      if (g.empty()) return InvalidArgumentError("file: empty include/exclude glob");
    }
  }
  filter.include_globs_ = options.include_globs;
  filter.exclude_globs_ = options.exclude_globs;
  for (const ClassificationRule& rule : options.classification_rules) {
    if (rule.label.empty() || (rule.glob.empty() && rule.extension.empty())) {
      return InvalidArgumentError(
          "file: classification rule needs a label and a glob or extension");
    }
    ClassificationRule r = rule;
    if (!r.extension.empty() && r.extension[0] != '.') r.extension = "." + r.extension;
    filter.rules_.push_back(std::move(r));
  }
  return filter;
}

const std::string* PathFilter::RootOf(std::string_view path) const {
  for (const std::string& root : roots_) {
    if (IsUnder(path, root)) return &root;
  }
  return nullptr;
}

bool PathFilter::IsRoot(std::string_view path) const {
  for (const std::string& root : roots_) {
    if (path == root) return true;
  }
  return false;
}

bool PathFilter::ExcludesEntry(std::string_view path) const {
  if (!state_dir_.empty() && IsUnder(path, state_dir_)) return true;
  for (const std::string& glob : exclude_globs_) {
    if (GlobMatches(glob, path)) return true;
  }
  return false;
}

bool PathFilter::Watched(std::string_view path) const {
  const std::string* root = RootOf(path);
  if (root == nullptr) return false;
  if (!state_dir_.empty() && IsUnder(path, state_dir_)) return false;
  if (exclude_globs_.empty()) return true;
  // The path itself and every directory below the root.
  for (size_t end = path.size(); end > root->size();) {
    if (ExcludesEntry(path.substr(0, end))) return false;
    end = path.rfind('/', end - 1);
    if (end == std::string_view::npos) break;
  }
  return true;
}

bool PathFilter::Included(std::string_view path) const {
  if (include_globs_.empty()) return true;
  for (const std::string& glob : include_globs_) {
    if (GlobMatches(glob, path)) return true;
  }
  return false;
}

bool PathFilter::Reported(std::string_view path) const { return Watched(path) && Included(path); }

std::vector<std::string> PathFilter::Classify(std::string_view path) const {
  std::vector<std::string> labels;
  for (const ClassificationRule& rule : rules_) {
    const bool match = rule.glob.empty() ? EndsWithNoCase(BaseName(path), rule.extension)
                                         : GlobMatches(rule.glob, path);
    if (match && std::find(labels.begin(), labels.end(), rule.label) == labels.end()) {
      labels.push_back(rule.label);
    }
  }
  return labels;
}

}  // namespace custos::agent::file
