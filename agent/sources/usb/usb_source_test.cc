#include "agent/sources/usb/usb_source.h"
#include "agent/sources/recording_sink.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "agent/sources/usb/mountinfo.h"
#include "agent/sources/usb/uevent.h"
#include "agent/sources/usb/usb_device.h"
#include "agent/sources/usb/volume.h"
#include "common/testing/testing.h"
#include "gtest/gtest.h"

namespace custos::agent::usb {
namespace {

namespace fs = std::filesystem;
using custos::v1::Event;
using custos::v1::UsbEvent;

constexpr char kHub[] = "/devices/pci0000:00/0000:00:14.0/usb1";
constexpr char kStick[] = "/devices/pci0000:00/0000:00:14.0/usb1/1-2";
constexpr char kPhone[] = "/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.1";

std::string Corpus(const std::string& name) {
  auto data = testing::ReadFile(testing::SourcePath("tests/fuzz/corpus/uevent/" + name));
  EXPECT_TRUE(data.ok()) << data.status().ToString() << " (run from the source tree or ctest)";
  return data.ok() ? *data : std::string();
}

Uevent MustParse(const std::string& name) {
  auto parsed = ParseUevent(Corpus(name));
  EXPECT_TRUE(parsed.ok()) << name << ": " << parsed.status().ToString();
  return parsed.ok() ? *parsed : Uevent{};
}

std::string Message(const std::string& header, const std::vector<std::string>& fields) {
  std::string out = header;
  out.push_back('\0');
  for (const auto& f : fields) {
    out += f;
    out.push_back('\0');
  }
  return out;
}

std::string ParseError(std::string_view datagram) {
  auto parsed = ParseUevent(datagram);
  return parsed.ok() ? "(accepted)" : parsed.status().message();
}

// ---- Parser ------------------------------------------------------------------------------

TEST(UeventParserTest, ParsesRecordedStorageStickSequence) {
  Uevent dev = MustParse("storage_01_usb_device_add");
  EXPECT_EQ(dev.action, "add");
  EXPECT_EQ(dev.devpath, kStick);
  EXPECT_EQ(dev.subsystem, "usb");
  EXPECT_EQ(dev.devtype, "usb_device");
  EXPECT_EQ(dev.devname, "bus/usb/001/005");
  EXPECT_EQ(dev.seqnum, 4711u);
  ASSERT_TRUE(dev.product.has_value());
  EXPECT_EQ(dev.product->vendor_id, 0x0781u);
  EXPECT_EQ(dev.product->product_id, 0x5581u);
  EXPECT_EQ(dev.product->bcd_device, 0x0100u);
  EXPECT_EQ(dev.busnum, 1u);
  EXPECT_EQ(dev.devnum, 5u);
  EXPECT_FALSE(dev.interface.has_value());
  EXPECT_EQ(dev.Get("MAJOR"), "189");

  Uevent intf = MustParse("storage_02_usb_interface_add");
  EXPECT_EQ(intf.devtype, "usb_interface");
  ASSERT_TRUE(intf.interface.has_value());
  EXPECT_EQ(intf.interface->interface_class, 8u);
  EXPECT_EQ(intf.interface->interface_subclass, 6u);
  EXPECT_EQ(intf.interface->interface_protocol, 80u);

  EXPECT_EQ(MustParse("storage_04_usb_interface_bind").Get("DRIVER"), "usb-storage");
  EXPECT_EQ(MustParse("storage_05_usb_device_bind").action, "bind");
  EXPECT_EQ(MustParse("storage_03_scsi_host_add").subsystem, "scsi");
  Uevent disk = MustParse("storage_07_block_sdb_add");
  EXPECT_EQ(disk.subsystem, "block");
  EXPECT_EQ(disk.devtype, "disk");
  EXPECT_EQ(disk.devname, "sdb");
  EXPECT_EQ(MustParse("storage_08_block_sdb1_add").devname, "sdb1");
  EXPECT_EQ(MustParse("storage_09_usb_device_remove").action, "remove");
}

TEST(UeventParserTest, ParsesRecordedKeyboardAndPhoneInterfaces) {
  Uevent kb = MustParse("keyboard_02_usb_interface_add");
  ASSERT_TRUE(kb.interface.has_value());
  EXPECT_EQ(kb.interface->interface_class, 3u);
  EXPECT_EQ(kb.interface->interface_subclass, 1u);
  EXPECT_EQ(kb.interface->interface_protocol, 1u);
  ASSERT_TRUE(MustParse("keyboard_01_usb_device_add").product.has_value());
  EXPECT_EQ(MustParse("keyboard_01_usb_device_add").product->vendor_id, 0x046du);

  Uevent mtp = MustParse("phone_02_usb_interface_mtp_add");
  ASSERT_TRUE(mtp.interface.has_value());
  EXPECT_EQ(mtp.interface->interface_class, 6u);
  EXPECT_EQ(mtp.interface->interface_subclass, 1u);
  Uevent adb = MustParse("phone_03_usb_interface_adb_add");
  ASSERT_TRUE(adb.interface.has_value());
  EXPECT_EQ(adb.interface->interface_class, 255u);
  EXPECT_EQ(adb.interface->interface_subclass, 66u);
  EXPECT_EQ(MustParse("phone_05_usb_device_remove").devpath, kPhone);
}

TEST(UeventParserTest, RefusesRecordedMalformedMessages) {
  EXPECT_NE(ParseError(Corpus("malformed_01_truncated")).find("NUL-terminated"), std::string::npos);
  EXPECT_NE(ParseError(Corpus("malformed_02_libudev")).find("libudev"), std::string::npos);
  std::string bad_product = ParseError(Corpus("malformed_03_bad_product"));
  EXPECT_NE(bad_product.find("PRODUCT '781/zz/\\xff\\xfe'"), std::string::npos) << bad_product;
  EXPECT_NE(ParseError(Corpus("malformed_04_no_at")).find("no '@'"), std::string::npos);
}

TEST(UeventParserTest, RefusesMalformedMessagesWithClearErrors) {
  const std::vector<std::string> base = {"ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=usb",
                                         "SEQNUM=7"};
  ASSERT_EQ(ParseError(Message("add@/devices/x", base)), "(accepted)");
  auto with = [&](std::vector<std::string> extra) {
    auto fields = base;
    fields.insert(fields.end(), extra.begin(), extra.end());
    return Message("add@/devices/x", fields);
  };
  struct Case {
    std::string datagram;
    std::string error;
  };
  std::vector<Case> cases = {
      {"", "uevent: empty message"},
      {std::string(kMaxUeventBytes + 1, 'a'), "exceeds"},
      {Message("ADD@/devices/x", base), "lower-case"},
      {Message("add@devices/x", base), "must start with '/'"},
      {Message("@/devices/x", base), "1-16 letters"},
      {Message("add@/devices/../../etc", base), "'..' component"},
      {Message("add@/devices//x", base), "empty, '.' or '..'"},
      {Message("add@/devices/x/", base), "empty, '.' or '..'"},
      {Message("add@/devices/x", {"ACTION=add", "DEVPATH=/devices/y", "SUBSYSTEM=usb", "SEQNUM=7"}),
       "DEVPATH does not repeat"},
      {Message("add@/devices/x",
               {"ACTION=remove", "DEVPATH=/devices/x", "SUBSYSTEM=usb", "SEQNUM=7"}),
       "ACTION does not repeat"},
      {Message("add@/devices/x", {"ACTION=add", "DEVPATH=/devices/x", "SEQNUM=7"}), "no SUBSYSTEM"},
      {Message("add@/devices/x", {"ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=usb"}),
       "no SEQNUM"},
      {with({"SEQNUM=8"}), "SEQNUM appears twice"},
      {with({""}), "is empty"},
      {with({"NOEQUALS"}), "has no '='"},
      {with({"BAD-KEY=1"}), "is not [A-Za-z0-9_]"},
      {with({"=1"}), "key must be 1-64"},
      {with({"INTERFACE=256/0/0"}), "INTERFACE '256/0/0'"},
      {with({"INTERFACE=8/6"}), "INTERFACE"},
      {with({"PRODUCT=10000/1/1"}), "PRODUCT"},
      {with({"PRODUCT=1/2/3/4"}), "PRODUCT"},
      {with({"BUSNUM=-1"}), "BUSNUM"},
      {with({"DEVNUM=abc"}), "DEVNUM"},
      {Message("add@/devices/x", {"ACTION=add", "DEVPATH=/devices/x", "SUBSYSTEM=usb",
                                  "SEQNUM=99999999999999999999"}),
       "SEQNUM"},
  };
  std::vector<std::string> many = base;
  for (size_t i = 0; i < kMaxUeventFields; ++i) many.push_back("K" + std::to_string(i) + "=v");
  cases.push_back({Message("add@/devices/x", many), "more than 128 fields"});
  for (const auto& c : cases) {
    std::string error = ParseError(c.datagram);
    EXPECT_NE(error.find(c.error), std::string::npos)
        << "expected '" << c.error << "', got '" << error << "'";
    EXPECT_EQ(error.rfind("uevent: ", 0), 0u) << error;
  }
}

TEST(UeventParserTest, NeverCrashesOnTruncationsAndBitFlipsOfRecordedMessages) {
  for (const char* name : {"storage_02_usb_interface_add", "phone_01_usb_device_add"}) {
    std::string good = Corpus(name);
    for (size_t len = 0; len < good.size(); ++len) {
      (void)ParseUevent(std::string_view(good).substr(0, len)).ok();
    }
    for (size_t i = 0; i < good.size(); ++i) {
      for (char flip : {'\0', '=', '@', '/', '\xff'}) {
        std::string mutated = good;
        mutated[i] = flip;
        (void)ParseUevent(mutated).ok();
      }
    }
  }
}

// ---- A fake sysfs tree --------------------------------------------------------------------

void Write(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  ASSERT_TRUE(testing::WriteFile(path, content).ok()) << path;
}

struct FakeDevice {
  std::string devpath;  // "/devices/.../1-2"
  std::string vid, pid;
  std::string serial, manufacturer, product;   // "" = attribute absent
  std::vector<std::string> interface_classes;  // "08", "ff"
};

void AddDevice(const std::string& root, const FakeDevice& d) {
  std::string dir = root + d.devpath;
  std::string bus_path = UsbBusPath(d.devpath);
  Write(dir + "/uevent",
        "MAJOR=189\nMINOR=4\nDEVNAME=bus/usb/001/005\nDEVTYPE=usb_device\n"
        "DRIVER=usb\nPRODUCT=" +
            d.vid + "/" + d.pid + "/100\nTYPE=0/0/0\nBUSNUM=001\nDEVNUM=005\n");
  Write(dir + "/idVendor", d.vid + "\n");
  Write(dir + "/idProduct", d.pid + "\n");
  if (!d.serial.empty()) Write(dir + "/serial", d.serial + "\n");
  if (!d.manufacturer.empty()) Write(dir + "/manufacturer", d.manufacturer + "\n");
  if (!d.product.empty()) Write(dir + "/product", d.product + "\n");
  for (size_t i = 0; i < d.interface_classes.size(); ++i) {
    std::string intf = (fs::path(dir) / (bus_path + ":1." + std::to_string(i))).string();
    Write(intf + "/bInterfaceClass", d.interface_classes[i] + "\n");
    Write(intf + "/uevent", "DEVTYPE=usb_interface\nINTERFACE=" +
                                std::to_string(std::stoul(d.interface_classes[i], nullptr, 16)) +
                                "/0/0\n");
    fs::create_directories(root + "/bus/usb/devices");
    fs::create_symlink(fs::relative(intf, root + "/bus/usb/devices"),
                       root + "/bus/usb/devices/" + fs::path(intf).filename().string());
  }
  fs::create_directories(root + "/bus/usb/devices");
  fs::create_symlink(fs::relative(dir, root + "/bus/usb/devices"),
                     root + "/bus/usb/devices/" + bus_path);
}

FakeDevice Stick() {
  return {kStick, "0781", "5581", "4C530001230815117331", "SanDisk", "Cruzer Blade", {"08"}};
}

void AddRootHub(const std::string& root) {
  AddDevice(root, {kHub,
                   "1d6b",
                   "0002",
                   "0000:00:14.0",
                   "Linux 6.1.0 xhci-hcd",
                   "xHCI Host Controller",
                   {"09"}});
}

TEST(UsbDeviceTest, ReadsDeviceFactsFromSysfs) {
  testing::TempDir dir;
  AddDevice(dir.path(), Stick());
  Write(dir.path() + std::string(kStick) + "/1-2:1.1/bInterfaceClass", "ff\n");
  SysfsReadStats stats;
  UsbEvent usb = DescribeUsbDevice(dir.path(), kStick, nullptr, &stats);
  EXPECT_EQ(usb.action(), custos::v1::USB_ACTION_UNSPECIFIED);
  EXPECT_EQ(usb.vendor_id(), 0x0781u);
  EXPECT_EQ(usb.product_id(), 0x5581u);
  EXPECT_EQ(usb.serial(), "4C530001230815117331");
  EXPECT_EQ(usb.manufacturer(), "SanDisk");
  EXPECT_EQ(usb.product(), "Cruzer Blade");
  ASSERT_EQ(usb.interface_classes_size(), 2);
  EXPECT_EQ(usb.interface_classes(0), 8u);
  EXPECT_EQ(usb.interface_classes(1), 255u);
  EXPECT_EQ(usb.bus_path(), "1-2");
  EXPECT_EQ(usb.fingerprint(), UsbFingerprint(0x0781, 0x5581, "4C530001230815117331", "1-2"));
  EXPECT_EQ(usb.fingerprint().size(), 32u);
  EXPECT_EQ(stats.unreadable, 0u);
}

TEST(UsbDeviceTest, FingerprintFollowsSerialAcrossPortsAndPortWithoutSerial) {
  EXPECT_EQ(UsbFingerprint(0x781, 0x5581, "ABC", "1-2"),
            UsbFingerprint(0x781, 0x5581, "ABC", "2-1"));
  EXPECT_NE(UsbFingerprint(0x781, 0x5581, "ABC", "1-2"),
            UsbFingerprint(0x781, 0x5581, "ABD", "1-2"));
  EXPECT_NE(UsbFingerprint(0x781, 0x5581, "ABC", "1-2"),
            UsbFingerprint(0x781, 0x5582, "ABC", "1-2"));
  EXPECT_NE(UsbFingerprint(0x781, 0x5581, "", "1-2"), UsbFingerprint(0x781, 0x5581, "", "1-3"));
  EXPECT_EQ(UsbFingerprint(0x781, 0x5581, "", "1-2"), UsbFingerprint(0x781, 0x5581, "", "1-2"));
  EXPECT_EQ(UsbBusPath("/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.1"), "1-4.1");
  EXPECT_TRUE(IsUsbRootHub(kHub));
  EXPECT_FALSE(IsUsbRootHub(kStick));
}

TEST(UsbDeviceTest, UnreadableOrInvalidAttributesLeaveFieldsEmptyAndAreCounted) {
  testing::TempDir dir;
  FakeDevice d = Stick();
  d.serial = "";
  d.product = "Stick\xff\xfe";
  AddDevice(dir.path(), d);
  // A directory where the serial file should be: open succeeds, read fails (EISDIR).
  fs::create_directories(dir.path() + kStick + "/serial");
  Write(dir.path() + kStick + "/1-2:1.0/bInterfaceClass", "zz\n");  // not hex: ignored
  SysfsReadStats stats;
  UsbEvent usb = DescribeUsbDevice(dir.path(), kStick, nullptr, &stats);
  EXPECT_EQ(usb.serial(), "");
  EXPECT_EQ(stats.unreadable, 1u);
  EXPECT_EQ(usb.product(), "Stick\\xff\\xfe");
  EXPECT_EQ(usb.interface_classes_size(), 0);
  EXPECT_EQ(usb.fingerprint(), UsbFingerprint(0x0781, 0x5581, "", "1-2"));

  // A device whose node is gone entirely: ids from the uevent, nothing counted as unreadable.
  SysfsReadStats gone_stats;
  Uevent uevent = MustParse("phone_01_usb_device_add");
  UsbEvent gone = DescribeUsbDevice(dir.path(), kPhone, &uevent, &gone_stats);
  EXPECT_EQ(gone.vendor_id(), 0x18d1u);
  EXPECT_EQ(gone.product_id(), 0x4ee2u);
  EXPECT_EQ(gone.bus_path(), "1-4.1");
  EXPECT_EQ(gone_stats.unreadable, 0u);
}

// ---- The source on a fake sysfs tree ----------------------------------------------------------

std::unique_ptr<UsbSource> FakeSource(const std::string& root, Clock* clock, bool root_hubs = false,
                                      std::string mountinfo = "") {
  UsbSourceOptions options;
  options.sysfs_root = root;
  options.mountinfo_path = std::move(mountinfo);
  options.listen = false;
  options.report_root_hubs = root_hubs;
  return std::make_unique<UsbSource>(options, clock);
}

TEST(UsbSourceTest, ReportsDevicesPresentAtStartAsAdded) {
  testing::TempDir dir;
  AddRootHub(dir.path());
  AddDevice(dir.path(), Stick());
  AddDevice(dir.path(), {kPhone, "18d1", "4ee2", "", "Google", "Pixel 7", {"06", "ff"}});
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  auto events = sink.Take();
  ASSERT_EQ(events.size(), 2u);  // the root hub and the interfaces are not devices to report
  std::map<std::string, UsbEvent> by_bus;
  for (const auto& e : events) {
    ASSERT_TRUE(e.has_usb());
    EXPECT_EQ(e.time_ns(), clock.NowUnixNs());
    EXPECT_EQ(e.usb().action(), custos::v1::USB_ACTION_ADDED);
    by_bus[e.usb().bus_path()] = e.usb();
  }
  EXPECT_EQ(by_bus["1-2"].serial(), "4C530001230815117331");
  EXPECT_EQ(by_bus["1-2"].product(), "Cruzer Blade");
  ASSERT_EQ(by_bus["1-4.1"].interface_classes_size(), 2);
  EXPECT_EQ(by_bus["1-4.1"].interface_classes(0), 6u);
  EXPECT_EQ(by_bus["1-4.1"].interface_classes(1), 255u);
  EXPECT_EQ(source->Health().mechanism, "sysfs-enumeration");
  EXPECT_EQ(source->Health().events, 2u);
  EXPECT_EQ(source->Health().level, custos::v1::HEALTH_LEVEL_OK);
  source->Stop();
  source->Stop();  // idempotent

  RecordingSink with_hubs;
  auto hubs = FakeSource(dir.path(), &clock, /*root_hubs=*/true);
  ASSERT_TRUE(hubs->Start(&with_hubs).ok());
  EXPECT_EQ(with_hubs.Take().size(), 3u);
}

TEST(UsbSourceTest, NoUsbBusIsNotAnError) {
  testing::TempDir dir;
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  EXPECT_TRUE(sink.Take().empty());
}

TEST(UsbSourceTest, RecordedStorageStickIsAddedAtBindAndRemovedWithItsFacts) {
  testing::TempDir dir;
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.Take().empty());

  AddDevice(dir.path(), Stick());
  source->ProcessKernelMessage(Corpus("storage_01_usb_device_add"));
  source->ProcessKernelMessage(Corpus("storage_02_usb_interface_add"));
  source->ProcessKernelMessage(Corpus("storage_03_scsi_host_add"));
  source->ProcessKernelMessage(Corpus("storage_04_usb_interface_bind"));
  EXPECT_TRUE(sink.Take().empty()) << "ADDED waits for the device's bind";
  source->ProcessKernelMessage(Corpus("storage_05_usb_device_bind"));
  auto added = sink.Take();
  ASSERT_EQ(added.size(), 1u);
  const UsbEvent& a = added[0].usb();
  EXPECT_EQ(a.action(), custos::v1::USB_ACTION_ADDED);
  EXPECT_EQ(a.vendor_id(), 0x0781u);
  EXPECT_EQ(a.serial(), "4C530001230815117331");
  EXPECT_EQ(a.manufacturer(), "SanDisk");
  ASSERT_EQ(a.interface_classes_size(), 1);
  EXPECT_EQ(a.interface_classes(0), 8u);
  EXPECT_EQ(a.bus_path(), "1-2");

  for (const char* name :
       {"storage_06_scsi_device_add", "storage_07_block_sdb_add", "storage_08_block_sdb1_add"}) {
    source->ProcessKernelMessage(Corpus(name));
  }
  EXPECT_TRUE(sink.Take().empty());

  fs::remove_all(dir.path() + kStick);  // the kernel removes the node before "remove"
  source->ProcessKernelMessage(Corpus("storage_09_usb_device_remove"));
  auto removed = sink.Take();
  ASSERT_EQ(removed.size(), 1u);
  UsbEvent r = removed[0].usb();
  EXPECT_EQ(r.action(), custos::v1::USB_ACTION_REMOVED);
  r.set_action(custos::v1::USB_ACTION_ADDED);
  EXPECT_EQ(r.SerializeAsString(), a.SerializeAsString()) << "REMOVED carries the ADDED facts";
  EXPECT_EQ(source->kernel_messages(), 9u);
}

TEST(UsbSourceTest, RecordedPhoneWithoutSysfsNodeUsesInterfaceMessages) {
  testing::TempDir dir;
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  for (const char* name : {"phone_01_usb_device_add", "phone_02_usb_interface_mtp_add",
                           "phone_03_usb_interface_adb_add", "phone_04_usb_device_bind"}) {
    source->ProcessKernelMessage(Corpus(name));
  }
  auto events = sink.Take();
  ASSERT_EQ(events.size(), 1u);
  const UsbEvent a = events[0].usb();
  EXPECT_EQ(a.vendor_id(), 0x18d1u);
  EXPECT_EQ(a.product_id(), 0x4ee2u);
  ASSERT_EQ(a.interface_classes_size(), 2);
  EXPECT_EQ(a.interface_classes(0), 6u);    // MTP (still image)
  EXPECT_EQ(a.interface_classes(1), 255u);  // vendor specific (adb)
  EXPECT_EQ(a.fingerprint(), UsbFingerprint(0x18d1, 0x4ee2, "", "1-4.1"));
  source->ProcessKernelMessage(Corpus("phone_05_usb_device_remove"));
  events = sink.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].usb().action(), custos::v1::USB_ACTION_REMOVED);
  EXPECT_EQ(events[0].usb().fingerprint(), a.fingerprint());
}

TEST(UsbSourceTest, UnboundKeyboardIsAddedAfterBindWaitOrAtStop) {
  testing::TempDir dir;
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  source->ProcessKernelMessage(Corpus("keyboard_01_usb_device_add"));
  source->ProcessKernelMessage(Corpus("keyboard_02_usb_interface_add"));
  EXPECT_TRUE(sink.Take().empty());
  clock.Advance(std::chrono::seconds(3));
  source->ProcessKernelMessage(Corpus("keyboard_03_usb_interface_add"));
  auto events = sink.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].usb().vendor_id(), 0x046du);
  ASSERT_GE(events[0].usb().interface_classes_size(), 1);
  EXPECT_EQ(events[0].usb().interface_classes(0), 3u);
  source->ProcessKernelMessage(Corpus("keyboard_04_usb_device_bind"));  // already reported
  EXPECT_TRUE(sink.Take().empty());

  auto second = FakeSource(dir.path(), &clock);
  RecordingSink sink2;
  ASSERT_TRUE(second->Start(&sink2).ok());
  second->ProcessKernelMessage(Corpus("phone_01_usb_device_add"));
  second->Stop();
  EXPECT_EQ(sink2.Take().size(), 1u) << "a pending device is reported at Stop";
}

TEST(UsbSourceTest, AddForDeviceSeenAtStartIsNotReportedTwice) {
  testing::TempDir dir;
  AddDevice(dir.path(), Stick());
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  EXPECT_EQ(sink.Take().size(), 1u);
  source->ProcessKernelMessage(Corpus("storage_01_usb_device_add"));
  source->ProcessKernelMessage(Corpus("storage_05_usb_device_bind"));
  EXPECT_TRUE(sink.Take().empty());
}

TEST(UsbSourceTest, OverflowReportsLossAndDevicesThatCameOrWentMeanwhile) {
  testing::TempDir dir;
  AddDevice(dir.path(), Stick());
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_EQ(sink.Take().size(), 1u);
  // While the socket overflowed: the stick left and a phone arrived.
  fs::remove_all(dir.path() + kStick);
  fs::remove(dir.path() + "/bus/usb/devices/1-2");
  AddDevice(dir.path(), {kPhone, "18d1", "4ee2", "", "Google", "Pixel 7", {"06"}});
  source->ProcessOverflow();
  auto events = sink.Take();
  ASSERT_EQ(events.size(), 3u);
  ASSERT_TRUE(events[0].has_events_lost());
  EXPECT_EQ(events[0].events_lost().count(), 0u);  // unknown
  EXPECT_NE(events[0].events_lost().reason().find("ENOBUFS"), std::string::npos);
  ASSERT_TRUE(events[1].has_usb());
  EXPECT_EQ(events[1].usb().action(), custos::v1::USB_ACTION_ADDED);
  EXPECT_EQ(events[1].usb().bus_path(), "1-4.1");
  ASSERT_TRUE(events[2].has_usb());
  EXPECT_EQ(events[2].usb().action(), custos::v1::USB_ACTION_REMOVED);
  EXPECT_EQ(events[2].usb().serial(), "4C530001230815117331");
  source->ProcessOverflow();  // nothing changed since: only the loss
  EXPECT_EQ(sink.Take().size(), 1u);
}

TEST(MountinfoTest, ParsesMountsWithEscapesAndOptionalFieldsAndSkipsMalformedLines) {
  Mountinfo info = ParseMountinfo(
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "36 35 8:17 / /media/alice/MY\\040STICK rw,nosuid shared:1 master:2 - vfat /dev/sdb1 rw\n"
      "garbage line\n"
      "37 35 8:1 / / rw - ext4\n"  // no source
      "38 35 x:1 / /mnt rw - ext4 /dev/sda1 rw\n"
      "39 35 8:2 /sub\\134dir /mnt/a\\011b rw - ext4 /dev/sda2 rw");
  ASSERT_EQ(info.mounts.size(), 3u);
  EXPECT_EQ(info.malformed_lines, 3u);
  EXPECT_EQ(info.mounts[0].major, 0u);
  EXPECT_EQ(info.mounts[0].mount_point, "/proc");
  EXPECT_EQ(info.mounts[1].major, 8u);
  EXPECT_EQ(info.mounts[1].minor, 17u);
  EXPECT_EQ(info.mounts[1].mount_point, "/media/alice/MY STICK");
  EXPECT_EQ(info.mounts[1].fs_type, "vfat");
  EXPECT_EQ(info.mounts[1].source, "/dev/sdb1");
  EXPECT_EQ(info.mounts[2].root, "/sub\\dir");
  EXPECT_EQ(info.mounts[2].mount_point, "/mnt/a\tb");
  EXPECT_EQ(UnescapeMountField("a\\04"), "a\\04");  // truncated escape copied as is
}

TEST(UsbSourceTest, MountsOfUsbVolumesAreReportedWithDeviceFacts) {
  testing::TempDir dir;
  std::string sys = dir.Sub("sys");
  AddDevice(sys, Stick());
  std::string sdb1 = std::string(kStick) + "/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1";
  std::string sda1 =
      "/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1";
  Write(sys + sdb1 + "/dev", "8:17\n");
  Write(sys + sda1 + "/dev", "8:1\n");
  fs::create_directories(sys + "/dev/block");
  fs::create_symlink("../.." + sdb1, sys + "/dev/block/8:17");
  fs::create_symlink("../.." + sda1, sys + "/dev/block/8:1");
  std::string mountinfo = dir.Sub("mountinfo");
  const std::string base =
      "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
      "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n";
  Write(mountinfo, base +
                       "36 35 8:17 / /media/alice/MY\\040STICK rw,nosuid shared:2 - vfat "
                       "/dev/sdb1 rw,uid=1000\n");
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(sys, &clock, false, mountinfo);
  ASSERT_TRUE(source->Start(&sink).ok());
  auto events = sink.Take();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].usb().action(), custos::v1::USB_ACTION_ADDED);
  const UsbEvent mounted = events[1].usb();
  EXPECT_EQ(mounted.action(), custos::v1::USB_ACTION_MOUNTED);
  EXPECT_EQ(mounted.mount_point(), "/media/alice/MY STICK");
  EXPECT_EQ(mounted.fs_type(), "vfat");
  EXPECT_EQ(mounted.block_device(), "/dev/sdb1");
  EXPECT_EQ(mounted.serial(), "4C530001230815117331");
  EXPECT_EQ(mounted.fingerprint(), events[0].usb().fingerprint());

  source->ProcessMountsChanged();  // nothing changed
  EXPECT_TRUE(sink.Take().empty());
  Write(mountinfo, base);
  source->ProcessMountsChanged();
  events = sink.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].usb().action(), custos::v1::USB_ACTION_UNMOUNTED);
  EXPECT_EQ(events[0].usb().mount_point(), "/media/alice/MY STICK");
  EXPECT_EQ(events[0].usb().block_device(), "/dev/sdb1");
}

TEST(UsbSourceTest, EventsRefusedBySinkAreCountedAndReportedAsLost) {
  testing::TempDir dir;
  AddDevice(dir.path(), Stick());
  FakeClock clock;
  RecordingSink sink;
  sink.Refuse(1);
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  EXPECT_TRUE(sink.Take().empty());
  EXPECT_EQ(source->Health().lost, 1u);
  source->ProcessKernelMessage(Corpus("phone_01_usb_device_add"));
  source->ProcessKernelMessage(Corpus("phone_04_usb_device_bind"));
  auto events = sink.Take();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_usb());
  ASSERT_TRUE(events[1].has_events_lost());
  EXPECT_EQ(events[1].events_lost().source(), "usb");
  EXPECT_EQ(events[1].events_lost().count(), 1u);
}

TEST(UsbSourceTest, MalformedKernelMessagesAreCountedNotFatal) {
  testing::TempDir dir;
  FakeClock clock;
  RecordingSink sink;
  auto source = FakeSource(dir.path(), &clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  for (const char* name : {"malformed_01_truncated", "malformed_02_libudev",
                           "malformed_03_bad_product", "malformed_04_no_at"}) {
    source->ProcessKernelMessage(Corpus(name));
  }
  EXPECT_EQ(source->rejected_messages(), 4u);
  EXPECT_EQ(source->kernel_messages(), 0u);
  EXPECT_TRUE(sink.Take().empty());
}

TEST(UsbSourceTest, CreateRejectsBadOptions) {
  UsbSourceOptions options;
  options.sysfs_root = "";
  EXPECT_FALSE(CreateUsbSource(options, nullptr).ok());
  auto ok = CreateUsbSource(UsbSourceOptions{}, nullptr);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->name(), "usb");
}

// ---- Removable volumes, copy-to-removable, device policy ------------------------------------

void LinkBlock(const std::string& sys, const std::string& devpath, const std::string& dev) {
  Write(sys + devpath + "/dev", dev + "\n");
  fs::create_directories(sys + "/dev/block");
  fs::create_symlink("../.." + devpath, sys + "/dev/block/" + dev);
}

std::string VolumeSeed(const std::string& name) {
  auto data = testing::ReadFile(testing::SourcePath("tests/fuzz/corpus/volume/" + name));
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  return data.ok() ? *data : std::string();
}

struct RemovableTree {
  testing::TempDir dir;
  std::string sys = dir.Sub("sys");
  std::string dev = dir.Sub("dev");
  std::string mountinfo = dir.Sub("mountinfo");
  static constexpr char kCard[] = "/devices/platform/soc/fe320000.mmc/mmc_host/mmc0/mmc0:aaaa";
  static constexpr char kCid[] = "035344534331364780a1b2c3d4014d00";
  RemovableTree() {
    AddDevice(sys, Stick());
    LinkBlock(sys, std::string(kStick) + "/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb/sdb1",
              "8:17");
    Write(sys + kStick + "/1-2:1.0/host6/target6:0:0/6:0:0:0/block/sdb/removable", "1\n");
    LinkBlock(sys, "/devices/pci0000:00/0000:00:17.0/ata1/host0/block/sda/sda1", "8:1");
    Write(sys + "/devices/pci0000:00/0000:00:17.0/ata1/host0/block/sda/removable", "0\n");
    Write(sys + kCard + "/cid", std::string(kCid) + "\n");
    Write(sys + kCard + "/block/mmcblk0/removable", "1\n");
    LinkBlock(sys, std::string(kCard) + "/block/mmcblk0/mmcblk0p1", "179:1");
    Write(sys + "/devices/virtual/block/loop0/removable", "0\n");
    LinkBlock(sys, "/devices/virtual/block/loop0", "7:0");
    Write(dev + "/sdb1", VolumeSeed("fat32_labelled"));
    Write(dev + "/loop0", VolumeSeed("ext4_labelled"));
    Write(mountinfo,
          "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
          "36 27 8:17 / /media/alice/MY\\040STICK rw,nosuid shared:2 - vfat /dev/sdb1 rw\n"
          "37 27 179:1 / /media/alice/SD rw shared:3 - exfat /dev/mmcblk0p1 rw\n"
          "38 27 7:0 / /srv/backup rw shared:4 - ext4 /dev/loop0 rw\n"
          "39 27 0:77 / /mnt/share rw shared:5 - nfs4 server:/export rw\n");
  }
  std::unique_ptr<UsbSource> Source(Clock* clock, UsbPolicy policy = {}) {
    UsbSourceOptions options;
    options.sysfs_root = sys;
    options.dev_root = dev;
    options.mountinfo_path = mountinfo;
    options.listen = false;
    options.removable_mount_points = {"/srv/backup/", "/mnt/share"};
    options.policy = std::move(policy);
    return std::make_unique<UsbSource>(options, clock);
  }
};

TEST(UsbSourceTest, RemovableVolumesAreUsbSdCardsAndDeclaredMountPointsWithLabels) {
  RemovableTree tree;
  FakeClock clock;
  RecordingSink sink;
  auto source = tree.Source(&clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  std::map<std::string, UsbEvent> mounted;
  std::string stick_fingerprint;
  for (const auto& e : sink.Take()) {
    ASSERT_TRUE(e.has_usb());
    if (e.usb().action() == custos::v1::USB_ACTION_ADDED) stick_fingerprint = e.usb().fingerprint();
    if (e.usb().action() == custos::v1::USB_ACTION_MOUNTED)
      mounted[e.usb().mount_point()] = e.usb();
  }
  ASSERT_EQ(mounted.size(), 4u) << "the internal disk (removable=0) is not a removable volume";
  const UsbEvent& stick = mounted["/media/alice/MY STICK"];
  EXPECT_EQ(stick.label(), "MY STICK") << "from the FAT boot sector";
  EXPECT_EQ(stick.fingerprint(), stick_fingerprint);
  EXPECT_EQ(stick.serial(), "4C530001230815117331");
  const UsbEvent& sd = mounted["/media/alice/SD"];
  EXPECT_EQ(sd.block_device(), "/dev/mmcblk0p1");
  EXPECT_EQ(sd.vendor_id(), 0u);
  EXPECT_EQ(sd.fingerprint(), VolumeFingerprint("mmc-cid", RemovableTree::kCid));
  EXPECT_EQ(sd.label(), "") << "no device node in the fake /dev: unreadable, not an error";
  const UsbEvent& backup = mounted["/srv/backup"];
  EXPECT_EQ(backup.block_device(), "/dev/loop0");
  EXPECT_EQ(backup.label(), "backup");
  EXPECT_EQ(backup.fs_type(), "ext4");
  EXPECT_EQ(backup.fingerprint(),
            VolumeFingerprint("uuid", "0b1e2c3d-4e5f-4061-8273-94a5b6c7d8e9"));
  const UsbEvent& share = mounted["/mnt/share"];
  EXPECT_EQ(share.block_device(), "");
  EXPECT_EQ(share.fingerprint(), VolumeFingerprint("source", "server:/export"));

  // Unchanged volumes are not reported (or read) again; the ones gone are UNMOUNTED.
  Write(tree.mountinfo,
        "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 27 7:0 / /srv/backup rw shared:4 - ext4 /dev/loop0 rw\n");
  source->ProcessMountsChanged();
  std::set<std::string> unmounted;
  for (const auto& e : sink.Take()) {
    EXPECT_EQ(e.usb().action(), custos::v1::USB_ACTION_UNMOUNTED);
    unmounted.insert(e.usb().mount_point());
  }
  EXPECT_EQ(unmounted,
            (std::set<std::string>{"/media/alice/MY STICK", "/media/alice/SD", "/mnt/share"}));
  source->Stop();

  // A udev by-label link wins over the filesystem header.
  fs::create_directories(tree.dev + "/disk/by-label");
  fs::create_symlink("../../loop0", tree.dev + "/disk/by-label/Backup\\x20Disk");
  RecordingSink again;
  auto restarted = tree.Source(&clock);
  ASSERT_TRUE(restarted->Start(&again).ok());
  auto events = again.Take();
  ASSERT_EQ(events.size(), 2u);  // the stick's ADDED, the backup volume's MOUNTED
  EXPECT_EQ(events[1].usb().label(), "Backup Disk");
}

TEST(UsbSourceTest, FilesWrittenOnRemovableVolumesAreCopyEventsWithTheDeviceFingerprint) {
  RemovableTree tree;
  FakeClock clock;
  RecordingSink sink;
  auto source = tree.Source(&clock);
  ASSERT_TRUE(source->Start(&sink).ok());
  std::map<std::string, std::string> fingerprint;
  for (const auto& e : sink.Take()) {
    if (e.usb().action() == custos::v1::USB_ACTION_MOUNTED) {
      fingerprint[e.usb().mount_point()] = e.usb().fingerprint();
    }
  }
  source->ProcessRemovableWrite("/media/alice/MY STICK/dir/plan\xff.xlsx", 4242, 1000, 0100640);
  source->ProcessRemovableWrite("/srv/backup/db.dump", 7, 5, 0100600);
  source->ProcessRemovableWrite("/home/alice/not-removable.txt", 7, 5, 0100600);
  auto events = sink.Take();
  ASSERT_EQ(events.size(), 2u);
  const auto& copy = events[0];
  ASSERT_TRUE(copy.has_file());
  EXPECT_EQ(copy.file().op(), custos::v1::FILE_OP_COPY_TO_REMOVABLE);
  EXPECT_EQ(copy.file().path(), "/media/alice/MY STICK/dir/plan\\xff.xlsx");
  EXPECT_EQ(copy.file().size(), 1000u);
  EXPECT_EQ(copy.file().mode(), 0640u);
  EXPECT_EQ(copy.file().device_fingerprint(), fingerprint["/media/alice/MY STICK"]);
  EXPECT_EQ(copy.actor().pid(), 4242u);
  EXPECT_EQ(copy.time_ns(), clock.NowUnixNs());
  EXPECT_EQ(events[1].file().device_fingerprint(), fingerprint["/srv/backup"]);
  EXPECT_EQ(source->removable_writes(), 2u);
}

TEST(UsbSourceTest, PolicyObserveModeOnlyReportsWhatWouldBeBlocked) {
  RemovableTree tree;
  Write(tree.sys + kStick + "/authorized", "1\n");
  UsbPolicy policy;
  policy.block = {*ParseUsbRule("class=08")};
  FakeClock clock;
  RecordingSink sink;
  auto source = tree.Source(&clock, policy);
  ASSERT_TRUE(source->Start(&sink).ok());
  bool would_block = false;
  for (const auto& e : sink.Take()) {
    if (e.has_usb()) {
      EXPECT_NE(e.usb().action(), custos::v1::USB_ACTION_BLOCKED);
    }
    if (e.has_health()) {
      EXPECT_EQ(e.health().component(), "source.usb");
      EXPECT_EQ(e.health().facts().at("policy_action"), "would_block");
      EXPECT_EQ(e.health().facts().at("rule"), "class=08");
      EXPECT_EQ(e.health().facts().at("mode"), "observe");
      EXPECT_EQ(e.health().facts().at("vendor_id"), "0781");
      EXPECT_EQ(e.health().facts().at("product_id"), "5581");
      would_block = true;
    }
  }
  EXPECT_TRUE(would_block);
  EXPECT_EQ(*testing::ReadFile(tree.sys + kStick + "/authorized"), "1\n");
}

TEST(UsbSourceTest, PolicyEnforceModeDeauthorisesABlockedDeviceAndReportsBlocked) {
  RemovableTree tree;
  Write(tree.sys + kStick + "/authorized", "1\n");
  AddDevice(tree.sys, {kPhone, "18d1", "4ee2", "", "Google", "Pixel 7", {"06", "ff"}});
  UsbPolicy policy;
  policy.mode = UsbPolicyMode::kEnforce;
  policy.block = {*ParseUsbRule("class=08"), *ParseUsbRule("vendor=18d1")};
  FakeClock clock;
  RecordingSink sink;
  auto source = tree.Source(&clock, policy);
  ASSERT_TRUE(source->Start(&sink).ok());
  std::vector<std::string> seen;
  std::map<std::string, std::string> stick_facts, phone_facts;
  for (const auto& e : sink.Take()) {
    if (e.has_usb()) {
      seen.push_back(custos::v1::UsbAction_Name(e.usb().action()) + " " + e.usb().bus_path());
    } else if (e.has_health()) {
      auto& facts = e.health().facts().at("bus_path") == "1-2" ? stick_facts : phone_facts;
      for (const auto& [k, v] : e.health().facts()) facts[k] = v;
    }
  }
  EXPECT_EQ(*testing::ReadFile(tree.sys + kStick + "/authorized"), "0\n");  // "1" overwritten
  auto has = [&](const std::string& s) {
    return std::find(seen.begin(), seen.end(), s) != seen.end();
  };
  EXPECT_TRUE(has("USB_ACTION_ADDED 1-2"));
  EXPECT_TRUE(has("USB_ACTION_BLOCKED 1-2"));
  EXPECT_EQ(stick_facts["policy_action"], "blocked");
  EXPECT_EQ(stick_facts["rule"], "class=08");
  // The phone's node has no "authorized" file in the fake tree: the failure is reported.
  EXPECT_FALSE(has("USB_ACTION_BLOCKED 1-4.1"));
  EXPECT_EQ(phone_facts["policy_action"], "block_failed");
  EXPECT_EQ(phone_facts["rule"], "vendor=18d1");
  EXPECT_NE(phone_facts["error"].find("No such file"), std::string::npos) << phone_facts["error"];
}

TEST(UsbSourceTest, CreateRejectsRelativeRemovableMountPoints) {
  UsbSourceOptions options;
  options.removable_mount_points = {"media/stick"};
  auto created = CreateUsbSource(options, nullptr);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("not an absolute path"), std::string::npos);
}

// ---- The real kernel: NETLINK_KOBJECT_UEVENT ----------------------------------------------

// Triggers a real kernel uevent ("change" on /dev/null's device) and checks the listener got the
// kernel's message, and that a forged message from a user-space socket was refused.
TEST(UsbSourceNetlinkTest, ReceivesRealKernelUeventsAndRefusesForgedOnes) {
  const bool root = ::geteuid() == 0;
  const std::string devpath = "/devices/virtual/mem/null";
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> seen;
  UsbSourceOptions options;
  options.on_kernel_uevent = [&](const Uevent& u) {
    std::lock_guard<std::mutex> lock(mu);
    seen.insert(u.devpath);
    cv.notify_all();
  };
  options.poll_interval = std::chrono::milliseconds(50);
  UsbSource source(options, nullptr);
  RecordingSink sink;
  Status started = source.Start(&sink);
  if (!started.ok()) {
    if (root) FAIL() << "running as root but the netlink listener failed: " << started.ToString();
    GTEST_SKIP() << "not root and the machine refused the netlink listener: " << started.ToString();
  }
  EXPECT_EQ(source.Health().mechanism, "netlink-uevent");

  // A forged uevent from user space (sending to the group needs root): must be refused.
  if (root) {
    int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    sockaddr_nl dst{};
    dst.nl_family = AF_NETLINK;
    dst.nl_groups = 1;
    std::string forged = Corpus("storage_01_usb_device_add");
    ssize_t sent = ::sendto(fd, forged.data(), forged.size(), 0, reinterpret_cast<sockaddr*>(&dst),
                            sizeof(dst));
    int send_errno = errno;
    ::close(fd);
    ASSERT_EQ(sent, static_cast<ssize_t>(forged.size())) << std::strerror(send_errno);
  }

  int fd = ::open("/sys/class/mem/null/uevent", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, "change", 6) != 6) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    if (root) FAIL() << "running as root but cannot trigger a uevent: " << std::strerror(err);
    GTEST_SKIP() << "not root: cannot write /sys/class/mem/null/uevent: " << std::strerror(err);
  }
  ::close(fd);
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen.count(devpath); }))
        << "no kernel uevent for " << devpath << " within 10 s";
    EXPECT_EQ(seen.count(kStick), 0u) << "a forged user-space message was accepted";
  }
  EXPECT_GE(source.kernel_messages(), 1u);
  if (root) {
    EXPECT_GE(source.rejected_messages(), 1u);
  }
  auto before = std::chrono::steady_clock::now();
  source.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  for (const auto& e : sink.Take()) EXPECT_TRUE(e.has_usb());  // this VM may have USB devices
}

// A tiny receive buffer and a stalled reader make the kernel drop messages: the source must say
// so (EventsLost) and keep running.
TEST(UsbSourceNetlinkTest, SocketOverflowIsReportedAsEventsLost) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "not root: cannot write sysfs uevent files to flood the socket";
  }
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int calls = 0;
  UsbSourceOptions options;
  options.receive_buffer_bytes = 1;  // the kernel rounds up to its minimum (a few KiB)
  options.poll_interval = std::chrono::milliseconds(50);
  options.on_kernel_uevent = [&](const Uevent&) {
    std::unique_lock<std::mutex> lock(mu);
    ++calls;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });  // stall the reader on the first message
  };
  UsbSource source(options, nullptr);
  RecordingSink sink;
  Status started = source.Start(&sink);
  ASSERT_TRUE(started.ok()) << "running as root but the netlink listener failed: "
                            << started.ToString();
  auto trigger = [] {
    int fd = ::open("/sys/class/mem/null/uevent", O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::write(fd, "change", 6), 6) << std::strerror(errno);
    ::close(fd);
  };
  trigger();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return calls > 0; }));
  }
  for (int i = 0; i < 200; ++i) trigger();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  const bool lost =
      sink.WaitFor([](const Event& e) { return e.has_events_lost(); }, std::chrono::seconds(10))
          .has_value();
  for (const auto& e : sink.Take()) {
    if (!e.has_events_lost()) continue;
    EXPECT_EQ(e.events_lost().source(), "usb");
    EXPECT_NE(e.events_lost().reason().find("ENOBUFS"), std::string::npos);
  }
  EXPECT_TRUE(lost) << "200 uevents into a stalled minimum-size buffer produced no EventsLost";
  EXPECT_EQ(source.Health().level, custos::v1::HEALTH_LEVEL_OK) << source.Health().message;
  source.Stop();
}

// The mount table is watched with poll(POLLPRI): a real mount (tmpfs, not USB: no event) must
// wake the reader and make it re-read mountinfo.
TEST(UsbSourceNetlinkTest, RealMountTableChangeIsNoticed) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: cannot mount a tmpfs to change the mount table";
  std::mutex mu;
  std::condition_variable cv;
  int reads = 0;
  UsbSourceOptions options;
  options.poll_interval = std::chrono::milliseconds(50);
  options.on_mounts_read = [&] {
    std::lock_guard<std::mutex> lock(mu);
    ++reads;
    cv.notify_all();
  };
  UsbSource source(options, nullptr);
  RecordingSink sink;
  Status started = source.Start(&sink);
  ASSERT_TRUE(started.ok()) << "running as root but the listener failed: " << started.ToString();
  int before;
  {
    std::lock_guard<std::mutex> lock(mu);
    before = reads;  // the read at Start
  }
  testing::TempDir dir;
  ASSERT_EQ(::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=1m"), 0)
      << "running as root but mount(tmpfs) failed: " << std::strerror(errno);
  bool noticed;
  {
    std::unique_lock<std::mutex> lock(mu);
    noticed = cv.wait_for(lock, std::chrono::seconds(10), [&] { return reads > before; });
  }
  EXPECT_EQ(::umount2(dir.path().c_str(), MNT_DETACH), 0) << std::strerror(errno);
  EXPECT_TRUE(noticed) << "mounting a tmpfs did not wake the mountinfo watch within 10 s";
  source.Stop();
}

}  // namespace
}  // namespace custos::agent::usb
