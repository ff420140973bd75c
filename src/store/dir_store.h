// The local directory object store, usbd's embedded default (`--test`).
//
// One file per block in `directory`, named as the S3 key would be
// (BlockObjectName(prefix, block)). A missing file is a block never written
// (or trimmed): it reads as zeros. A write goes to a hidden temporary file
// that is renamed over the block's file, so a block holds its old or its new
// content, never a mix. Flush() fsyncs every file written since the last
// flush, then the directory, so renames and unlinks are durable too. A block
// file of the wrong size is reported as EIO (truncated object), never served.
// Objects (capabilities().objects): WriteObject/ReadObject keep a file of
// the object's own length, written the same atomic way.
#ifndef USBD_STORE_DIR_STORE_H_
#define USBD_STORE_DIR_STORE_H_

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

#endif  // USBD_STORE_DIR_STORE_H_
