// file_attribution_bench: how many file events of short-lived processes keep their attribution.
// Watches a temporary directory with the fanotify source (needs root), runs N shells one after
// another, each `sh -c 'echo x > DIR/fI'` (it execs, writes one file and exits within about a
// millisecond), and counts the create and close-write events whose actor is partial (the process
// was gone before its facts were read). Modes, alternated within one run:
//   procfs     no process events: the reader reads at once and checks /proc per event
//   tracked    process events (ProcEventTracker, default options) and batched reads (the
//              default); the line says whether an exec-storm pause happened
//   immediate  process events, reads at once (reader_batch_delay 0)
// Usage: file_attribution_bench [shells=200] [rounds=2]
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "agent/pipeline/attribution.h"
#include "agent/pipeline/proc_events.h"
#include "agent/sources/file/linux/fanotify_file_source.h"
#include "agent/sources/recording_sink.h"
#include "common/testing/testing.h"

namespace custos::agent::file {
namespace {

int RunMode(const std::string& mode, int shells) {
  char tmpl[] = "/tmp/custos-attribution-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return -1;
  const std::string root = std::filesystem::canonical(tmpl).string();
  FileSourceOptions options;
  options.roots = {root};
  pipeline::ProcessAttributor attributor;
  std::unique_ptr<pipeline::ProcEventTracker> tracker;
  FanotifyFileSource::Tuning tuning;
  if (mode != "procfs") {
    auto started = pipeline::ProcEventTracker::Start(&attributor);  // defaults, storm pause on
    if (!started.ok()) {
      std::fprintf(stderr, "process events: %s\n", started.status().ToString().c_str());
      return -1;
    }
    tracker = std::move(*started);
  }
  if (mode == "immediate") tuning.reader_batch_delay = std::chrono::milliseconds(0);
  auto created = FanotifyFileSource::Create(options, &attributor, nullptr, tuning);
  if (!created.ok()) {
    std::fprintf(stderr, "fanotify: %s\n", created.status().ToString().c_str());
    return -1;
  }
  std::unique_ptr<FanotifyFileSource> source = std::move(*created);
  RecordingSink sink;
  if (!source->Start(&sink).ok()) return -1;
  for (int i = 0; i < shells; ++i) {
    if (!custos::testing::RunToExit("/bin/sh",
                                    {"sh", "-c", "echo x > " + root + "/f" + std::to_string(i)})
             .ok()) {
      std::fprintf(stderr, "sh failed\n");
      return -1;
    }
  }
  const std::string last = root + "/f" + std::to_string(shells - 1);
  (void)sink.WaitFor([&](const custos::v1::Event& e) {
    return e.has_file() && e.file().op() == custos::v1::FILE_OP_MODIFY && e.file().path() == last;
  });
  source->Stop();
  int partial = 0, total = 0;
  for (const auto& e : sink.Events()) {
    if (!e.has_file() || e.file().path().rfind(root + "/f", 0) != 0) continue;
    ++total;
    if (e.actor().partial()) ++partial;
  }
  std::filesystem::remove_all(root);
  std::printf("%-9s %4d of %4d events partial (%.1f%%)", mode.c_str(), partial, total,
              total ? 100.0 * partial / total : 0.0);
  if (tracker) {
    std::printf("; process events: %llu forks, %llu execs, %llu storm pauses",
                static_cast<unsigned long long>(tracker->stats().forks),
                static_cast<unsigned long long>(tracker->stats().execs),
                static_cast<unsigned long long>(tracker->stats().pauses));
  }
  std::printf("\n");
  return partial;
}

}  // namespace
}  // namespace custos::agent::file

int main(int argc, char** argv) {
  const int shells = argc > 1 ? std::atoi(argv[1]) : 200;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 2;
  if (shells <= 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: file_attribution_bench [shells=200] [rounds=2]\n");
    return 2;
  }
  for (int r = 0; r < rounds; ++r) {
    for (const char* mode : {"procfs", "tracked", "immediate"}) {
      if (custos::agent::file::RunMode(mode, shells) < 0) return 1;
    }
  }
  return 0;
}
