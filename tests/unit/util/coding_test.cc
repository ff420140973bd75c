#include "util/coding.h"

#include <gtest/gtest.h>

#include <vector>

namespace usbd {
namespace {

TEST(CodingTest, LittleEndianIsLeastSignificantByteFirst) {
  uint8_t b[8] = {};
  PutLe32(b, 0x01020304);
  EXPECT_EQ(std::vector<uint8_t>(b, b + 4), (std::vector<uint8_t>{4, 3, 2, 1}));
  EXPECT_EQ(GetLe32(b), 0x01020304u);
  PutLe64(b, 0x0102030405060708);
  EXPECT_EQ(std::vector<uint8_t>(b, b + 8),
            (std::vector<uint8_t>{8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(GetLe64(b), 0x0102030405060708u);
}

TEST(CodingTest, BigEndianSortsLikeTheNumbers) {
  uint8_t a[8], b[8];
  PutBe64(a, 0x00ff);
  PutBe64(b, 0x0100);
  EXPECT_EQ(std::vector<uint8_t>(b, b + 8),
            (std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_LT(std::memcmp(a, b, 8), 0);
  EXPECT_EQ(GetBe64(a), 0xffu);
  EXPECT_EQ(GetBe64(b), 0x100u);
}

}  // namespace
}  // namespace usbd
