// The variable-length object capability of the stores that sit under the
// compression and encryption layers (BlockStore::ReadObject/WriteObject).
#include <gtest/gtest.h>

#include "store/memory_store.h"
#include "testing/test_backends.h"

namespace usbd {
namespace {

using testing::Backend;
using testing::BackendFactory;
using testing::Bytes;

class StoreObjectsTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    store_ = factory_.New();
    ASSERT_TRUE(store_->Start().ok());
  }
  void TearDown() override { EXPECT_TRUE(store_->Shutdown().ok()); }

  const uint32_t bs_ = 4096;
  BackendFactory factory_{GetParam()};
  std::unique_ptr<BlockStore> store_;
};

// The stores that hold raw blocks as well (memory, the --test directory):
// a block and its object are the same bytes.
using RawBlockObjectsTest = StoreObjectsTest;

TEST_P(StoreObjectsTest, AdvertisesObjects) {
  EXPECT_TRUE(store_->capabilities().objects);
}

TEST_P(StoreObjectsTest, ObjectsOfEveryLengthRoundTrip) {
  for (uint64_t length :
       {uint64_t{1}, uint64_t{100}, uint64_t{bs_ - 1}, uint64_t{bs_},
        uint64_t{bs_ + 1}, MaxObjectSize(bs_)}) {
    auto object = Bytes(length, static_cast<uint8_t>(length));
    ASSERT_TRUE(store_->WriteObject(2, object).ok()) << length;
    std::vector<uint8_t> got(7, 7);
    ASSERT_TRUE(store_->ReadObject(2, &got).ok()) << length;
    EXPECT_EQ(got, object) << length;
  }
}

TEST_P(StoreObjectsTest, ABlockNeverWrittenIsAnEmptyObject) {
  std::vector<uint8_t> got(10, 1);
  ASSERT_TRUE(store_->ReadObject(5, &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST_P(RawBlockObjectsTest, ABlockWrittenWholeReadsAsItsBytes) {
  auto block = Bytes(bs_, 0x5a);
  ASSERT_TRUE(store_->Write(1, 0, block).ok());
  std::vector<uint8_t> got;
  ASSERT_TRUE(store_->ReadObject(1, &got).ok());
  EXPECT_EQ(got, block);
}

TEST_P(RawBlockObjectsTest, AShortObjectIsNotServedAsABlock) {
  ASSERT_TRUE(store_->WriteObject(3, Bytes(100, 1)).ok());
  std::vector<uint8_t> out(bs_);
  Status status = store_->Read(3, 0, out);
  EXPECT_TRUE(status.not_a_block()) << status.ToString();
  // A whole block written over it is a block again.
  ASSERT_TRUE(store_->Write(3, 0, Bytes(bs_, 9)).ok());
  ASSERT_TRUE(store_->Read(3, 0, out).ok());
  EXPECT_EQ(out, Bytes(bs_, 9));
}

TEST_P(StoreObjectsTest, AShorterObjectReplacesALongerOne) {
  ASSERT_TRUE(store_->WriteObject(4, Bytes(bs_ + 50, 1)).ok());
  ASSERT_TRUE(store_->WriteObject(4, Bytes(30, 2)).ok());
  std::vector<uint8_t> got;
  ASSERT_TRUE(store_->ReadObject(4, &got).ok());
  EXPECT_EQ(got, Bytes(30, 2));
}

TEST_P(StoreObjectsTest, TrimRemovesAnObjectAndAllocationSeesIt) {
  ASSERT_TRUE(store_->WriteObject(6, Bytes(10, 1)).ok());
  std::vector<bool> allocated;
  if (store_->capabilities().allocation) {
    ASSERT_TRUE(store_->QueryAllocation(5, 3, &allocated).ok());
    EXPECT_EQ(allocated, (std::vector<bool>{false, true, false}));
  }
  ASSERT_TRUE(store_->Trim(6).ok());
  std::vector<uint8_t> got;
  ASSERT_TRUE(store_->ReadObject(6, &got).ok());
  EXPECT_TRUE(got.empty());
}

TEST_P(StoreObjectsTest, EmptyAndOverlongObjectsAreRefused) {
  EXPECT_EQ(store_->WriteObject(1, {}).code(), EINVAL);
  EXPECT_EQ(store_->WriteObject(1, Bytes(MaxObjectSize(bs_) + 1, 1)).code(),
            EINVAL);
}

TEST_P(StoreObjectsTest, ObjectsAreDurableAcrossAFlush) {
  ASSERT_TRUE(store_->WriteObject(7, Bytes(123, 4)).ok());
  ASSERT_TRUE(store_->Flush().ok());
  std::vector<uint8_t> got;
  ASSERT_TRUE(store_->ReadObject(7, &got).ok());
  EXPECT_EQ(got, Bytes(123, 4));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreObjectsTest,
                         ::testing::Values(Backend::kMemory, Backend::kDir,
                                           Backend::kObject),
                         [](const auto& info) {
                           return testing::BackendName(info.param);
                         });

INSTANTIATE_TEST_SUITE_P(Stores, RawBlockObjectsTest,
                         ::testing::Values(Backend::kMemory, Backend::kDir),
                         [](const auto& info) {
                           return testing::BackendName(info.param);
                         });

TEST(MemoryStoreObjectsTest, APartialWriteNeverMixesIntoAnObject) {
  auto store = NewMemoryStore({{4096, 4}, false});
  ASSERT_TRUE(store->WriteObject(1, Bytes(100, 1)).ok());
  EXPECT_TRUE(store->Write(1, 10, Bytes(10, 2)).not_a_block());
  // A block-sized object is the block's data: a partial write updates it.
  ASSERT_TRUE(store->WriteObject(2, Bytes(4096, 1)).ok());
  ASSERT_TRUE(store->Write(2, 10, Bytes(10, 2)).ok());
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Read(2, 0, out).ok());
  auto expected = Bytes(4096, 1);
  std::fill(expected.begin() + 10, expected.begin() + 20, 2);
  EXPECT_EQ(out, expected);
}

TEST(ForwardingStoreObjectsTest, ForwardsObjects) {
  ForwardingStore store(NewMemoryStore({{4096, 4}, false}));
  ASSERT_TRUE(store.WriteObject(1, Bytes(5, 3)).ok());
  std::vector<uint8_t> got;
  ASSERT_TRUE(store.ReadObject(1, &got).ok());
  EXPECT_EQ(got, Bytes(5, 3));
}

}  // namespace
}  // namespace usbd
