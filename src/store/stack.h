// Builds the whole layer stack for a set of options, in one place:
//
//   zero -> store (memory | local directory)
//
// Nothing is started: the caller calls Start() after daemonising.
#ifndef USBD_STORE_STACK_H_
#define USBD_STORE_STACK_H_

#include <memory>

#include "config/options.h"
#include "store/block_store.h"

namespace usbd {

Result<std::unique_ptr<BlockStore>> BuildStack(const Options& options);

}  // namespace usbd

#endif  // USBD_STORE_STACK_H_
