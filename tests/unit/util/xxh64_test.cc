#include "util/xxh64.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace usbd {
namespace {

uint64_t Hash(std::string_view text, uint64_t seed = 0) {
  return Xxh64(std::span<const uint8_t>(
                   reinterpret_cast<const uint8_t*>(text.data()), text.size()),
               seed);
}

// Reference values from the xxHash library (libxxhash 0.8.1, XXH64): the
// checksum is part of the bucket format, so it must never change.
TEST(Xxh64Test, ReferenceValues) {
  EXPECT_EQ(Hash(""), 0xef46db3751d8e999ULL);
  EXPECT_EQ(Hash("a"), 0xd24ec4f1a98c6e5bULL);
  EXPECT_EQ(Hash("abc"), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(Hash("123456789"), 0x8cb841db40e6ae83ULL);
  std::string usbd;
  for (int i = 0; i < 9; ++i) usbd += "usbd";
  EXPECT_EQ(Hash(usbd), 0x5283f475f7655975ULL);  // 36 bytes: every tail path
  std::vector<uint8_t> bytes;
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<uint8_t>(i));
  }
  EXPECT_EQ(Xxh64(bytes), 0x8e03c838c596036fULL);
}

TEST(Xxh64Test, EveryByteAndSeedCounts) {
  std::vector<uint8_t> data(4096, 0x5a);
  const uint64_t base = Xxh64(data);
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{4095}}) {
    data[i] ^= 1;
    EXPECT_NE(Xxh64(data), base) << "byte " << i;
    data[i] ^= 1;
  }
  EXPECT_NE(Xxh64(data, 1), base);
  EXPECT_EQ(Xxh64(data), base);
}

}  // namespace
}  // namespace usbd
