// collector/api/viewer.h: what one caller may see of people (internal to collector/api/).
//
// Every response that names a person goes through a Viewer: people, logins, e-mails, managers and
// identity-bearing hosts and paths become stable pseudonyms (collector/access/pseudonym.h) unless
// the caller holds a live reveal for that person or an admin turned pseudonymisation off. The
// Viewer keeps the directory's masker alive for as long as the response is being built.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "collector/access/priority_groups.h"
#include "collector/access/pseudonym.h"
#include "collector/store/privacy_store.h"
#include "collector/store/risk_store.h"

namespace custos::collector::api {

class Viewer {
 public:
  // `principal` (null on anonymous routes) must outlive the Viewer.
  Viewer(std::shared_ptr<const access::IdentityMasker> masker,
         std::shared_ptr<const access::PriorityRules> rules, const access::Principal* principal,
         bool masking, std::vector<std::string> revealed);

  // Priority groups (collector/access/priority_groups.h): whether the caller may see objects
  // about this person (or the person behind this login). Routes answer 404 for one object and
  // leave the others out of lists.
  bool MaySeePerson(std::string_view person) const;
  bool MaySeeLogin(std::string_view login) const;

  // As MaskView (pseudonym.h).
  std::string Person(std::string_view value) const { return view_.Person(value); }
  std::string Host(std::string_view host) const { return view_.Host(host); }
  std::string Text(std::string_view text) const { return view_.Text(text); }
  bool masking() const { return view_.masking(); }

  // Masks every string in `j`, recursively: values of person-naming keys ("person", "user",
  // "login", "email", "manager", "display_name", "requester") with Person(), host keys ("host",
  // "hostname") with Host(), every other string with Text(). Keys are never changed.
  void MaskJson(nlohmann::ordered_json* j) const;

  // A person named in a query: a pseudonym resolves to the directory person behind it (the
  // canonical id; the value itself when it names no directory person or several).
  std::string ResolvePerson(std::string_view value) const;

 private:
  std::shared_ptr<const access::IdentityMasker> masker_;
  std::shared_ptr<const access::PriorityRules> rules_;
  const access::Principal* principal_;
  access::MaskView view_;
};

// The directory's masker and priority rules, rebuilt after every directory import and priority
// group change; shared by concurrent requests.
class MaskerHolder {
 public:
  MaskerHolder(const access::Pseudonymizer* pseudonymizer, store::RiskStore* risk,
               store::PrivacyStore* privacy)
      : pseudonymizer_(pseudonymizer), risk_(risk), privacy_(privacy) {}
  // Rebuilds from the directory and the stored priority groups.
  Status Rebuild();
  std::shared_ptr<const access::IdentityMasker> Get() const;
  std::shared_ptr<const access::PriorityRules> Rules() const;

 private:
  const access::Pseudonymizer* pseudonymizer_;
  store::RiskStore* risk_;
  store::PrivacyStore* privacy_;
  mutable std::mutex mu_;
  std::shared_ptr<const access::IdentityMasker> masker_;  // CUSTOS_GUARDED_BY(mu_)
  std::shared_ptr<const access::PriorityRules> rules_;    // CUSTOS_GUARDED_BY(mu_)
};

}  // namespace custos::collector::api
