#include "util/iszero.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace usbd {
namespace {

TEST(IsAllZeroTest, FindsANonZeroByteAnywhere) {
  std::vector<uint8_t> data(4096, 0);
  EXPECT_TRUE(IsAllZero(data));
  for (size_t at : {0ul, 15ul, 16ul, 17ul, 4095ul}) {
    data[at] = 1;
    EXPECT_FALSE(IsAllZero(data)) << at;
    data[at] = 0;
  }
  EXPECT_TRUE(IsAllZero({}));
}

TEST(IsAllZeroTest, ShortBuffers) {
  for (size_t n = 1; n <= 33; ++n) {
    std::vector<uint8_t> data(n, 0);
    EXPECT_TRUE(IsAllZero(data)) << n;
    data[n - 1] = 0x80;
    EXPECT_FALSE(IsAllZero(data)) << n;
  }
}

}  // namespace
}  // namespace usbd
