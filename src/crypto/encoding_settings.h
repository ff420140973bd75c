// What the compression and encryption layers need recorded in the volume
// metadata, as key=value entries for its text format (volume_text.h), and
// the key setup at start: a new volume draws a salt and records a key-check
// value; an existing one checks the password against it before any block
// is read.
//
// Entries (all values printable ASCII without spaces):
//   codec=none | zstd                     (required)
//   cipher=none | aes-256-gcm             (required)
//   kdf=scrypt:n=65536,r=8,p=1 | pbkdf2-sha256:iterations=600000
//   kdf_salt=<32 lower-case hex digits>   (16 random bytes)
//   key_check=<32 lower-case hex digits>  (kdf.h)
//                                         the last three exactly when
//                                         cipher is not none
//   x-codec-level=1..19                   information only (the level does
//                                         not affect decoding); optional
//
// Thread safety: reentrant.
#ifndef USBD_CRYPTO_ENCODING_SETTINGS_H_
#define USBD_CRYPTO_ENCODING_SETTINGS_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codec/object_format.h"
#include "crypto/kdf.h"
#include "crypto/secret_key.h"
#include "util/status.h"

namespace usbd {

struct EncodingSettings {
  Codec codec = Codec::kNone;
  int codec_level = 0;  // 0: not recorded
  Cipher cipher = Cipher::kNone;
  // With a cipher only:
  KdfParams kdf;
  std::vector<uint8_t> kdf_salt;
  std::string key_check;
};

using EncodingEntries = std::vector<std::pair<std::string, std::string>>;

// The entries above, in that order (kdf entries only with a cipher,
// x-codec-level only when codec_level is set).
EncodingEntries EncodingSettingsToEntries(const EncodingSettings& settings);

// Reads the entries above from `entries`, ignoring every other key, so the
// whole metadata can be passed. A missing codec or cipher is "none". EINVAL
// saying which entry is wrong (the metadata reader makes it EIO naming the
// object).
Result<EncodingSettings> EncodingSettingsFromEntries(
    const EncodingEntries& entries);

// For a new encrypted volume: draws settings->kdf_salt, derives the key
// with settings->kdf and records settings->key_check.
Result<std::unique_ptr<SecretKey>> CreateVolumeKey(std::string_view password,
                                                   EncodingSettings* settings);

// For an existing encrypted volume: derives the key from the recorded KDF
// parameters and salt; EACCES "wrong password ..." when it does not match
// the recorded key check. EINVAL when `settings` has no cipher.
Result<std::unique_ptr<SecretKey>> OpenVolumeKey(
    std::string_view password, const EncodingSettings& settings);

}  // namespace usbd

#endif  // USBD_CRYPTO_ENCODING_SETTINGS_H_
