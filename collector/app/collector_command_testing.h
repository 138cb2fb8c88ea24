// Base fixture for tests that run the real `custos-collector` binary on a data directory of its
// own (initialised in SetUp). Test-only, header-only.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/testing/testing.h"

namespace custos::collector {

class CollectorCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto init = Collector({"init", "--server-name", "localhost"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }

  // Runs `custos-collector ARGS --data-dir DIR`.
  custos::testing::RunResult Collector(std::vector<std::string> args) {
    args.insert(args.begin(), custos::testing::BinaryPath("custos-collector"));
    args.emplace_back("--data-dir");
    args.push_back(data_dir());
    return custos::testing::Run(args, std::chrono::seconds(30));
  }

  std::string data_dir() const { return dir_.Sub("data"); }
  std::string db_path() const { return data_dir() + "/custos.db"; }

  custos::testing::TempDir dir_;
};

}  // namespace custos::collector
