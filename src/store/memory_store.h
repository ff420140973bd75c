// The in-memory store: blocks live in RAM, allocated on first write and freed
// by Trim. Nothing is durable across restarts; Flush() is a no-op. Used by
// the tests and the benchmarks (`--memory`). Keeps objects too
// (capabilities().objects); a partial Write() of a block holding an object
// that is not block_size bytes is Status::NotABlock.
#ifndef USBD_STORE_MEMORY_STORE_H_
#define USBD_STORE_MEMORY_STORE_H_

#include <memory>

#include "store/block_store.h"

namespace usbd {

struct MemoryStoreOptions {
  Geometry geometry;
  bool read_only = false;
};

std::unique_ptr<BlockStore> NewMemoryStore(const MemoryStoreOptions& options);

}  // namespace usbd

#endif  // USBD_STORE_MEMORY_STORE_H_
