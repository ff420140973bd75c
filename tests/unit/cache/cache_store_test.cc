// Behaviour of the block cache as a layer: what reaches the store below,
// when, and what the layer above sees.
#include "cache/cache_store.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "testing/cache_fixture.h"
#include "testing/store_contract.h"

namespace usbd::testing {
namespace {

using std::chrono::milliseconds;

class CacheStoreTest : public CacheFixture {};

TEST_F(CacheStoreTest, PersistentCacheMeetsTheStoreContract) {
  Open(Options(true));
  CheckStoreContract(*cache_);
}

TEST_F(CacheStoreTest, MemoryCacheMeetsTheStoreContract) {
  Open(Options(false));
  CheckStoreContract(*cache_);
}

TEST_F(CacheStoreTest, AdvertisesPartialWritesAndFlush) {
  Open(Options());
  EXPECT_TRUE(cache_->capabilities().partial_write);
  EXPECT_TRUE(cache_->capabilities().flush);
  EXPECT_FALSE(cache_->capabilities().objects);
}

TEST_F(CacheStoreTest, RefusesBadOptions) {
  CacheOptions o = Options();
  o.block_cache_size = 0;
  EXPECT_EQ(TryOpen(o).code(), EINVAL);
  auto made = NewCacheStore(Options(), {"v", kBlock * 2, kBlock * kBlocks},
                            Borrow(&store_));
  EXPECT_EQ(made.status().code(), EINVAL);
}

TEST_F(CacheStoreTest, WritesCompleteInTheCacheAndUploadAfterTheDelay) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(300);
  Open(o);
  WriteBlock(5, 0x11);
  EXPECT_EQ(store_.writes, 0);  // not yet: the delay has not passed
  EXPECT_EQ(ReadBlock(5), Filled(kBlock, 0x11));
  WaitClean();
  EXPECT_EQ(store_.Peek(5), Filled(kBlock, 0x11));
  EXPECT_EQ(store_.writes, 1);
  EXPECT_GE(store_.flushes, 1);  // made durable below before called clean
}

TEST_F(CacheStoreTest, RepeatedWritesToADirtyBlockCoalesce) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(300);
  Open(o);
  for (int i = 0; i < 20; ++i) WriteBlock(7, static_cast<uint8_t>(i + 1));
  WaitClean();
  EXPECT_EQ(store_.WritesOf(7), 1);
  EXPECT_EQ(store_.Peek(7), Filled(kBlock, 20));
}

TEST_F(CacheStoreTest, ABlockRewrittenDuringItsUploadIsUploadedAgain) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(0);
  Open(o);
  store_.CloseGate();
  WriteBlock(3, 0xa1);
  ASSERT_TRUE(Eventually([&] { return store_.waiting_at_gate() == 1; }));
  WriteBlock(3, 0xa2);  // while the upload of 0xa1 is held
  store_.OpenGate();
  WaitClean();
  EXPECT_EQ(store_.Peek(3), Filled(kBlock, 0xa2));
  EXPECT_EQ(store_.WritesOf(3), 2);
}

TEST_F(CacheStoreTest, ReadsOfCachedBlocksDoNotWaitForUploads) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(0);
  Open(o);
  store_.CloseGate();
  WriteBlock(1, 0x31);
  WriteBlock(2, 0x32);
  ASSERT_TRUE(Eventually([&] { return store_.waiting_at_gate() == 2; }));
  // Both uploads are stuck; reading either block, and writing another,
  // still completes at once.
  EXPECT_EQ(ReadBlock(1), Filled(kBlock, 0x31));
  EXPECT_EQ(ReadBlock(2), Filled(kBlock, 0x32));
  WriteBlock(9, 0x39);
  FlushCache();  // persistent cache: FLUSH does not wait for the store
  store_.OpenGate();
  WaitClean();
}

TEST_F(CacheStoreTest, APartialWriteToAnUncachedBlockReadsItFirst) {
  store_.has_allocation = false;  // the store cannot say what is absent
  ASSERT_TRUE(store_.Write(4, 0, Filled(kBlock, 0x44)).ok());
  store_.writes = 0;
  Open(Options());
  std::vector<uint8_t> hello = {'h', 'i'};
  ASSERT_TRUE(cache_->Write(4, 100, hello).ok());
  EXPECT_EQ(store_.reads, 1);
  std::vector<uint8_t> expected = Filled(kBlock, 0x44);
  expected[100] = 'h';
  expected[101] = 'i';
  EXPECT_EQ(ReadBlock(4), expected);
  WaitClean();
  EXPECT_EQ(store_.Peek(4), expected);
}

TEST_F(CacheStoreTest, APartialWriteToAKnownAbsentBlockDoesNotRead) {
  Open(Options());
  std::vector<uint8_t> one = {1};
  ASSERT_TRUE(cache_->Write(6, 0, one).ok());
  EXPECT_EQ(store_.reads, 0);
  EXPECT_GE(store_.queries, 1);
  std::vector<uint8_t> expected(kBlock, 0);
  expected[0] = 1;
  EXPECT_EQ(ReadBlock(6), expected);
}

TEST_F(CacheStoreTest, AWholeBlockWriteNeverReads) {
  store_.has_allocation = false;
  Open(Options());
  WriteBlock(8, 0x88);
  EXPECT_EQ(store_.reads, 0);
}

TEST_F(CacheStoreTest, ConcurrentPartialWritesToOneBlockAreNotLost) {
  Open(Options());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t] {
      std::vector<uint8_t> data(512, static_cast<uint8_t>(t + 1));
      for (int round = 0; round < 100; ++round) {
        EXPECT_TRUE(cache_->Write(round % 3, t * 512, data).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint64_t b = 0; b < 3; ++b) {
    std::vector<uint8_t> out = ReadBlock(b);
    for (int t = 0; t < 8; ++t) {
      EXPECT_EQ(out[t * 512], t + 1) << "block " << b << " slice " << t;
      EXPECT_EQ(out[t * 512 + 511], t + 1);
    }
  }
}

TEST_F(CacheStoreTest, ATrimmedDirtyBlockIsNeverUploaded) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(200);
  Open(o);
  ASSERT_TRUE(store_.Write(10, 0, Filled(kBlock, 0x10)).ok());
  store_.writes = 0;
  WriteBlock(10, 0x99);  // dirty, not yet uploaded
  ASSERT_TRUE(cache_->Trim(10).ok());
  EXPECT_EQ(ReadBlock(10), Filled(kBlock, 0));
  WaitClean();
  EXPECT_EQ(store_.writes, 0);  // 0x99 never went down
  EXPECT_GE(store_.trims, 1);   // the trim did
  EXPECT_FALSE(store_.Holds(10));
}

TEST_F(CacheStoreTest, ZeroWritesBecomeTrimsBelow) {
  Open(Options());
  WriteBlock(11, 0x11);
  WaitClean();
  WriteBlock(11, 0);
  WaitClean();
  EXPECT_FALSE(store_.Holds(11));
}

TEST_F(CacheStoreTest, TrimOfABlockTheStoreDoesNotHoldCostsNothing) {
  Open(Options());
  for (uint64_t b = 0; b < 100; ++b) ASSERT_TRUE(cache_->Trim(b).ok());
  EXPECT_EQ(Inspect(false).entries, 0u);
  EXPECT_EQ(store_.trims, 0);
}

TEST_F(CacheStoreTest, MaxDirtyMakesWritersWait) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(0);
  o.max_dirty = 4;
  Open(o);
  store_.CloseGate();
  for (int b = 0; b < 4; ++b) WriteBlock(b, 1);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    WriteBlock(20, 2);
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_FALSE(done);  // held back: 4 blocks dirty
  store_.OpenGate();
  writer.join();
  EXPECT_TRUE(done);
  EXPECT_GE(Stat(*cache_, "cache.write_waits"), 1u);
}

TEST_F(CacheStoreTest, AFullCacheOfDirtyBlocksStillServesMissesFromTheStore) {
  CacheOptions o = Options();
  o.block_cache_size = 4;
  o.write_delay = milliseconds(0);
  Open(o);
  ASSERT_TRUE(store_.Write(50, 0, Filled(kBlock, 0x50)).ok());
  store_.CloseGate();
  for (int b = 0; b < 4; ++b) WriteBlock(b, 1);
  // No slot is free and none can be evicted: the miss reads through.
  EXPECT_EQ(ReadBlock(50), Filled(kBlock, 0x50));
  EXPECT_EQ(Stat(*cache_, "cache.read_throughs"), 1u);
  store_.OpenGate();
  WaitClean();
}

TEST_F(CacheStoreTest, EvictsTheLeastRecentlyUsedCleanBlock) {
  CacheOptions o = Options();
  o.block_cache_size = 8;
  Open(o);
  for (uint64_t b = 100; b < 108; ++b) ReadBlock(b);  // fills the cache
  ReadBlock(100);                                     // 101 is now oldest
  int reads = store_.reads;
  ReadBlock(120);  // evicts
  ReadBlock(100);
  EXPECT_EQ(store_.reads, reads + 1);  // 100 stayed
  ReadBlock(101);
  EXPECT_EQ(store_.reads, reads + 2);  // 101 was evicted
}

TEST_F(CacheStoreTest, ProtectedBlocksAreEvictedLast) {
  CacheOptions o = Options();
  o.block_cache_size = 8;
  o.num_protected = 2;
  Open(o);
  ReadBlock(0);
  ReadBlock(1);
  for (uint64_t b = 100; b < 120; ++b) ReadBlock(b);
  int reads = store_.reads;
  ReadBlock(0);
  ReadBlock(1);
  EXPECT_EQ(store_.reads, reads);
}

TEST_F(CacheStoreTest, SequentialReadsTriggerReadAhead) {
  CacheOptions o = Options();
  o.read_ahead = 8;
  o.read_ahead_trigger = 2;
  Open(o);
  ReadBlock(30);
  ReadBlock(31);
  // The first window: 4 blocks.
  ASSERT_TRUE(
      Eventually([&] { return Stat(*cache_, "cache.read_aheads") >= 4; }));
  for (uint64_t b = 32; b < 36; ++b) ReadBlock(b);
  // None of these missed, and the window grew with the run: after 6
  // blocks read it reaches 6 blocks ahead, to block 41.
  EXPECT_EQ(Stat(*cache_, "cache.misses"), 2u);
  ASSERT_TRUE(
      Eventually([&] { return Stat(*cache_, "cache.read_aheads") >= 10; }));
  for (uint64_t b = 36; b < 42; ++b) ReadBlock(b);
  EXPECT_EQ(Stat(*cache_, "cache.misses"), 2u);
}

TEST_F(CacheStoreTest, OutOfOrderSequentialReadsStillReadAhead) {
  CacheOptions o = Options();
  o.read_ahead = 8;
  o.read_ahead_trigger = 2;
  Open(o);
  // Four readers of one stream, interleaved: 0, 4, 8, 12, 1, 5, ... The
  // front advances 0, 4, 8, 12, 13, 14, 15 (the rest are behind it), so
  // the stream spans 16 blocks and the window is 8 (--readAhead): 16..23
  // are fetched ahead.
  for (uint64_t i = 0; i < 4; ++i) {
    for (uint64_t r = 0; r < 4; ++r) ReadBlock(r * 4 + i);
  }
  ASSERT_TRUE(Eventually([&] { return store_.reads >= 24; }));
  int misses = Stat(*cache_, "cache.misses");
  for (uint64_t b = 16; b < 24; ++b) ReadBlock(b);
  EXPECT_EQ(Stat(*cache_, "cache.misses"), misses);
}

TEST_F(CacheStoreTest, RandomReadsDoNotTriggerReadAhead) {
  CacheOptions o = Options();
  o.read_ahead = 8;
  Open(o);
  for (uint64_t b : {5, 90, 17, 200, 3}) ReadBlock(b);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Stat(*cache_, "cache.read_aheads"), 0u);
}

TEST_F(CacheStoreTest, QueryAllocationSeesDirtyDataAndZeroEntries) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(10000);
  Open(o);
  ASSERT_TRUE(store_.Write(2, 0, Filled(kBlock, 2)).ok());
  ASSERT_TRUE(store_.Write(3, 0, Filled(kBlock, 3)).ok());
  WriteBlock(1, 1);                   // dirty, not in the store yet
  ASSERT_TRUE(cache_->Trim(2).ok());  // a zero entry over stored data
  std::vector<bool> allocated;
  ASSERT_TRUE(cache_->QueryAllocation(0, 5, &allocated).ok());
  EXPECT_EQ(allocated, (std::vector<bool>{false, true, false, true, false}));
}

TEST_F(CacheStoreTest, SyncFlushWaitsUntilTheStoreHasTheBlocks) {
  CacheOptions o = Options();
  o.sync = true;
  o.write_delay = milliseconds(10000);
  Open(o);
  WriteBlock(12, 0x12);
  FlushCache();
  EXPECT_EQ(store_.Peek(12), Filled(kBlock, 0x12));
}

TEST_F(CacheStoreTest, MemoryCacheFlushWaitsForUploads) {
  CacheOptions o = Options(false);
  o.write_delay = milliseconds(10000);
  Open(o);
  WriteBlock(13, 0x13);
  FlushCache();
  EXPECT_EQ(store_.Peek(13), Filled(kBlock, 0x13));
}

// --blockCacheSync is s3backer's write-through: the write itself waits.
TEST_F(CacheStoreTest, SyncWriteReturnsOnlyOnceTheStoreHasIt) {
  CacheOptions o = Options();
  o.sync = true;
  o.write_delay = milliseconds(10000);
  Open(o);
  WriteBlock(15, 0x15);
  EXPECT_EQ(store_.Peek(15), Filled(kBlock, 0x15)) << "without a FLUSH";
  ASSERT_TRUE(cache_->Trim(15).ok());
  EXPECT_NE(store_.Peek(15), Filled(kBlock, 0x15)) << "the trim is stored too";
}

TEST_F(CacheStoreTest, SyncFlushReportsAFailedUpload) {
  CacheOptions o = Options();
  o.sync = true;
  Open(o);
  store_.fail_writes = 1000;
  // The write is cached but not stored: it says so.
  EXPECT_EQ(cache_->Write(14, 0, Filled(kBlock, 0x14)).code(), EIO);
  EXPECT_EQ(cache_->Flush().code(), EIO);
  store_.fail_writes = 0;
  FlushCache();
  EXPECT_EQ(store_.Peek(14), Filled(kBlock, 0x14));
}

TEST_F(CacheStoreTest, FailedUploadsAreRetried) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(0);
  Open(o);
  store_.fail_writes = 3;
  WriteBlock(15, 0x15);
  WaitClean();
  EXPECT_EQ(store_.Peek(15), Filled(kBlock, 0x15));
  EXPECT_EQ(Stat(*cache_, "cache.upload_errors"), 3u);
}

TEST_F(CacheStoreTest, ShutdownUploadsEveryDirtyBlock) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(60000);
  Open(o);
  for (uint64_t b = 0; b < 20; ++b) WriteBlock(b, static_cast<uint8_t>(b + 1));
  Shutdown();
  for (uint64_t b = 0; b < 20; ++b) {
    EXPECT_EQ(store_.Peek(b), Filled(kBlock, static_cast<uint8_t>(b + 1)));
  }
}

TEST_F(CacheStoreTest, ShutdownGivesUpOnAStoreThatTakesNothing) {
  CacheOptions o = Options();
  o.write_delay = milliseconds(60000);
  o.shutdown_stall_timeout = milliseconds(500);
  Open(o);
  WriteBlock(1, 1);
  FlushCache();
  store_.fail_writes = 1 << 30;
  EXPECT_EQ(cache_->Shutdown().code(), EIO);
  cache_.reset();
  // The block waits in the cache file for the next start.
  store_.fail_writes = 0;
  Open(Options());
  WaitClean();
  EXPECT_EQ(store_.Peek(1), Filled(kBlock, 1));
}

TEST_F(CacheStoreTest, ReadOnlyVolumesRefuseWrites) {
  class ReadOnly : public ForwardingStore {
   public:
    using ForwardingStore::ForwardingStore;
    Capabilities capabilities() const override {
      Capabilities caps = ForwardingStore::capabilities();
      caps.read_only = true;
      return caps;
    }
  };
  auto made = NewCacheStore(Options(), {"vol-1", kBlock, kBlock * kBlocks},
                            std::make_unique<ReadOnly>(&store_));
  ASSERT_TRUE(made.ok());
  cache_ = std::move(made).value();
  ASSERT_TRUE(cache_->Start().ok());
  EXPECT_EQ(cache_->Write(0, 0, Filled(kBlock, 1)).code(), EPERM);
  EXPECT_EQ(cache_->Trim(0).code(), EPERM);
  EXPECT_EQ(ReadBlock(0), Filled(kBlock, 0));
}

TEST_F(CacheStoreTest, ExpiredCleanBlocksAreReadAgain) {
  CacheOptions o = Options();
  o.timeout = milliseconds(50);
  Open(o);
  ReadBlock(40);
  int reads = store_.reads;
  std::this_thread::sleep_for(milliseconds(100));
  ReadBlock(40);
  EXPECT_EQ(store_.reads, reads + 1);
}

TEST_F(CacheStoreTest, WorksOverAStoreWithoutFlush) {
  store_.has_flush = false;
  Open(Options());
  WriteBlock(16, 0x16);
  WaitClean();
  EXPECT_EQ(store_.Peek(16), Filled(kBlock, 0x16));
  EXPECT_EQ(store_.flushes, 0);
}

TEST_F(CacheStoreTest, ManyThreadsOfMixedWorkKeepTheInvariants) {
  CacheOptions o = Options();
  o.block_cache_size = 16;
  o.write_delay = milliseconds(1);
  Open(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([this, t] {
      std::mt19937 rng(t);
      std::vector<uint8_t> buf(kBlock);
      for (int i = 0; i < 400; ++i) {
        uint64_t b = rng() % 48;
        switch (rng() % 6) {
          case 0:
          case 1:
            EXPECT_TRUE(cache_->Read(b, 0, buf).ok());
            break;
          case 2:
            EXPECT_TRUE(cache_->Write(b, 0, Filled(kBlock, t + 1)).ok());
            break;
          case 3:
            EXPECT_TRUE(
                cache_->Write(b, (rng() % 8) * 512, Filled(512, t + 1)).ok());
            break;
          case 4:
            EXPECT_TRUE(cache_->Trim(b).ok());
            break;
          case 5:
            EXPECT_TRUE(cache_->Flush().ok());
            break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  WaitClean();
  // Quiescent now: no slot may have leaked, and the store agrees with the
  // cache on every block.
  ASSERT_TRUE(Eventually([&] { return Inspect(true).broken_invariants == ""; }))
      << Inspect(true).broken_invariants;
  for (uint64_t b = 0; b < 48; ++b) EXPECT_EQ(ReadBlock(b), store_.Peek(b));
}

}  // namespace
}  // namespace usbd::testing
