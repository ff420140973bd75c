// The retry layer: a BlockStore decorator that runs every operation of the
// store below through a RetryPolicy (retry/retry_policy.h, which says how
// often and how long it tries again).
//
// Thread safety: every method may be called concurrently, as the policy's
// injected now/sleep/random functions allow (the defaults do).
#ifndef USBD_RETRY_RETRY_STORE_H_
#define USBD_RETRY_RETRY_STORE_H_

#include <memory>

#include "retry/retry_policy.h"
#include "store/block_store.h"

namespace usbd {

// The retry layer: every operation but Shutdown() goes through a
// RetryPolicy. Reports "retry.retries", "retry.recovered", "retry.giveups"
// and "retry.corrupt" (failed attempts that were integrity failures).
// `namer`, when given, names the block's object in log lines. It sits
// above the encoding layers (stack/build_stack.h), so a read that fails to
// decode is a read that is tried again.
std::unique_ptr<BlockStore> NewRetryStore(RetryOptions options,
                                          std::unique_ptr<BlockStore> inner,
                                          ObjectNamer namer = nullptr);

}  // namespace usbd

#endif  // USBD_RETRY_RETRY_STORE_H_
