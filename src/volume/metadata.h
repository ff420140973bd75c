// Volume metadata: one small object per volume that records how the volume
// was created, so later runs auto-detect --size and --blockSize and refuse
// settings that would misread the blocks.
//
// Key: VolumeMetadataKey(prefix) = prefix + "usbd-volume". Block objects
// under a prefix are named from the characters [0-9a-f-] only (8 to 16 hex
// digits, or HHHHHHHH-digits with --blockHashPrefix), so no block key can
// ever equal it ('u', 's', 'v', 'o', 'l', 'm' are not hex).
//
// Content (format 1), in the text format of volume_text.h:
//
//   usbd-volume 1
//   size=1073741824                  bytes, a multiple of block_size
//   block_size=262144                bytes, a power of two, >= 512
//   block_hash_prefix=0              the block naming (object/block_key.h):
//                                    0 plain NNNNNNNN; 2 HHHHHHHH-NNNNNNNN
//                                    with s3backer's hash (--blockHashPrefix
//                                    since 2026-12); 1 the same with usbd's
//                                    older hash. A usbd that knows only 0
//                                    and 1 refuses 2 ("is not 0 or 1")
//   uuid=5f0c...e1                   32 lower-case hex digits, random
//   created=2026-01-02T03:04:05Z     UTC
//   codec=none | zstd                per-block compression (--compress)
//   cipher=none | aes-256-gcm        per-object encryption (--encrypt)
//   kdf=scrypt:n=65536,r=8,p=1       with a cipher only: the key derivation,
//   kdf_salt=<32 hex digits>         its random salt and the key-check value
//   key_check=<32 hex digits>        (crypto/encoding_settings.h, kdf.h)
//   object_format=2                  the block object format written
//                                    (codec/object_format.h); absent: 1.
//                                    Every volume created since format 2
//                                    exists records it, so a usbd that
//                                    knows only format 1 refuses the
//                                    volume ("unknown key") rather than
//                                    failing on each of its blocks
//   block_format=s3backer            a volume adopted from s3backer since
//                                    2026-12: its blocks stay in
//                                    s3backer's format (raw, deflate,
//                                    deflate + its encryption, as each
//                                    run's --compress and --encrypt say,
//                                    as s3backer's), so s3backer can serve
//                                    it again. Absent: usbd's format. A
//                                    usbd that does not know it refuses
//                                    the volume ("unknown key")
//   x-codec-level=3                  information: the zstd level last
//                                    recorded (--compress=LEVEL)
//   x-anything=...                   optional information
//
// Parsing is strict: every key of the list above except kdf, kdf_salt,
// key_check, object_format and the x- ones is required, each key appears once,
// numbers are plain decimal. ParseVolumeMetadata checks only the form of codec,
// cipher and the kdf entries; OpenOrCreateVolume then checks them as encoding
// settings (EncodingSettingsFromEntries: known codec and cipher, kdf
// entries exactly with a cipher), an error there being EIO naming the
// object too.
// Unknown keys: a key starting with "x-" is information a newer usbd may
// add; it is ignored and kept when this usbd rewrites the object. Any other
// unknown key is an error: a change that affects how blocks are read must
// not be silently ignored by an older usbd (such changes bump the format
// version, which an older usbd refuses: "volume metadata format 2 is newer
// than this usbd supports"). A metadata object that cannot be parsed is an
// EIO error naming its key; it is never overwritten by OpenOrCreateVolume.
//
// Rules of OpenOrCreateVolume (every message names the volume and the key):
//  - No metadata object:
//     * read-only: ENOENT (a read-only run never writes), unless `force`,
//       which uses the request's settings for this run and writes nothing.
//     * block objects of s3backer's (its block 0 records the volume's size
//       and block size in x-amz-meta-s3backer-filesize/-blocksize): adopted
//       without `force`, with that geometry (a different size or block size
//       in the request is EINVAL unless `force`) and the naming found;
//       "x-adopted-from=s3backer" and block_format=s3backer are recorded,
//       with codec and cipher "none" and object format 1: the blocks
//       stay s3backer's (their encoding is the run's business, as in
//       s3backer). Blocks s3backer encrypted need a cipher in the request
//       and unencrypted ones none (EINVAL otherwise, saying which).
//     * other block objects under the prefix (a volume written before usbd
//       had metadata, or by another tool): EEXIST, unless `force`, which
//       adopts them: metadata is created from the request (whose size and
//       block size must then be those the blocks were written with) and
//       the naming of the block found (a contradicting --blockHashPrefix is
//       EINVAL). Detection knows every naming, s3backer's included, and
//       lists the prefix (stopping at the first block) when the store can
//       list; otherwise it HEADs block 0 in every naming.
//     * otherwise the volume is created: size is required (EINVAL "--size
//       is required to create a new volume"), block_size defaults to
//       kDefaultVolumeBlockSize, the naming to plain (s3backer's hash with
//       --blockHashPrefix), codec and cipher to "none". With a cipher, the key
//       is derived first from the request's password with a fresh salt
//       (CreateVolumeKey), and kdf, kdf_salt and key_check are recorded with
//       the rest. The object is read back after writing; another creator that
//       won a race is EBUSY.
//  - Metadata present: a request value of 0 / nullopt / "" is "detect" and
//    takes the recorded value. A different value is EINVAL naming both
//    values ("compression zstd but the volume has none"), unless `force`:
//     * size (resizable): with force, the volume is resized and the
//       metadata rewritten. Shrinking first deletes the block objects past
//       the new end (listing when the store can, else by block number), so
//       a later grow cannot bring old data back; only then is the smaller
//       size recorded. Never on a read-only run (EPERM).
//     * codec (switchable): with force, the new codec is recorded (and its
//       x-codec-level) and used from then on. Every object says how it is
//       encoded (codec/object_format.h) and is decoded whatever the codec
//       of the run, so blocks written either way stay readable. A read-only
//       run writes nothing, so there it is allowed without a rewrite.
//     * block_size, block_hash_prefix (layout: existing blocks would be
//       misread): with force, allowed only when the store can list and the
//       volume has no block object (then the metadata is rewritten, keeping
//       uuid and created); otherwise EINVAL, pointing at --erase. Never on a
//       read-only run (EPERM).
//     * cipher: never, not even with force (EINVAL, pointing at --erase):
//       blocks of one kind cannot be read as the other, and an encrypted
//       volume must not quietly accept unencrypted blocks.
//    A volume with s3backer_blocks has no codec or cipher of its own: the
//    request's are s3backer's, for the s3backer object store, and are not
//    compared.
//    With a cipher, the key is derived from the recorded KDF parameters and
//    salt and checked against key_check (OpenVolumeKey) before anything is
//    rewritten or deleted: a wrong password is EACCES ("wrong password"),
//    a missing one EINVAL. No message ever contains the password or key.
//
// Thread safety: the functions are reentrant; two runs on the same volume
// at once are the mount token's business (mount_token.h), not this file's.
#ifndef USBD_VOLUME_METADATA_H_
#define USBD_VOLUME_METADATA_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/kdf.h"
#include "crypto/secret_key.h"
#include "object/block_key.h"
#include "object/object_store.h"
#include "retry/retry_policy.h"
#include "store/block_store.h"
#include "util/status.h"
#include "volume/found_blocks.h"

namespace usbd {

constexpr uint32_t kVolumeMetadataFormat = 1;
constexpr uint32_t kDefaultVolumeBlockSize = 256 * 1024;

// prefix + "usbd-volume".
std::string VolumeMetadataKey(const std::string& prefix);

struct VolumeMetadata {
  uint64_t size = 0;
  uint32_t block_size = 0;
  // block_hash_prefix: 0 kPlain, 1 kUsbdHash, 2 kS3backerHash.
  BlockNaming naming = BlockNaming::kPlain;
  std::string uuid;     // 32 lower-case hex digits
  std::string created;  // "2026-01-02T03:04:05Z"
  std::string codec = "none";
  std::string cipher = "none";
  // With a cipher (else empty, meaning absent): as the entries above.
  std::string kdf, kdf_salt, key_check;
  // The block object format (codec/object_format.h); 1 when not recorded.
  uint32_t object_format = 1;
  // block_format=s3backer: a volume adopted from s3backer whose blocks stay
  // in s3backer's format (s3backer/s3backer_codec.h), written and read by
  // the s3backer object store (codec and cipher are then "none", the
  // object format 1: usbd's layers pass raw blocks). Absent: usbd's.
  bool s3backer_blocks = false;
  // "x-" keys read from the object, kept on rewrite, in their order.
  std::vector<std::pair<std::string, std::string>> extra;

  // The x-adopted-from entry ("s3backer"), or "".
  std::string AdoptedFrom() const {
    for (const auto& [name, value] : extra) {
      if (name == "x-adopted-from") return value;
    }
    return "";
  }

  Geometry geometry() const {
    return {block_size, block_size == 0 ? 0 : size / block_size};
  }
};

// The object's content for `metadata` (format kVolumeMetadataFormat).
std::string FormatVolumeMetadata(const VolumeMetadata& metadata);

// Parses the object read from `key` (named in errors). Every failure is
// EIO and says what is wrong; never crashes on any input.
Result<VolumeMetadata> ParseVolumeMetadata(std::span<const uint8_t> bytes,
                                           const std::string& key);

struct VolumeRequest {
  uint64_t size = 0;        // --size; 0: detect (required on creation)
  uint32_t block_size = 0;  // --blockSize; 0: detect (default on creation)
  // --blockHashPrefix given: true (a new volume gets s3backer's hash,
  // kS3backerHash). nullopt: detect (a new volume is kPlain).
  std::optional<bool> block_hash_prefix;
  std::string codec = "none";  // "": detect
  // --compress=LEVEL, recorded as x-codec-level when the codec is recorded
  // (creation, forced switch); 0: not recorded. Information only.
  int codec_level = 0;
  std::string cipher = "none";  // "": detect
  // With a cipher (requested or detected): the password the key is derived
  // from. Not copied; the caller owns it (a SecretString).
  std::string_view password;
  KdfParams kdf;           // for a new encrypted volume
  bool force = false;      // --force
  bool read_only = false;  // --readOnly: never writes
  // How messages name the volume, e.g. "mybucket/vol1" (the export name).
  // Empty: the store's description and the prefix.
  std::string name;
};

struct OpenedVolume {
  VolumeMetadata metadata;  // what this run must use
  bool created = false;     // this call created the metadata object
  bool rewritten = false;   // this call rewrote it (forced change)
  // The volume key when metadata.cipher is not "none" (then never null).
  std::unique_ptr<SecretKey> key;
};

// Reads, checks, creates or (with force) updates the metadata of the
// volume under `prefix`, by the rules at the top of this file. Store calls
// go through RetryWithBackoff(retry). Logs one line when it creates or
// changes the metadata.
Result<OpenedVolume> OpenOrCreateVolume(ObjectStore& store,
                                        const std::string& prefix,
                                        const VolumeRequest& request,
                                        const RetryOptions& retry);

}  // namespace usbd

#endif  // USBD_VOLUME_METADATA_H_
