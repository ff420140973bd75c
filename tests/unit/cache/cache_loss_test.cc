// No start of the block cache drops flushed data silently: a lost index
// with blocks not uploaded yet refuses the start (naming how many) unless
// the operator discards them; a dirty block whose data is damaged reads as
// EIO, never as the store's older version, until written whole or trimmed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "cache/cache_store.h"
#include "testing/cache_fixture.h"

namespace usbd::testing {
namespace {

class CacheLossTest : public CacheFixture {
 protected:
  std::string CachePath() { return dir_.path() + "/cache"; }
  std::string IndexPath() { return CachePath() + ".lmdb"; }

  // Overwrites 100 bytes inside slot `slot` of the cache file.
  void CorruptSlot(uint32_t slot) {
    Overwrite(CachePath(), 4096 + uint64_t{slot} * kBlock + 10, 100, 0xff);
  }
  void Overwrite(const std::string& path, uint64_t at, size_t length,
                 uint8_t value) {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> junk(length, value);
    ASSERT_EQ(::pwrite(fd, junk.data(), length, static_cast<off_t>(at)),
              static_cast<ssize_t>(length));
    ::close(fd);
  }
  CacheOptions Discarding() {
    CacheOptions o = Options();
    o.discard_dirty = true;
    return o;
  }
  // Blocks 0..n-1 hold 0x01 in the store and 0x02, flushed, in the cache
  // only; then the crash.
  void FlushedButNotUploaded(uint64_t n) {
    for (uint64_t b = 0; b < n; ++b) {
      ASSERT_TRUE(store_.Write(b, 0, Filled(kBlock, 0x01)).ok());
    }
    Open(Options());
    store_.refuse_uploads = true;
    for (uint64_t b = 0; b < n; ++b) WriteBlock(b, 0x02);
    FlushCache();
    Crash();
    store_.refuse_uploads = false;
  }
  void ExpectRefused(const std::string& count) {
    Status status = TryOpen(Options());
    EXPECT_EQ(status.code(), EINVAL) << status.ToString();
    EXPECT_NE(status.message().find(count + " dirty blocks not uploaded yet"),
              std::string::npos)
        << status.ToString();
    EXPECT_NE(status.message().find("--blockCacheDiscardDirty"),
              std::string::npos)
        << status.ToString();
  }
  int ReadErrno(uint64_t block) {
    std::vector<uint8_t> out(kBlock);
    return cache_->Read(block, 0, out).code();
  }
};

TEST_F(CacheLossTest, AMissingIndexWithUnsentBlocksRefusesTheStart) {
  FlushedButNotUploaded(3);
  std::filesystem::remove(IndexPath());
  ExpectRefused("3");
  ExpectRefused("3");           // and again: the refusal left nothing behind
  EXPECT_EQ(store_.writes, 3);  // the store was never touched by the cache
}

TEST_F(CacheLossTest, AnEmptyIndexWithUnsentBlocksRefusesTheStart) {
  FlushedButNotUploaded(2);
  std::filesystem::resize_file(IndexPath(), 0);
  ExpectRefused("2");
}

TEST_F(CacheLossTest, AnUnreadableIndexWithUnsentBlocksRefusesTheStart) {
  FlushedButNotUploaded(2);
  Overwrite(IndexPath(), 0, 8192, 0x5a);
  ExpectRefused("2");
  Open(Discarding());
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x01));
}

TEST_F(CacheLossTest, AMissingCacheFileWithUnsentBlocksRefusesTheStart) {
  FlushedButNotUploaded(2);
  std::filesystem::remove(CachePath());  // the index still names them
  ExpectRefused("2");
  Open(Discarding());
  EXPECT_EQ(Stat(*cache_, "cache.dropped"), 2u);
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x01));
}

TEST_F(CacheLossTest, FlushedTrimsCountAsUnsent) {
  ASSERT_TRUE(store_.Write(7, 0, Filled(kBlock, 7)).ok());
  Open(Options());
  store_.refuse_uploads = true;
  ASSERT_TRUE(cache_->Trim(7).ok());
  FlushCache();
  Crash();
  store_.refuse_uploads = false;
  std::filesystem::remove(IndexPath());
  ExpectRefused("1");
}

TEST_F(CacheLossTest, DiscardDirtyDropsThemAndSaysHowMany) {
  FlushedButNotUploaded(3);
  std::filesystem::remove(IndexPath());
  Open(Discarding());
  EXPECT_EQ(Stat(*cache_, "cache.dropped"), 3u);
  EXPECT_EQ(ReadBlock(1), Filled(kBlock, 0x01));  // the store's version
  Shutdown();
  Open(Options());  // a fresh, consistent cache: no option needed now
}

TEST_F(CacheLossTest, AFileWithoutAnUnsentMarkIsAnUnknownNumber) {
  FlushedButNotUploaded(1);
  Overwrite(CachePath(), 128, 20, 0);  // as a file of an older usbd
  std::filesystem::remove(IndexPath());
  ExpectRefused("an unknown number of");
}

TEST_F(CacheLossTest, TheMarkFallsOnceEverythingIsUploaded) {
  FlushedButNotUploaded(3);
  Open(Options());
  WaitClean();
  Shutdown();
  std::filesystem::remove(IndexPath());
  Open(Options());  // nothing would be lost: an empty cache, no refusal
  EXPECT_EQ(ReadBlock(2), Filled(kBlock, 0x02));
}

TEST_F(CacheLossTest, ADamagedDirtySlotReadsAsEioAcrossRestarts) {
  FlushedButNotUploaded(1);  // block 0 in slot 0
  CorruptSlot(0);
  Open(Options());
  EXPECT_EQ(Stat(*cache_, "cache.lost"), 1u);
  EXPECT_EQ(ReadErrno(0), EIO);  // never the store's 0x01, never garbage
  EXPECT_EQ(cache_->Write(0, 100, Filled(10, 0x03)).code(), EIO);
  Crash();
  Open(Options());
  EXPECT_EQ(ReadErrno(0), EIO);
  Shutdown();  // a clean stop keeps it lost too
  Open(Options());
  EXPECT_EQ(Stat(*cache_, "cache.lost"), 1u);
  EXPECT_EQ(ReadErrno(0), EIO);
  EXPECT_EQ(store_.Peek(0), Filled(kBlock, 0x01));
}

TEST_F(CacheLossTest, AWholeWriteMakesALostBlockReadableForGood) {
  FlushedButNotUploaded(1);
  CorruptSlot(0);
  Open(Options());
  store_.refuse_uploads = true;
  WriteBlock(0, 0x04);
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x04));
  EXPECT_EQ(Stat(*cache_, "cache.lost"), 0u);
  Crash();  // the machine crashed: not flushed, so still lost
  CacheOptions rebooted = Rebooted();
  Open(rebooted);
  EXPECT_EQ(ReadErrno(0), EIO);
  WriteBlock(0, 0x06);
  Crash();  // usbd died (same boot): its acknowledged write outlives it
  Open(rebooted);
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x06));
  EXPECT_EQ(Stat(*cache_, "cache.lost"), 0u);
  WriteBlock(0, 0x05);
  FlushCache();
  Crash();
  Open(Options());
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x05));
  store_.refuse_uploads = false;
  WaitClean();
  EXPECT_EQ(store_.Peek(0), Filled(kBlock, 0x05));
}

TEST_F(CacheLossTest, ATrimMakesALostBlockReadAsZeros) {
  FlushedButNotUploaded(1);
  CorruptSlot(0);
  Open(Options());
  ASSERT_TRUE(cache_->Trim(0).ok());
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0));
  FlushCache();
  Crash();
  Open(Options());
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0));
  WaitClean();
  EXPECT_FALSE(store_.Holds(0));
}

TEST_F(CacheLossTest, OtherWorkAndReadAheadNeverForgetALostBlock) {
  for (uint64_t b = 0; b < 40; ++b) {
    ASSERT_TRUE(store_.Write(b, 0, Filled(kBlock, 0x11)).ok());
  }
  CacheOptions o = Options();
  o.read_ahead = 8;
  Open(o);
  store_.refuse_uploads = true;
  WriteBlock(5, 0x12);  // the first slot of a fresh cache: slot 0
  FlushCache();
  Crash();
  store_.refuse_uploads = false;
  CorruptSlot(0);
  Open(o);
  // A sequential stream across the lost block (read-ahead must not load
  // the store's version), then more blocks than the cache holds, so
  // commits evict and delete records around it.
  for (uint64_t b = 1; b < 5; ++b) ReadBlock(b);
  EXPECT_EQ(ReadErrno(5), EIO);
  for (uint64_t b = 6; b < 40; ++b) ReadBlock(b);
  for (uint64_t b = 60; b < 100; ++b) WriteBlock(b, 0x22);
  FlushCache();
  WaitClean();
  EXPECT_EQ(ReadErrno(5), EIO);
  Shutdown();
  Open(o);
  EXPECT_EQ(ReadErrno(5), EIO);
  EXPECT_EQ(Stat(*cache_, "cache.lost"), 1u);
  std::vector<bool> allocated;
  ASSERT_TRUE(cache_->QueryAllocation(5, 1, &allocated).ok());
  EXPECT_TRUE(allocated[0]);
}

TEST_F(CacheLossTest, DiscardDirtyForgetsLostBlocks) {
  FlushedButNotUploaded(1);
  CorruptSlot(0);
  Open(Options());
  EXPECT_EQ(ReadErrno(0), EIO);
  Crash();
  Open(Discarding());
  EXPECT_EQ(Stat(*cache_, "cache.lost"), 0u);
  EXPECT_EQ(Stat(*cache_, "cache.dropped"), 1u);
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x01));
  Crash();
  Open(Options());
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x01));
}

}  // namespace
}  // namespace usbd::testing
