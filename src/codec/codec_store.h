// The codec layer: how a block becomes the object stored for it, and back.
// Always present in the stack (stack/build_stack.h), above encryption or
// above the bottom store; the only place blocks are encoded and decoded.
//
//  - Read decodes whatever object the block holds (codec/block_codec.h
//    DecodeObject): a raw block, zstd, format 1 or 2, whatever the level or
//    whether compression is on now, so compression can be switched between
//    runs. Nothing stored reads as zeros. Anything that is neither a raw
//    block nor a valid object is Status::Corrupt naming the block and, with
//    a namer, its object ("block 3 (0x3): object is corrupt: checksum
//    mismatch (...); not served as data (object vol1/00000003, 4120
//    bytes)"): retryable, so the retry layer above fetches it again.
//  - A whole-block Write with level > 0 stores the zstd object when it is
//    shorter than the block, else the block uncompressed as the volume's
//    format stores it (format 2: header, block, checksum; format 1: the raw
//    block). With level 0 it stores the block uncompressed, likewise.
//  - Raw in place (level 0 over a store with partial writes: the --test
//    directory, memory): raw blocks are read, written and partially written
//    straight through the store below, which writes them in place (the
//    --test directory's blocks carry no checksum). Only a block that holds
//    an encoded object, which that store answers with Status::NotABlock,
//    takes the decoding path: its partial write decodes it, applies the
//    write and stores the whole block raw, under a lock that whole-block
//    writes and trims of the block also take, so no write completed
//    meanwhile is lost. Any other error (a real EIO of the disk) is
//    returned as it is.
//
// Requires the layer below to keep objects (capabilities().objects);
// Start() refuses others with EINVAL, and a level outside 0..19. Narrows
// capabilities: partial writes only raw in place (otherwise the frontend
// read-modify-writes), no objects (this layer consumes them).
//
// Counters: codec.compressed (blocks stored compressed), .stored_raw
// (blocks stored uncompressed with level > 0: they did not shrink),
// .bytes_in (block bytes written whole), .bytes_stored (object bytes
// stored for them), .decode_errors (reads refused: corrupt or foreign
// objects), .partial_rewrites (encoded blocks rewritten raw by a partial
// write).
//
// Thread safety: as BlockStore. Buffers are per thread; the read path
// takes no lock.
#ifndef USBD_CODEC_CODEC_STORE_H_
#define USBD_CODEC_CODEC_STORE_H_

#include <cstdint>
#include <memory>

#include "codec/block_codec.h"
#include "store/block_store.h"

namespace usbd {

struct CodecOptions {
  // 0: blocks are stored uncompressed; 1..19: the zstd level
  // (--compress=LEVEL).
  int level = 0;
  // The object format written (the volume's object_format).
  uint8_t object_format = kNewestObjectFormat;
  // Names a block's object in messages; may be empty.
  ObjectNamer namer;
};

// EINVAL unless level is 0 or kMinCompressLevel..kMaxCompressLevel, naming
// the option.
Status CheckCodecOptions(const CodecOptions& options);

std::unique_ptr<BlockStore> NewCodecStore(CodecOptions options,
                                          std::unique_ptr<BlockStore> inner);

}  // namespace usbd

#endif  // USBD_CODEC_CODEC_STORE_H_
