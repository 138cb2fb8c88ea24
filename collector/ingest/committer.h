// GroupCommitter: one thread that commits every waiting batch, from every agent, in one store
// transaction, then runs each batch's completion. While a commit is in progress new batches
// queue up, so the fsync cost is shared by everything that arrived meanwhile. Internal to ingest.
//
// Streams stay gap-free across failed commits: when a commit fails (disk full, I/O error), the
// later batches of the same stream (agent, epoch) that were already queued or still arrive from
// the failed session are refused too (Unavailable, retryable), until the agent resends from the
// failed batch (a batch starting at or below its first seq). Otherwise a later batch could
// commit, move the stream cursor past the failed one and make its events count as stored
// (the agent resumes after the cursor): acked, never stored.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "collector/store/store.h"
#include "common/metrics/metrics.h"

namespace custos::collector::ingest {

class GroupCommitter {
 public:
  using Done = std::function<void(const Status&)>;

  // max_commit_delay: when less than a quarter of max_events_per_commit is queued and the
  // queued batches are small (under 1000 events on average), wait up to this long for more
  // before committing (0 = commit as soon as anything is queued).
  GroupCommitter(store::Store* store, metrics::Registry* registry, uint32_t max_events_per_commit,
                 uint64_t max_queued_events, uint64_t max_queued_bytes,
                 std::chrono::milliseconds max_commit_delay,
                 std::function<void()> on_committed = nullptr);
  ~GroupCommitter();  // Stop()

  // Queues a batch; `done` runs on the committer thread after the commit (or failure).
  void Submit(std::unique_ptr<store::BatchWrite> batch, Done done);
  // Backpressure: true while fewer than `max_queued_events` events and `max_queued_bytes` bytes
  // (BatchWrite::bytes) wait. Otherwise `resume` is kept and run (on the committer thread) once
  // the queue has drained below half of both limits;
  // callers then stop reading from their peers until resumed.
  bool HasRoomOrNotify(std::function<void()> resume);
  // Runs `task` on the committer thread before its next commit: for small store writes
  // (e.g. an agent's last-seen time) that must not wait for the write lock on an I/O thread.
  void RunOnWriter(std::function<void()> task);
  // Commits what is queued, then stops the thread. Later Submits fail with Unavailable.
  void Stop();

 private:
  struct Item {
    std::unique_ptr<store::BatchWrite> batch;
    Done done;
  };
  void Run();
  // Refuses (runs `done` and drops) the items that follow a failed batch of their stream; clears
  // a stream's mark when its resend arrives. Committer thread.
  void RefuseAfterFailures(std::vector<Item>* items, std::vector<Item>* refused);
  void MarkFailed(const std::vector<Item>& items);

  store::Store* store_;
  uint32_t max_events_per_commit_;
  std::chrono::milliseconds max_commit_delay_;
  std::function<void()> on_committed_;
  metrics::Histogram* commit_seconds_;
  metrics::Histogram* commit_batches_;
  metrics::Counter* commit_failures_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;                    // guarded by mu_
  std::vector<std::function<void()>> tasks_;  // guarded by mu_
  uint64_t max_queued_events_;
  uint64_t max_queued_bytes_;
  uint64_t queued_events_ = 0;                  // guarded by mu_
  uint64_t queued_bytes_ = 0;                   // guarded by mu_
  std::vector<std::function<void()>> waiters_;  // guarded by mu_
  metrics::Gauge* queued_gauge_;
  metrics::Gauge* queued_bytes_gauge_;
  metrics::Counter* paused_total_;
  bool stopping_ = false;  // guarded by mu_
  // (agent_key, epoch) -> first seq of the stream's batch whose commit failed; committer thread.
  std::map<std::pair<int64_t, uint64_t>, uint64_t> failed_streams_;
  std::thread thread_;
};

}  // namespace custos::collector::ingest
