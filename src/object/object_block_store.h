// The block adapter: a BlockStore whose blocks are objects in an
// ObjectStore (S3, plain HTTP, memory). The bottom layer of the stack.
//
// Naming: block N is the object BlockObjectKey(prefix, hash_prefix, N):
//   prefix + 8 hex digits of block N                  (default)
//   prefix + HHHHHHHH + "-" + 8 hex digits of block N  (--blockHashPrefix)
// where HHHHHHHH is BlockHashPrefix(N), the low 32 bits of the SplitMix64
// finaliser of N in lower-case hex: it spreads keys over an S3 bucket's
// partitions. Both forms are part of the bucket format; never change them.
//
// Semantics:
//  - Read fetches the whole object (a sub-range read still GETs the whole
//    block; the layers above read whole blocks anyway). A missing object
//    (404) reads as zeros. An object whose size is not the block size is
//    Status::NotABlock naming the key (an encoded, truncated or foreign
//    object), never served; EIO on the wire.
//  - Write takes whole blocks only (capabilities().partial_write = false;
//    anything else is EINVAL). An all-zero block is not stored: it becomes
//    a DELETE. Trim is a DELETE. Read-only volumes refuse both with EPERM.
//  - Objects (capabilities().objects): ReadObject/WriteObject keep the
//    variable-length objects of the compression and encryption layers as
//    they are, any length from 1 to MaxObjectSize(block_size) (longer or
//    empty ones are EIO on read, EINVAL on write). No all-zero shortcut.
//  - Flush is a no-op and capabilities().flush is false: a PUT or DELETE
//    that returned 2xx is already durable in the store.
//  - Errors from the store pass up unchanged (with the block named), so the
//    retry layer above sees their retryable bit.
//
// Allocation (--listBlocks): with `list_blocks`, Start() lists every
// object under the prefix (paginated, in `list_threads` parallel listings
// of disjoint key ranges) into a bitmap of block_count bits. Afterwards a
// read of a block the bitmap marks absent returns zeros without a request,
// and QueryAllocation is exact, provided no other host writes the volume
// (--sharedDiskMode must not use --listBlocks). The bitmap errs only
// towards "present": a block is marked absent only after a DELETE that did
// not overlap any other write of that block completed. Without
// `list_blocks`, QueryAllocation reports every block allocated and
// capabilities().allocation is false: probing with HEAD would cost one
// request per block of every NBD block-status query.
//
// Thread safety: as BlockStore. Ownership: owns the ObjectStore.
#ifndef USBD_OBJECT_OBJECT_BLOCK_STORE_H_
#define USBD_OBJECT_OBJECT_BLOCK_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "object/object_store.h"
#include "store/block_store.h"

namespace usbd {

struct ObjectBlockStoreOptions {
  Geometry geometry;
  std::string prefix;              // --prefix, e.g. "vol1/"
  bool block_hash_prefix = false;  // --blockHashPrefix
  bool read_only = false;          // --readOnly
  bool list_blocks = false;        // --listBlocks
  unsigned list_threads = 4;       // --listBlocksThreads
};

std::unique_ptr<BlockStore> NewObjectBlockStore(
    ObjectBlockStoreOptions options, std::unique_ptr<ObjectStore> store);

// The 8 hex digits --blockHashPrefix puts before block N's name.
std::string BlockHashPrefix(uint64_t block);

// The object key of `block`, as described above.
std::string BlockObjectKey(const std::string& prefix, bool hash_prefix,
                           uint64_t block);

// The block whose key is `key` (under `prefix`), or false when `key` is not
// a block object of this naming (metadata, foreign objects).
bool ParseBlockObjectKey(const std::string& prefix, bool hash_prefix,
                         const std::string& key, uint64_t* block);

}  // namespace usbd

#endif  // USBD_OBJECT_OBJECT_BLOCK_STORE_H_
