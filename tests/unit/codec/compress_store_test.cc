#include "codec/compress_store.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "codec/object_format.h"
#include "testing/store_contract.h"
#include "testing/test_backends.h"

namespace usbd {
namespace {

using testing::Backend;
using testing::BackendFactory;
using testing::Bytes;
using testing::MixedBlock;
using testing::RandomBlock;

constexpr uint32_t kBlockSize = 4096;

class CompressStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    bottom_ = factory_.New();
    ASSERT_TRUE(bottom_->Start().ok());
    store_ = Compressed(kDefaultCompressLevel);
  }

  // A compression layer over the shared bottom store: one "run".
  std::unique_ptr<BlockStore> Compressed(int level) {
    auto store = NewCompressStore({level}, Borrow(bottom_.get()));
    EXPECT_TRUE(store->Start().ok());
    return store;
  }

  std::vector<uint8_t> Stored(uint64_t block) {
    std::vector<uint8_t> object;
    EXPECT_TRUE(bottom_->ReadObject(block, &object).ok());
    return object;
  }

  BackendFactory factory_{GetParam()};
  std::unique_ptr<BlockStore> bottom_;
  std::unique_ptr<BlockStore> store_;
};

TEST_P(CompressStoreTest, MeetsTheStoreContract) {
  testing::CheckStoreContract(*store_);
}

TEST_P(CompressStoreTest, CompressibleBlocksAreStoredCompressed) {
  auto block = MixedBlock(kBlockSize, 1);
  ASSERT_TRUE(store_->Write(2, 0, block).ok());
  auto object = Stored(2);
  EXPECT_LT(object.size(), kBlockSize / 2);
  EXPECT_TRUE(HasObjectMagic(object));
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store_->Read(2, 0, out).ok());
  EXPECT_EQ(out, block);
}

TEST_P(CompressStoreTest, IncompressibleBlocksAreStoredWithAChecksum) {
  auto block = RandomBlock(kBlockSize, 2);
  ASSERT_TRUE(store_->Write(3, 0, block).ok());
  auto stored = Stored(3);
  ASSERT_EQ(stored.size(), kBlockSize + 24);  // header | block | checksum
  EXPECT_TRUE(std::equal(block.begin(), block.end(), stored.begin() + 16));
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store_->Read(3, 0, out).ok());
  EXPECT_EQ(out, block);
}

TEST_P(CompressStoreTest, CompressionCanBeTurnedOnAndOffBetweenRuns) {
  auto before = MixedBlock(kBlockSize, 3);
  ASSERT_TRUE(bottom_->Write(1, 0, before).ok());  // a run without it
  auto during = MixedBlock(kBlockSize, 4);
  ASSERT_TRUE(store_->Write(2, 0, during).ok());
  auto other_level = Compressed(kMaxCompressLevel);
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(other_level->Read(1, 0, out).ok());
  EXPECT_EQ(out, before);
  ASSERT_TRUE(other_level->Read(2, 0, out).ok());
  EXPECT_EQ(out, during);
  // Without the layer, a compressed object is refused, not served.
  EXPECT_EQ(bottom_->Read(2, 0, out).code(), EIO);
}

TEST_P(CompressStoreTest, PartialReadsDecodeTheWholeBlock) {
  auto block = MixedBlock(kBlockSize, 5);
  ASSERT_TRUE(store_->Write(4, 0, block).ok());
  std::vector<uint8_t> part(100);
  ASSERT_TRUE(store_->Read(4, 2000, part).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), block.begin() + 2000));
  EXPECT_FALSE(store_->capabilities().partial_write);
  EXPECT_EQ(store_->Write(4, 1, Bytes(10, 1)).code(), EINVAL);
}

TEST_P(CompressStoreTest, ACorruptObjectIsEioNamingItsBlockOnly) {
  for (uint64_t b = 0; b < 4; ++b) {
    ASSERT_TRUE(store_->Write(b, 0, MixedBlock(kBlockSize, b)).ok());
  }
  auto object = Stored(2);
  object[object.size() / 2] ^= 1;
  ASSERT_TRUE(bottom_->WriteObject(2, object).ok());
  std::vector<uint8_t> out(kBlockSize);
  Status status = store_->Read(2, 0, out);
  EXPECT_TRUE(status.corrupt()) << status.ToString();
  EXPECT_TRUE(status.retryable());
  EXPECT_NE(status.message().find("block 2 (0x2)"), std::string::npos)
      << status.message();
  for (uint64_t b : {0, 1, 3}) {
    ASSERT_TRUE(store_->Read(b, 0, out).ok());
    EXPECT_EQ(out, MixedBlock(kBlockSize, b));
  }
}

TEST_P(CompressStoreTest, CountsWhatItStores) {
  ASSERT_TRUE(store_->Write(0, 0, MixedBlock(kBlockSize, 1)).ok());
  ASSERT_TRUE(store_->Write(1, 0, RandomBlock(kBlockSize, 1)).ok());
  std::vector<StatEntry> stats;
  store_->CollectStats(&stats);
  auto value = [&](const std::string& name) {
    for (const auto& e : stats) {
      if (e.name == name) return e.value;
    }
    return ~uint64_t{0};
  };
  EXPECT_EQ(value("compress.compressed"), 1u);
  EXPECT_EQ(value("compress.stored_raw"), 1u);
  EXPECT_EQ(value("compress.bytes_in"), 2u * kBlockSize);
  EXPECT_LT(value("compress.bytes_stored"), 2u * kBlockSize);
}

INSTANTIATE_TEST_SUITE_P(Stores, CompressStoreTest,
                         ::testing::Values(Backend::kMemory, Backend::kDir,
                                           Backend::kObject),
                         [](const auto& info) {
                           return testing::BackendName(info.param);
                         });

TEST(CompressStoreStartTest, RefusesALevelOutsideOneToNineteen) {
  for (int level : {0, 20, -1}) {
    auto store = NewCompressStore({level}, NewMemoryStore({{4096, 4}}));
    Status status = store->Start();
    EXPECT_EQ(status.code(), EINVAL);
    EXPECT_NE(status.message().find("--compress"), std::string::npos);
  }
}

TEST(CompressStoreStartTest, RefusesAStoreWithoutObjects) {
  // A compression layer keeps no objects, so one cannot sit on another.
  auto store =
      NewCompressStore({}, NewCompressStore({}, NewMemoryStore({{4096, 4}})));
  EXPECT_EQ(store->Start().code(), EINVAL);
  EXPECT_FALSE(store->capabilities().objects);
}

}  // namespace
}  // namespace usbd
