#include "collector/api/viewer.h"

#include <string_view>

namespace custos::collector::api {
namespace {

enum class Kind { kPerson, kHost, kText };

Kind KindOf(std::string_view key) {
  for (std::string_view k :
       {"person", "user", "login", "email", "manager", "display_name", "requester"}) {
    if (key == k) return Kind::kPerson;
  }
  if (key == "host" || key == "hostname") return Kind::kHost;
  return Kind::kText;
}

}  // namespace

Viewer::Viewer(std::shared_ptr<const access::IdentityMasker> masker,
               std::shared_ptr<const access::PriorityRules> rules,
               const access::Principal* principal, bool masking, std::vector<std::string> revealed)
    : masker_(std::move(masker)),
      rules_(std::move(rules)),
      principal_(principal),
      view_(masking ? masker_->ForViewer(revealed) : masker_->Unmasked()) {}

bool Viewer::MaySeePerson(std::string_view person) const {
  if (rules_ == nullptr || rules_->empty()) return true;
  return principal_ != nullptr && rules_->MaySeePerson(*principal_, person);
}

bool Viewer::MaySeeLogin(std::string_view login) const {
  if (rules_ == nullptr || rules_->empty() || login.empty()) return true;
  return principal_ != nullptr && rules_->MaySeeLogin(*principal_, login);
}

void Viewer::MaskJson(nlohmann::ordered_json* j) const {
  if (!view_.masking()) return;
  const auto mask_value = [this](nlohmann::ordered_json* v, Kind kind) {
    if (!v->is_string()) return;
    const std::string& s = v->get_ref<const std::string&>();
    if (s.empty()) return;
    switch (kind) {
      case Kind::kPerson:
        *v = view_.Person(s);
        break;
      case Kind::kHost:
        *v = view_.Host(s);
        break;
      case Kind::kText:
        *v = view_.Text(s);
        break;
    }
  };
  if (j->is_object()) {
    for (auto it = j->begin(); it != j->end(); ++it) {
      if (it->is_structured()) {
        MaskJson(&it.value());
      } else {
        mask_value(&it.value(), KindOf(it.key()));
      }
    }
  } else if (j->is_array()) {
    for (auto& v : *j) {
      if (v.is_structured()) {
        MaskJson(&v);
      } else {
        mask_value(&v, Kind::kText);
      }
    }
  } else {
    mask_value(j, Kind::kText);
  }
}

std::string Viewer::ResolvePerson(std::string_view value) const {
  if (value.size() > 5 && (value.substr(0, 5) == "Anon-" || value.substr(0, 5) == "anon-")) {
    auto ids = masker_->Resolve(value);
    if (ids.size() == 1) return ids[0];
  }
  return std::string(value);
}

Status MaskerHolder::Rebuild() {
  CUSTOS_ASSIGN_OR_RETURN(auto people, risk_->ListPeople());
  CUSTOS_ASSIGN_OR_RETURN(auto logins, risk_->ListLogins());
  CUSTOS_ASSIGN_OR_RETURN(auto setting, privacy_->GetSetting(access::kPriorityGroupsSetting));
  CUSTOS_ASSIGN_OR_RETURN(auto groups,
                          access::PriorityGroupsFromJson(setting ? setting->value : ""));
  auto masker = std::make_shared<const access::IdentityMasker>(pseudonymizer_, people, logins);
  auto rules = std::make_shared<const access::PriorityRules>(groups, people, logins);
  std::lock_guard<std::mutex> l(mu_);
  masker_ = std::move(masker);
  rules_ = std::move(rules);
  return OkStatus();
}

std::shared_ptr<const access::PriorityRules> MaskerHolder::Rules() const {
  std::lock_guard<std::mutex> l(mu_);
  return rules_;
}

std::shared_ptr<const access::IdentityMasker> MaskerHolder::Get() const {
  std::lock_guard<std::mutex> l(mu_);
  return masker_;
}

}  // namespace custos::collector::api
