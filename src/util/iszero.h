// IsAllZero: whether a buffer holds only zero bytes, fast for both answers.
#ifndef USBD_UTIL_ISZERO_H_
#define USBD_UTIL_ISZERO_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

namespace usbd {

// True when every byte of `data` is zero (an empty span is all zero).
// Real data usually has a non-zero byte near the start, so the first 16
// bytes are checked one by one; then the buffer is compared against itself
// shifted by 16 bytes, which memcmp does at memory speed.
inline bool IsAllZero(std::span<const uint8_t> data) {
  const size_t head = std::min<size_t>(data.size(), 16);
  for (size_t i = 0; i < head; ++i) {
    if (data[i] != 0) return false;
  }
  return data.size() <= 16 ||
         std::memcmp(data.data(), data.data() + 16, data.size() - 16) == 0;
}

}  // namespace usbd

#endif  // USBD_UTIL_ISZERO_H_
