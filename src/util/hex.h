// Lower-case hexadecimal, the one spelling of bytes and numbers in object
// keys, metadata and messages.
#ifndef USBD_UTIL_HEX_H_
#define USBD_UTIL_HEX_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace usbd {

// Two lower-case hex digits per byte, in order.
std::string HexBytes(std::span<const uint8_t> bytes);

// `value` in lower-case hex, zero-padded to at least `digits` digits (more
// when the value needs them).
std::string HexNumber(uint64_t value, int digits);

// `bytes` random bytes from the kernel, as 2 * bytes lower-case hex digits
// (std::random_device where getrandom fails).
std::string RandomHex(size_t bytes);

// Exactly `digits` characters, each 0-9 or a-f.
bool IsLowerHex(std::string_view text, size_t digits);

}  // namespace usbd

#endif  // USBD_UTIL_HEX_H_
