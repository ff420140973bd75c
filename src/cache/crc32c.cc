#include "cache/crc32c.h"

#include <array>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "util/coding.h"

namespace usbd {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // reflected Castagnoli

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) {
      t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
  return t;
}

constexpr Tables kTables = MakeTables();

// The table walk below consumes the low byte first: the bytes in order on
// any host (GetLe64 compiles to one load on a little-endian one).
uint64_t Load64(const uint8_t* p) { return GetLe64(p); }

#if defined(__x86_64__)
// One dependency chain runs at about 8 bytes per 3 cycles (8 GB/s at
// 3 GHz): plenty next to the pread/pwrite of the same bytes.
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(const uint8_t* p,
                                                          size_t n,
                                                          uint32_t crc) {
  uint64_t c = crc;
  for (; n >= 32; n -= 32, p += 32) {
    c = _mm_crc32_u64(c, Load64(p));
    c = _mm_crc32_u64(c, Load64(p + 8));
    c = _mm_crc32_u64(c, Load64(p + 16));
    c = _mm_crc32_u64(c, Load64(p + 24));
  }
  for (; n >= 8; n -= 8, p += 8) c = _mm_crc32_u64(c, Load64(p));
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
#endif

uint32_t Portable(const uint8_t* p, size_t n, uint32_t crc) {
  const auto& t = kTables;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v = Load64(p) ^ crc;
    crc = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^
          t[4][(v >> 24) & 0xff] ^ t[3][(v >> 32) & 0xff] ^
          t[2][(v >> 40) & 0xff] ^ t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
  }
  for (; n > 0; --n, ++p) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xff];
  return crc;
}

bool HaveHardware() {
#if defined(__x86_64__)
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
#else
  return false;
#endif
}

}  // namespace

uint32_t Crc32cPortable(std::span<const uint8_t> data, uint32_t crc) {
  return ~Portable(data.data(), data.size(), ~crc);
}

uint32_t Crc32c(std::span<const uint8_t> data, uint32_t crc) {
#if defined(__x86_64__)
  if (HaveHardware()) return ~Crc32cHardware(data.data(), data.size(), ~crc);
#endif
  return Crc32cPortable(data, crc);
}

}  // namespace usbd
