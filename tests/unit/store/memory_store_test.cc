#include "store/memory_store.h"

#include <gtest/gtest.h>

#include "testing/store_contract.h"

namespace usbd {
namespace {

std::unique_ptr<BlockStore> MakeStore(bool read_only = false) {
  auto store = NewMemoryStore({{4096, 16}, read_only});
  EXPECT_TRUE(store->Start().ok());
  return store;
}

TEST(MemoryStoreTest, MeetsTheStoreContract) {
  auto store = MakeStore();
  testing::CheckStoreContract(*store);
}

TEST(MemoryStoreTest, AcceptsPartialWrites) {
  auto store = MakeStore();
  EXPECT_TRUE(store->capabilities().partial_write);
  std::vector<uint8_t> hello = {'h', 'i'};
  ASSERT_TRUE(store->Write(2, 4094, hello).ok());
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Read(2, 0, out).ok());
  EXPECT_EQ(out[4094], 'h');
  EXPECT_EQ(out[4095], 'i');
  EXPECT_EQ(out[0], 0);  // the rest of a new block is zeros
}

TEST(MemoryStoreTest, ReadOnlyRefusesWritesAndTrims) {
  auto store = MakeStore(true);
  std::vector<uint8_t> data(4096, 1);
  EXPECT_EQ(store->Write(0, 0, data).code(), EPERM);
  EXPECT_EQ(store->Trim(0).code(), EPERM);
  EXPECT_TRUE(store->capabilities().read_only);
}

TEST(MemoryStoreTest, CountsOperations) {
  auto store = MakeStore();
  std::vector<uint8_t> data(4096, 1);
  ASSERT_TRUE(store->Write(0, 0, data).ok());
  ASSERT_TRUE(store->Read(0, 0, data).ok());
  std::vector<StatEntry> stats;
  store->CollectStats(&stats);
  ASSERT_GE(stats.size(), 2u);
  EXPECT_EQ(stats[0].name, "memory.reads");
  EXPECT_EQ(stats[0].value, 1u);
  EXPECT_EQ(stats[1].value, 1u);
}

}  // namespace
}  // namespace usbd
