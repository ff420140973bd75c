// Crash recovery of the block cache: what a restart over the same cache
// file finds, and how it treats files that do not hold up.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "cache/cache_store.h"
#include "testing/cache_fixture.h"

namespace usbd::testing {
namespace {

using std::chrono::milliseconds;

class CacheRecoveryTest : public CacheFixture {
 protected:
  enum class Op { kWhole, kPartial, kTrim };
  // Applies one random write of kind `op` to block `b` of the cache and to
  // `current`, its expected content.
  void RandomWrite(std::mt19937& rng, Op op, uint64_t b, uint8_t* stamp,
                   std::vector<uint8_t>* current) {
    switch (op) {
      case Op::kWhole: {
        auto data = Filled(kBlock, (*stamp)++);
        ASSERT_TRUE(cache_->Write(b, 0, data).ok());
        *current = data;
        break;
      }
      case Op::kPartial: {
        uint32_t off = rng() % kBlock;
        uint32_t len = 1 + rng() % (kBlock - off);
        auto data = Filled(len, (*stamp)++);
        ASSERT_TRUE(cache_->Write(b, off, data).ok());
        std::copy(data.begin(), data.end(), current->begin() + off);
        break;
      }
      case Op::kTrim:
        ASSERT_TRUE(cache_->Trim(b).ok());
        *current = Filled(kBlock, 0);
        break;
    }
  }
  // Overwrites `length` bytes of slot `slot` in the cache file.
  void CorruptSlot(uint32_t slot, uint8_t value) {
    int fd = ::open((dir_.path() + "/cache").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    std::vector<uint8_t> junk(100, value);
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(),
                       4096 + uint64_t{slot} * kBlock + 10),
              100);
    ::close(fd);
  }
};

// A slot file whose writes and syncs fail on demand.
class FaultySlotFile : public SlotFile {
 public:
  explicit FaultySlotFile(std::unique_ptr<SlotFile> inner)
      : inner_(std::move(inner)) {}
  bool persistent() const override { return inner_->persistent(); }
  std::string path() const override { return inner_->path(); }
  bool preallocated() override { return inner_->preallocated(); }
  std::optional<SlotFileHeader> ReadHeader(std::string* why) override {
    return inner_->ReadHeader(why);
  }
  Status Format(const SlotFileHeader& header) override {
    return inner_->Format(header);
  }
  Status WriteUnsentMark(uint64_t unsent) override {
    return inner_->WriteUnsentMark(unsent);
  }
  Status Read(uint32_t slot, uint32_t offset, std::span<uint8_t> out) override {
    return inner_->Read(slot, offset, out);
  }
  Status Write(uint32_t slot, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (int err = write_errno.load()) {
      // A disk that fills up half-way through the write.
      (void)inner_->Write(slot, offset, data.first(data.size() / 2));
      return Status::Error(err, "injected write failure");
    }
    return inner_->Write(slot, offset, data);
  }
  Status Sync() override {
    if (fail_sync) return Status::IoError("injected fdatasync failure");
    return inner_->Sync();
  }

  static inline std::atomic<int> write_errno{0};
  static inline std::atomic<bool> fail_sync{false};

 private:
  std::unique_ptr<SlotFile> inner_;
};

TEST_F(CacheRecoveryTest, FlushedWritesSurviveACrashAndAreUploadedAfter) {
  Open(Options());
  store_.refuse_uploads = true;  // nothing reaches the store before the crash
  for (uint64_t b = 0; b < 10; ++b) WriteBlock(b, static_cast<uint8_t>(b + 1));
  FlushCache();
  Crash();
  store_.refuse_uploads = false;
  EXPECT_EQ(store_.writes, 0);
  Open(Options());
  for (uint64_t b = 0; b < 10; ++b) {
    EXPECT_EQ(ReadBlock(b), Filled(kBlock, static_cast<uint8_t>(b + 1)));
  }
  WaitClean();
  for (uint64_t b = 0; b < 10; ++b) {
    EXPECT_EQ(store_.Peek(b), Filled(kBlock, static_cast<uint8_t>(b + 1)));
  }
}

TEST_F(CacheRecoveryTest, ARestartWithTheStoreDownServesTheCacheAndCatchesUp) {
  ASSERT_TRUE(store_.Write(20, 0, Filled(kBlock, 0x20)).ok());
  Open(Options());
  ReadBlock(20);  // clean in the cache
  store_.refuse_uploads = true;
  WriteBlock(21, 0x21);
  FlushCache();
  Crash();
  // The store is unreachable: no reads, no writes.
  store_.fail_reads = true;
  Open(Options());
  EXPECT_EQ(ReadBlock(21), Filled(kBlock, 0x21));  // dirty, from the cache
  EXPECT_EQ(ReadBlock(20), Filled(kBlock, 0x20));  // clean, from the cache
  std::vector<uint8_t> out(kBlock);
  EXPECT_EQ(cache_->Read(22, 0, out).code(), EIO);  // a miss needs the store
  WriteBlock(23, 0x23);                             // writes still complete
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_GE(Stat(*cache_, "cache.upload_errors"), 1u);
  store_.fail_reads = false;
  store_.refuse_uploads = false;
  WaitClean();
  EXPECT_EQ(store_.Peek(21), Filled(kBlock, 0x21));
  EXPECT_EQ(store_.Peek(23), Filled(kBlock, 0x23));
}

TEST_F(CacheRecoveryTest, FlushedTrimsSurviveACrash) {
  ASSERT_TRUE(store_.Write(3, 0, Filled(kBlock, 3)).ok());
  Open(Options());
  store_.refuse_uploads = true;
  ASSERT_TRUE(cache_->Trim(3).ok());
  FlushCache();
  Crash();
  store_.refuse_uploads = false;
  Open(Options());
  EXPECT_EQ(ReadBlock(3), Filled(kBlock, 0));
  WaitClean();
  EXPECT_FALSE(store_.Holds(3));
}

TEST_F(CacheRecoveryTest, FlushedPartialWritesSurviveACrash) {
  Open(Options());
  store_.refuse_uploads = true;
  WriteBlock(4, 0x40);
  FlushCache();
  std::vector<uint8_t> patch(100, 0x41);
  ASSERT_TRUE(cache_->Write(4, 1000, patch).ok());  // copy on write
  ASSERT_TRUE(cache_->Write(4, 2000, patch).ok());  // in place
  FlushCache();
  Crash();
  store_.refuse_uploads = false;
  Open(Options());
  std::vector<uint8_t> expected = Filled(kBlock, 0x40);
  std::fill(expected.begin() + 1000, expected.begin() + 1100, 0x41);
  std::fill(expected.begin() + 2000, expected.begin() + 2100, 0x41);
  EXPECT_EQ(ReadBlock(4), expected);
  EXPECT_EQ(Stat(*cache_, "cache.dropped"), 0u);
}

// The upload rule: the store never gets a new version of a block while a
// committed record still calls the old one clean, or a crash would leave
// the cache serving the old version over the store's new one.
TEST_F(CacheRecoveryTest, AnUploadNeverLeavesAStaleCleanRecordBehind) {
  Open(Options());
  WriteBlock(5, 1);
  WaitClean();
  FlushCache();  // block 5: a committed clean record
  WriteBlock(5, 2);
  ASSERT_TRUE(Eventually([&] { return store_.Peek(5)[0] == 2; }));
  Crash();  // before any later commit
  Open(Options());
  WaitClean();
  EXPECT_EQ(ReadBlock(5), store_.Peek(5));
}

// After a restart the cache and the store agree on every clean block.
TEST_F(CacheRecoveryTest, CleanBlocksAfterACrashMatchTheStore) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(0);
  std::mt19937 rng(3);
  for (int round = 0; round < 5; ++round) {
    Open(o);
    for (int i = 0; i < 200; ++i) {
      uint64_t b = rng() % 40;
      if (rng() % 3 == 0) {
        ReadBlock(b);
      } else {
        WriteBlock(b, static_cast<uint8_t>(rng()));
      }
      if (rng() % 50 == 0) FlushCache();
    }
    Crash();
  }
  Open(o);
  WaitClean();
  for (uint64_t b = 0; b < 40; ++b) EXPECT_EQ(ReadBlock(b), store_.Peek(b));
}

TEST_F(CacheRecoveryTest, ARestartReusesCleanBlocks) {
  for (uint64_t b = 0; b < 8; ++b) {
    ASSERT_TRUE(store_.Write(b, 0, Filled(kBlock, 0x70 + b)).ok());
  }
  Open(Options());
  for (uint64_t b = 0; b < 8; ++b) ReadBlock(b);
  Shutdown();
  store_.reads = 0;
  Open(Options());
  for (uint64_t b = 0; b < 8; ++b) {
    EXPECT_EQ(ReadBlock(b), Filled(kBlock, 0x70 + b));
  }
  EXPECT_EQ(store_.reads, 0);  // warm: every block came from the cache
}

TEST_F(CacheRecoveryTest, ACorruptedDirtySlotIsLostNotServedStale) {
  ASSERT_TRUE(store_.Write(0, 0, Filled(kBlock, 0x01)).ok());
  Open(Options());
  store_.refuse_uploads = true;
  WriteBlock(0, 0x02);  // the first slot of a fresh cache: slot 0
  FlushCache();
  Crash();
  store_.refuse_uploads = false;
  CorruptSlot(0, 0xff);
  Open(Options());
  EXPECT_EQ(Stat(*cache_, "cache.lost"), 1u);
  std::vector<uint8_t> out(kBlock);  // never the garbage, nor the old 0x01
  EXPECT_EQ(cache_->Read(0, 0, out).code(), EIO);
}

TEST_F(CacheRecoveryTest, ACorruptedCleanSlotIsReadFromTheStoreInstead) {
  ASSERT_TRUE(store_.Write(0, 0, Filled(kBlock, 0x05)).ok());
  Open(Options());
  ReadBlock(0);  // clean, in slot 0
  Shutdown();
  CorruptSlot(0, 0xff);
  Open(Options());
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x05));
  EXPECT_EQ(Stat(*cache_, "cache.dropped"), 1u);
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x05));  // and cached again
}

TEST_F(CacheRecoveryTest, ACacheOfAnotherVolumeWithDirtyBlocksIsRefused) {
  Open(Options(), "volume-a");
  store_.refuse_uploads = true;
  WriteBlock(1, 1);
  FlushCache();
  Crash();
  store_.refuse_uploads = false;
  Status status = TryOpen(Options(), "volume-b");
  EXPECT_EQ(status.code(), EINVAL);
  EXPECT_NE(status.message().find("dirty"), std::string::npos);
  // The right volume still finds its block.
  Open(Options(), "volume-a");
  EXPECT_EQ(ReadBlock(1), Filled(kBlock, 1));
}

TEST_F(CacheRecoveryTest, ACleanCacheOfAnotherVolumeIsStartedAfresh) {
  ASSERT_TRUE(store_.Write(1, 0, Filled(kBlock, 1)).ok());
  Open(Options(), "volume-a");
  ReadBlock(1);
  Shutdown();
  Open(Options(), "volume-b");
  EXPECT_EQ(Inspect(false).committed_records, 0u);
  store_.reads = 0;
  ReadBlock(1);
  EXPECT_EQ(store_.reads, 1);
}

TEST_F(CacheRecoveryTest, ASecondUserOfTheCacheFileIsRefused) {
  Open(Options());
  auto second = NewCacheStore(Options(), {"vol-1", kBlock, kBlock * kBlocks},
                              Borrow(&store_));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->Start().code(), EBUSY);
}

TEST_F(CacheRecoveryTest, AMissingIndexStartsAnEmptyCache) {
  Open(Options());
  ReadBlock(1);
  Shutdown();
  std::filesystem::remove(dir_.path() + "/cache.lmdb");
  Open(Options());
  EXPECT_EQ(Inspect(false).entries, 0u);
}

TEST_F(CacheRecoveryTest, TheCacheGrowsAndShrinksKeepingDirtyBlocks) {
  CacheOptions o = Options();
  o.block_cache_size = 16;
  Open(o);
  store_.refuse_uploads = true;
  for (uint64_t b = 0; b < 12; ++b) WriteBlock(b, static_cast<uint8_t>(b + 1));
  FlushCache();
  Crash();
  o.block_cache_size = 64;
  Open(o);
  Crash();
  o.block_cache_size = 4;  // fewer slots than dirty blocks: refused
  EXPECT_EQ(TryOpen(o).code(), EINVAL);
  o.block_cache_size = 12;
  Open(o);
  for (uint64_t b = 0; b < 12; ++b) {
    EXPECT_EQ(ReadBlock(b), Filled(kBlock, static_cast<uint8_t>(b + 1)));
  }
  store_.refuse_uploads = false;
  WaitClean();
  EXPECT_EQ(std::filesystem::file_size(dir_.path() + "/cache"),
            4096u + 12u * kBlock);
}

TEST_F(CacheRecoveryTest, AFullCacheDiskIsENOSPCToTheWriterAndNothingElse) {
  CacheOptions o = Options();
  o.wrap_slot_file = [](std::unique_ptr<SlotFile> f) {
    return std::make_unique<FaultySlotFile>(std::move(f));
  };
  Open(o);
  WriteBlock(2, 0x22);
  FlushCache();
  FaultySlotFile::write_errno = ENOSPC;
  EXPECT_EQ(cache_->Write(2, 0, Filled(kBlock, 0x23)).code(), ENOSPC);
  std::vector<uint8_t> part(10, 0x24);
  EXPECT_EQ(cache_->Write(2, 5, part).code(), ENOSPC);
  EXPECT_EQ(ReadBlock(2), Filled(kBlock, 0x22));  // the old content, whole
  FaultySlotFile::write_errno = 0;
  FlushCache();
  Crash();
  Open(o);
  EXPECT_EQ(ReadBlock(2), Filled(kBlock, 0x22));
  EXPECT_EQ(Stat(*cache_, "cache.dropped"), 0u);
}

TEST_F(CacheRecoveryTest, AFailedFdatasyncFailsEveryLaterFlush) {
  CacheOptions o = Options();
  o.wrap_slot_file = [](std::unique_ptr<SlotFile> f) {
    return std::make_unique<FaultySlotFile>(std::move(f));
  };
  Open(o);
  WriteBlock(2, 0x22);
  FaultySlotFile::fail_sync = true;
  EXPECT_EQ(cache_->Flush().code(), EIO);
  FaultySlotFile::fail_sync = false;
  WriteBlock(3, 0x33);
  EXPECT_EQ(cache_->Flush().code(), EIO);  // sticky
  Crash();
}

// Commits that keep failing let the write log fill: it is abandoned with
// one warning, and a restart relies on the index alone, never on a record
// that names a slot reused since (every block reads a version written).
TEST_F(CacheRecoveryTest, AFullWriteLogIsAbandonedNotTrustedHalfWritten) {
  CacheOptions o = Options();
  o.block_cache_size = 4;
  o.write_delay = milliseconds(0);
  o.wrap_slot_file = [](std::unique_ptr<SlotFile> f) {
    return std::make_unique<FaultySlotFile>(std::move(f));
  };
  Open(o);
  WriteBlock(0, 0x01);
  FlushCache();
  FaultySlotFile::fail_sync = true;  // no full commit succeeds from here
  for (int i = 0; i < 20000; ++i) {
    const uint64_t b = 1 + i % 6;
    std::vector<uint8_t> data = Filled(kBlock, static_cast<uint8_t>(i));
    data[0] = static_cast<uint8_t>(b);  // whose block this is
    ASSERT_TRUE(cache_->Write(b, 0, data).ok());
  }
  FaultySlotFile::fail_sync = false;
  Crash();
  o.wrap_slot_file = nullptr;
  Open(o);
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0x01));
  for (uint64_t b = 1; b <= 6; ++b) {
    std::vector<uint8_t> got = ReadBlock(b);
    if (got == Filled(kBlock, 0)) continue;  // never reached the index
    EXPECT_EQ(got[0], b) << "block " << b << " reads another block's data";
    std::vector<uint8_t> expect = Filled(kBlock, got[1]);
    expect[0] = static_cast<uint8_t>(b);
    EXPECT_EQ(got, expect) << "block " << b << " is torn";
  }
}

// The property the crash test checks end to end, here at unit scale:
// random writes (whole, partial, zero), trims and flushes with the
// write-back running, a crash every so often; after each restart every
// block holds its content at the last flush or a later write, never
// anything else. Finally the store alone holds the same.
// Machine crashes (each start on another boot): what was not flushed may
// be there or not, never anything else.
TEST_F(CacheRecoveryTest, RandomWorkWithCrashesLosesNothingFlushed) {
  constexpr uint64_t kUsed = 24;
  CacheOptions o = Rebooted();
  o.block_cache_size = 10;
  std::mt19937 rng(12345);
  std::vector<std::vector<std::vector<uint8_t>>> since_flush(kUsed);
  std::vector<std::vector<uint8_t>> current(kUsed, Filled(kBlock, 0));
  for (uint64_t b = 0; b < kUsed; ++b) since_flush[b] = {current[b]};
  uint8_t stamp = 1;
  for (int round = 0; round < 12; ++round) {
    o.write_delay = milliseconds(rng() % 4);
    Open(o);
    // Every block must hold a state it was allowed to keep.
    for (uint64_t b = 0; b < kUsed; ++b) {
      std::vector<uint8_t> got = ReadBlock(b);
      bool allowed = false;
      for (const auto& v : since_flush[b]) allowed |= v == got;
      ASSERT_TRUE(allowed) << "round " << round << " block " << b
                           << " holds content never written";
      current[b] = got;
      since_flush[b] = {got};
    }
    EXPECT_EQ(Stat(*cache_, "cache.dropped"), 0u);
    int ops = 30 + rng() % 60;
    for (int i = 0; i < ops; ++i) {
      uint64_t b = rng() % kUsed;
      switch (int pick = rng() % 7) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
          RandomWrite(rng,
                      pick < 2   ? Op::kWhole
                      : pick < 4 ? Op::kPartial
                                 : Op::kTrim,
                      b, &stamp, &current[b]);
          break;
        case 5:
          ASSERT_EQ(ReadBlock(b), current[b]) << "block " << b;
          continue;
        case 6:
          FlushCache();
          for (uint64_t k = 0; k < kUsed; ++k) since_flush[k] = {current[k]};
          continue;
      }
      since_flush[b].push_back(current[b]);
    }
    EXPECT_EQ(Inspect(false).broken_invariants, "");
    if (rng() % 4 == 0) std::this_thread::sleep_for(milliseconds(rng() % 20));
    Crash();
    o.boot_id = Rebooted().boot_id;
  }
  Open(o);
  for (uint64_t b = 0; b < kUsed; ++b) {
    std::vector<uint8_t> got = ReadBlock(b);
    bool allowed = false;
    for (const auto& v : since_flush[b]) allowed |= v == got;
    ASSERT_TRUE(allowed) << "final block " << b;
    current[b] = got;
  }
  Shutdown();
  // Cold: the store alone.
  for (uint64_t b = 0; b < kUsed; ++b) {
    EXPECT_EQ(store_.Peek(b), current[b]) << "block " << b;
  }
}

// Deaths of the process (kill -9): every acknowledged write, trim and
// partial write is there after the restart, flushed or not, while the
// blocks move through eviction, upload and copy on write.
TEST_F(CacheRecoveryTest,
       RandomWorkWithProcessCrashesLosesNothingAcknowledged) {
  constexpr uint64_t kUsed = 24;
  CacheOptions o = Options();
  o.block_cache_size = 10;
  std::mt19937 rng(4242);
  std::vector<std::vector<uint8_t>> current(kUsed, Filled(kBlock, 0));
  uint8_t stamp = 1;
  for (int round = 0; round < 16; ++round) {
    o.write_delay = milliseconds(rng() % 4);
    Open(o);
    for (uint64_t b = 0; b < kUsed; ++b) {
      ASSERT_EQ(ReadBlock(b), current[b])
          << "round " << round << " block " << b << " lost a write";
    }
    EXPECT_EQ(Stat(*cache_, "cache.dropped"), 0u);
    EXPECT_EQ(Stat(*cache_, "cache.lost"), 0u);
    int ops = 30 + rng() % 90;
    for (int i = 0; i < ops; ++i) {
      uint64_t b = rng() % kUsed;
      switch (int pick = rng() % 8) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
          RandomWrite(rng,
                      pick < 3   ? Op::kWhole
                      : pick < 5 ? Op::kPartial
                                 : Op::kTrim,
                      b, &stamp, &current[b]);
          break;
        case 6:
          ASSERT_EQ(ReadBlock(b), current[b]) << "block " << b;
          break;
        case 7:
          if (rng() % 3 == 0) FlushCache();
          break;
      }
    }
    EXPECT_EQ(Inspect(false).broken_invariants, "");
    if (rng() % 3 == 0) std::this_thread::sleep_for(milliseconds(rng() % 30));
    Crash();
  }
  Open(o);
  for (uint64_t b = 0; b < kUsed; ++b) {
    ASSERT_EQ(ReadBlock(b), current[b]) << "final block " << b;
  }
  Shutdown();
  for (uint64_t b = 0; b < kUsed; ++b) {
    EXPECT_EQ(store_.Peek(b), current[b]) << "block " << b;
  }
}

// Hours of writes without a FLUSH: the write log stays within its file
// (full commits empty it) and still loses nothing at a kill.
TEST_F(CacheRecoveryTest, WritesWithoutFlushKeepTheWriteLogBounded) {
  CacheOptions o = Options();
  o.block_cache_size = 8;
  o.write_delay = milliseconds(0);
  Open(o);
  const std::string log = dir_.path() + "/cache.wlog";
  const auto size = std::filesystem::file_size(log);
  for (int i = 0; i < 10000; ++i) {
    WriteBlock(i % 3, static_cast<uint8_t>(i));
  }
  EXPECT_EQ(std::filesystem::file_size(log), size);
  Crash();
  Open(o);
  for (int b = 0; b < 3; ++b) {
    const int last = 9999 - (9999 - b) % 3;  // the last i with i % 3 == b
    EXPECT_EQ(ReadBlock(b), Filled(kBlock, static_cast<uint8_t>(last)))
        << "block " << b;
  }
  ExpectQuiescentInvariants();
}

// After a reboot the write log is ignored: unflushed writes may go, as
// with a disk's volatile cache; flushed ones stay.
TEST_F(CacheRecoveryTest, AMachineCrashIgnoresTheWriteLog) {
  Open(Options());
  store_.refuse_uploads = true;
  WriteBlock(1, 0x11);
  FlushCache();
  WriteBlock(1, 0x22);
  WriteBlock(2, 0x33);
  Crash();
  Open(Rebooted());
  EXPECT_EQ(ReadBlock(1), Filled(kBlock, 0x11));
  EXPECT_EQ(ReadBlock(2), Filled(kBlock, 0));
  store_.refuse_uploads = false;
}

// A clean stop leaves nothing to replay: the next start uploads nothing.
TEST_F(CacheRecoveryTest, ACleanStopLeavesNothingInTheWriteLog) {
  Open(Options());
  for (int b = 0; b < 5; ++b) WriteBlock(b, 0x40 + b);
  Shutdown();
  int uploads = store_.writes.load();
  Open(Options());
  EXPECT_EQ(Inspect(false).dirty, 0u);
  Shutdown();
  EXPECT_EQ(store_.writes.load(), uploads);
}

// A store of 1 TiB that holds nothing: the cache over it must not need
// memory per volume block.
class EmptyHugeStore : public BlockStore {
 public:
  Geometry geometry() const override { return {4096, (1ull << 40) / 4096}; }
  Capabilities capabilities() const override { return {}; }
  Status Start() override { return Status::Ok(); }
  Status Shutdown() override { return Status::Ok(); }
  Status Read(uint64_t, uint32_t, std::span<uint8_t> out) override {
    std::fill(out.begin(), out.end(), 0);
    return Status::Ok();
  }
  Status Write(uint64_t, uint32_t, std::span<const uint8_t>) override {
    return Status::Ok();
  }
  Status Trim(uint64_t) override { return Status::Ok(); }
  Status Flush() override { return Status::Ok(); }
  Status QueryAllocation(uint64_t, uint64_t count,
                         std::vector<bool>* allocated) override {
    allocated->assign(count, false);
    return Status::Ok();
  }
  void CollectStats(std::vector<StatEntry>*) const override {}
};

long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

TEST_F(CacheRecoveryTest, AOneTebibyteVolumeNeedsNoMemoryPerBlock) {
  long before = ResidentKiB();
  CacheOptions o = Options();
  o.block_cache_size = 1024;
  auto made = NewCacheStore(o, {"huge", 4096, 1ull << 40},
                            std::make_unique<EmptyHugeStore>());
  ASSERT_TRUE(made.ok());
  cache_ = std::move(made).value();
  ASSERT_TRUE(cache_->Start().ok());
  uint64_t last = (1ull << 40) / 4096 - 1;
  WriteBlock(last, 1);
  WriteBlock(last / 2, 2);
  FlushCache();
  EXPECT_EQ(ReadBlock(last), Filled(kBlock, 1));
  long grown = ResidentKiB() - before;
  // 268 million blocks: even one bit each would be 32 MiB.
  EXPECT_LT(grown, 16 * 1024) << grown << " KiB";
}

}  // namespace
}  // namespace usbd::testing
