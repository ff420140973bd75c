// An ObjectStore in memory: for tests of the layers above the object stores
// (the block adapter, retry, metadata) without a server. Lists in pages of
// `list_page_size` keys, as S3 does, so pagination is exercised too.
// Thread-safe; objects live as long as the store.
#ifndef USBD_OBJECT_MEMORY_OBJECT_STORE_H_
#define USBD_OBJECT_MEMORY_OBJECT_STORE_H_

#include <cstdint>
#include <memory>

#include "object/object_store.h"

namespace usbd {

struct MemoryObjectStoreOptions {
  size_t list_page_size = 1000;
};

std::unique_ptr<ObjectStore> NewMemoryObjectStore(
    MemoryObjectStoreOptions options = {});

}  // namespace usbd

#endif  // USBD_OBJECT_MEMORY_OBJECT_STORE_H_
