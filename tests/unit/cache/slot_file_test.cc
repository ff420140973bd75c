// The cache file on its own: header, lock, and I/O errors under the
// mapping reported as errors rather than as a crash.
#include "cache/slot_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "testing/cache_test_util.h"

namespace usbd::testing {
namespace {

constexpr uint32_t kBlock = 4096;

SlotFileHeader Header(uint32_t slots) {
  return {kBlock, slots, std::string(32, 'a'), "volume-uuid"};
}

TEST(SlotFileTest, AFormattedFileReadsItsHeaderBack) {
  TempDir dir;
  std::string path = dir.path() + "/cache";
  {
    auto file = OpenSlotFile(path, kBlock);
    ASSERT_TRUE(file.ok());
    std::string why;
    EXPECT_FALSE((*file)->ReadHeader(&why).has_value());
    EXPECT_EQ(why, "new cache file");
    ASSERT_TRUE((*file)->Format(Header(8)).ok());
    ASSERT_TRUE((*file)->Write(7, 100, Filled(10, 0x77)).ok());
  }
  auto file = OpenSlotFile(path, kBlock);
  ASSERT_TRUE(file.ok());
  std::string why;
  auto header = (*file)->ReadHeader(&why);
  ASSERT_TRUE(header.has_value()) << why;
  EXPECT_EQ(header->slot_count, 8u);
  EXPECT_EQ(header->volume_uuid, "volume-uuid");
  EXPECT_EQ(header->cache_id, std::string(32, 'a'));
  std::vector<uint8_t> out(10);
  ASSERT_TRUE((*file)->Read(7, 100, out).ok());
  EXPECT_EQ(out, Filled(10, 0x77));
  EXPECT_EQ(std::filesystem::file_size(path), 4096u + 8 * kBlock);
}

// The header's bytes as doc/formats.md promises them, little-endian
// whatever the host: a golden test of the format.
TEST(SlotFileTest, TheHeaderIsLittleEndianAtTheDocumentedOffsets) {
  TempDir dir;
  std::string path = dir.path() + "/cache";
  {
    auto file = OpenSlotFile(path, kBlock);
    ASSERT_TRUE(file.ok());
    SlotFileHeader header = Header(0x0102);
    header.unsent = 0x0a0b0c;
    ASSERT_TRUE((*file)->Format(header).ok());
    ASSERT_TRUE((*file)->Sync().ok());
  }
  std::vector<uint8_t> h(160);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pread(fd, h.data(), h.size(), 0), 160);
  ::close(fd);
  EXPECT_EQ(std::string(h.begin(), h.begin() + 8), "USBDSLOT");
  EXPECT_EQ(std::vector<uint8_t>(h.begin() + 8, h.begin() + 12),
            (std::vector<uint8_t>{1, 0, 0, 0}));  // format version
  EXPECT_EQ(std::vector<uint8_t>(h.begin() + 12, h.begin() + 16),
            (std::vector<uint8_t>{0x00, 0x10, 0, 0}));  // block size 4096
  EXPECT_EQ(std::vector<uint8_t>(h.begin() + 16, h.begin() + 24),
            (std::vector<uint8_t>{0x02, 0x01, 0, 0, 0, 0, 0, 0}));  // slots
  EXPECT_EQ(std::string(h.begin() + 24, h.begin() + 56), std::string(32, 'a'));
  EXPECT_EQ(std::string(h.begin() + 128, h.begin() + 136), "USBDUNSN");
  EXPECT_EQ(std::vector<uint8_t>(h.begin() + 136, h.begin() + 144),
            (std::vector<uint8_t>{0x0c, 0x0b, 0x0a, 0, 0, 0, 0, 0}));
}

TEST(SlotFileTest, TheUnsentMarkIsKeptInTheHeader) {
  TempDir dir;
  std::string path = dir.path() + "/cache";
  auto read_mark = [&] {
    auto file = OpenSlotFile(path, kBlock);
    std::string why;
    auto header = (*file)->ReadHeader(&why);
    EXPECT_TRUE(header.has_value()) << why;
    return header ? header->unsent : std::optional<uint64_t>(999);
  };
  {
    auto file = OpenSlotFile(path, kBlock);
    ASSERT_TRUE((*file)->Format(Header(2)).ok());  // no mark given: none
  }
  EXPECT_EQ(read_mark(), std::nullopt);
  {
    auto file = OpenSlotFile(path, kBlock);
    SlotFileHeader header = Header(2);
    header.unsent = 7;
    ASSERT_TRUE((*file)->Format(header).ok());
  }
  EXPECT_EQ(read_mark(), 7u);
  {
    auto file = OpenSlotFile(path, kBlock);
    std::string why;
    ASSERT_TRUE((*file)->ReadHeader(&why).has_value());  // maps the file
    ASSERT_TRUE((*file)->WriteUnsentMark(3).ok());
    ASSERT_TRUE((*file)->Format(Header(4)).ok());  // a resize keeps it
  }
  EXPECT_EQ(read_mark(), 3u);
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, "X", 1, 137), 1);  // a damaged mark: unknown
  ::close(fd);
  EXPECT_EQ(read_mark(), std::nullopt);
}

TEST(SlotFileTest, ADamagedHeaderIsNamed) {
  TempDir dir;
  std::string path = dir.path() + "/cache";
  {
    auto file = OpenSlotFile(path, kBlock);
    ASSERT_TRUE((*file)->Format(Header(2)).ok());
  }
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, "X", 1, 30), 1);
  ::close(fd);
  auto file = OpenSlotFile(path, kBlock);
  std::string why;
  EXPECT_FALSE((*file)->ReadHeader(&why).has_value());
  EXPECT_EQ(why, "header checksum mismatch");
}

TEST(SlotFileTest, ASecondOpenIsRefusedWhileTheFirstHoldsTheLock) {
  TempDir dir;
  auto first = OpenSlotFile(dir.path() + "/cache", kBlock);
  ASSERT_TRUE(first.ok());
  auto second = OpenSlotFile(dir.path() + "/cache", kBlock);
  EXPECT_EQ(second.status().code(), EBUSY);
}

TEST(SlotFileTest, AnIoErrorUnderTheMappingIsEioNotACrash) {
  TempDir dir;
  std::string path = dir.path() + "/cache";
  auto file = OpenSlotFile(path, kBlock);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Format(Header(16)).ok());
  if (!(*file)->preallocated()) GTEST_SKIP() << "no fallocate here: no mapping";
#ifdef __SANITIZE_THREAD__
  GTEST_SKIP() << "ThreadSanitizer defers signals, even a synchronous SIGBUS";
#endif
  // Pages past the end of a mapped file raise SIGBUS, as a disk error does.
  ASSERT_EQ(::truncate(path.c_str(), 4096), 0);
  std::vector<uint8_t> out(kBlock);
  EXPECT_EQ((*file)->Read(10, 0, out).code(), EIO);
  EXPECT_EQ((*file)->Write(10, 0, Filled(kBlock, 1)).code(), EIO);
  // Still usable where the file is.
  ASSERT_EQ(::truncate(path.c_str(), 4096 + 16 * kBlock), 0);
  EXPECT_TRUE((*file)->Write(10, 0, Filled(kBlock, 1)).ok());
  EXPECT_TRUE((*file)->Read(10, 0, out).ok());
  EXPECT_EQ(out, Filled(kBlock, 1));
}

TEST(SlotFileTest, MemorySlotsNeedNoFile) {
  auto file = NewMemorySlotFile(kBlock, 4);
  ASSERT_TRUE(file->Format({}).ok());
  EXPECT_FALSE(file->persistent());
  ASSERT_TRUE(file->Write(3, 0, Filled(kBlock, 3)).ok());
  std::vector<uint8_t> out(kBlock);
  ASSERT_TRUE(file->Read(3, 0, out).ok());
  EXPECT_EQ(out, Filled(kBlock, 3));
}

}  // namespace
}  // namespace usbd::testing
