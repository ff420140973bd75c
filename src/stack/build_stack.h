// The composition root: the whole layer stack of a volume, built in one
// place, in one order:
//
//   [cache] -> zero -> [retry] -> codec -> [encrypt] -> bottom
//
//   cache    write-back block cache (--blockCacheSize, --blockCacheFile);
//            cache/cache_store.h
//   zero     all-zero blocks become trims; store/zero_store.h
//   retry    over S3 and HTTP only: above decoding, so that an object that
//            fails its checksum or authentication when read back
//            (Status::Corrupt, retryable) is fetched again within the same
//            budget as a transport error, and only a mismatch that persists
//            becomes EIO; a retried write is encoded and sealed again (a
//            new nonce), which costs CPU only. retry/retry_store.h
//   codec    zstd (--compress) or raw, always present: whole blocks into
//            objects of the volume's format (codec/object_format.h), and
//            any object read back decoded (raw, zstd, either format), so
//            compression can be switched between runs. Without compression
//            over a store that writes raw blocks in place (the --test
//            directory, memory), raw blocks and partial writes pass
//            straight through. codec/codec_store.h
//   encrypt  AES-256-GCM per object (--encrypt); crypto/encrypt_store.h
//   bottom   memory, the --test directory, or the block adapter over S3 or
//            plain HTTP (stack/object_store_factory.h)
//
// A StackSpec is the plain value the order is built from: the options
// (what the user asked for) combined with the volume's metadata (what the
// volume is: geometry, naming, object format, key), so nothing flows back
// into the options. Tests build their stacks with BuildLayers over a bottom
// of their own (store/block_store.h Borrow), so they test the production
// order.
//
// With spec.check_seams, a checking seam (store/checked_store.h) sits
// under every layer (fatal: a violation there is a bug of the layer above)
// and above the whole stack (refusing the caller's bad requests).
//
// Nothing here does I/O or starts threads: the caller calls Start() after
// daemonising.
#ifndef USBD_STACK_BUILD_STACK_H_
#define USBD_STACK_BUILD_STACK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cache/cache_store.h"
#include "codec/object_format.h"
#include "config/options.h"
#include "crypto/encrypt_store.h"
#include "object/block_key.h"
#include "retry/retry_store.h"
#include "s3backer/s3backer_codec.h"
#include "store/block_store.h"
#include "volume/metadata.h"

namespace usbd {

struct StackSpec {
  Geometry geometry;
  // The volume's block naming (--blockHashPrefix as recorded).
  BlockNaming naming = BlockNaming::kPlain;
  // The object format new objects are written in (the volume's).
  uint8_t object_format = kNewestObjectFormat;
  // 0: blocks are stored uncompressed; 1..19: the zstd level.
  int compress_level = 0;
  // With a key (and the volume's UUID): every object is sealed.
  EncryptOptions encryption;
  // Set for a volume adopted from s3backer (VolumeMetadata::s3backer_blocks):
  // its blocks are kept in s3backer's format under the block adapter, as
  // this encoding says; the layers above pass raw blocks (no compression,
  // no encryption of usbd's, object format 1).
  std::optional<S3backerEncoding> s3backer_blocks;
  // Names a block's object in messages; may be empty.
  ObjectNamer namer;
  // Set: a retry layer above the codec (remote stores).
  std::optional<RetryOptions> retry;
  // Set: the write-back cache on top, tied to cache_identity.
  std::optional<CacheOptions> cache;
  VolumeIdentity cache_identity;
  // A contract check (store/checked_store.h) above the stack and under
  // every layer: set in the tests and in --enable-sanitizers builds.
#ifdef USBD_CHECK_SEAMS
  bool check_seams = true;
#else
  bool check_seams = false;
#endif
};

// The spec for serving `volume` as `options` ask. With options.encrypt,
// `encryption` must hold the volume key and UUID
// (VolumeSession::TakeEncryption()); EINVAL without them. Without
// options.encrypt it is ignored.
// For a volume adopted from s3backer, `s3backer` is its encoding
// (VolumeSession::S3backerBlocks()); options.compress and options.encrypt
// then choose s3backer's deflate and encryption instead of usbd's.
Result<StackSpec> StackSpecFor(const Options& options,
                               const VolumeMetadata& volume,
                               EncryptOptions encryption = {},
                               S3backerEncoding s3backer = {});

// The layers of `spec` over `bottom`, in the order above.
Result<std::unique_ptr<BlockStore>> BuildLayers(
    StackSpec spec, std::unique_ptr<BlockStore> bottom);

// BuildLayers over the bottom store `options` select
// (stack/object_store_factory.h NewBottomStore).
Result<std::unique_ptr<BlockStore>> BuildStack(const Options& options,
                                               StackSpec spec);

// The cache settings of the options (--blockCache*, --readAhead*).
CacheOptions CacheOptionsFor(const Options& options);

}  // namespace usbd

#endif  // USBD_STACK_BUILD_STACK_H_
