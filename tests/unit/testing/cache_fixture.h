// The fixture shared by the block cache tests: a cache over a TestStore,
// persistent (a cache file in a temporary directory) or in memory, that
// can be crashed (destroyed without Shutdown) and reopened.
#ifndef USBD_TESTS_UNIT_TESTING_CACHE_FIXTURE_H_
#define USBD_TESTS_UNIT_TESTING_CACHE_FIXTURE_H_

#include "testing/cache_test_util.h"

namespace usbd::testing {

class CacheFixture : public ::testing::Test {
 protected:
  static constexpr uint32_t kBlock = 4096;
  static constexpr uint64_t kBlocks = 256;

  CacheOptions Options(bool persistent = true) {
    CacheOptions o;
    o.block_cache_size = 32;
    o.block_cache_file = persistent ? dir_.path() + "/cache" : "";
    o.write_delay = std::chrono::milliseconds(20);
    o.threads = 4;
    o.read_ahead = 0;
    o.shutdown_stall_timeout = std::chrono::milliseconds(2000);
    return o;
  }

  Status TryOpen(CacheOptions o, std::string uuid = "vol-1") {
    cache_.reset();
    auto made =
        NewCacheStore(std::move(o), {std::move(uuid), kBlock, kBlock * kBlocks},
                      Borrow(&store_));
    if (!made.ok()) return made.status();
    cache_ = std::move(made).value();
    Status status = cache_->Start();
    if (!status.ok()) cache_.reset();
    return status;
  }
  void Open(CacheOptions o, std::string uuid = "vol-1") {
    Status status = TryOpen(std::move(o), std::move(uuid));
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  // As kill -9 would: no Shutdown, nothing more committed. The page cache
  // keeps what the process wrote, so the next Open(Options()) finds it.
  void Crash() { cache_.reset(); }
  // Options for a start after a crash of the machine: another boot id, so
  // the write log of the process before (writes since the last FLUSH) no
  // longer counts.
  CacheOptions Rebooted() {
    CacheOptions o = Options();
    o.boot_id = "rebooted-" + std::to_string(++boots_);
    return o;
  }
  int boots_ = 0;
  void Shutdown() {
    Status status = cache_->Shutdown();
    EXPECT_TRUE(status.ok()) << status.ToString();
    cache_.reset();
  }

  void TearDown() override {
    if (!cache_) return;
    EXPECT_EQ(Inspect(false).broken_invariants, "");
    Shutdown();
  }

  CacheDebugState Inspect(bool quiescent) {
    return InspectCache(cache_.get(), quiescent);
  }
  // Waits until no block is dirty (everything uploaded and flushed below).
  void WaitClean() {
    ASSERT_TRUE(Eventually([&] { return Inspect(false).dirty == 0; }))
        << Inspect(false).dirty << " dirty blocks left";
  }
  void ExpectQuiescentInvariants() {
    EXPECT_EQ(Inspect(true).broken_invariants, "");
  }

  std::vector<uint8_t> ReadBlock(uint64_t block) {
    std::vector<uint8_t> out(kBlock, 0xee);
    Status status = cache_->Read(block, 0, out);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return out;
  }
  void WriteBlock(uint64_t block, uint8_t value) {
    Status status = cache_->Write(block, 0, Filled(kBlock, value));
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  void FlushCache() {
    Status status = cache_->Flush();
    ASSERT_TRUE(status.ok()) << status.ToString();
  }

  TempDir dir_;
  TestStore store_{{kBlock, kBlocks}};
  std::unique_ptr<BlockStore> cache_;
};

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_CACHE_FIXTURE_H_
