// zstd per block: compressing a block into an object of the format in
// object_format.h, and decoding objects back into blocks. Shared by the
// compression layer (which stores these objects) and the encryption layer
// (which seals them, and decodes what it opened when no compression layer
// is above it).
//
// Thread safety: every function may be called concurrently; each thread
// keeps its own zstd contexts.
#ifndef USBD_CODEC_BLOCK_CODEC_H_
#define USBD_CODEC_BLOCK_CODEC_H_

#include <cstdint>
#include <span>
#include <vector>

#include "codec/object_format.h"
#include "util/status.h"

namespace usbd {

constexpr int kMinCompressLevel = 1;
constexpr int kMaxCompressLevel = 19;
constexpr int kDefaultCompressLevel = 1;  // zstd's fastest regular level

// Compresses `block` at `level` (clamped to 1..19) into *object, an object
// of format `version` (header, zstd frame, and the checksum in version 2),
// when that object is shorter than the block (see object_format.h) and
// returns true. Otherwise returns false: the block does not shrink and is
// to be stored raw (version 1) or as a codec none object (version 2);
// *object is then unspecified. *object's capacity is reused.
bool CompressBlock(std::span<const uint8_t> block, int level, uint8_t version,
                   std::vector<uint8_t>* object);

// The object of format `version` that stores `block` uncompressed: the
// block itself (version 1), or header | block | checksum (version 2, built
// in *object, whose capacity is reused). Returns the bytes to store.
std::span<const uint8_t> UncompressedObject(std::span<const uint8_t> block,
                                            uint8_t version,
                                            std::vector<uint8_t>* object);

// Decodes the payload of an object whose header is `header` (checked by
// ParseObjectHeader, and authenticated first if it was encrypted) into
// `out`, exactly header.plain_length bytes. A zstd frame that is corrupt or
// does not decode to exactly that length is Status::Corrupt naming the
// block.
Status DecodePayload(uint64_t block, const ObjectHeader& header,
                     std::span<const uint8_t> payload, std::span<uint8_t> out);

// Decodes an unencrypted object read from a store into `out` (the whole
// block): an object of exactly out.size() bytes is a raw block (format 1);
// anything else must be a valid object (CheckStoredObject: checksum,
// header, payload). An encrypted object is EIO ("is encrypted"): without
// the encryption layer there is no key to open it. Every failure names the
// block; integrity failures are Status::Corrupt (retryable).
Status DecodeObject(uint64_t block, std::span<const uint8_t> object,
                    std::span<uint8_t> out);

}  // namespace usbd

#endif  // USBD_CODEC_BLOCK_CODEC_H_
