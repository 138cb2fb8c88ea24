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

TEST(IndicatorsTest, ScanFindingsRaiseNothing) {
  for (auto op :
       {custos::v1::FILE_OP_CREATE, custos::v1::FILE_OP_DELETE, custos::v1::FILE_OP_MODIFY}) {
    custos::v1::Event e;
    e.mutable_file()->set_op(op);
    e.mutable_file()->set_path("/home/u/.hidden.zip");
    e.mutable_file()->set_observed_by(custos::v1::OBSERVED_BY_SCAN);
    const EventFacts facts = MapEvent(e, {});
    EXPECT_TRUE(facts.scan_found);
    EXPECT_TRUE(facts.hits.empty()) << op;
    EXPECT_EQ(facts.stage, Stage::kNone);
    e.mutable_file()->set_observed_by(custos::v1::OBSERVED_BY_WATCH);
    EXPECT_FALSE(MapEvent(e, {}).scan_found);
  }
  custos::v1::Event live;
  live.mutable_file()->set_op(custos::v1::FILE_OP_CREATE);
  live.mutable_file()->set_path("/home/u/a.zip");  // agents before observed_by: live
  EXPECT_FALSE(MapEvent(live, {}).hits.empty());
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

TEST(ParseScoredPayloadTest, ReadsThePayloadSkipsTheActorAndReusesOneMessage) {
  custos::v1::Event full = File(custos::v1::FILE_OP_COPY_TO_REMOVABLE, "/media/u/a.xlsx");
  full.mutable_file()->set_source_path("/home/u/a.xlsx");
  full.mutable_actor()->set_command_line("cp /home/u/a.xlsx /media/u/");
  full.set_time_ns(42);
  custos::v1::Event scratch;
  ASSERT_TRUE(ParseScoredPayload(full.SerializeAsString(), &scratch));
  EXPECT_EQ(scratch.file().path(), "/media/u/a.xlsx");
  EXPECT_EQ(scratch.file().source_path(), "/home/u/a.xlsx");
  EXPECT_FALSE(scratch.has_actor());  // skipped, not parsed
  EXPECT_EQ(scratch.time_ns(), 0);
  EXPECT_TRUE(Has(MapEvent(scratch, {}), IndicatorId::kUsbCopy));

  // The next event is of another kind: the old payload must not leak into it.
  custos::v1::Event usb;
  usb.mutable_usb()->set_fingerprint("usb-1");
  ASSERT_TRUE(ParseScoredPayload(usb.SerializeAsString(), &scratch));
  EXPECT_EQ(scratch.payload_case(), custos::v1::Event::kUsb);
  EXPECT_EQ(scratch.usb().fingerprint(), "usb-1");
  // An event with no payload scoring reads (health) leaves none behind either.
  custos::v1::Event health;
  health.mutable_health();
  health.mutable_actor()->set_pid(1);
  ASSERT_TRUE(ParseScoredPayload(health.SerializeAsString(), &scratch));
  EXPECT_EQ(scratch.payload_case(), custos::v1::Event::PAYLOAD_NOT_SET);
}

TEST(ParseScoredPayloadTest, RefusesTruncatedAndGarbageBytes) {
  custos::v1::Event full = File(custos::v1::FILE_OP_CREATE, "/home/u/report.docx");
  const std::string bytes = full.SerializeAsString();
  custos::v1::Event scratch;
  for (size_t n = 1; n < bytes.size(); ++n) {
    EXPECT_FALSE(ParseScoredPayload(std::string_view(bytes).substr(0, n), &scratch)) << n;
  }
  EXPECT_FALSE(ParseScoredPayload("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", &scratch));
  // A length prefix pointing past the end.
  EXPECT_FALSE(ParseScoredPayload(std::string_view("\x52\x7f\x08\x01", 4), &scratch));
  EXPECT_TRUE(ParseScoredPayload("", &scratch));  // an empty message is a valid empty event
  EXPECT_EQ(scratch.payload_case(), custos::v1::Event::PAYLOAD_NOT_SET);
}

}  // namespace
}  // namespace custos::collector::scoring
