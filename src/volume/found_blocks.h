// What a prefix already holds before usbd writes a volume there: a block
// object in any naming, and what s3backer recorded on it. How CreateVolume
// (metadata.h) tells an empty prefix from a volume written by s3backer, an
// older usbd or another tool, so it never creates a volume over one.
#ifndef USBD_VOLUME_FOUND_BLOCKS_H_
#define USBD_VOLUME_FOUND_BLOCKS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "object/block_key.h"
#include "object/object_store.h"
#include "retry/retry_policy.h"
#include "util/status.h"

namespace usbd {

// A block size a volume may have: a power of two from 512 to 2G.
inline bool IsValidVolumeBlockSize(uint64_t size) {
  return size >= 512 && size <= (uint64_t{1} << 31) && (size & (size - 1)) == 0;
}

// One block object found under a prefix, and the naming its key is in.
struct FoundBlock {
  std::string key;
  BlockNaming naming = BlockNaming::kPlain;
};

// One block object of the volume under `prefix` in any naming (usbd's or
// s3backer's, kAllBlockNamings), or nullopt when there is none. Lists when
// the store can (stopping at the first block), else HEADs block 0 in every
// naming (then nullopt is not proof of an empty volume).
Result<std::optional<FoundBlock>> FindBlockObject(ObjectStore& store,
                                                  const std::string& prefix,
                                                  const RetryOptions& retry);

// What s3backer records on the block objects it writes: on block 0, the
// volume's block size and size (x-amz-meta-s3backer-blocksize, -filesize);
// on every block, in Content-Encoding, whether it is compressed
// ("deflate") or encrypted ("encrypt-CIPHER").
struct S3backerBlock {
  uint64_t size = 0;  // 0: no (valid) geometry recorded on this object
  uint32_t block_size = 0;
  std::string encoding;
};

// The s3backer headers of the object `key` (nothing recorded when it has
// none: another tool, a store that keeps no headers, no such object). The
// HEAD goes through RetryWithBackoff(retry).
Result<S3backerBlock> ReadS3backerBlock(ObjectStore& store,
                                        const std::string& key,
                                        const RetryOptions& retry);

}  // namespace usbd

#endif  // USBD_VOLUME_FOUND_BLOCKS_H_
