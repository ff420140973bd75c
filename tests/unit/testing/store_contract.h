// Checks every BlockStore must pass, shared by the store tests.
#ifndef USBD_TESTS_UNIT_TESTING_STORE_CONTRACT_H_
#define USBD_TESTS_UNIT_TESTING_STORE_CONTRACT_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "store/block_store.h"

namespace usbd::testing {

inline std::vector<uint8_t> Pattern(size_t size, uint8_t seed) {
  std::vector<uint8_t> data(size);
  for (size_t i = 0; i < size; ++i) {
    data[i] = static_cast<uint8_t>(seed * 31 + i * 7 + (i >> 9));
  }
  return data;
}

// A store with at least 8 blocks, started.
inline void CheckStoreContract(BlockStore& store) {
  const uint32_t bs = store.geometry().block_size;
  std::vector<uint8_t> out(bs, 0xff);

  // Never written: zeros, and a hole.
  ASSERT_TRUE(store.Read(3, 0, out).ok());
  EXPECT_EQ(out, std::vector<uint8_t>(bs, 0));
  std::vector<bool> allocated;
  ASSERT_TRUE(store.QueryAllocation(0, 8, &allocated).ok());
  EXPECT_EQ(allocated, std::vector<bool>(8, false));

  // Written: reads back, whole and in part; allocated.
  auto data = Pattern(bs, 1);
  ASSERT_TRUE(store.Write(3, 0, data).ok());
  ASSERT_TRUE(store.Read(3, 0, out).ok());
  EXPECT_EQ(out, data);
  std::vector<uint8_t> part(100);
  ASSERT_TRUE(store.Read(3, bs - 100, part).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), data.end() - 100));
  ASSERT_TRUE(store.QueryAllocation(2, 3, &allocated).ok());
  EXPECT_EQ(allocated, (std::vector<bool>{false, true, false}));

  // Latest write wins.
  auto data2 = Pattern(bs, 2);
  ASSERT_TRUE(store.Write(3, 0, data2).ok());
  ASSERT_TRUE(store.Read(3, 0, out).ok());
  EXPECT_EQ(out, data2);
  ASSERT_TRUE(store.Flush().ok());

  // Partial writes, where accepted: the rest of the block is kept, and a
  // block never written is zeros around the data.
  if (store.capabilities().partial_write) {
    auto patch = Pattern(100, 3);
    ASSERT_TRUE(store.Write(3, 50, patch).ok());
    std::copy(patch.begin(), patch.end(), data2.begin() + 50);
    ASSERT_TRUE(store.Read(3, 0, out).ok());
    EXPECT_EQ(out, data2);
    ASSERT_TRUE(store.Write(5, bs - 100, patch).ok());
    std::vector<uint8_t> expected(bs, 0);
    std::copy(patch.begin(), patch.end(), expected.end() - 100);
    ASSERT_TRUE(store.Read(5, 0, out).ok());
    EXPECT_EQ(out, expected);
    ASSERT_TRUE(store.Trim(5).ok());
  }

  // Trimmed: zeros and a hole again.
  ASSERT_TRUE(store.Trim(3).ok());
  ASSERT_TRUE(store.Trim(4).ok());  // never written: fine
  ASSERT_TRUE(store.Read(3, 0, out).ok());
  EXPECT_EQ(out, std::vector<uint8_t>(bs, 0));
  ASSERT_TRUE(store.QueryAllocation(3, 1, &allocated).ok());
  EXPECT_FALSE(allocated[0]);

  // Concurrent writers to different blocks, then every block verified.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, bs, t] {
      for (int round = 0; round < 20; ++round) {
        auto d = Pattern(bs, static_cast<uint8_t>(t * 50 + round));
        EXPECT_TRUE(store.Write(t, 0, d).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) {
    ASSERT_TRUE(store.Read(t, 0, out).ok());
    EXPECT_EQ(out, Pattern(bs, static_cast<uint8_t>(t * 50 + 19)));
  }
  ASSERT_TRUE(store.Flush().ok());
}

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_STORE_CONTRACT_H_
