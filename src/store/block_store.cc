#include "store/block_store.h"

#include <cstdio>

namespace usbd {

std::string BlockObjectName(const std::string& prefix, uint64_t block) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08llx",
                static_cast<unsigned long long>(block));
  return prefix + hex;
}

}  // namespace usbd
