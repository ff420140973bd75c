// Key derivation: the volume key from a password, a random salt kept in the
// volume metadata and a slow KDF (scrypt, or PBKDF2-HMAC-SHA256 with many
// iterations), through OpenSSL. A key-check value recorded beside the salt
// makes a wrong password a clear error at start, before any block is read.
//
//   key        = KDF(password, salt, params), 32 bytes (AES-256)
//   key check  = first 16 bytes of HMAC-SHA256(key, "usbd key check v1"),
//                as 32 lower-case hex digits. HMAC is one-way: the check
//                value reveals nothing of the key, and guessing passwords
//                against it costs one KDF per guess, as against any object.
//
// Thread safety: every function may be called concurrently.
#ifndef USBD_CRYPTO_KDF_H_
#define USBD_CRYPTO_KDF_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/secret_key.h"
#include "util/status.h"

namespace usbd {

enum class KdfAlgorithm { kScrypt, kPbkdf2Sha256 };

struct KdfParams {
  KdfAlgorithm algorithm = KdfAlgorithm::kScrypt;
  // scrypt: N (a power of two), r, p. The defaults take 64 MiB for
  // well under a second, once per start.
  uint64_t scrypt_n = uint64_t{1} << 16;
  uint32_t scrypt_r = 8;
  uint32_t scrypt_p = 1;
  // PBKDF2-HMAC-SHA256 (OWASP's 2023 advice).
  uint32_t pbkdf2_iterations = 600000;
};

// As recorded in volume metadata: "scrypt:n=65536,r=8,p=1" or
// "pbkdf2-sha256:iterations=600000".
std::string FormatKdfParams(const KdfParams& params);

// Parses FormatKdfParams' output. EINVAL saying what is wrong, also for
// costs outside the bounds this usbd accepts (scrypt N 2^10..2^22, r 1..32,
// p 1..16, at most 1 GiB; PBKDF2 1000..10^9 iterations), so a forged
// metadata object cannot make a start take all memory or forever.
Result<KdfParams> ParseKdfParams(std::string_view text);

constexpr size_t kKdfSaltSize = 16;
constexpr size_t kKeyCheckHexDigits = 32;

// kKdfSaltSize random bytes (OpenSSL's CSPRNG).
Result<std::vector<uint8_t>> NewKdfSalt();

// The key for `password` and `salt`. The password is not kept; the caller
// wipes its own copy (a SecretString does). EINVAL for an empty password or
// salt, or parameters ParseKdfParams would refuse.
Result<std::unique_ptr<SecretKey>> DeriveKey(std::string_view password,
                                             std::span<const uint8_t> salt,
                                             const KdfParams& params);

// The key-check value of `key`, described above.
std::string KeyCheckValue(const SecretKey& key);

// OK when `expected` is KeyCheckValue(key) (compared in constant time),
// else EACCES "wrong password ...".
Status VerifyKeyCheck(const SecretKey& key, std::string_view expected);

}  // namespace usbd

#endif  // USBD_CRYPTO_KDF_H_
