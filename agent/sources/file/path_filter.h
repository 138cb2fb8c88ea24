// Internal to agent/sources/file: which paths are watched, reported and how they are labelled.
// Paths are raw bytes (not escaped). Immutable after Create; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/sources/file/file_source.h"
#include "common/status/status.h"

namespace custos::agent::file {

class PathFilter {
 public:
  // Canonicalises roots (realpath) and state_dir; checks globs. InvalidArgument on bad input.
  static Result<PathFilter> Create(const FileSourceOptions& options);

  const std::vector<std::string>& roots() const { return roots_; }
  // The root `path` is under (or equal to), or nullptr.
  const std::string* RootOf(std::string_view path) const;
  bool IsRoot(std::string_view path) const;
  // Under a root and neither the path nor a directory between it and its root is excluded (by a
  // glob or by being the state directory). Watched paths are tracked in the snapshot.
  bool Watched(std::string_view path) const;
  // Only the entry itself (for walks, whose parents were already checked).
  bool ExcludesEntry(std::string_view path) const;
  // Watched and accepted by the include globs: events for it are reported.
  bool Reported(std::string_view path) const;
  std::vector<std::string> Classify(std::string_view path) const;

 private:
  bool Included(std::string_view path) const;
  std::vector<std::string> roots_;
  std::string state_dir_;  // canonical, or empty
  std::vector<std::string> include_globs_;
  std::vector<std::string> exclude_globs_;
  std::vector<ClassificationRule> rules_;
};

// "/a/b/c" -> "c"; "/" -> "".
std::string_view BaseName(std::string_view path);
// True when `path` is `dir` or below it.
bool IsUnder(std::string_view path, std::string_view dir);
// dir + "/" + name without doubling the slash of "/".
std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace custos::agent::file
