#include "agent/sources/usb/volume.h"

#include <filesystem>
#include <string>

#include "common/testing/testing.h"
#include "gtest/gtest.h"

namespace custos::agent::usb {
namespace {

namespace fs = std::filesystem;

std::string Seed(const std::string& name) {
  auto data = testing::ReadFile(testing::SourcePath("tests/fuzz/corpus/volume/" + name));
  EXPECT_TRUE(data.ok()) << data.status().ToString() << " (run from the source tree or ctest)";
  return data.ok() ? *data : std::string();
}

// Seeds are the first 4 KiB of images made by mkfs.vfat / mkfs.ext4 (tests/fuzz/make_seeds.sh).
TEST(VolumeTest, ReadsLabelAndIdFromFatBootSectorAndExtSuperblock) {
  VolumeIdentity fat32 = ParseVolumeIdentity(Seed("fat32_labelled"));
  EXPECT_EQ(fat32.fs, "vfat");
  EXPECT_EQ(fat32.label, "MY STICK");
  EXPECT_EQ(fat32.uuid, "1234-ABCD");
  VolumeIdentity fat16 = ParseVolumeIdentity(Seed("fat16_no_label"));
  EXPECT_EQ(fat16.fs, "vfat");
  EXPECT_EQ(fat16.label, "") << "\"NO NAME\" is no label";
  EXPECT_EQ(fat16.uuid.size(), 9u);
  VolumeIdentity ext = ParseVolumeIdentity(Seed("ext4_labelled"));
  EXPECT_EQ(ext.fs, "ext");
  EXPECT_EQ(ext.label, "backup");
  EXPECT_EQ(ext.uuid, "0b1e2c3d-4e5f-4061-8273-94a5b6c7d8e9");
  VolumeIdentity exfat = ParseVolumeIdentity(Seed("exfat_header"));
  EXPECT_EQ(exfat.fs, "exfat");
  EXPECT_EQ(exfat.uuid, "DEAD-BEEF");
  EXPECT_EQ(ParseVolumeIdentity(Seed("fat32_truncated")).label, "MY STICK");
}

TEST(VolumeTest, UnreadableOrUnknownOrCorruptHeadersGiveNothingNeverACrash) {
  EXPECT_EQ(ParseVolumeIdentity("").fs, "");
  EXPECT_EQ(ParseVolumeIdentity(std::string(4096, '\0')).fs, "");
  EXPECT_EQ(ReadVolumeIdentity("/nonexistent/sdz9").fs, "");
  testing::TempDir dir;
  EXPECT_EQ(ReadVolumeIdentity(dir.path()).fs, "") << "a directory is not a device";
  std::string fat = Seed("fat32_labelled");
  for (size_t len = 0; len <= fat.size(); len += 7) (void)ParseVolumeIdentity(fat.substr(0, len));
  for (size_t i = 0; i < 1200; ++i) {
    std::string mutated = fat;
    mutated[i] = static_cast<char>(mutated[i] ^ 0xff);
    VolumeIdentity id = ParseVolumeIdentity(mutated);
    EXPECT_LE(id.label.size(), 44u);
  }
  std::string odd = fat;
  odd[71] = '\xff';  // a label byte that is not UTF-8
  EXPECT_EQ(ParseVolumeIdentity(odd).label, "\\xffY STICK");
  ASSERT_TRUE(testing::WriteFile(dir.Sub("sdb1"), fat).ok());
  EXPECT_EQ(ReadVolumeIdentity(dir.Sub("sdb1")).label, "MY STICK");
}

TEST(VolumeTest, LabelFromUdevByLabelLinksIsDecoded) {
  testing::TempDir dev;
  ASSERT_TRUE(testing::WriteFile(dev.Sub("sdb1"), "").ok());
  ASSERT_TRUE(testing::WriteFile(dev.Sub("sdc1"), "").ok());
  fs::create_directories(dev.Sub("disk/by-label"));
  fs::create_symlink("../../sdb1", dev.Sub("disk/by-label/MY\\x20STICK"));
  fs::create_symlink("../../missing", dev.Sub("disk/by-label/dangling"));
  EXPECT_EQ(LabelFromUdevLinks(dev.path(), "sdb1"), "MY STICK");
  EXPECT_EQ(LabelFromUdevLinks(dev.path(), "sdc1"), "");
  EXPECT_EQ(LabelFromUdevLinks(dev.path(), "sdz1"), "");
  EXPECT_EQ(LabelFromUdevLinks("/nonexistent", "sdb1"), "");
  EXPECT_EQ(DecodeUdevString("a\\x2fb\\x2"), "a/b\\x2");
}

TEST(VolumeTest, FingerprintsAreStableAndKindSpecific) {
  EXPECT_EQ(VolumeFingerprint("uuid", "1234-ABCD"), VolumeFingerprint("uuid", "1234-ABCD"));
  EXPECT_NE(VolumeFingerprint("uuid", "1234-ABCD"), VolumeFingerprint("source", "1234-ABCD"));
  EXPECT_EQ(VolumeFingerprint("source", "/dev/loop0").size(), 32u);
}

}  // namespace
}  // namespace custos::agent::usb
