#include "agent/sources/usb/device_policy.h"

#include <algorithm>
#include <charconv>

namespace custos::agent::usb {
namespace {

std::optional<uint32_t> ParseHexId(std::string_view text, size_t max_digits) {
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    text.remove_prefix(2);
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

Result<UsbRule> ParseUsbRule(std::string_view text) {
  UsbRule rule;
  rule.text = std::string(text);
  const std::string where = "usb rule '" + std::string(text) + "': ";
  bool any = false;
  while (!text.empty()) {
    size_t start = text.find_first_not_of(" ,\t");
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    size_t end = text.find_first_of(" ,\t");
    std::string_view term = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
    size_t eq = term.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError(where + "expected KEY=VALUE, got '" + std::string(term) + "'");
    }
    std::string_view key = term.substr(0, eq);
    std::string_view value = term.substr(eq + 1);
    auto repeated = [&](bool have) -> Status {
      if (have) return InvalidArgumentError(where + std::string(key) + " given twice");
      return OkStatus();
    };
    if (key == "vendor" || key == "product") {
      auto id = ParseHexId(value, 4);
      if (!id) return InvalidArgumentError(where + std::string(key) + " must be 1-4 hex digits");
      auto& field = key == "vendor" ? rule.vendor_id : rule.product_id;
      CUSTOS_RETURN_IF_ERROR(repeated(field.has_value()));
      field = *id;
    } else if (key == "class") {
      auto id = ParseHexId(value, 2);
      if (!id) return InvalidArgumentError(where + "class must be 1-2 hex digits (e.g. 08)");
      CUSTOS_RETURN_IF_ERROR(repeated(rule.interface_class.has_value()));
      rule.interface_class = *id;
    } else if (key == "serial") {
      if (value.empty()) return InvalidArgumentError(where + "serial is empty");
      CUSTOS_RETURN_IF_ERROR(repeated(rule.serial.has_value()));
      rule.serial = std::string(value);
    } else {
      return InvalidArgumentError(where + "unknown key '" + std::string(key) +
                                  "' (expected vendor, product, serial or class)");
    }
    any = true;
  }
  if (!any) return InvalidArgumentError(where + "empty (give vendor, product, serial or class)");
  return rule;
}

bool UsbRuleMatches(const UsbRule& rule, const custos::v1::UsbEvent& device) {
  if (rule.vendor_id && *rule.vendor_id != device.vendor_id()) return false;
  if (rule.product_id && *rule.product_id != device.product_id()) return false;
  if (rule.serial && *rule.serial != device.serial()) return false;
  if (rule.interface_class) {
    const auto& classes = device.interface_classes();
    if (std::find(classes.begin(), classes.end(), *rule.interface_class) == classes.end()) {
      return false;
    }
  }
  return true;
}

UsbPolicyDecision EvaluateUsbPolicy(const UsbPolicy& policy, const custos::v1::UsbEvent& device) {
  UsbPolicyDecision decision;
  for (const UsbRule& allow : policy.allow) {
    if (UsbRuleMatches(allow, device)) return decision;
  }
  for (const UsbRule& block : policy.block) {
    if (UsbRuleMatches(block, device)) {
      decision.blocked = true;
      decision.rule = block.text;
      return decision;
    }
  }
  return decision;
}

}  // namespace custos::agent::usb
