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

#include "collector/access/pseudonym.h"
#include "collector/store/risk_store.h"

namespace custos::collector::api {

class Viewer {
 public:
  Viewer(std::shared_ptr<const access::IdentityMasker> masker, bool masking,
         std::vector<std::string> revealed);

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
  access::MaskView view_;
};

// The directory's masker, rebuilt after every directory import; shared by concurrent requests.
class MaskerHolder {
 public:
  explicit MaskerHolder(const access::Pseudonymizer* pseudonymizer)
      : pseudonymizer_(pseudonymizer) {}
  // Rebuilds from the directory in `risk`.
  Status Rebuild(store::RiskStore* risk);
  std::shared_ptr<const access::IdentityMasker> Get() const;

 private:
  const access::Pseudonymizer* pseudonymizer_;
  mutable std::mutex mu_;
  std::shared_ptr<const access::IdentityMasker> masker_;  // CUSTOS_GUARDED_BY(mu_)
};

}  // namespace custos::collector::api
