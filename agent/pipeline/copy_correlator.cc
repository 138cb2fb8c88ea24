#include "agent/pipeline/copy_correlator.h"

#include <pthread.h>
#include <algorithm>
#include <utility>

#include "common/log/log.h"

namespace custos::agent::pipeline {
namespace {

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool IsFileOp(const custos::v1::Event& event, custos::v1::FileOp op) {
  return event.has_file() && event.file().op() == op;
}

}  // namespace

CopyCorrelator::CopyCorrelator(EventSink* downstream, CopyCorrelatorOptions options,
                               ProcessAttributor* attributor, Clock* clock)
    : downstream_(downstream),
      options_(options),
      attributor_(attributor),
      clock_(clock != nullptr ? clock : RealClock()) {
  CUSTOS_CHECK(downstream_ != nullptr) << "copy correlator: no downstream sink";
}

CopyCorrelator::~CopyCorrelator() { Stop(); }

void CopyCorrelator::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "copy-correlate");
    Run();
  });
}

void CopyCorrelator::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<Held> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
    TakeReleasable(/*all=*/true, &batch);
  }
  Release(&batch);
}

std::string CopyCorrelator::KeyOf(const custos::v1::Event& event) {
  if (event.actor().pid() == 0 || event.file().path().empty() || event.file().is_dir()) return "";
  std::string key = std::to_string(event.actor().pid());
  key.push_back('\0');
  key += BaseName(event.file().path());
  key.push_back('\0');
  key += std::to_string(event.file().size());
  return key;
}

bool CopyCorrelator::InWindow(int64_t read_ns, int64_t copy_ns) const {
  const int64_t before = std::chrono::nanoseconds(options_.window).count();
  const int64_t after = std::chrono::nanoseconds(options_.hold).count();
  return read_ns >= copy_ns - before && read_ns <= copy_ns + after;
}

void CopyCorrelator::Link(const Read& read, custos::v1::Event* copy) {
  auto* f = copy->mutable_file();
  f->set_source_path(read.path);
  std::vector<std::string> labels = read.classifications;
  for (const std::string& own : f->classifications()) {
    if (std::find(labels.begin(), labels.end(), own) == labels.end()) labels.push_back(own);
  }
  f->clear_classifications();
  for (std::string& label : labels) f->add_classifications(std::move(label));
}

void CopyCorrelator::RememberRead(std::string key, const custos::v1::Event& event) {
  if (auto it = reads_by_key_.find(key); it != reads_by_key_.end()) {
    reads_.erase(it->second);
    reads_by_key_.erase(it);
  }
  Read read;
  read.key = key;
  read.path = event.file().path();
  read.classifications.assign(event.file().classifications().begin(),
                              event.file().classifications().end());
  read.time_ns = event.time_ns();
  reads_.push_front(std::move(read));
  reads_by_key_[std::move(key)] = reads_.begin();
  while (reads_.size() > options_.max_reads) {
    reads_by_key_.erase(reads_.back().key);
    reads_.pop_back();
    ++stats_.reads_evicted;
  }
}

bool CopyCorrelator::Push(custos::v1::Event&& event) {
  if (IsFileOp(event, custos::v1::FILE_OP_READ)) {
    std::string key = KeyOf(event);
    bool woke = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.reads;
      if (!key.empty() && options_.max_reads > 0) {
        RememberRead(key, event);
        const Read& read = reads_.front();
        auto [begin, end] = held_by_key_.equal_range(key);
        for (auto it = begin; it != end;) {
          Held& held = *it->second;
          if (InWindow(read.time_ns, held.event.time_ns())) {
            Link(read, &held.event);
            held.ready = true;
            ++ready_;
            woke = true;
            it = held_by_key_.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
    if (woke) cv_.notify_one();
    if (!options_.forward_reads) return true;
    return downstream_->Push(std::move(event));
  }
  if (!IsFileOp(event, custos::v1::FILE_OP_COPY_TO_REMOVABLE)) {
    return downstream_->Push(std::move(event));
  }
  std::string key = KeyOf(event);
  bool pass_on = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.copies;
    if (held_.size() >= options_.max_held) {
      ++stats_.unlinked;  // too many waiting: passed on now, as it is (user names unresolved)
      pass_on = true;
    } else {
      Held held;
      held.key = key;
      held.deadline = clock_->SteadyNow() + options_.hold;
      if (!key.empty()) {
        auto it = reads_by_key_.find(key);
        if (it != reads_by_key_.end() && InWindow(it->second->time_ns, event.time_ns())) {
          Link(*it->second, &event);
        }
      }
      // Linked already, or nothing could ever link it (no pid): released at once.
      held.ready = !event.file().source_path().empty() || key.empty();
      held.event = std::move(event);
      held_.push_back(std::move(held));
      if (held_.back().ready) {
        ++ready_;
      } else {
        held_by_key_.emplace(key, std::prev(held_.end()));
      }
    }
  }
  if (pass_on) return downstream_->Push(std::move(event));
  cv_.notify_one();
  return true;
}

bool CopyCorrelator::PushWait(custos::v1::Event&& event, std::chrono::milliseconds timeout) {
  if (event.has_file() && (event.file().op() == custos::v1::FILE_OP_READ ||
                           event.file().op() == custos::v1::FILE_OP_COPY_TO_REMOVABLE)) {
    return Push(std::move(event));
  }
  return downstream_->PushWait(std::move(event), timeout);
}

void CopyCorrelator::TakeReleasable(bool all, std::vector<Held>* out) {
  const auto now = clock_->SteadyNow();
  for (auto it = held_.begin(); it != held_.end();) {
    if (!all && !it->ready && it->deadline > now) {
      ++it;
      continue;
    }
    if (it->ready) {
      --ready_;
    } else {
      auto [begin, end] = held_by_key_.equal_range(it->key);
      for (auto h = begin; h != end; ++h) {
        if (h->second == it) {
          held_by_key_.erase(h);
          break;
        }
      }
    }
    if (it->event.file().source_path().empty()) {
      ++stats_.unlinked;
    } else {
      ++stats_.linked;
    }
    out->push_back(std::move(*it));
    it = held_.erase(it);
  }
}

void CopyCorrelator::Release(std::vector<Held>* batch) {
  if (batch->empty()) return;
  std::lock_guard<std::mutex> lock(release_mu_);
  uint64_t refused = 0;
  for (Held& held : *batch) {
    if (attributor_ != nullptr) attributor_->ResolveUserNames(held.event.mutable_actor());
    if (refused_unreported_ > 0) {
      custos::v1::Event lost = MakeEventsLost(
          "copy_correlator", refused_unreported_, refused_since_ns_, clock_->NowUnixNs(),
          "copy-to-removable events refused by the agent's queue (full)");
      if (downstream_->Push(std::move(lost))) refused_unreported_ = 0;
    }
    if (!downstream_->Push(std::move(held.event))) {
      if (refused_unreported_++ == 0) refused_since_ns_ = clock_->NowUnixNs();
      ++refused;
    }
  }
  batch->clear();
  if (refused > 0) {
    std::lock_guard<std::mutex> stats_lock(mu_);
    stats_.dropped += refused;
  }
}

void CopyCorrelator::ReleaseDue() {
  std::vector<Held> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    TakeReleasable(/*all=*/false, &batch);
  }
  Release(&batch);
}

void CopyCorrelator::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    std::chrono::nanoseconds wait = std::chrono::seconds(1);
    if (ready_ > 0) {
      wait = std::chrono::nanoseconds(0);
    } else if (!held_.empty()) {
      wait = std::clamp<std::chrono::nanoseconds>(held_.front().deadline - clock_->SteadyNow(),
                                                  std::chrono::nanoseconds(0), wait);
    }
    if (wait.count() > 0) {
      cv_.wait_for(lock, wait);
      if (stopping_) break;
    }
    std::vector<Held> batch;
    TakeReleasable(/*all=*/false, &batch);
    if (batch.empty()) continue;
    lock.unlock();
    Release(&batch);
    lock.lock();
  }
}

CopyCorrelatorStats CopyCorrelator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

size_t CopyCorrelator::reads_in_table() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reads_.size();
}

}  // namespace custos::agent::pipeline
