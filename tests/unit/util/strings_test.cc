#include "util/strings.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace usbd {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

TEST(ParseDecimalTest, AcceptsDigitsOnly) {
  EXPECT_EQ(ParseDecimal("0"), 0u);
  EXPECT_EQ(ParseDecimal("007"), 7u);
  EXPECT_EQ(ParseDecimal("262144"), 262144u);
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "0x10", "1e3", "12k"}) {
    bool too_large = true;
    EXPECT_EQ(ParseDecimal(bad, &too_large), std::nullopt) << bad;
    EXPECT_FALSE(too_large) << bad;
  }
}

TEST(ParseDecimalTest, TellsTooLargeApartFromNotANumber) {
  bool too_large = false;
  EXPECT_EQ(ParseDecimal("18446744073709551615", &too_large), UINT64_MAX);
  EXPECT_FALSE(too_large);
  EXPECT_EQ(ParseDecimal("18446744073709551616", &too_large), std::nullopt);
  EXPECT_TRUE(too_large);
  EXPECT_EQ(ParseDecimal("99999999999999999999999", &too_large), std::nullopt);
  EXPECT_TRUE(too_large);
  // Leading zeros do not count towards the size.
  EXPECT_EQ(ParseDecimal("000018446744073709551615", &too_large), UINT64_MAX);
  EXPECT_FALSE(too_large);
}

TEST(FormatSizeTest, UsesTheLargestExactUnit) {
  EXPECT_EQ(FormatSize(0), "0");
  EXPECT_EQ(FormatSize(1000), "1000");
  EXPECT_EQ(FormatSize(256 * kKiB), "256k");
  EXPECT_EQ(FormatSize(32 * kMiB), "32M");
  EXPECT_EQ(FormatSize(kGiB + kKiB), "1048577k");
  EXPECT_EQ(FormatSize(uint64_t{1} << 63), "8E");
}

TEST(UriEncodeTest, EncodesReservedCharacters) {
  EXPECT_EQ(UriEncode("a b/c$~", true), "a%20b/c%24~");
  EXPECT_EQ(UriEncode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(UriEncode("\xc3\xa9", false), "%C3%A9");
}

}  // namespace
}  // namespace usbd
