#include "collector/ingest/committer.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/log/log.h"

namespace custos::collector::ingest {

GroupCommitter::GroupCommitter(store::Store* store, metrics::Registry* registry,
                               uint32_t max_events_per_commit, uint64_t max_queued_events,
                               uint64_t max_queued_bytes,
                               std::chrono::milliseconds max_commit_delay,
                               std::function<void()> on_committed)
    : store_(store),
      max_events_per_commit_(max_events_per_commit),
      max_commit_delay_(max_commit_delay),
      on_committed_(std::move(on_committed)),
      commit_seconds_(registry->GetHistogram("custos_store_commit_seconds",
                                             "Duration of one group commit (fsync included)",
                                             metrics::LatencyBounds())),
      commit_batches_(registry->GetHistogram("custos_store_commit_batches",
                                             "Batches committed together in one transaction",
                                             {1, 2, 4, 8, 16, 32, 64, 128, 256, 512})),
      commit_failures_(
          registry->GetCounter("custos_store_commit_failures_total", "Group commits that failed")),
      max_queued_events_(max_queued_events),
      max_queued_bytes_(max_queued_bytes),
      queued_gauge_(registry->GetGauge("custos_ingest_queued_events",
                                       "Decoded events waiting for a group commit")),
      queued_bytes_gauge_(registry->GetGauge("custos_ingest_queued_bytes",
                                             "Decoded batch bytes waiting for a group commit")),
      paused_total_(registry->GetCounter(
          "custos_ingest_backpressure_pauses_total",
          "Times a session stopped reading because the commit queue was full")),
      thread_([this] { Run(); }) {}

bool GroupCommitter::HasRoomOrNotify(std::function<void()> resume) {
  std::lock_guard<std::mutex> l(mu_);
  if ((queued_events_ < max_queued_events_ && queued_bytes_ < max_queued_bytes_) || stopping_) {
    return true;
  }
  waiters_.push_back(std::move(resume));
  paused_total_->Inc();
  return false;
}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::Submit(std::unique_ptr<store::BatchWrite> batch, Done done) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stopping_) {
      queued_events_ += batch->rows.size();
      queued_bytes_ += batch->bytes();
      queued_gauge_->Set(static_cast<int64_t>(queued_events_));
      queued_bytes_gauge_->Set(static_cast<int64_t>(queued_bytes_));
      queue_.push_back({std::move(batch), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(UnavailableError("ingest: committer stopped"));
}

void GroupCommitter::RunOnWriter(std::function<void()> task) {
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return;
  tasks_.push_back(std::move(task));
  cv_.notify_one();
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

void GroupCommitter::RefuseAfterFailures(std::vector<Item>* items, std::vector<Item>* refused) {
  if (failed_streams_.empty()) return;
  size_t kept = 0;
  for (size_t i = 0; i < items->size(); ++i) {
    Item& it = (*items)[i];
    auto f = failed_streams_.find({it.batch->agent_key, it.batch->epoch});
    if (f != failed_streams_.end()) {
      if (it.batch->first_seq > f->second) {
        it.done(
            UnavailableError("ingest: an earlier batch of this stream failed to commit; "
                             "resend from seq " +
                             std::to_string(f->second)));
        refused->push_back(std::move(it));
        continue;
      }
      failed_streams_.erase(f);  // the resend: the stream goes on from its cursor again
    }
    if (kept != i) (*items)[kept] = std::move(it);
    ++kept;
  }
  items->resize(kept);
}

void GroupCommitter::MarkFailed(const std::vector<Item>& items) {
  // Bounded: agents that never come back leave their marks; forgetting old ones only reopens
  // the window this closes, for streams idle since.
  if (failed_streams_.size() > 100000) failed_streams_.clear();
  for (const auto& it : items) {
    auto [f, inserted] =
        failed_streams_.try_emplace({it.batch->agent_key, it.batch->epoch}, it.batch->first_seq);
    if (!inserted) f->second = std::min(f->second, it.batch->first_seq);
  }
}

void GroupCommitter::Run() {
  std::vector<Item> items;
  std::vector<Item> refused;
  std::vector<store::BatchWrite*> batches;
  while (true) {
    items.clear();
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !queue_.empty() || !tasks_.empty(); });
      if (!tasks_.empty()) {
        std::vector<std::function<void()>> tasks;
        tasks.swap(tasks_);
        l.unlock();
        for (auto& t : tasks) t();
        l.lock();
        if (queue_.empty() && !stopping_) continue;
      }
      // Pacing: every commit rewrites each index leaf its agents touch, whole pages, however few
      // rows changed. When little is queued, gather for up to max_commit_delay so one commit
      // carries more rows per page (measured: docs/performance.md).
      // Only small batches gain: a single busy agent sending large batches fills whole pages by
      // itself and would only be slowed down (measured: docs/performance.md).
      bool small_batches = queued_events_ < 1000 * queue_.size();
      if (!stopping_ && max_commit_delay_.count() > 0 && small_batches &&
          queued_events_ < max_events_per_commit_ / 4) {
        cv_.wait_for(l, max_commit_delay_,
                     [&] { return stopping_ || queued_events_ >= max_events_per_commit_ / 4; });
      }
      if (queue_.empty() && stopping_) {
        std::vector<std::function<void()>> resume;
        resume.swap(waiters_);
        l.unlock();
        for (auto& r : resume) r();
        return;
      }
      size_t events = 0;
      while (!queue_.empty() && (items.empty() || events < max_events_per_commit_)) {
        events += queue_.front().batch->rows.size();
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    refused.clear();
    RefuseAfterFailures(&items, &refused);
    batches.clear();
    for (auto& it : items) batches.push_back(it.batch.get());
    Status s = OkStatus();
    if (!batches.empty()) {
      auto start = std::chrono::steady_clock::now();
      s = store_->CommitBatches(batches);
      commit_seconds_->Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      commit_batches_->Observe(static_cast<double>(items.size()));
    }
    if (!s.ok()) {
      commit_failures_->Inc();
      logging::Error("group commit failed", {{"batches", items.size()}, {"error", s.ToString()}});
      MarkFailed(items);
    } else if (on_committed_ && !items.empty()) {
      on_committed_();
    }
    for (auto& it : items) it.done(s);
    // Accounted for below with the committed ones.
    for (auto& it : refused) items.push_back(std::move(it));
    std::vector<std::function<void()>> resume;
    {
      std::lock_guard<std::mutex> l(mu_);
      size_t events = 0;
      uint64_t bytes = 0;
      for (auto& it : items) {
        events += it.batch->rows.size();
        bytes += it.batch->bytes();
      }
      queued_events_ -= events;
      queued_bytes_ -= bytes;
      queued_gauge_->Set(static_cast<int64_t>(queued_events_));
      queued_bytes_gauge_->Set(static_cast<int64_t>(queued_bytes_));
      bool drained =
          queued_events_ < max_queued_events_ / 2 && queued_bytes_ < max_queued_bytes_ / 2;
      if (drained || stopping_) resume.swap(waiters_);
    }
    for (auto& r : resume) r();
  }
}

}  // namespace custos::collector::ingest
