// libFuzzer target for the S3 XML readers (ListObjectsV2 pages and error
// bodies): bytes from the network, so they must never crash or read out of
// bounds, whatever arrives.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto page = usbd::ParseListObjectsV2(xml);
  if (page.ok()) {
    for (const auto& object : page->objects) {
      if (object.key.size() > size * 4 + 4) __builtin_trap();
    }
  }
  usbd::S3Error error = usbd::ParseS3Error(xml);
  (void)error;
  return 0;
}
