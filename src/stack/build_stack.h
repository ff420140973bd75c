// Builds the whole layer stack for a set of options, in one place:
//
//   zero -> retry -> [compress | decode] -> [encrypt] -> object blocks
//                                                   -> S3 | HTTP object store
//   zero -> [compress | decode] -> [encrypt] -> local directory
//   zero -> [compress] -> [encrypt] -> memory
//
// Compress, then encrypt (codec/compress_store.h, crypto/encrypt_store.h).
// The retry layer sits above the encoding layers, so that an object that
// fails its checksum or authentication when read back (Status::Corrupt,
// retryable) is fetched again within the same budget as a transport error,
// and only a mismatch that persists becomes EIO; a retried write is
// encoded and sealed again (a new nonce), which costs CPU only. Without
// --compress and --encrypt, a volume that persists gets a decoding layer
// instead: it stores whole blocks as objects of the volume's format
// (codec/object_format.h: format 2, header | block | checksum; format 1,
// the raw block) and decodes whatever object it reads (raw, zstd, either
// format), so compression can be switched off (--force) and the blocks
// written compressed stay readable. (With --encrypt the encryption layer
// decodes every codec itself.) Over the local directory, which writes raw
// blocks in place, the decoding layer stores and passes reads and partial
// writes of raw blocks straight through: blocks of the --test directory
// carry no checksum.
//
// Nothing here does I/O or starts threads: the caller calls Start() after
// daemonising.
#ifndef USBD_STACK_BUILD_STACK_H_
#define USBD_STACK_BUILD_STACK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "codec/object_format.h"
#include "config/options.h"
#include "crypto/encrypt_store.h"
#include "object/object_store.h"
#include "retry/retry_store.h"
#include "store/block_store.h"

namespace usbd {

// The object store the options select, for the volume-level objects
// (metadata, mount token) and the block objects: S3 or plain HTTP
// (credentials are resolved here), or for --test the directory as an
// object store (volume/dir_object_store.h). Error for --memory.
Result<std::unique_ptr<ObjectStore>> NewObjectStore(const Options& options);

RetryOptions RetryOptionsFor(const Options& options);

// The block stack. options.size, block_size and block_hash_prefix must
// already hold the volume's values (from its metadata, see
// volume/volume_session.h). With options.encrypt, `encryption` holds the
// volume key and UUID (VolumeSession::TakeEncryption()); EINVAL without
// them. Without options.encrypt it is ignored.
// With --blockCacheSize or --blockCacheFile, the write-back cache goes on
// top; `volume_uuid` ties a persistent cache to its volume.
Result<std::unique_ptr<BlockStore>> BuildStack(
    const Options& options, EncryptOptions encryption = {},
    const std::string& volume_uuid = "");

// The decoding layer described above: Read decodes any unencrypted object
// (codec/block_codec.h DecodeObject: Status::Corrupt naming the block, and
// the object by `namer` when given, for anything that is neither a raw
// block nor a valid object: "block 3 (0x3): object is corrupt: checksum
// mismatch (...); not served as data (object vol1/00000003, 4120
// bytes)"); Write stores the whole block with WriteObject as an object of
// `object_format` (raw in place over a store with partial writes). Needs a
// layer below that keeps objects; narrows capabilities to whole-block
// writes and no objects.
std::unique_ptr<BlockStore> NewDecodeStore(
    std::unique_ptr<BlockStore> inner, ObjectNamer namer = nullptr,
    uint8_t object_format = kNewestObjectFormat);

}  // namespace usbd

#endif  // USBD_STACK_BUILD_STACK_H_
