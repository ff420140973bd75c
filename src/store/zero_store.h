// The zero layer: an all-zero whole block is never stored. Writing one
// becomes a Trim of the layer below, so it costs no storage (and, over an
// object store, a DELETE instead of a PUT of zeros) and block status keeps
// reporting it as a hole.
#ifndef USBD_STORE_ZERO_STORE_H_
#define USBD_STORE_ZERO_STORE_H_

#include <memory>

#include "store/block_store.h"

namespace usbd {

std::unique_ptr<BlockStore> NewZeroStore(std::unique_ptr<BlockStore> inner);

}  // namespace usbd

#endif  // USBD_STORE_ZERO_STORE_H_
