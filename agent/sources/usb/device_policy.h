// agent/sources/usb/device_policy.h: allow and block lists for USB devices (internal to the USB
// source; configured under sources.usb.policy, see docs/configuration.md).
//
// A rule is text of space- or comma-separated KEY=VALUE terms, every term optional but at least
// one present: vendor=0781 and product=5581 (hex, 1-4 digits, optional 0x), serial=<exact string,
// no spaces or commas>, class=08 (an interface class, hex 00-ff: matches when any of the device's
// interfaces has it). A device matches a rule when it matches every term the rule has.
// Decision: a device that matches a block rule and no allow rule is blocked; allow rules are
// exceptions to block rules (with no block rules nothing is ever blocked, so a keyboard is never
// deauthorised by an allow list alone). The first matching block rule is named in the decision.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status/status.h"
#include "custos/v1/event.pb.h"

namespace custos::agent::usb {

struct UsbRule {
  std::optional<uint32_t> vendor_id;
  std::optional<uint32_t> product_id;
  std::optional<std::string> serial;
  std::optional<uint32_t> interface_class;
  std::string text;  // as configured, for reports
};

enum class UsbPolicyMode { kObserve, kEnforce };

struct UsbPolicy {
  UsbPolicyMode mode = UsbPolicyMode::kObserve;
  std::vector<UsbRule> allow;
  std::vector<UsbRule> block;
};

struct UsbPolicyDecision {
  bool blocked = false;
  std::string rule;  // the block rule that matched (its text)
};

// Errors: InvalidArgument naming the term, e.g. "usb rule 'vendor=zz': vendor must be 1-4 hex
// digits".
Result<UsbRule> ParseUsbRule(std::string_view text);

bool UsbRuleMatches(const UsbRule& rule, const custos::v1::UsbEvent& device);

UsbPolicyDecision EvaluateUsbPolicy(const UsbPolicy& policy, const custos::v1::UsbEvent& device);

}  // namespace custos::agent::usb
