#include "s3backer/s3backer_object_store.h"

#include <utility>
#include <vector>

namespace usbd {
namespace {

class S3backerObjectStore : public ObjectStore {
 public:
  S3backerObjectStore(S3backerStoreOptions options,
                      std::unique_ptr<ObjectStore> inner)
      : options_(std::move(options)), inner_(std::move(inner)) {}

  std::string Describe() const override {
    return inner_->Describe() + " (s3backer's block format)";
  }

  Result<std::optional<std::vector<uint8_t>>> Get(const std::string& key,
                                                  size_t size_hint) override {
    uint64_t block;
    if (!IsBlock(key, &block)) return inner_->Get(key, size_hint);
    auto got = inner_->GetWithHeaders(key, size_hint);
    if (!got.ok()) return got.status();
    if (!got->has_value()) return std::optional<std::vector<uint8_t>>();
    std::vector<uint8_t> raw;
    USBD_RETURN_IF_ERROR(
        DecodeS3backerBlock(block, **got, options_.geometry.block_size,
                            options_.encoding.cipher.get(), &raw));
    return std::optional<std::vector<uint8_t>>(std::move(raw));
  }

  Status Put(const std::string& key, std::span<const uint8_t> data) override {
    uint64_t block;
    if (!IsBlock(key, &block)) return inner_->Put(key, data);
    if (data.size() != options_.geometry.block_size) {
      return Status::Invalid(DescribeBlock(block) + ": " +
                             std::to_string(data.size()) +
                             " bytes passed for an s3backer block");
    }
    std::vector<uint8_t> object;
    ObjectHeaders headers;
    std::span<const uint8_t> body = data;  // a raw block goes as it is
    if (!options_.encoding.raw()) {
      USBD_RETURN_IF_ERROR(EncodeS3backerBlock(block, data, options_.encoding,
                                               &object, &headers));
      body = object;
    }
    if (block == 0) {
      const Geometry& g = options_.geometry;
      headers.emplace_back("x-amz-meta-s3backer-blocksize",
                           std::to_string(g.block_size));
      headers.emplace_back("x-amz-meta-s3backer-filesize",
                           std::to_string(g.block_size * g.block_count));
    }
    return inner_->PutWithHeaders(key, body, headers);
  }

  Status Delete(const std::string& key) override { return inner_->Delete(key); }
  Result<std::optional<uint64_t>> Head(const std::string& key) override {
    return inner_->Head(key);
  }
  Result<std::optional<ObjectHeaders>> HeadHeaders(
      const std::string& key) override {
    return inner_->HeadHeaders(key);
  }
  Status List(const std::string& prefix,
              const ListCallback& callback) override {
    return inner_->List(prefix, callback);
  }
  bool CanList() const override { return inner_->CanList(); }
  void CollectStats(std::vector<StatEntry>* out) const override {
    inner_->CollectStats(out);
  }

 private:
  bool IsBlock(const std::string& key, uint64_t* block) const {
    return ParseBlockObjectKey(options_.prefix, options_.naming, key, block) &&
           *block < options_.geometry.block_count;
  }

  const S3backerStoreOptions options_;
  const std::unique_ptr<ObjectStore> inner_;
};

}  // namespace

std::unique_ptr<ObjectStore> NewS3backerObjectStore(
    S3backerStoreOptions options, std::unique_ptr<ObjectStore> inner) {
  return std::make_unique<S3backerObjectStore>(std::move(options),
                                               std::move(inner));
}

}  // namespace usbd
