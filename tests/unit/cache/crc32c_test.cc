#include "cache/crc32c.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace usbd {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c(Bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(Crc32cPortable(Bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(Crc32c(Bytes("")), 0u);
}

TEST(Crc32cTest, HardwareAndPortableAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> data(70000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t start : {0, 1, 3, 7}) {
    for (size_t len : {0, 1, 7, 8, 9, 31, 32, 33, 4096, 65536}) {
      std::span<const uint8_t> s(data.data() + start, len);
      EXPECT_EQ(Crc32c(s), Crc32cPortable(s)) << start << "+" << len;
    }
  }
}

TEST(Crc32cTest, ContinuesAcrossPieces) {
  std::string text = "The quick brown fox jumps over the lazy dog";
  uint32_t whole = Crc32c(Bytes(text));
  uint32_t first = Crc32c(Bytes(text.substr(0, 10)));
  EXPECT_EQ(Crc32c(Bytes(text.substr(10)), first), whole);
}

TEST(Crc32cTest, IsFastEnoughForTheWritePath) {
  // A 256 KiB block must checksum in well under the time its pwrite takes.
  std::vector<uint8_t> block(256 * 1024, 0x5a);
  auto start = std::chrono::steady_clock::now();
  uint32_t sum = 0;
  for (int i = 0; i < 100; ++i) sum ^= Crc32c(block);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  double gbps = 100.0 * block.size() / seconds / 1e9;
  RecordProperty("GBps", std::to_string(gbps));
  EXPECT_GT(gbps, 0.3) << sum;
}

}  // namespace
}  // namespace usbd
