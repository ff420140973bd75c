// Compression: zstd per block (--compress[=LEVEL]), between the zero layer
// and the encryption layer (or the object store).
//
// A whole-block Write is compressed into an object of the volume's format
// (object_format.h) and stored with the layer below's WriteObject; a block
// that does not shrink is stored uncompressed, exactly as a run without
// compression stores it (format 2: header, block, checksum; format 1: the
// raw block). Read decodes whatever the object is (raw block, zstd, either
// format), whatever the level or whether compression is on, so it can be
// switched between runs. A corrupt object is Status::Corrupt naming the
// block (retryable: the retry layer above reads it again), never data.
//
// Requires the layer below to keep objects (capabilities().objects);
// Start() refuses others with EINVAL. Narrows capabilities: whole-block
// writes only (partial_write = false, the frontend read-modify-writes) and
// no objects (this layer consumes them).
//
// Counters: compress.compressed (blocks stored compressed), .stored_raw
// (blocks that did not shrink), .bytes_in (block bytes written),
// .bytes_stored (object bytes stored for them), .decode_errors (reads
// refused: corrupt or foreign objects).
//
// Thread safety: as BlockStore. Buffers are per thread; no locks.
#ifndef USBD_CODEC_COMPRESS_STORE_H_
#define USBD_CODEC_COMPRESS_STORE_H_

#include <cstdint>
#include <memory>

#include "codec/block_codec.h"
#include "store/block_store.h"

namespace usbd {

struct CompressOptions {
  int level = kDefaultCompressLevel;  // --compress=LEVEL, 1..19
  // The object format written (the volume's object_format).
  uint8_t object_format = kNewestObjectFormat;
};

// EINVAL unless 1 <= level <= 19, naming the option.
Status CheckCompressOptions(const CompressOptions& options);

std::unique_ptr<BlockStore> NewCompressStore(CompressOptions options,
                                             std::unique_ptr<BlockStore> inner);

}  // namespace usbd

#endif  // USBD_CODEC_COMPRESS_STORE_H_
