// GroupCommitter: one thread that commits every waiting batch, from every agent, in one store
// transaction, then runs each batch's completion. While a commit is in progress new batches
// queue up, so the fsync cost is shared by everything that arrived meanwhile. Internal to ingest.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "collector/store/store.h"
#include "common/metrics/metrics.h"

namespace custos::collector::ingest {

class GroupCommitter {
 public:
  using Done = std::function<void(const Status&)>;

  GroupCommitter(store::Store* store, metrics::Registry* registry, uint32_t max_events_per_commit);
  ~GroupCommitter();  // Stop()

  // Queues a batch; `done` runs on the committer thread after the commit (or failure).
  void Submit(std::unique_ptr<store::BatchWrite> batch, Done done);
  // Commits what is queued, then stops the thread. Later Submits fail with Unavailable.
  void Stop();

 private:
  struct Item {
    std::unique_ptr<store::BatchWrite> batch;
    Done done;
  };
  void Run();

  store::Store* store_;
  uint32_t max_events_per_commit_;
  metrics::Histogram* commit_seconds_;
  metrics::Histogram* commit_batches_;
  metrics::Counter* commit_failures_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::thread thread_;
};

}  // namespace custos::collector::ingest
