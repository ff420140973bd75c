// How blocks are named in a bucket and in the --test directory: part of
// the bucket format, never change it.
//
//   prefix + 8 (or more) lower-case hex digits of N                (default)
//   prefix + HHHHHHHH + "-" + 8 hex digits of N            (--blockHashPrefix)
//
// where HHHHHHHH is BlockHashPrefix(N), the low 32 bits of the SplitMix64
// finaliser of N in lower-case hex: it spreads keys over an S3 bucket's
// partitions.
#ifndef USBD_OBJECT_BLOCK_KEY_H_
#define USBD_OBJECT_BLOCK_KEY_H_

#include <cstdint>
#include <string>

namespace usbd {

// prefix + block N in 8 (or more) lower-case hex digits: the directory
// store's file names, and the object keys without --blockHashPrefix.
std::string BlockObjectName(const std::string& prefix, uint64_t block);

// The 8 hex digits --blockHashPrefix puts before block N's name.
std::string BlockHashPrefix(uint64_t block);

// The object key of `block`, in either naming.
std::string BlockObjectKey(const std::string& prefix, bool hash_prefix,
                           uint64_t block);

// The block whose key is `key` (under `prefix`), or false when `key` is not
// a block object of this naming (metadata, foreign objects, a
// non-canonical spelling).
bool ParseBlockObjectKey(const std::string& prefix, bool hash_prefix,
                         const std::string& key, uint64_t* block);

}  // namespace usbd

#endif  // USBD_OBJECT_BLOCK_KEY_H_
