// How blocks are named in a bucket and in the --test directory: part of
// the bucket format, never change it.
//
//   prefix + 8 (or more) lower-case hex digits of N          kPlain (default)
//   prefix + HHHHHHHH + "-" + 8 (or more) hex digits of N    the hashed namings
//
// where HHHHHHHH, the block's hash prefix, spreads keys over an S3 bucket's
// partitions (--blockHashPrefix). Two hash functions exist:
//   kS3backerHash  s3backer's (its --blockHashPrefix): 12 rounds over the
//                  32-bit block number, so s3backer and usbd name the same
//                  block alike and either can serve the other's bucket.
//                  Every --blockHashPrefix volume created since format
//                  "block_hash_prefix=2" of the volume metadata uses it.
//   kUsbdHash      the low 32 bits of the SplitMix64 finaliser of N: what
//                  usbd used before (metadata block_hash_prefix=1); kept so
//                  those volumes still read.
#ifndef USBD_OBJECT_BLOCK_KEY_H_
#define USBD_OBJECT_BLOCK_KEY_H_

#include <cstdint>
#include <initializer_list>
#include <string>

namespace usbd {

enum class BlockNaming : uint8_t {
  kPlain = 0,
  kUsbdHash = 1,
  kS3backerHash = 2,
};

// Every naming, for code that recognises blocks it did not write.
inline constexpr std::initializer_list<BlockNaming> kAllBlockNamings = {
    BlockNaming::kPlain, BlockNaming::kS3backerHash, BlockNaming::kUsbdHash};

// "plain", "s3backer hash" or "usbd hash (before 2026-12)", for messages.
std::string BlockNamingName(BlockNaming naming);

// prefix + block N in 8 (or more) lower-case hex digits: the directory
// store's file names, and the object keys of kPlain.
std::string BlockObjectName(const std::string& prefix, uint64_t block);

// The 8 hex digits a hashed naming puts before block N's name (kPlain: "").
std::string BlockHashPrefix(BlockNaming naming, uint64_t block);

// The object key of `block` in `naming`.
std::string BlockObjectKey(const std::string& prefix, BlockNaming naming,
                           uint64_t block);

// The block whose key is `key` (under `prefix`), or false when `key` is not
// a block object of this naming (metadata, foreign objects, a
// non-canonical spelling, a hash prefix that does not match).
bool ParseBlockObjectKey(const std::string& prefix, BlockNaming naming,
                         const std::string& key, uint64_t* block);

}  // namespace usbd

#endif  // USBD_OBJECT_BLOCK_KEY_H_
