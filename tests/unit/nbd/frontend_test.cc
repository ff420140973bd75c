#include "nbd/frontend.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "store/memory_store.h"
#include "testing/test_backends.h"

namespace usbd::nbd {
namespace {

class FrontendTest : public ::testing::TestWithParam<bool> {
 protected:
  static constexpr uint32_t kBlock = 4096;
  static constexpr uint64_t kBlocks = 64;

  void SetUp() override {
    store_ = NewMemoryStore({{kBlock, kBlocks}, false});
    if (GetParam())
      store_ =
          std::make_unique<usbd::testing::WholeBlockStore>(std::move(store_));
    ASSERT_TRUE(store_->Start().ok());
    frontend_ = std::make_unique<Frontend>(store_.get());
    model_.assign(kBlock * kBlocks, 0);
  }

  void Write(uint64_t offset, size_t length, uint8_t seed) {
    std::vector<uint8_t> data(length);
    for (size_t i = 0; i < length; ++i) data[i] = seed + i * 13;
    ASSERT_TRUE(frontend_->Write(offset, data, false).ok());
    std::copy(data.begin(), data.end(), model_.begin() + offset);
  }
  void ExpectMatchesModel() {
    std::vector<uint8_t> all(model_.size());
    ASSERT_TRUE(frontend_->Read(0, all).ok());
    EXPECT_TRUE(all == model_);
  }

  std::unique_ptr<BlockStore> store_;
  std::unique_ptr<Frontend> frontend_;
  std::vector<uint8_t> model_;
};

TEST_P(FrontendTest, SizeIsWholeVolume) {
  EXPECT_EQ(frontend_->size(), kBlock * kBlocks);
}

TEST_P(FrontendTest, UnalignedWritesSpanningBlocksReadBack) {
  Write(100, 10000, 1);          // head, two bodies, tail
  Write(kBlock - 1, 2, 2);       // straddles one boundary
  Write(5 * kBlock, kBlock, 3);  // exactly one block
  Write(7 * kBlock + 5, 1, 4);   // one byte
  ExpectMatchesModel();
}

TEST_P(FrontendTest, UnalignedReadsReturnTheRightBytes) {
  Write(0, 8 * kBlock, 5);
  std::vector<uint8_t> out(3 * kBlock + 7);
  ASSERT_TRUE(frontend_->Read(kBlock - 3, out).ok());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), model_.begin() + kBlock - 3));
}

TEST_P(FrontendTest, ZeroWithTrimMakesHolesAndZeroesPartialBlocks) {
  Write(0, 4 * kBlock, 6);
  ASSERT_TRUE(frontend_->Zero(100, 2 * kBlock, true, false).ok());
  std::fill(model_.begin() + 100, model_.begin() + 100 + 2 * kBlock, 0);
  ExpectMatchesModel();
  std::vector<Extent> extents;
  ASSERT_TRUE(frontend_->BlockStatus(0, 4 * kBlock, 100, &extents).ok());
  // Block 1 was whole inside the range: a hole. Blocks 0 and 2: partial.
  ASSERT_EQ(extents.size(), 3u);
  EXPECT_FALSE(extents[0].hole);
  EXPECT_TRUE(extents[1].hole);
  EXPECT_EQ(extents[1].length, kBlock);
}

TEST_P(FrontendTest, ZeroWithoutTrimWritesZeros) {
  Write(0, 2 * kBlock, 7);
  ASSERT_TRUE(frontend_->Zero(0, 2 * kBlock, false, false).ok());
  std::fill(model_.begin(), model_.begin() + 2 * kBlock, 0);
  ExpectMatchesModel();
}

TEST_P(FrontendTest, TrimReleasesOnlyWholeBlocks) {
  Write(0, 3 * kBlock, 8);
  ASSERT_TRUE(frontend_->Trim(kBlock / 2, 2 * kBlock, false).ok());
  std::fill(model_.begin() + kBlock, model_.begin() + 2 * kBlock, 0);
  ExpectMatchesModel();
}

TEST_P(FrontendTest, BlockStatusMergesRunsAndClipsToRange) {
  Write(2 * kBlock, 2 * kBlock, 9);
  std::vector<Extent> extents;
  ASSERT_TRUE(frontend_->BlockStatus(10, 6 * kBlock, 100, &extents).ok());
  ASSERT_EQ(extents.size(), 3u);
  EXPECT_TRUE(extents[0].hole);
  EXPECT_EQ(extents[0].length, 2 * kBlock - 10);
  EXPECT_FALSE(extents[1].hole);
  EXPECT_EQ(extents[1].length, 2 * kBlock);
  EXPECT_TRUE(extents[2].hole);
  EXPECT_EQ(extents[2].length, 2 * kBlock + 10);
}

TEST_P(FrontendTest, BlockStatusHonoursMaxExtents) {
  Write(kBlock, kBlock, 10);
  std::vector<Extent> extents;
  ASSERT_TRUE(frontend_->BlockStatus(0, 4 * kBlock, 1, &extents).ok());
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].length, kBlock);
}

TEST_P(FrontendTest, ConcurrentPartialWritesToOneBlockAreNotLost) {
  // Eight threads each own a disjoint 512-byte slice of the same blocks.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([this, t] {
      std::vector<uint8_t> data(512, static_cast<uint8_t>(t + 1));
      for (int round = 0; round < 200; ++round) {
        uint64_t block = round % 4;
        EXPECT_TRUE(
            frontend_->Write(block * kBlock + t * 512, data, false).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint64_t block = 0; block < 4; ++block) {
    for (int t = 0; t < 8; ++t) {
      std::fill_n(model_.begin() + block * kBlock + t * 512, 512, t + 1);
    }
  }
  ExpectMatchesModel();
}

TEST_P(FrontendTest, RandomOperationsMatchAModel) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 300; ++i) {
    uint64_t offset = rng() % model_.size();
    size_t length =
        1 + rng() % std::min<uint64_t>(3 * kBlock, model_.size() - offset);
    if (rng() % 4 == 0) {
      ASSERT_TRUE(frontend_->Zero(offset, length, rng() % 2, false).ok());
      std::fill_n(model_.begin() + offset, length, 0);
    } else {
      Write(offset, length, static_cast<uint8_t>(i));
    }
  }
  ExpectMatchesModel();
}

INSTANTIATE_TEST_SUITE_P(PartialAndWholeBlockStores, FrontendTest,
                         ::testing::Bool(), [](const auto& info) {
                           return info.param ? "WholeBlockStore"
                                             : "PartialWriteStore";
                         });

}  // namespace
}  // namespace usbd::nbd
