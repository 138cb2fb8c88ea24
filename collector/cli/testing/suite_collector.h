// Test helper for the CLI's cross-process suites: one custos-collector for a whole test suite —
// `init`, a seeding step while it is stopped (rows written into its store), then `run` on
// loopback with the API on a free port. Header-only; tests only.
#pragma once

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "collector/api/testing/settings.h"
#include "common/status/status.h"
#include "common/testing/testing.h"

namespace custos::collector::cli::cli_testing {

class SuiteCollector {
 public:
  // init, `seed(data_dir)` (may be empty), run; an error names the step that failed.
  static Result<std::unique_ptr<SuiteCollector>> Start(
      const std::function<void(const std::string& data_dir)>& seed) {
    using namespace std::chrono_literals;
    auto c = std::unique_ptr<SuiteCollector>(new SuiteCollector());
    auto init = testing::Run(
        {testing::BinaryPath("custos-collector"), "init", "--data-dir", c->data_dir()}, 60s);
    if (init.exit_code != 0) return InternalError("collector init: " + init.err);
    if (seed) seed(c->data_dir());
    const std::string ready = c->dir_.Sub("ready.json");
    CUSTOS_RETURN_IF_ERROR(c->process_.Start(
        {testing::BinaryPath("custos-collector"), "run", "--data-dir", c->data_dir(), "--listen",
         "127.0.0.1:0", "--api", "127.0.0.1:0", "--metrics", "off", "--ready-file", ready},
        c->dir_.Sub("collector")));
    SuiteCollector* raw = c.get();
    if (!testing::WaitFor(
            [&] { return access(ready.c_str(), F_OK) == 0 || !raw->process_.running(); }, 30s) ||
        !c->process_.running()) {
      return InternalError("collector did not start: " + c->process_.Stderr());
    }
    auto text = testing::ReadFile(ready);
    if (!text.ok()) return text.status();
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("api_port")) return InternalError("ready file: " + *text);
    c->api_port_ = j["api_port"].get<int>();
    return c;
  }

  // Stops the collector (SIGTERM); its exit code.
  int Stop() {
    using namespace std::chrono_literals;
    process_.Signal(SIGTERM);
    return process_.Wait(30s);
  }
  std::string Stderr() const { return process_.Stderr(); }

  // Pseudonymisation on (hide = true) or off, as an admin would switch it (audited). Suites that
  // check how names and paths are rendered switch it off and keep one test of the default.
  Status ShowIdentities(bool hide) const {
    auto token = testing::ReadFile(data_dir() + "/admin.token");
    auto ca = testing::ReadFile(data_dir() + "/pki/ca.crt");
    if (!token.ok() || !ca.ok()) return InternalError("no admin token or CA");
    return api::api_testing::SetPseudonymisation(static_cast<uint16_t>(api_port_), *ca,
                                                 token->substr(0, token->find('\n')), hide);
  }

  std::string data_dir() const { return dir_.Sub("data"); }
  std::string Sub(const std::string& name) const { return dir_.Sub(name); }
  std::string api_url() const { return "https://127.0.0.1:" + std::to_string(api_port_); }
  int api_port() const { return api_port_; }

 private:
  SuiteCollector() = default;
  testing::TempDir dir_;
  testing::Subprocess process_;
  int api_port_ = 0;
};

}  // namespace custos::collector::cli::cli_testing
