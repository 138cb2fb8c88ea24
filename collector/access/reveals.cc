#include "collector/access/reveals.h"

#include <algorithm>

#include "collector/access/pseudonym.h"
#include "common/crypto/crypto.h"

namespace custos::collector::access {
namespace {

// UTF-8 characters (bytes that do not continue a sequence).
size_t CharCount(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

Reveals::Reveals(store::PrivacyStore* store, Clock* clock, RevealsOptions options)
    : store_(store), clock_(clock), options_(options) {}

void Reveals::Invalidate() {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  by_viewer_.clear();
  setting_cached_ = false;
}

Result<store::RevealRecord> Reveals::Request(const Principal& requester, std::string_view person,
                                             std::string_view justification) {
  if (!requester.roles.HasAny({Role::kAnalyst, Role::kInvestigator})) {
    return PermissionDeniedError("reveal: " + requester.Actor() +
                                 " may not request a reveal: it needs the analyst or "
                                 "investigator role (holds '" +
                                 requester.roles.ToString() + "')");
  }
  person = Trim(person);
  if (person.empty() || person.size() > 320) {
    return InvalidArgumentError("reveal: person: 1..320 characters");
  }
  justification = Trim(justification);
  const size_t chars = CharCount(justification);
  if (chars < kMinJustificationChars || chars > kMaxJustificationChars) {
    return InvalidArgumentError("reveal: justification: " + std::to_string(kMinJustificationChars) +
                                ".." + std::to_string(kMaxJustificationChars) +
                                " characters, got " + std::to_string(chars));
  }
  CUSTOS_ASSIGN_OR_RETURN(std::string random, crypto::RandomBytes(8));
  store::RevealRecord r;
  r.id = "rvl_" + crypto::HexEncode(random);
  r.person = CanonicalPersonId(person);
  r.requester = requester.id;
  r.requester_name = requester.name;
  r.justification = std::string(justification);
  r.status = std::string(store::kRevealRequested);
  r.created_at_ns = clock_->NowUnixNs();
  CUSTOS_RETURN_IF_ERROR(store_->InsertReveal(r));
  Invalidate();
  return r;
}

Result<store::RevealRecord> Reveals::Approve(const Principal& approver, std::string_view id,
                                             std::string_view note) {
  return Decide(approver, id, note, store::kRevealApproved);
}

Result<store::RevealRecord> Reveals::Refuse(const Principal& approver, std::string_view id,
                                            std::string_view note) {
  return Decide(approver, id, note, store::kRevealRefused);
}

Result<store::RevealRecord> Reveals::Decide(const Principal& approver, std::string_view id,
                                            std::string_view note, std::string_view to_status) {
  const std::string verb = to_status == store::kRevealApproved ? "approve" : "refuse";
  if (approver.via == Principal::Via::kServiceToken) {
    // A service token is no person: anyone holding it (the requester too) could decide with it.
    return PermissionDeniedError("reveal " + std::string(id) + ": " + approver.Actor() +
                                 " may not " + verb +
                                 " it: a service token is not a person; an approver signs in");
  }
  if (!approver.roles.Has(Role::kApprover)) {
    return PermissionDeniedError("reveal " + std::string(id) + ": " + approver.Actor() +
                                 " may not " + verb + " it: that needs the approver role (holds '" +
                                 approver.roles.ToString() + "')");
  }
  CUSTOS_ASSIGN_OR_RETURN(store::RevealRecord r, store_->GetReveal(id));
  if (r.requester == approver.id) {
    return PermissionDeniedError("reveal " + r.id + ": " + approver.Actor() +
                                 " requested it and may not " + verb +
                                 " their own request: a second person must decide");
  }
  if (r.status != store::kRevealRequested) {
    return FailedPreconditionError("reveal " + r.id + ": is " + r.status +
                                   "; only a pending request can be decided");
  }
  if (CharCount(note) > kMaxJustificationChars) {
    return InvalidArgumentError("reveal " + r.id + ": note: at most " +
                                std::to_string(kMaxJustificationChars) + " characters");
  }
  const int64_t now = clock_->NowUnixNs();
  store::RevealDecision d;
  d.id = r.id;
  d.from_status = std::string(store::kRevealRequested);
  d.to_status = std::string(to_status);
  d.decided_by = approver.id;
  d.decided_by_name = approver.name;
  d.note = std::string(Trim(note));
  d.decided_at_ns = now;
  d.expires_at_ns = to_status == store::kRevealApproved ? now + options_.reveal_ttl.count() : 0;
  auto out = store_->DecideReveal(d);
  Invalidate();
  return out;
}

Result<store::RevealRecord> Reveals::Withdraw(const Principal& requester, std::string_view id) {
  CUSTOS_ASSIGN_OR_RETURN(store::RevealRecord r, store_->GetReveal(id));
  if (r.requester != requester.id) {
    return PermissionDeniedError("reveal " + r.id + ": " + requester.Actor() +
                                 " may not withdraw it: only its requester may");
  }
  const int64_t now = clock_->NowUnixNs();
  const bool live = r.status == store::kRevealApproved && r.expires_at_ns > now;
  if (r.status != store::kRevealRequested && !live) {
    return FailedPreconditionError("reveal " + r.id + ": is " + r.status +
                                   (r.status == store::kRevealApproved ? " and expired" : "") +
                                   "; only a pending request or a live reveal can be withdrawn");
  }
  store::RevealDecision d;
  d.id = r.id;
  d.from_status = r.status;
  d.to_status = std::string(store::kRevealWithdrawn);
  // A withdrawn request keeps who approved it, if anyone: the audit log has the withdrawal.
  d.decided_by = r.status == store::kRevealApproved ? r.decided_by : requester.id;
  d.decided_by_name = r.status == store::kRevealApproved ? r.decided_by_name : requester.name;
  d.note = r.decision_note;
  d.decided_at_ns = r.status == store::kRevealApproved ? r.decided_at_ns : now;
  d.expires_at_ns = live ? now : 0;
  auto out = store_->DecideReveal(d);
  Invalidate();
  return out;
}

Result<std::vector<std::string>> Reveals::RevealedTo(const Principal& viewer, int64_t now_ns) {
  // A reveal is for the work of an analyst or investigator: one who no longer holds either role
  // sees pseudonyms again, whatever is still live.
  if (!viewer.roles.HasAny({Role::kAnalyst, Role::kInvestigator})) {
    return std::vector<std::string>{};
  }
  const auto steady = clock_->SteadyNow();
  auto answer = [now_ns](const std::vector<std::pair<std::string, int64_t>>& live) {
    std::vector<std::string> out;
    for (const auto& [person, expires] : live) {
      if (expires > now_ns) out.push_back(person);
    }
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  };
  uint64_t generation;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_viewer_.find(viewer.id);
    if (it != by_viewer_.end() && steady - it->second.fetched < options_.cache_ttl) {
      return answer(it->second.live);
    }
    generation = generation_;
  }
  // Everything approved and unexpired at the clock's now; `now_ns` filters what is cached, so a
  // cached answer is right for any later now_ns until the next change.
  CUSTOS_ASSIGN_OR_RETURN(auto records,
                          store_->LiveReveals(viewer.id, std::min(now_ns, clock_->NowUnixNs())));
  CachedReveals fresh{steady, {}};
  for (const auto& r : records) fresh.live.emplace_back(r.person, r.expires_at_ns);
  std::sort(fresh.live.begin(), fresh.live.end());
  auto out = answer(fresh.live);
  std::lock_guard<std::mutex> l(mu_);
  if (generation == generation_ && options_.cache_ttl.count() > 0) {
    // A bound on memory: viewers are people signed in, but stay safe with many service tokens.
    if (by_viewer_.size() >= 4096) by_viewer_.clear();
    by_viewer_[viewer.id] = std::move(fresh);
  }
  return out;
}

Result<std::vector<store::RevealRecord>> Reveals::List(const Principal& who) {
  std::vector<store::RevealRecord> out;
  if (who.roles.Has(Role::kApprover)) {
    store::RevealQuery q;
    q.status = std::string(store::kRevealRequested);
    CUSTOS_ASSIGN_OR_RETURN(out, store_->ListReveals(q));
  }
  store::RevealQuery own;
  own.requester = who.id;
  CUSTOS_ASSIGN_OR_RETURN(auto mine, store_->ListReveals(own));
  for (auto& r : mine) {
    bool seen = std::any_of(out.begin(), out.end(),
                            [&](const store::RevealRecord& o) { return o.id == r.id; });
    if (!seen) out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_at_ns != b.created_at_ns ? a.created_at_ns > b.created_at_ns : a.id > b.id;
  });
  return out;
}

Result<std::vector<store::RevealRecord>> Reveals::ExpireDue() {
  const int64_t now = clock_->NowUnixNs();
  auto out = store_->ExpireReveals(
      now,
      now - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.request_ttl).count());
  if (out.ok() && !out->empty()) Invalidate();
  return out;
}

Result<PseudonymisationChange> Reveals::SetPseudonymisation(const Principal& admin, bool on) {
  if (!admin.roles.Has(Role::kAdmin)) {
    return PermissionDeniedError("settings: " + admin.Actor() +
                                 " may not change pseudonymisation: that needs the admin role "
                                 "(holds '" +
                                 admin.roles.ToString() + "')");
  }
  PseudonymisationChange change;
  change.setting.key = std::string(store::kPseudonymisationSetting);
  change.setting.value = on ? "on" : "off";
  change.setting.updated_at_ns = clock_->NowUnixNs();
  change.setting.updated_by = admin.Actor();
  auto previous = store_->PutSetting(change.setting);
  Invalidate();
  if (!previous.ok()) return previous.status();
  change.was_on = !previous->has_value() || (*previous)->value != "off";
  return change;
}

Result<bool> Reveals::IsPseudonymisationOn() {
  const auto steady = clock_->SteadyNow();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (setting_cached_ && steady - setting_fetched_ < options_.cache_ttl) {
      return pseudonymisation_on_;
    }
    generation = generation_;
  }
  CUSTOS_ASSIGN_OR_RETURN(auto setting, store_->GetSetting(store::kPseudonymisationSetting));
  // Anything but an explicit "off" keeps people pseudonymised: the safe default.
  const bool on = !setting.has_value() || setting->value != "off";
  std::lock_guard<std::mutex> l(mu_);
  if (generation == generation_ && options_.cache_ttl.count() > 0) {
    setting_cached_ = true;
    pseudonymisation_on_ = on;
    setting_fetched_ = steady;
  }
  return on;
}

}  // namespace custos::collector::access
