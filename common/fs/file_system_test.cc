#include "common/fs/file_system.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "common/testing/testing.h"

namespace custos::fs {
namespace {

TEST(PosixFileSystemTest, AppendsReadsAndReplacesAtomically) {
  testing::TempDir dir;
  FileSystem* fs = Posix();
  ASSERT_TRUE(fs->CreateDirs(dir.Sub("a/b"), 0700).ok());
  auto f = fs->OpenAppend(dir.Sub("a/b/log"), 0600);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("hello ").ok());
  ASSERT_TRUE((*f)->Append("world").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_EQ((*f)->size(), 11u);
  EXPECT_EQ(*fs->ReadFile(dir.Sub("a/b/log")), "hello world");
  ASSERT_TRUE(WriteFileAtomic(fs, dir.Sub("a/state"), "v1", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(fs, dir.Sub("a/state"), "v2", 0600).ok());
  EXPECT_EQ(*fs->ReadFile(dir.Sub("a/state")), "v2");
  EXPECT_FALSE(fs->Exists(dir.Sub("a/state.tmp")));
  struct stat st {};
  ASSERT_EQ(stat(dir.Sub("a/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto names = fs->ListDir(dir.Sub("a"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"b", "state"}));
}

TEST(PosixFileSystemTest, ReadFileReadsLargeEmptyAndSizelessFiles) {
  testing::TempDir dir;
  FileSystem* fs = Posix();
  std::string big(3 * 65536 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  ASSERT_TRUE(WriteFileAtomic(fs, dir.Sub("big"), big, 0600).ok());
  EXPECT_EQ(*fs->ReadFile(dir.Sub("big")), big);
  ASSERT_TRUE(WriteFileAtomic(fs, dir.Sub("empty"), "", 0600).ok());
  EXPECT_EQ(*fs->ReadFile(dir.Sub("empty")), "");
  // procfs reports size 0 but has content, more than the first guess of 4 KiB for maps.
  auto maps = fs->ReadFile("/proc/self/maps");
  ASSERT_TRUE(maps.ok());
  EXPECT_NE(maps->find("\n"), std::string::npos);
  auto status = fs->ReadFile("/proc/self/status");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->rfind("Name:", 0), 0u);
  EXPECT_EQ(status->back(), '\n');
}

// ReadAt means the same on both file systems: a range, short at end of file, empty past it, the
// caller's buffer reused.
void ExpectReadAtReadsRanges(FileSystem* fs, const std::string& path) {
  std::string data(300000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 % 251);
  ASSERT_TRUE(WriteFileAtomic(fs, path, data, 0600).ok());
  std::string buf;
  ASSERT_TRUE(fs->ReadAt(path, 0, 100, &buf).ok());
  EXPECT_EQ(buf, data.substr(0, 100));
  ASSERT_TRUE(fs->ReadAt(path, 70000, 200000, &buf).ok());
  EXPECT_EQ(buf, data.substr(70000, 200000));
  const size_t capacity = buf.capacity();
  ASSERT_TRUE(fs->ReadAt(path, 299990, 1000, &buf).ok());  // short at end of file
  EXPECT_EQ(buf, data.substr(299990));
  EXPECT_EQ(buf.capacity(), capacity);
  // The file's size bounds the buffer, not the request (a length read from hostile bytes).
  ASSERT_TRUE(fs->ReadAt(path, 299000, size_t{1} << 40, &buf).ok());
  EXPECT_EQ(buf, data.substr(299000));
  ASSERT_TRUE(fs->ReadAt(path, 300000, 10, &buf).ok());
  EXPECT_EQ(buf, "");
  ASSERT_TRUE(fs->ReadAt(path, 1u << 30, 10, &buf).ok());
  EXPECT_EQ(buf, "");
  Status missing = fs->ReadAt(path + ".missing", 0, 10, &buf);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find(path + ".missing"), std::string::npos);
}

TEST(PosixFileSystemTest, ReadAtReadsRanges) {
  testing::TempDir dir;
  ExpectReadAtReadsRanges(Posix(), dir.Sub("f"));
}

TEST(FaultInjectionFileSystemTest, ReadAtReadsRanges) {
  FaultInjectionFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/d", 0700).ok());
  ExpectReadAtReadsRanges(&fs, "/d/f");
}

TEST(PosixFileSystemTest, ErrorsNameTheFile) {
  auto r = Posix()->ReadFile("/nonexistent/custos/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/custos/file"), std::string::npos);
}

TEST(FaultInjectionFileSystemTest, PowerLossDropsUnsyncedDataAndNames) {
  FaultInjectionFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/spool", 0700).ok());
  auto f = fs.OpenAppend("/spool/seg1", 0600);
  ASSERT_TRUE((*f)->Append("durable").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(fs.SyncDir("/spool").ok());
  ASSERT_TRUE((*f)->Append("-lost").ok());
  auto g = fs.OpenAppend("/spool/seg2", 0600);
  ASSERT_TRUE((*g)->Append("never synced dir").ok());
  ASSERT_TRUE((*g)->Sync().ok());  // data synced, but the name was never made durable
  fs.DropUnsyncedData();
  EXPECT_EQ(*fs.ReadFile("/spool/seg1"), "durable");
  EXPECT_FALSE(fs.Exists("/spool/seg2"));
}

TEST(FaultInjectionFileSystemTest, AtomicReplaceSurvivesPowerLossAsOldOrNew) {
  FaultInjectionFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/state", 0700).ok());
  ASSERT_TRUE(WriteFileAtomic(&fs, "/state/cursor", "1", 0600).ok());
  // Crash after the temp file was written but before the directory sync.
  fs.FailNext(FaultInjectionFileSystem::Op::kSyncDir, InternalError("injected"));
  EXPECT_FALSE(WriteFileAtomic(&fs, "/state/cursor", "2", 0600).ok());
  fs.DropUnsyncedData();
  EXPECT_EQ(*fs.ReadFile("/state/cursor"), "1");
  ASSERT_TRUE(WriteFileAtomic(&fs, "/state/cursor", "3", 0600).ok());
  fs.DropUnsyncedData();
  EXPECT_EQ(*fs.ReadFile("/state/cursor"), "3");
}

TEST(FaultInjectionFileSystemTest, InjectedErrorsAreReturnedOnceAndCorruptionIsVisible) {
  FaultInjectionFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/d", 0700).ok());
  auto f = fs.OpenAppend("/d/x", 0600);
  fs.FailNext(FaultInjectionFileSystem::Op::kAppend, ResourceExhaustedError("disk full"));
  Status s = (*f)->Append("a");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("/d/x"), std::string::npos);
  ASSERT_TRUE((*f)->Append("abc").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(fs.CorruptByte("/d/x", 1).ok());
  EXPECT_NE(*fs.ReadFile("/d/x"), "abc");
  ASSERT_TRUE(fs.Truncate("/d/x", 1).ok());
  EXPECT_EQ(fs.ReadFile("/d/x")->size(), 1u);
}

TEST(FaultInjectionFileSystemTest, CapacityFailsAppendsWithEnospcAfterAShortWriteUntilRaised) {
  FaultInjectionFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/d", 0700).ok());
  ASSERT_TRUE(WriteFileAtomic(&fs, "/d/other", "0123456789", 0600).ok());
  fs.SetCapacity(14);  // 10 bytes used by another file: 4 left
  auto f = fs.OpenAppend("/d/x", 0600);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("ab").ok());
  Status s = (*f)->Append("cdef");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("/d/x"), std::string::npos);
  EXPECT_NE(s.message().find("No space left on device"), std::string::npos) << s.ToString();
  EXPECT_EQ(*fs.ReadFile("/d/x"), "abcd");  // a short write, as on a real full disk
  EXPECT_EQ((*f)->Append("g").code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(fs.Remove("/d/other").ok());  // space returns
  EXPECT_TRUE((*f)->Append("g").ok());
  fs.SetCapacity(0);  // unlimited
  EXPECT_TRUE((*f)->Append(std::string(1000, 'h')).ok());
  EXPECT_EQ(fs.ReadFile("/d/x")->size(), 1005u);
}

TEST(FaultInjectionFileSystemTest, NonDurableReplaceIsAtomicButNotSynced) {
  FaultInjectionFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/state", 0700).ok());
  ASSERT_TRUE(WriteFileAtomic(&fs, "/state/status", "old", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(&fs, "/state/status", "new", 0644, /*durable=*/false).ok());
  EXPECT_EQ(*fs.ReadFile("/state/status"), "new");
  EXPECT_FALSE(fs.Exists("/state/status.tmp"));
  fs.DropUnsyncedData();  // power loss: the unsynced replacement is gone, the old file stays
  EXPECT_EQ(*fs.ReadFile("/state/status"), "old");
}

}  // namespace
}  // namespace custos::fs
