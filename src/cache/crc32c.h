// CRC-32C (Castagnoli), the checksum the block cache keeps of every slot.
//
// Uses the SSE 4.2 crc32 instruction when the CPU has it, else a
// table-driven fallback (slicing by 8). Both give the same values:
// Crc32c("123456789") == 0xe3069283.
#ifndef USBD_CACHE_CRC32C_H_
#define USBD_CACHE_CRC32C_H_

#include <cstdint>
#include <span>

namespace usbd {

// The CRC of `data`, continuing from `crc` (0 for a fresh checksum).
uint32_t Crc32c(std::span<const uint8_t> data, uint32_t crc = 0);

// The portable implementation, for tests that compare the two.
uint32_t Crc32cPortable(std::span<const uint8_t> data, uint32_t crc = 0);

}  // namespace usbd

#endif  // USBD_CACHE_CRC32C_H_
