// Builds the whole layer stack for a set of options, in one place:
//
//   zero -> retry -> object blocks -> S3 | HTTP object store
//   zero -> local directory | memory
//
// Nothing here does I/O or starts threads: the caller calls Start() after
// daemonising.
#ifndef USBD_STORE_STACK_H_
#define USBD_STORE_STACK_H_

#include <memory>

#include "config/options.h"
#include "http/object_store.h"
#include "retry/retry_store.h"
#include "store/block_store.h"

namespace usbd {

// The S3 or plain HTTP object store the options select (credentials are
// resolved here). Error for --test and --memory, which have none.
Result<std::unique_ptr<ObjectStore>> NewObjectStore(const Options& options);

RetryOptions RetryOptionsFor(const Options& options);

// The block stack. For S3 and HTTP, options.size, block_size and
// block_hash_prefix must already hold the volume's values (from its
// metadata); see volume/metadata.h.
Result<std::unique_ptr<BlockStore>> BuildStack(const Options& options);

}  // namespace usbd

#endif  // USBD_STORE_STACK_H_
