#include "agent/sources/usb/device_policy.h"

#include "gtest/gtest.h"

namespace custos::agent::usb {
namespace {

custos::v1::UsbEvent Device(uint32_t vid, uint32_t pid, const std::string& serial,
                            std::vector<uint32_t> classes) {
  custos::v1::UsbEvent d;
  d.set_vendor_id(vid);
  d.set_product_id(pid);
  d.set_serial(serial);
  for (uint32_t c : classes) d.add_interface_classes(c);
  return d;
}

UsbRule Rule(const std::string& text) {
  auto rule = ParseUsbRule(text);
  EXPECT_TRUE(rule.ok()) << text << ": " << rule.status().ToString();
  return rule.ok() ? *rule : UsbRule{};
}

TEST(DevicePolicyTest, ParsesRulesAndRefusesBadOnesWithClearErrors) {
  UsbRule r = Rule("vendor=0781, product=0x5581 serial=4C53 class=8");
  EXPECT_EQ(r.vendor_id, 0x0781u);
  EXPECT_EQ(r.product_id, 0x5581u);
  EXPECT_EQ(r.serial, "4C53");
  EXPECT_EQ(r.interface_class, 8u);
  EXPECT_EQ(r.text, "vendor=0781, product=0x5581 serial=4C53 class=8");
  struct Case {
    std::string text, error;
  };
  for (const Case& c : std::vector<Case>{{"", "empty"},
                                         {" , ", "empty"},
                                         {"vendor=zz", "vendor must be 1-4 hex digits"},
                                         {"vendor=12345", "vendor must be 1-4 hex digits"},
                                         {"class=100", "class must be 1-2 hex digits"},
                                         {"serial=", "serial is empty"},
                                         {"vendor", "expected KEY=VALUE"},
                                         {"colour=red", "unknown key 'colour'"},
                                         {"vendor=1 vendor=2", "vendor given twice"}}) {
    auto parsed = ParseUsbRule(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_NE(parsed.status().message().find(c.error), std::string::npos)
        << parsed.status().message();
    EXPECT_EQ(parsed.status().message().rfind("usb rule '", 0), 0u);
  }
}

TEST(DevicePolicyTest, BlockRulesMatchEveryTermAndAllowRulesAreExceptions) {
  const auto stick = Device(0x0781, 0x5581, "4C53", {8});
  const auto other_stick = Device(0x0951, 0x1666, "XYZ", {8});
  const auto keyboard = Device(0x046d, 0xc31c, "", {3});
  UsbPolicy policy;
  policy.block = {Rule("class=08")};
  policy.allow = {Rule("vendor=0781 product=5581 serial=4C53")};
  EXPECT_FALSE(EvaluateUsbPolicy(policy, stick).blocked) << "allowed by serial";
  UsbPolicyDecision d = EvaluateUsbPolicy(policy, other_stick);
  EXPECT_TRUE(d.blocked);
  EXPECT_EQ(d.rule, "class=08");
  EXPECT_FALSE(EvaluateUsbPolicy(policy, keyboard).blocked);
  EXPECT_FALSE(EvaluateUsbPolicy(policy, Device(0x0781, 0x5581, "OTHER", {3})).blocked);
  EXPECT_TRUE(EvaluateUsbPolicy(policy, Device(0x0781, 0x5581, "OTHER", {3, 8})).blocked);

  UsbPolicy allow_only;
  allow_only.allow = {Rule("vendor=0781")};
  EXPECT_FALSE(EvaluateUsbPolicy(allow_only, other_stick).blocked)
      << "an allow list alone never blocks";
  EXPECT_FALSE(UsbRuleMatches(Rule("vendor=0781 product=1"), stick));
  EXPECT_TRUE(UsbRuleMatches(Rule("product=5581"), stick));
}

}  // namespace
}  // namespace custos::agent::usb
