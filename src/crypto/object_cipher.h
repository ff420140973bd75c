// ObjectCipher: AES-256-GCM sealing and opening of block objects (the
// format in codec/object_format.h), through OpenSSL's EVP API, under one
// volume key.
//
// Every Seal draws a fresh random 96-bit nonce (OpenSSL's CSPRNG), so one
// key may seal about 2^32 objects before nonce reuse becomes a concern
// (NIST SP 800-38D); a volume rewritten that often needs a new key.
//
// Additional authenticated data, in this order:
//   the 16 header bytes (magic, format version, codec, cipher, lengths)
//   the block number, 8 bytes little-endian
//   the volume UUID as recorded in the metadata (32 hex digits)
// so an object that is tampered with, truncated, moved to another block or
// copied from another volume (even one with the same password and salt)
// fails to open. Open releases no byte before the tag is verified: a
// failure clears the output, and nothing unauthenticated is decompressed.
//
// Thread safety: Seal and Open may be called concurrently; initialised
// cipher contexts are pooled (the key schedule is computed once each).
#ifndef USBD_CRYPTO_OBJECT_CIPHER_H_
#define USBD_CRYPTO_OBJECT_CIPHER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "codec/object_format.h"
#include "crypto/secret_key.h"
#include "util/status.h"

namespace usbd {

class ObjectCipher {
 public:
  // EINVAL for a missing key or a volume UUID that is empty or longer than
  // 64 bytes; EIO when OpenSSL has no AES-256-GCM.
  static Result<std::unique_ptr<ObjectCipher>> New(
      std::unique_ptr<SecretKey> key, std::string volume_uuid);

  virtual ~ObjectCipher() = default;

  // Seals `payload` (the codec output `header` describes; header.cipher is
  // ignored) as the object of `block` into *sealed: header with cipher
  // AES-256-GCM, nonce, ciphertext, tag, and for format version 2
  // (header.version) the checksum. *sealed's capacity is reused.
  virtual Status Seal(uint64_t block, ObjectHeader header,
                      std::span<const uint8_t> payload,
                      std::vector<uint8_t>* sealed) = 0;

  // Opens `sealed`, read as the object of `block` in a volume of
  // `block_size`: checks the checksum and header (CheckStoredObject; it
  // must say AES-256-GCM), authenticates, and decrypts the payload into
  // *payload. Every failure names the block and leaves *payload empty; a
  // checksum or authentication failure is Status::Corrupt (retryable), an
  // object that is not encrypted is EIO.
  virtual Result<ObjectHeader> Open(uint64_t block, uint32_t block_size,
                                    std::span<const uint8_t> sealed,
                                    std::vector<uint8_t>* payload) = 0;
};

}  // namespace usbd

#endif  // USBD_CRYPTO_OBJECT_CIPHER_H_
