// Copy-to-USB end to end inside one process: the real file source (fanotify, reads on), the real
// USB source (a loop-mounted filesystem declared removable, fanotify on the mount) and the copy
// correlator. `cp` reads a classified file and writes it onto the volume; the test expects one
// FILE_OP_COPY_TO_REMOVABLE event linked to the volume, the source path and its classification.
// Needs root (mount, fanotify) and loop devices; otherwise skipped with the reason.
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "agent/pipeline/attribution.h"
#include "agent/pipeline/copy_correlator.h"
#include "agent/sources/file/file_source.h"
#include "agent/sources/recording_sink.h"
#include "agent/sources/usb/usb_source.h"
#include "common/testing/testing.h"
#include "gtest/gtest.h"

namespace custos::agent {
namespace {

using custos::v1::Event;

using WaitingSink = RecordingSink;

bool KernelHas(const std::string& fs_type) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() >= fs_type.size() &&
        line.compare(line.size() - fs_type.size(), fs_type.size(), fs_type) == 0 &&
        (line.size() == fs_type.size() || line[line.size() - fs_type.size() - 1] == '\t')) {
      return true;
    }
  }
  return false;
}

int Shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

TEST(CopyToRemovableTest, CpOfAClassifiedFileOntoALoopMountedVolumeIsLinkedToItsSource) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: cannot loop-mount a volume or use fanotify";
  if (Shell("losetup -f") != 0) GTEST_SKIP() << "no free loop device ('losetup -f' failed)";
  // vfat is what sticks carry; kernels built without it (some containers) get ext4 instead.
  std::string mkfs;
  if (KernelHas("vfat") && Shell("command -v mkfs.vfat") == 0) {
    mkfs = "mkfs.vfat -n CUSTOS";
  } else if (KernelHas("ext4") && Shell("command -v mkfs.ext4") == 0) {
    mkfs = "mkfs.ext4 -q -L CUSTOS";
    std::printf("note: kernel has no vfat (or no mkfs.vfat): using an ext4 image\n");
  } else {
    GTEST_SKIP() << "neither vfat (+ mkfs.vfat from dosfstools) nor ext4 (+ mkfs.ext4) usable";
  }
  testing::TempDir dir;
  const std::string image = dir.Sub("stick.img");
  const std::string stick = dir.Sub("stick");
  const std::string src = dir.Sub("home");
  ASSERT_EQ(Shell("mkdir -p " + stick + " " + src), 0);
  ASSERT_EQ(Shell("truncate -s 64M " + image), 0);
  ASSERT_EQ(Shell(mkfs + " " + image), 0) << mkfs;
  if (Shell("mount -o loop " + image + " " + stick) != 0) {
    GTEST_SKIP() << "'mount -o loop' of a fresh image failed (loop devices unavailable here)";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{stick};

  const std::string secret = src + "/customers.docx";
  {
    std::ofstream out(secret);
    out << std::string(5000, 'x');
  }
  ASSERT_EQ(Shell("echo unrelated > " + src + "/notes.txt"), 0);

  WaitingSink sink;
  pipeline::ProcessAttributor attributor;
  pipeline::CopyCorrelator correlator(&sink, pipeline::CopyCorrelatorOptions{}, &attributor,
                                      RealClock());
  correlator.Start();

  file::FileSourceOptions fo;
  fo.roots = {src};
  fo.classification_rules = {{"", "docx", "confidential"}};
  fo.report_reads = true;
  auto files = file::CreateFileSource(fo, &attributor, nullptr);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  if ((*files)->Health().mechanism != "fanotify") {
    GTEST_SKIP() << "fanotify unavailable here (inotify has no pid to correlate reads with): "
                 << (*files)->Health().message;
  }
  ASSERT_TRUE((*files)->Start(&correlator).ok());

  usb::UsbSourceOptions uo;
  uo.removable_mount_points = {stick};
  uo.attributor = &attributor;
  uo.poll_interval = std::chrono::milliseconds(50);
  auto usb = usb::CreateUsbSource(uo, nullptr);
  ASSERT_TRUE(usb.ok()) << usb.status().ToString();
  ASSERT_TRUE((*usb)->Start(&correlator).ok());

  auto mounted = sink.WaitFor(
      [&](const Event& e) {
        return e.has_usb() && e.usb().action() == custos::v1::USB_ACTION_MOUNTED &&
               e.usb().mount_point() == stick;
      },
      std::chrono::seconds(10));
  ASSERT_TRUE(mounted.has_value()) << "no MOUNTED event for the declared removable mount point";
  EXPECT_EQ(mounted->usb().label(), "CUSTOS");
  EXPECT_EQ(mounted->usb().fingerprint().size(), 32u);
  EXPECT_EQ(mounted->usb().block_device().rfind("/dev/loop", 0), 0u)
      << mounted->usb().block_device();

  ASSERT_EQ(Shell("cp " + secret + " " + stick + "/"), 0);
  ASSERT_EQ(Shell("cp " + src + "/notes.txt " + stick + "/other-name.txt"), 0);
  const std::string copied = stick + "/customers.docx";
  auto copy = sink.WaitFor(
      [&](const Event& e) {
        return e.has_file() && e.file().op() == custos::v1::FILE_OP_COPY_TO_REMOVABLE &&
               e.file().path() == copied;
      },
      std::chrono::seconds(15));
  auto other = sink.WaitFor(
      [&](const Event& e) {
        return e.has_file() && e.file().op() == custos::v1::FILE_OP_COPY_TO_REMOVABLE &&
               e.file().path() == stick + "/other-name.txt";
      },
      std::chrono::seconds(15));
  (*usb)->Stop();
  (*files)->Stop();
  correlator.Stop();

  std::ostringstream all;
  for (const auto& e : sink.Events()) all << e.ShortDebugString() << "\n";
  ASSERT_TRUE(copy.has_value()) << "no FILE_OP_COPY_TO_REMOVABLE for " << copied << "; got:\n"
                                << all.str();
  EXPECT_EQ(copy->file().device_fingerprint(), mounted->usb().fingerprint());
  EXPECT_EQ(copy->file().source_path(), secret);
  ASSERT_EQ(copy->file().classifications_size(), 1) << copy->ShortDebugString();
  EXPECT_EQ(copy->file().classifications(0), "confidential");
  EXPECT_EQ(copy->file().size(), 5000u);
  if (!copy->actor().partial()) {  // attributed while cp still ran (it closes the source last)
    EXPECT_NE(copy->actor().executable().find("cp"), std::string::npos) << copy->ShortDebugString();
  }
  ASSERT_TRUE(other.has_value()) << all.str();
  EXPECT_EQ(other->file().source_path(), "") << "another base name is not linked";
  for (const auto& e : sink.Events()) {
    EXPECT_FALSE(e.has_file() && e.file().op() == custos::v1::FILE_OP_READ)
        << "reads are for correlation only: " << e.ShortDebugString();
  }
}

}  // namespace
}  // namespace custos::agent
