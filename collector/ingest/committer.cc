#include "collector/ingest/committer.h"

#include <chrono>
#include <vector>

#include "common/log/log.h"

namespace custos::collector::ingest {

GroupCommitter::GroupCommitter(store::Store* store, metrics::Registry* registry,
                               uint32_t max_events_per_commit)
    : store_(store),
      max_events_per_commit_(max_events_per_commit),
      commit_seconds_(registry->GetHistogram("custos_store_commit_seconds",
                                             "Duration of one group commit (fsync included)",
                                             metrics::LatencyBounds())),
      commit_batches_(registry->GetHistogram("custos_store_commit_batches",
                                             "Batches committed together in one transaction",
                                             {1, 2, 4, 8, 16, 32, 64, 128, 256, 512})),
      commit_failures_(registry->GetCounter("custos_store_commit_failures_total",
                                            "Group commits that failed")),
      thread_([this] { Run(); }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::Submit(std::unique_ptr<store::BatchWrite> batch, Done done) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stopping_) {
      queue_.push_back({std::move(batch), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(UnavailableError("ingest: committer stopped"));
}

void GroupCommitter::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void GroupCommitter::Run() {
  std::vector<Item> items;
  std::vector<store::BatchWrite*> batches;
  while (true) {
    items.clear();
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      size_t events = 0;
      while (!queue_.empty() && (items.empty() || events < max_events_per_commit_)) {
        events += queue_.front().batch->rows.size();
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    batches.clear();
    for (auto& it : items) batches.push_back(it.batch.get());
    auto start = std::chrono::steady_clock::now();
    Status s = store_->CommitBatches(batches);
    commit_seconds_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    commit_batches_->Observe(static_cast<double>(items.size()));
    if (!s.ok()) {
      commit_failures_->Inc();
      logging::Error("group commit failed", {{"batches", items.size()}, {"error", s.ToString()}});
    }
    for (auto& it : items) it.done(s);
  }
}

}  // namespace custos::collector::ingest
