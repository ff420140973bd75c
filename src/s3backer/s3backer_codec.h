// s3backer's block format, read and written, so that usbd serves a volume
// s3backer wrote in place and s3backer can serve it again afterwards
// (s3backer 1.5 and 2.x store blocks alike). Part of the compatibility
// contract: nothing here may change.
//
// s3backer stores block N as one object (its key: object/block_key.h) and
// says how it is encoded in the object's headers:
//
//   Content-Encoding   absent: the object is the raw block. Otherwise the
//                      encodings applied, in order, comma separated:
//                      "deflate" (zlib's format, RFC 1950), then
//                      "encrypt-CIPHER", CIPHER an OpenSSL block cipher in
//                      upper case (AES-128-CBC, s3backer's default). With
//                      encryption s3backer always compresses first.
//   x-amz-meta-s3backer-hmac   with encryption: the 40 hex digits, in
//                      double quotes, of HMAC-SHA1 under `key` over
//                      N as 8 lower-case hex digits, CIPHER, the ciphertext.
//   x-amz-meta-s3backer-blocksize, x-amz-meta-s3backer-filesize
//                      on block 0 only: the block size and volume size, in
//                      decimal (how s3backer detects a volume's geometry).
//
// Keys, from the password, for a cipher whose key is K bytes (--keyLength,
// or the cipher's own key length):
//   key   = PBKDF2-HMAC-SHA1(password, "BUCKET/PREFIX", 5000, K)
//   ivkey = PBKDF2-HMAC-SHA1(key, key, 5000, K)
// Block N's IV is one cipher block, N as 8 lower-case hex digits followed
// by zero bytes, encrypted with the cipher under ivkey with ivkey as IV
// and no padding. The body is the cipher under key and that IV, with
// PKCS#7 padding. Encrypt-then-MAC: the HMAC is checked before anything is
// decrypted or inflated, so a wrong password or a changed byte is refused
// and never served.
//
// Thread safety: an S3backerCipher is immutable after construction and may
// be used from any number of threads; the functions are reentrant.
#ifndef USBD_S3BACKER_S3BACKER_CODEC_H_
#define USBD_S3BACKER_S3BACKER_CODEC_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secure_memory.h"
#include "object/object_store.h"
#include "util/status.h"

namespace usbd {

// s3backer's default cipher (its bare --encrypt).
inline constexpr std::string_view kS3backerDefaultCipher = "AES-128-CBC";

// The cipher and keys of an encrypted s3backer volume, in secure memory.
class S3backerCipher {
 public:
  // `cipher` is an OpenSSL name (any case); `key_length` 0 means the
  // cipher's. EINVAL for an unknown cipher, one that is not a block cipher
  // whose IV is one block (s3backer's rule), or a key length outside the
  // cipher's key length to 64. `bucket` and `prefix` are the volume's
  // (the salt); the password is not kept.
  static Result<std::unique_ptr<S3backerCipher>> New(std::string_view cipher,
                                                     std::string_view password,
                                                     unsigned key_length,
                                                     const std::string& bucket,
                                                     const std::string& prefix);

  ~S3backerCipher();
  S3backerCipher(const S3backerCipher&) = delete;
  S3backerCipher& operator=(const S3backerCipher&) = delete;

  // "AES-128-CBC": as s3backer names it in Content-Encoding.
  const std::string& name() const { return name_; }

  // The ciphertext of `plain` for block N, and its HMAC header value
  // ("\"<40 hex>\"").
  Status Seal(uint64_t block, std::span<const uint8_t> plain,
              std::vector<uint8_t>* sealed, std::string* hmac) const;

  // Checks `hmac` (the header value) over `sealed`, then decrypts it.
  // Status::Corrupt when the HMAC does not verify ("wrong password?") or
  // the padding is wrong; EIO without an HMAC.
  Status Open(uint64_t block, std::span<const uint8_t> sealed,
              std::string_view hmac, std::vector<uint8_t>* plain) const;

 private:
  S3backerCipher() = default;
  std::string Hmac(uint64_t block, std::span<const uint8_t> sealed) const;
  Status BlockIv(uint64_t block, uint8_t* iv) const;
  // The bulk cipher over `in` for `block`: false when OpenSSL fails (or,
  // decrypting, the padding is wrong).
  bool Crypt(uint64_t block, bool encrypt, std::span<const uint8_t> in,
             std::vector<uint8_t>* out) const;

  std::string name_;
  const void* evp_ = nullptr;  // const EVP_CIPHER*
  void* mac_ = nullptr;        // EVP_MAC* (HMAC), fetched once
  SecretString key_, ivkey_;
};

// How usbd writes the blocks of a volume adopted from s3backer, as
// s3backer's options say: deflate at `deflate_level` (zlib's 1..9, or -1
// for zlib's default; 0: not compressed), then, with a cipher, encrypted
// (which implies deflate, as in s3backer).
struct S3backerEncoding {
  int deflate_level = 0;
  std::shared_ptr<const S3backerCipher> cipher;  // null: not encrypted

  // Blocks are stored as they are, with no Content-Encoding.
  bool raw() const { return deflate_level == 0 && !cipher; }
};

// Block `block` as s3backer stores it under `encoding`: the object bytes
// and the headers that say how to read them (Content-Encoding and the
// HMAC; none for a raw block).
Status EncodeS3backerBlock(uint64_t block, std::span<const uint8_t> raw,
                           const S3backerEncoding& encoding,
                           std::vector<uint8_t>* object,
                           ObjectHeaders* headers);

// The raw block of `block_size` bytes an s3backer object holds. `cipher`
// is the volume's (null when the run has no --encrypt): as s3backer, an
// encrypted block without it, or an unencrypted block with it, is EIO
// naming the reason. Undecodable objects are Status::Corrupt (a retry may
// fetch an intact copy); the messages name the block.
Status DecodeS3backerBlock(uint64_t block, StoredObject object,
                           uint32_t block_size, const S3backerCipher* cipher,
                           std::vector<uint8_t>* raw);

}  // namespace usbd

#endif  // USBD_S3BACKER_S3BACKER_CODEC_H_
