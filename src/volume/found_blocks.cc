#include "volume/found_blocks.h"

#include "util/strings.h"

namespace usbd {

Result<std::optional<FoundBlock>> FindBlockObject(ObjectStore& store,
                                                  const std::string& prefix,
                                                  const RetryOptions& retry) {
  std::optional<FoundBlock> found;
  if (store.CanList()) {
    Status status = RetryWithBackoff(retry, "listing '" + prefix + "'", [&] {
      return store.List(prefix, [&](const ObjectInfo& info) {
        uint64_t block;
        for (BlockNaming naming : kAllBlockNamings) {
          if (ParseBlockObjectKey(prefix, naming, info.key, &block)) {
            found = FoundBlock{info.key, naming};
            return false;
          }
        }
        return true;
      });
    });
    if (!status.ok()) return status;
    return found;
  }
  for (BlockNaming naming : kAllBlockNamings) {
    std::string key = BlockObjectKey(prefix, naming, 0);
    std::optional<uint64_t> size;
    Status status = RetryWithBackoff(retry, "HEAD '" + key + "'", [&] {
      auto head = store.Head(key);
      if (!head.ok()) return head.status();
      size = *head;
      return Status::Ok();
    });
    if (!status.ok()) return status;
    if (size) return std::optional<FoundBlock>(FoundBlock{key, naming});
  }
  return found;
}

Result<S3backerBlock> ReadS3backerBlock(ObjectStore& store,
                                        const std::string& key,
                                        const RetryOptions& retry) {
  std::optional<ObjectHeaders> headers;
  Status status = RetryWithBackoff(retry, "HEAD '" + key + "'", [&] {
    auto got = store.HeadHeaders(key);
    if (!got.ok()) return got.status();
    headers = std::move(got).value();
    return Status::Ok();
  });
  if (!status.ok()) return status;
  S3backerBlock block;
  if (!headers) return block;
  std::optional<uint64_t> size, block_size;
  for (const auto& [name, value] : *headers) {
    if (name == "x-amz-meta-s3backer-filesize") size = ParseDecimal(value);
    if (name == "x-amz-meta-s3backer-blocksize") {
      block_size = ParseDecimal(value);
    }
    if (name == "content-encoding") block.encoding = value;
  }
  if (size && block_size && IsValidVolumeBlockSize(*block_size) && *size != 0 &&
      *size % *block_size == 0) {
    block.size = *size;
    block.block_size = static_cast<uint32_t>(*block_size);
  }
  return block;
}

}  // namespace usbd
