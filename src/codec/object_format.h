// The format of a block object: what usbd stores for a block in an object
// store. Part of the bucket format; never change a published version, add
// a new one. Which version a volume writes is recorded in its metadata
// (object_format, volume/metadata.h); every version is read back whatever
// the volume records, so volumes written by earlier usbd stay readable.
//
// Integers are little-endian. Every headered object starts with:
//
//   offset  size  field
//        0     4  magic "USBD" (0x55 0x53 0x42 0x44)
//        4     1  format version (1 or 2)
//        5     1  codec: 0 none (payload is the raw block), 1 zstd (payload
//                 is one zstd frame, with its content size)
//        6     1  cipher: 0 none, 1 AES-256-GCM
//        7     1  reserved, 0
//        8     4  plain length: the decoded block's length (= block size)
//       12     4  payload length: bytes of codec output (the ciphertext has
//                 the same length)
//       16        body. cipher none:        payload
//                       cipher AES-256-GCM: nonce (12) | ciphertext | tag (16)
//
// Format version 2 (volumes whose metadata records object_format=2, as
// every volume created since this version exists does):
//
//   header (16) | body | checksum (8)
//
//   The checksum is XXH64 (seed 0, util/xxh64.h) of every byte before it,
//   header and body, stored little-endian. It is verified first on every
//   read, before anything in the object is believed: a mismatch is a
//   corrupt object (retried, see below), never data. With encryption the
//   GCM tag is checked as well, after it; the checksum tells corruption
//   (in transit or at rest) from tampering or a wrong key, and lets a
//   corrupt object be refused without the key.
//   Every block is stored with a header, also without compression or
//   encryption (codec none: header | raw block | checksum, block size + 24
//   bytes) and when zstd does not shrink a block ("stored raw" under
//   --compress: codec none). A zstd payload is always shorter than plain
//   length - 24, so a zstd object is shorter than a block and a codec none
//   object longer: no version 2 object is ever exactly block size bytes.
//   The zstd frame carries no checksum of its own (the object's covers it).
//
// Format version 1 (volumes without object_format in their metadata):
//
//   header (16) | body, and raw blocks. An unencrypted object of exactly
//   block size bytes has no header: it is the block itself, what runs
//   without compression store, and what --compress stores when a block does
//   not shrink. A zstd payload is always shorter than plain length - 16, so
//   a headered unencrypted object is always shorter than a block. Nothing
//   but the codec checks it: the zstd frame has its content checksum (the
//   low 32 bits of XXH64), an encrypted object its GCM tag; a raw block
//   has no check of its own (over S3, the ETag where it is an MD5, see
//   http/s3_store.h). Encrypted objects always have a header (codec none
//   when the block did not shrink). usbd still reads these, and writes them
//   only to volumes whose metadata records no object_format.
//
// So an object is 16 + payload bytes, 16 + 12 + payload + 16 encrypted,
// plus 8 in version 2; any other length is a truncated or extended object.
// With encryption the AAD is the 16 header bytes (version, codec, lengths:
// nothing in the header can be changed unnoticed), then the volume's UUID
// and the block number (see crypto/object_cipher.h), so an object moved to
// another block or another volume fails authentication.
//
// Integrity failures of objects read back from a store (a checksum
// mismatch, a failed authentication, a header or zstd frame that does not
// parse, a wrong length) are Status::Corrupt: EBADMSG (EIO on the NBD
// wire) and retryable, since a byte flipped in transit cannot be told from
// one flipped at rest; the retry layer reads the object again within its
// budget and only a mismatch that persists becomes EIO. The one exception
// is a version 2 object whose checksum verifies but whose header is
// impossible (written that way): EIO, not retryable.
#ifndef USBD_CODEC_OBJECT_FORMAT_H_
#define USBD_CODEC_OBJECT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/block_store.h"
#include "util/status.h"

namespace usbd {

// The versions this usbd reads and writes; new volumes get the newest.
constexpr uint8_t kObjectFormatV1 = 1;
constexpr uint8_t kObjectFormatV2 = 2;
constexpr uint8_t kNewestObjectFormat = kObjectFormatV2;
constexpr size_t kObjectHeaderSize = 16;
constexpr size_t kObjectChecksumSize = 8;  // version 2 trailer
constexpr size_t kObjectNonceSize = 12;
constexpr size_t kObjectTagSize = 16;

enum class Codec : uint8_t { kNone = 0, kZstd = 1 };
enum class Cipher : uint8_t { kNone = 0, kAes256Gcm = 1 };

// "none", "zstd" / "none", "aes-256-gcm": the names in volume metadata.
std::string_view CodecName(Codec codec);
std::string_view CipherName(Cipher cipher);
bool ParseCodecName(std::string_view name, Codec* codec);
bool ParseCipherName(std::string_view name, Cipher* cipher);

struct ObjectHeader {
  uint8_t version = kNewestObjectFormat;
  Codec codec = Codec::kNone;
  Cipher cipher = Cipher::kNone;
  uint32_t plain_length = 0;
  uint32_t payload_length = 0;

  // The body's length: payload, or nonce | ciphertext | tag.
  size_t body_size() const {
    return payload_length +
           (cipher == Cipher::kNone ? 0 : kObjectNonceSize + kObjectTagSize);
  }
  // The whole object's length for this header.
  size_t object_size() const {
    return kObjectHeaderSize + body_size() +
           (version >= kObjectFormatV2 ? kObjectChecksumSize : 0);
  }
};

// Whether `version` is one this usbd reads and writes.
bool IsKnownObjectFormat(uint32_t version);

// Writes the 16 header bytes to out[0..16).
void EncodeObjectHeader(const ObjectHeader& header, std::span<uint8_t> out);

// Whether `object` starts with the magic (a guess, for messages only).
bool HasObjectMagic(std::span<const uint8_t> object);

// Parses and checks the header of `object`, an object of `block` in a
// volume of `block_size`: magic, version, known codec and cipher, reserved
// byte, plain length = block_size, payload length consistent with the codec
// and with object.size(). Every failure is EIO (not retryable) naming the
// block and what is wrong. Reads nothing past the header but its length,
// and does not verify a version 2 checksum: for objects handed between
// layers in memory. Objects read from a store go through CheckStoredObject.
Result<ObjectHeader> ParseObjectHeader(std::span<const uint8_t> object,
                                       uint32_t block_size, uint64_t block);

// Checks `object` as read back from a store (anything but a raw block of
// block_size bytes): a version 2 object's checksum first, then its header
// (ParseObjectHeader). Failures are Status::Corrupt (retryable) naming the
// block, except a version 2 object whose checksum verifies and whose header
// is impossible (EIO, not retryable); see the top of this file.
Result<ObjectHeader> CheckStoredObject(std::span<const uint8_t> object,
                                       uint32_t block_size, uint64_t block);

// The body of an object whose header is `header`: payload, or nonce |
// ciphertext | tag. `object` must be header.object_size() bytes.
inline std::span<const uint8_t> ObjectBody(std::span<const uint8_t> object,
                                           const ObjectHeader& header) {
  return object.subspan(kObjectHeaderSize, header.body_size());
}

// Builds the object header | body (| checksum, version 2) into *object;
// header.payload_length must match the body. *object's capacity is reused.
void BuildObject(const ObjectHeader& header, std::span<const uint8_t> body,
                 std::vector<uint8_t>* object);

// For version 2: appends the checksum of all the bytes *object holds
// (header and body, written in place). No-op for version 1.
void SealObjectChecksum(const ObjectHeader& header,
                        std::vector<uint8_t>* object);

}  // namespace usbd

#endif  // USBD_CODEC_OBJECT_FORMAT_H_
