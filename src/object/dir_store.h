// The local directory object store, usbd's embedded default (`--test`).
//
// One file per block in `directory`, named as the S3 key would be
// (BlockObjectName(prefix, block)). A missing file is a block never written
// (or trimmed): it reads as zeros. A block file of the wrong size is
// Status::NotABlock for Read and partial writes (an encoded object, or a
// truncated or foreign one), never served or written.
//
// Writes (capabilities().partial_write):
//  - A whole-block write goes to a hidden temporary file that is renamed
//    over the block's file, so the block holds its old or its new content,
//    never a mix, even across a crash.
//  - A sub-block write goes into the block's file in place (pwrite), like a
//    write to a file on a disk: a crash or an error may tear it (at page
//    granularity, as the file system allows); FLUSH makes it durable. A
//    block without a file gets one holding zeros around the data, created
//    under a temporary name and installed only if the block still has no
//    file, so concurrent partial writes to a new block all survive.
// Flush() fsyncs every file written since the last flush, then the
// directory, so renames and unlinks are durable too.
//
// Open block files are kept in a bounded cache of descriptors, so a read or
// a partial write costs one pread or pwrite. A read or write that starts
// after a whole-block write, WriteObject or Trim of the block returned never
// uses the block's previous file.
//
// Objects (capabilities().objects): WriteObject/ReadObject keep a file of
// the object's own length, written the same atomic way as a whole block.
#ifndef USBD_OBJECT_DIR_STORE_H_
#define USBD_OBJECT_DIR_STORE_H_

#include <memory>
#include <string>

#include "store/block_store.h"

namespace usbd {

struct DirStoreOptions {
  std::string directory;  // created (one level) if missing, unless read_only
  std::string prefix;     // prepended to every block file name
  Geometry geometry;
  bool read_only = false;
};

std::unique_ptr<BlockStore> NewDirStore(const DirStoreOptions& options);

}  // namespace usbd

#endif  // USBD_OBJECT_DIR_STORE_H_
