#include "crypto/secure_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace usbd {
namespace {

// The VmFlags of the mapping of /proc/self/smaps that holds `address`.
std::string VmFlagsOf(const void* address) {
  const auto target = reinterpret_cast<uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin, end;
    char dash;
    std::istringstream range(line);
    if (line.find("VmFlags:") == 0) {
      if (inside) return line;
      continue;
    }
    if (range >> std::hex >> begin >> dash >> end && dash == '-' &&
        line.find(':') > line.find(' ')) {
      inside = begin <= target && target < end;
    }
  }
  return "";
}

bool DontDump(const void* address) {
  return VmFlagsOf(address).find(" dd") != std::string::npos;
}

TEST(SecureMemoryTest, SmallAndLargeBlocksAreLeftOutOfCoreDumps) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{5000},
                      size_t{200000}, size_t{70} << 20}) {
    void* block = SecureAllocate(size);
    ASSERT_NE(block, nullptr) << size;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % 16, 0u) << size;
    EXPECT_TRUE(DontDump(block)) << size << ": " << VmFlagsOf(block);
    std::memset(block, 0x5a, size);
    SecureFree(block);
  }
}

TEST(SecureMemoryTest, AFreedBlockIsWiped) {
  auto* block = static_cast<uint8_t*>(SecureAllocate(200));
  ASSERT_NE(block, nullptr);
  std::memset(block, 0xa5, 200);
  SecureFree(block);
  // The block stays mapped (kept for reuse): all but the free-list link
  // that now opens it must be zero.
  const volatile uint8_t* bytes = block;
  for (size_t i = sizeof(void*); i < 200; ++i) ASSERT_EQ(bytes[i], 0) << i;
}

TEST(SecureMemoryTest, ReallocateKeepsTheBytes) {
  auto* block = static_cast<char*>(SecureAllocate(10));
  std::memcpy(block, "0123456789", 10);
  block = static_cast<char*>(SecureReallocate(block, 300000));
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(std::string(block, 10), "0123456789");
  EXPECT_EQ(SecureReallocate(block, 0), nullptr);
  block = static_cast<char*>(SecureReallocate(nullptr, 5));
  ASSERT_NE(block, nullptr);
  SecureFree(block);
  SecureFree(nullptr);
}

TEST(SecretStringTest, HoldsItsTextInSecureMemoryOnly) {
  SecretString secret("Authorization: Bearer t0ken");
  EXPECT_EQ(secret, "Authorization: Bearer t0ken");
  EXPECT_EQ(secret.size(), 27u);
  EXPECT_EQ(secret.c_str()[27], '\0');
  EXPECT_TRUE(DontDump(secret.c_str()));
  // Short texts too: there is no small-string buffer in the object.
  SecretString short_secret("pw");
  EXPECT_TRUE(DontDump(short_secret.c_str()));
}

TEST(SecretStringTest, CopyMoveAppendAndClear) {
  SecretString a("AWS4");
  a.Append("secret-key-of-forty-characters-or-so....");
  EXPECT_EQ(a, "AWS4secret-key-of-forty-characters-or-so....");
  a.Append(a.view());  // appending itself, across a reallocation
  EXPECT_EQ(a.size(), 88u);
  SecretString b = a;
  EXPECT_EQ(b, a.view());
  EXPECT_NE(b.c_str(), a.c_str());
  SecretString c = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT: moved-from is empty by contract
  EXPECT_EQ(c, b.view());
  c.clear();
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c, "");
  EXPECT_STREQ(c.c_str(), "");
  b = SecretString();
  EXPECT_TRUE(b.empty());
}

}  // namespace
}  // namespace usbd
