// XXH64 (xxHash, 64-bit, by Yann Collet): the checksum usbd stores with
// every object it writes (codec/object_format.h, volume/volume_text.h).
// Part of the bucket format: the function must keep giving the reference
// values, e.g. Xxh64("") == 0xef46db3751d8e999 and Xxh64("abc") ==
// 0x44bc2cf5ad770999 (seed 0).
//
// Not a cryptographic hash: it detects corruption (a random change goes
// unnoticed with probability 2^-64), not tampering; the AES-GCM tag of an
// encrypted object does that. About 10+ GB/s on one core, so checking a
// block costs far less than fetching it.
//
// Thread safety: a pure function.
#ifndef USBD_UTIL_XXH64_H_
#define USBD_UTIL_XXH64_H_

#include <cstdint>
#include <span>

namespace usbd {

uint64_t Xxh64(std::span<const uint8_t> data, uint64_t seed = 0);

}  // namespace usbd

#endif  // USBD_UTIL_XXH64_H_
