#include "util/hex.h"

#include <gtest/gtest.h>

#include <vector>

namespace usbd {
namespace {

TEST(HexTest, BytesAreTwoLowerCaseDigitsEach) {
  std::vector<uint8_t> bytes = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(HexBytes(bytes), "000fa5ff");
  EXPECT_EQ(HexBytes({}), "");
}

TEST(HexTest, NumbersArePaddedNeverCut) {
  EXPECT_EQ(HexNumber(0, 8), "00000000");
  EXPECT_EQ(HexNumber(0xff, 8), "000000ff");
  EXPECT_EQ(HexNumber(0x123456789, 8), "123456789");
  EXPECT_EQ(HexNumber(~uint64_t{0}, 16), "ffffffffffffffff");
  EXPECT_EQ(HexNumber(0xabc, 0), "abc");
}

TEST(HexTest, LowerHexIsExactLengthAndLowerCase) {
  EXPECT_TRUE(IsLowerHex("0123456789abcdef", 16));
  EXPECT_FALSE(IsLowerHex("0123456789ABCDEF", 16));
  EXPECT_FALSE(IsLowerHex("0123", 5));
  EXPECT_FALSE(IsLowerHex("012g", 4));
}

TEST(HexTest, RandomHexIsFreshLowerHex) {
  std::string a = RandomHex(16), b = RandomHex(16);
  EXPECT_TRUE(IsLowerHex(a, 32)) << a;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace usbd
