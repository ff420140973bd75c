#include "codec/compress_store.h"

#include <atomic>
#include <cstring>
#include <vector>

namespace usbd {
namespace {

// Per-thread scratch, reused so a read or write allocates nothing.
struct Scratch {
  std::vector<uint8_t> object;
  std::vector<uint8_t> block;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

class CompressStore : public ForwardingStore {
 public:
  CompressStore(CompressOptions options, std::unique_ptr<BlockStore> inner)
      : ForwardingStore(std::move(inner)), options_(options) {}

  Capabilities capabilities() const override {
    Capabilities caps = inner().capabilities();
    caps.partial_write = false;
    caps.objects = false;
    return caps;
  }

  Status Start() override {
    USBD_RETURN_IF_ERROR(CheckCompressOptions(options_));
    if (!inner().capabilities().objects) {
      return Status::Invalid(
          "compression needs an object store below it that keeps "
          "variable-length objects");
    }
    return inner().Start();
  }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    const uint32_t block_size = geometry().block_size;
    if (uint64_t{offset} + out.size() > block_size) {
      return Status::Invalid("read past the end of " + DescribeBlock(block));
    }
    Scratch& scratch = ThreadScratch();
    USBD_RETURN_IF_ERROR(inner().ReadObject(block, &scratch.object));
    if (scratch.object.empty()) {
      std::memset(out.data(), 0, out.size());
      return Status::Ok();
    }
    std::span<uint8_t> whole = out;
    if (offset != 0 || out.size() != block_size) {
      scratch.block.resize(block_size);
      whole = scratch.block;
    }
    Status status = DecodeObject(block, scratch.object, whole);
    if (!status.ok()) {
      decode_errors_.fetch_add(1, std::memory_order_relaxed);
      return status;
    }
    if (whole.data() != out.data()) {
      std::memcpy(out.data(), whole.data() + offset, out.size());
    }
    return Status::Ok();
  }

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (offset != 0 || data.size() != geometry().block_size) {
      return Status::Invalid("compression writes whole blocks only");
    }
    Scratch& scratch = ThreadScratch();
    std::span<const uint8_t> object;
    if (CompressBlock(data, options_.level, options_.object_format,
                      &scratch.object)) {
      object = scratch.object;
      compressed_.fetch_add(1, std::memory_order_relaxed);
    } else {
      object =
          UncompressedObject(data, options_.object_format, &scratch.object);
      stored_raw_.fetch_add(1, std::memory_order_relaxed);
    }
    USBD_RETURN_IF_ERROR(inner().WriteObject(block, object));
    bytes_in_.fetch_add(data.size(), std::memory_order_relaxed);
    bytes_stored_.fetch_add(object.size(), std::memory_order_relaxed);
    return Status::Ok();
  }

  // Objects above this layer would bypass the encoding: not offered.
  Status ReadObject(uint64_t, std::vector<uint8_t>*) override {
    return Status::Error(ENOTSUP, "the compression layer keeps no objects");
  }
  Status WriteObject(uint64_t, std::span<const uint8_t>) override {
    return Status::Error(ENOTSUP, "the compression layer keeps no objects");
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"compress.compressed", compressed_.load()});
    out->push_back({"compress.stored_raw", stored_raw_.load()});
    out->push_back({"compress.bytes_in", bytes_in_.load()});
    out->push_back({"compress.bytes_stored", bytes_stored_.load()});
    out->push_back({"compress.decode_errors", decode_errors_.load()});
    ForwardingStore::CollectStats(out);
  }

 private:
  const CompressOptions options_;
  std::atomic<uint64_t> compressed_{0}, stored_raw_{0}, bytes_in_{0};
  std::atomic<uint64_t> bytes_stored_{0}, decode_errors_{0};
};

}  // namespace

Status CheckCompressOptions(const CompressOptions& options) {
  if (options.level < kMinCompressLevel || options.level > kMaxCompressLevel) {
    return Status::Invalid("--compress level " + std::to_string(options.level) +
                           " is outside " + std::to_string(kMinCompressLevel) +
                           ".." + std::to_string(kMaxCompressLevel));
  }
  return Status::Ok();
}

std::unique_ptr<BlockStore> NewCompressStore(
    CompressOptions options, std::unique_ptr<BlockStore> inner) {
  return std::make_unique<CompressStore>(options, std::move(inner));
}

}  // namespace usbd
