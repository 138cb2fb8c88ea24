#include "agent/sources/file/hasher.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

namespace custos::agent::file {
namespace {

constexpr size_t kMaxQueuedJobs = 256;

}  // namespace

Hasher::Hasher(uint64_t max_bytes, uint64_t rate_bytes_per_s, Clock* clock, Emit emit)
    : max_bytes_(max_bytes), rate_(rate_bytes_per_s), clock_(clock), emit_(std::move(emit)) {
  tokens_ = static_cast<double>(std::max(rate_, max_bytes_));
  refilled_ = clock_->SteadyNow();
}

Hasher::~Hasher() { Stop(); }

void Hasher::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_ || max_bytes_ == 0) return;
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "file-hasher");
    Run();
  });
}

void Hasher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::deque<Job> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = false;
    left.swap(jobs_);
  }
  for (Job& job : left) {
    skipped_queue_.fetch_add(1, std::memory_order_relaxed);
    emit_(std::move(job.event), job.tag);
  }
}

bool Hasher::TakeTokens(uint64_t bytes) {
  if (rate_ == 0) return true;
  const auto now = clock_->SteadyNow();
  const double capacity = static_cast<double>(std::max(rate_, max_bytes_));
  const double elapsed_s = std::chrono::duration<double>(now - refilled_).count();
  tokens_ = std::min(capacity, tokens_ + elapsed_s * static_cast<double>(rate_));
  refilled_ = now;
  if (static_cast<double>(bytes) > tokens_) return false;
  tokens_ -= static_cast<double>(bytes);
  return true;
}

void Hasher::Submit(custos::v1::Event&& event, Opener opener, uint64_t tag) {
  const uint64_t size = event.file().size();
  if (max_bytes_ == 0 || size > max_bytes_) {
    if (max_bytes_ != 0) too_big_.fetch_add(1, std::memory_order_relaxed);
    emit_(std::move(event), tag);
    return;
  }
  if (!TakeTokens(size)) {
    skipped_rate_.fetch_add(1, std::memory_order_relaxed);
    emit_(std::move(event), tag);
    return;
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (running_ && !stopping_ && jobs_.size() < kMaxQueuedJobs) {
      jobs_.push_back(Job{std::move(event), std::move(opener), tag});
      lock.unlock();
      cv_.notify_one();
      return;
    }
  }
  skipped_queue_.fetch_add(1, std::memory_order_relaxed);
  emit_(std::move(event), tag);
}

int Hasher::OpenPath(const std::string& path) {
  const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
  int fd = open(path.c_str(), flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(path.c_str(), flags);  // O_NOATIME needs ownership
  return fd;
}

bool Hasher::Hash(Job* job) {
  const int fd = job->opener ? job->opener() : -1;
  if (fd < 0) return false;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) > max_bytes_) {
    close(fd);
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    close(fd);
    return false;
  }
  std::vector<char> buf(64 * 1024);
  uint64_t total = 0;
  bool ok = true;
  while (true) {
    const ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > max_bytes_) {  // grew since close: the hash would describe another version
      ok = false;
      break;
    }
    if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n)) != 1) {
      ok = false;
      break;
    }
  }
  close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (!ok || EVP_DigestFinal_ex(ctx.get(), digest, &digest_len) != 1 || digest_len != 32) {
    return false;
  }
  job->event.mutable_file()->set_sha256(digest, digest_len);
  job->event.mutable_file()->set_size(total);
  return true;
}

void Hasher::Run() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    if (Hash(&job)) {
      hashed_.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
    emit_(std::move(job.event), job.tag);
  }
}

Hasher::Stats Hasher::stats() const {
  Stats s;
  s.hashed = hashed_.load();
  s.too_big = too_big_.load();
  s.skipped_rate = skipped_rate_.load();
  s.skipped_queue = skipped_queue_.load();
  s.failed = failed_.load();
  return s;
}

}  // namespace custos::agent::file
