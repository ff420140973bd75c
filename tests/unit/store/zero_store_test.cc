#include "store/zero_store.h"

#include <gtest/gtest.h>

#include "store/memory_store.h"
#include "testing/store_contract.h"

namespace usbd {
namespace {

std::unique_ptr<BlockStore> MakeStore() {
  auto store = NewZeroStore(NewMemoryStore({{4096, 16}, false}));
  EXPECT_TRUE(store->Start().ok());
  return store;
}

TEST(ZeroStoreTest, MeetsTheStoreContract) {
  auto store = MakeStore();
  testing::CheckStoreContract(*store);
}

TEST(ZeroStoreTest, AllZeroWholeBlockBecomesAHole) {
  auto store = MakeStore();
  std::vector<uint8_t> data(4096, 1);
  ASSERT_TRUE(store->Write(1, 0, data).ok());
  std::vector<uint8_t> zeros(4096, 0);
  ASSERT_TRUE(store->Write(1, 0, zeros).ok());
  std::vector<bool> allocated;
  ASSERT_TRUE(store->QueryAllocation(1, 1, &allocated).ok());
  EXPECT_FALSE(allocated[0]);
  std::vector<uint8_t> out(4096, 9);
  ASSERT_TRUE(store->Read(1, 0, out).ok());
  EXPECT_EQ(out, zeros);
}

TEST(ZeroStoreTest, PartialZeroWriteIsKeptAsData) {
  auto store = MakeStore();
  std::vector<uint8_t> zeros(100, 0);
  ASSERT_TRUE(store->Write(1, 0, zeros).ok());
  std::vector<bool> allocated;
  ASSERT_TRUE(store->QueryAllocation(1, 1, &allocated).ok());
  EXPECT_TRUE(allocated[0]);
}

}  // namespace
}  // namespace usbd
