// The block adapter: a BlockStore whose blocks are objects in an
// ObjectStore (S3, plain HTTP, memory). The bottom layer of the stack.
//
// Naming: block N is the object BlockObjectKey(prefix, naming, N)
// (object/block_key.h).
//
// Semantics:
//  - Objects only (capabilities().objects): ReadObject/WriteObject keep
//    the objects of the codec and encryption layers above as they are, any
//    length from 1 to MaxObjectSize(block_size) (longer or empty ones are
//    EIO on read, EINVAL on write). A missing object (404) reads as empty:
//    a block never written. Read and Write are ENOTSUP: blocks become
//    objects in the codec layer (codec/codec_store.h), which is always
//    above. Trim is a DELETE. Read-only volumes refuse changes with EPERM.
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

#include "object/block_key.h"
#include "object/object_store.h"
#include "store/block_store.h"

namespace usbd {

struct ObjectBlockStoreOptions {
  Geometry geometry;
  std::string prefix;                        // --prefix, e.g. "vol1/"
  BlockNaming naming = BlockNaming::kPlain;  // the volume's
  bool read_only = false;                    // --readOnly
  bool list_blocks = false;                  // --listBlocks
  unsigned list_threads = 4;                 // --listBlocksThreads
};

std::unique_ptr<BlockStore> NewObjectBlockStore(
    ObjectBlockStoreOptions options, std::unique_ptr<ObjectStore> store);

}  // namespace usbd

#endif  // USBD_OBJECT_OBJECT_BLOCK_STORE_H_
