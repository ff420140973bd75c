#include "store/stack.h"

#include "store/dir_store.h"
#include "store/memory_store.h"
#include "store/zero_store.h"

namespace usbd {

Result<std::unique_ptr<BlockStore>> BuildStack(const Options& options) {
  Geometry geometry;
  geometry.block_size = options.block_size;
  geometry.block_count = options.size / options.block_size;

  std::unique_ptr<BlockStore> store;
  if (options.memory) {
    store = NewMemoryStore({geometry, options.read_only});
  } else if (options.test) {
    store = NewDirStore(
        {options.bucket, options.prefix, geometry, options.read_only});
  } else {
    return Status::Error(ENOTSUP,
                         "no object store selected: use --test (local "
                         "directory) or --memory");
  }
  return NewZeroStore(std::move(store));
}

}  // namespace usbd
