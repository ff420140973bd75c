// Fixed-width integers in a byte order chosen by the format, never by the
// host: every persistent format of usbd (doc/formats.md) stores its
// integers through these. On a little-endian host the little-endian ones
// are a plain load or store.
#ifndef USBD_UTIL_CODING_H_
#define USBD_UTIL_CODING_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace usbd {

template <typename T>
inline void PutLe(uint8_t* p, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (size_t i = 0; i < sizeof v; ++i) {
      p[i] = static_cast<uint8_t>(v >> (8 * i));
    }
  }
}

template <typename T>
inline T GetLe(const uint8_t* p) {
  T v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof v);
  } else {
    for (size_t i = 0; i < sizeof v; ++i) v |= T{p[i]} << (8 * i);
  }
  return v;
}

inline void PutLe32(uint8_t* p, uint32_t v) { PutLe<uint32_t>(p, v); }
inline void PutLe64(uint8_t* p, uint64_t v) { PutLe<uint64_t>(p, v); }
inline uint32_t GetLe32(const uint8_t* p) { return GetLe<uint32_t>(p); }
inline uint64_t GetLe64(const uint8_t* p) { return GetLe<uint64_t>(p); }

// Big-endian: keys that must sort in numeric order byte by byte (LMDB).
inline void PutBe64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline uint64_t GetBe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace usbd

#endif  // USBD_UTIL_CODING_H_
