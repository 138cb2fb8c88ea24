// A test double of store::Store: delegates to a real store, and lets a test hold commits (the
// group committer then sits inside a commit, like a slow fsync) or make the next one fail as a
// full disk does. Test-only, header-only; used by the ingest and committer tests.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/store/store.h"

namespace custos::collector::store::testing {

// Delegates to a real store. While the gate is closed CommitBatches waits (the committer is
// inside a commit, so what is submitted meanwhile goes into the next group); FailNextCommit
// makes the next commit fail as a full disk does (SQLITE_FULL), writing nothing.
class GatedStore final : public Store {
 public:
  explicit GatedStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}

  void CloseGate() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = false;
  }
  void OpenGate() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void FailNextCommit() {
    std::lock_guard<std::mutex> l(mu_);
    fail_next_ = true;
  }
  int commits_waiting() {
    std::lock_guard<std::mutex> l(mu_);
    return waiting_;
  }

  Status CommitBatches(std::span<BatchWrite* const> batches) override {
    {
      std::unique_lock<std::mutex> l(mu_);
      ++waiting_;
      cv_.wait(l, [&] { return open_; });
      --waiting_;
      if (fail_next_) {
        fail_next_ = false;
        return ResourceExhaustedError("store: commit: database or disk is full");
      }
    }
    return inner_->CommitBatches(batches);
  }
  Result<uint64_t> LastCommittedSeq(int64_t agent_key, uint64_t epoch) override {
    return inner_->LastCommittedSeq(agent_key, epoch);
  }
  Result<std::vector<StoredEvent>> QueryEvents(const EventQuery& query) override {
    return inner_->QueryEvents(query);
  }
  Result<uint64_t> CountEvents(std::optional<std::string> agent_id) override {
    return inner_->CountEvents(std::move(agent_id));
  }
  Status CreateEnrollmentToken(const EnrollmentTokenRecord& record,
                               std::string_view token_sha256) override {
    return inner_->CreateEnrollmentToken(record, token_sha256);
  }
  Result<EnrollmentTokenRecord> ConsumeEnrollmentToken(std::string_view token_sha256,
                                                       int64_t now_ns) override {
    return inner_->ConsumeEnrollmentToken(token_sha256, now_ns);
  }
  Status RevokeEnrollmentToken(std::string_view id, int64_t now_ns) override {
    return inner_->RevokeEnrollmentToken(id, now_ns);
  }
  Result<std::vector<EnrollmentTokenRecord>> ListEnrollmentTokens() override {
    return inner_->ListEnrollmentTokens();
  }
  Result<AgentRecord> RegisterAgent(const AgentRecord& record) override {
    return inner_->RegisterAgent(record);
  }
  Result<AgentRecord> FindAgent(std::string_view agent_id) override {
    return inner_->FindAgent(agent_id);
  }
  Status UpdateAgentCertificate(std::string_view agent_id, std::string_view serial,
                                int64_t not_after_ns) override {
    return inner_->UpdateAgentCertificate(agent_id, serial, not_after_ns);
  }
  Status ForgetPreviousCertificate(int64_t agent_key) override {
    return inner_->ForgetPreviousCertificate(agent_key);
  }
  Status ConfirmAgentHost(std::string_view agent_id) override {
    return inner_->ConfirmAgentHost(agent_id);
  }
  Result<std::vector<int64_t>> RevokedAgentKeys() override { return inner_->RevokedAgentKeys(); }
  Status RevokeAgent(std::string_view agent_id, std::string_view reason, int64_t now_ns) override {
    return inner_->RevokeAgent(agent_id, reason, now_ns);
  }
  Status TouchAgent(int64_t agent_key, int64_t now_ns) override {
    return inner_->TouchAgent(agent_key, now_ns);
  }
  Result<std::vector<AgentRecord>> ListAgents() override { return inner_->ListAgents(); }
  Result<StoreStats> Stats() override { return inner_->Stats(); }
  Status CheckIntegrity() override { return inner_->CheckIntegrity(); }

 private:
  std::unique_ptr<Store> inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  bool fail_next_ = false;
  int waiting_ = 0;
};

}  // namespace custos::collector::store::testing
