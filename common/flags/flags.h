// Command-line parsing shared by every Custos program: positional words (subcommands) and
// --name value / --name=value / --switch flags. Unknown flags are errors naming the flag, so a
// typo never falls back to a default. Not thread-safe; use at startup.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status/status.h"

namespace custos::flags {

struct FlagSpec {
  std::string name;  // without dashes
  bool takes_value = true;
  bool repeatable = false;
};

class Args {
 public:
  // Parses argv[1..]. Flags not in `specs` are an InvalidArgument naming them.
  static Result<Args> Parse(int argc, const char* const* argv, const std::vector<FlagSpec>& specs);

  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  Result<int64_t> GetInt(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
};

// Splits "host:port" or "[v6]:port"; port 0..65535.
Status ParseHostPort(const std::string& text, std::string* host, uint16_t* port);

}  // namespace custos::flags
