// What the options select at the bottom of the stack: the object store of
// a volume (S3, plain HTTP, or the --test directory), the block store over
// it, and the transport and retry settings the options give. Nothing here
// does I/O or starts threads.
#ifndef USBD_STACK_OBJECT_STORE_FACTORY_H_
#define USBD_STACK_OBJECT_STORE_FACTORY_H_

#include <memory>

#include "config/options.h"
#include "http/curl_client.h"
#include "object/block_key.h"
#include "object/object_store.h"
#include "retry/retry_store.h"
#include "s3backer/s3backer_codec.h"
#include "store/block_store.h"

namespace usbd {

// The object store the options select, for the volume-level objects
// (metadata, mount token) and the block objects: S3 or plain HTTP
// (credentials are resolved here, stack/credentials.h), or for --test the
// directory as an object store (object/dir_object_store.h). EINVAL for
// --memory, which has none.
Result<std::unique_ptr<ObjectStore>> NewObjectStore(const Options& options);

// The bottom block store of a volume of `geometry`: memory, the --test
// directory (raw block files written in place), or the block adapter over
// NewObjectStore(options) (object/object_block_store.h). The block naming
// (--prefix, --blockHashPrefix) is the volume's, so `naming`
// comes from its metadata, not from the option. With `s3backer` (a volume
// adopted from s3backer, S3 only), the adapter's objects are kept in
// s3backer's format (s3backer/s3backer_object_store.h).
Result<std::unique_ptr<BlockStore>> NewBottomStore(
    const Options& options, const Geometry& geometry, BlockNaming naming,
    const S3backerEncoding* s3backer = nullptr);

// Names a block's object in messages: "object vol1/0000000c", or "block
// file vol1/0000000c" in the --test directory.
ObjectNamer NamerFor(const Options& options, BlockNaming naming);

CurlOptions CurlOptionsFor(const Options& options);
RetryOptions RetryOptionsFor(const Options& options);

}  // namespace usbd

#endif  // USBD_STACK_OBJECT_STORE_FACTORY_H_
