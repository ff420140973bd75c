// The format of an encoded block object: what the compression and
// encryption layers store in place of a raw block. Part of the bucket
// format; never change a published version, add a new one.
//
// Format version 1. Integers are little-endian.
//
//   offset  size  field
//        0     4  magic "USBD" (0x55 0x53 0x42 0x44)
//        4     1  format version (1)
//        5     1  codec: 0 none (payload is the raw block), 1 zstd (payload
//                 is one zstd frame, with its content size and checksum)
//        6     1  cipher: 0 none, 1 AES-256-GCM
//        7     1  reserved, 0
//        8     4  plain length: the decoded block's length (= block size)
//       12     4  payload length: bytes of codec output (the ciphertext has
//                 the same length)
//       16        cipher none:        payload
//                 cipher AES-256-GCM: nonce (12) | ciphertext | tag (16)
//
// So an object is 16 + payload bytes, or 16 + 12 + payload + 16 encrypted;
// any other length is a truncated or extended object. With encryption the
// AAD is the 16 header bytes (version, codec, lengths: nothing in the header
// can be changed unnoticed), then the volume's UUID and the block number
// (see crypto/object_cipher.h), so an object moved to another block or
// another volume fails authentication.
//
// Raw blocks: an unencrypted object of exactly block size bytes has no
// header; it is the block itself. That is what runs without compression
// store, and what the compression layer stores when a block does not
// shrink ("stored raw"), so compression can be switched on and off between
// runs and an incompressible block costs nothing. A zstd payload is always
// shorter than plain length - 16, so a headered unencrypted object is
// always shorter than a block: no object can be taken for the other kind,
// and a truncated raw block is refused, not served. Encrypted objects always
// have a header (codec none when the block did not shrink).
#ifndef USBD_CODEC_OBJECT_FORMAT_H_
#define USBD_CODEC_OBJECT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "util/status.h"

namespace usbd {

constexpr uint8_t kObjectFormatVersion = 1;
constexpr size_t kObjectHeaderSize = 16;
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
  uint8_t version = kObjectFormatVersion;
  Codec codec = Codec::kNone;
  Cipher cipher = Cipher::kNone;
  uint32_t plain_length = 0;
  uint32_t payload_length = 0;

  // The whole object's length for this header.
  size_t object_size() const {
    return kObjectHeaderSize + payload_length +
           (cipher == Cipher::kNone ? 0 : kObjectNonceSize + kObjectTagSize);
  }
};

// Writes the 16 header bytes to out[0..16).
void EncodeObjectHeader(const ObjectHeader& header, std::span<uint8_t> out);

// Whether `object` starts with the magic (a guess, for messages only).
bool HasObjectMagic(std::span<const uint8_t> object);

// Parses and checks the header of `object`, an object of `block` in a
// volume of `block_size`: magic, version, known codec and cipher, reserved
// byte, plain length = block_size, payload length consistent with the codec
// and with object.size(). Every failure is EIO (not retryable) naming the
// block and what is wrong. Reads nothing past the header but its length.
Result<ObjectHeader> ParseObjectHeader(std::span<const uint8_t> object,
                                       uint32_t block_size, uint64_t block);

// "block 12 (0xc)": how every message of these layers names a block.
std::string DescribeBlock(uint64_t block);

}  // namespace usbd

#endif  // USBD_CODEC_OBJECT_FORMAT_H_
