#include "collector/scoring/indicators.h"

#include <gtest/gtest.h>

namespace custos::collector::scoring {
namespace {

custos::v1::Event File(custos::v1::FileOp op, std::string path, std::string old_path = "") {
  custos::v1::Event e;
  e.mutable_file()->set_op(op);
  e.mutable_file()->set_path(std::move(path));
  e.mutable_file()->set_old_path(std::move(old_path));
  return e;
}

bool Has(const EventFacts& f, IndicatorId id) {
  for (const auto& h : f.hits) {
    if (h.id == id) return true;
  }
  return false;
}

TEST(IndicatorsTest, CatalogIdsAreUniqueAndParse) {
  std::set<std::string_view> keys;
  for (const auto& i : Catalog()) {
    EXPECT_TRUE(keys.insert(i.key).second) << i.key;
    EXPECT_EQ(ParseIndicator(i.key), i.id);
    EXPECT_EQ(&Info(i.id), &i);
    EXPECT_LE(i.tiers.low, i.tiers.medium);
    EXPECT_LE(i.tiers.medium, i.tiers.high);
  }
  EXPECT_EQ(keys.size(), kIndicatorCount);
  EXPECT_FALSE(ParseIndicator("nope").has_value());
}

TEST(IndicatorsTest, TiersAndFactors) {
  Tiers t{2, 5, 10};
  EXPECT_EQ(TierFor(t, 1), Tier::kNone);
  EXPECT_EQ(TierFor(t, 2), Tier::kLow);
  EXPECT_EQ(TierFor(t, 9), Tier::kMedium);
  EXPECT_EQ(TierFor(t, 10), Tier::kHigh);
  EXPECT_EQ(TierFactor(Tier::kNone), 0);
  EXPECT_EQ(TierFactor(Tier::kHigh), 1.0);
}

TEST(IndicatorsTest, RenameToOtherExtensionIsObfuscationButEditorSavesAreNot) {
  auto f = MapEvent(File(custos::v1::FILE_OP_RENAME, "/h/a.jpg", "/h/a.csv"), {});
  EXPECT_TRUE(Has(f, IndicatorId::kExtensionChanged));
  EXPECT_EQ(f.stage, Stage::kObfuscation);
  EXPECT_EQ(f.previous_name, "a.csv");
  auto save = MapEvent(File(custos::v1::FILE_OP_RENAME, "/h/a.docx", "/h/~a.tmp"), {});
  EXPECT_FALSE(Has(save, IndicatorId::kExtensionChanged));
  EXPECT_TRUE(Has(save, IndicatorId::kBulkRename));
}

TEST(IndicatorsTest, ArchivesHiddenFilesAndCopies) {
  EXPECT_TRUE(Has(MapEvent(File(custos::v1::FILE_OP_CREATE, "/h/x.ZIP"), {}),
                  IndicatorId::kArchiveCreated));
  EXPECT_TRUE(Has(MapEvent(File(custos::v1::FILE_OP_CREATE, "/h/.stash"), {}),
                  IndicatorId::kHiddenFileCreated));
  auto copy = File(custos::v1::FILE_OP_COPY_TO_REMOVABLE, "/media/u/a.pdf");
  copy.mutable_file()->set_size(1234);
  copy.mutable_file()->set_source_path("/srv/a.pdf");
  auto f = MapEvent(copy, {});
  EXPECT_TRUE(Has(f, IndicatorId::kUsbCopy));
  EXPECT_EQ(f.exfiltrated_bytes, 1234u);
  EXPECT_EQ(f.source_path, "/srv/a.pdf");
  EXPECT_FALSE(Has(f, IndicatorId::kBulkCreate));
}

TEST(IndicatorsTest, SecuritySettings) {
  custos::v1::Event e;
  auto* s = e.mutable_setting();
  s->set_area("lsm");
  s->set_key("selinux");
  s->set_old_value("enforcing");
  s->set_new_value("permissive");
  EXPECT_TRUE(Has(MapEvent(e, {}), IndicatorId::kSecurityControlDisabled));
  s->set_old_value("permissive");
  s->set_new_value("enforcing");
  EXPECT_FALSE(Has(MapEvent(e, {}), IndicatorId::kSecurityControlDisabled));
  s->set_area("firewall");
  s->set_key("ruleset");
  s->set_summary("+ accept ssh");
  EXPECT_FALSE(Has(MapEvent(e, {}), IndicatorId::kSecurityControlDisabled));
  s->set_summary("- drop all\n- drop more\n+ accept all");
  EXPECT_TRUE(Has(MapEvent(e, {}), IndicatorId::kSecurityControlDisabled));
  s->set_area("packages");
  s->set_summary("installed tor 1\ninstalled vim 2\nremoved x 1\nupgraded y 1 -> 2");
  MappingOptions approved{{"vim*"}};
  auto f = MapEvent(e, approved);
  EXPECT_EQ(
      std::count_if(f.hits.begin(), f.hits.end(),
                    [](const IndicatorHit& h) { return h.id == IndicatorId::kUnapprovedSoftware; }),
      1);
  s->set_area("agent");
  EXPECT_TRUE(Has(MapEvent(e, {}), IndicatorId::kAgentTampering));
}

TEST(IndicatorsTest, OnlyMassStorageDevicesCount) {
  custos::v1::Event e;
  e.mutable_usb()->set_action(custos::v1::USB_ACTION_ADDED);
  e.mutable_usb()->set_fingerprint("fp");
  e.mutable_usb()->add_interface_classes(3);
  EXPECT_TRUE(MapEvent(e, {}).usb_fingerprint.empty());
  e.mutable_usb()->add_interface_classes(8);
  EXPECT_EQ(MapEvent(e, {}).usb_fingerprint, "fp");
}

}  // namespace
}  // namespace custos::collector::scoring
