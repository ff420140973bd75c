#include "codec/codec_store.h"

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
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

class CodecStore : public ForwardingStore {
 public:
  CodecStore(CodecOptions options, std::unique_ptr<BlockStore> inner)
      : ForwardingStore(std::move(inner)),
        options_(std::move(options)),
        in_place_(options_.level == 0 &&
                  this->inner().capabilities().partial_write) {}

  Capabilities capabilities() const override {
    Capabilities caps = inner().capabilities();
    caps.partial_write = in_place_;
    caps.objects = false;
    return caps;
  }

  Status Start() override {
    USBD_RETURN_IF_ERROR(CheckCodecOptions(options_));
    if (!inner().capabilities().objects) {
      return Status::Invalid(
          "the codec layer needs a store below it that keeps "
          "variable-length objects");
    }
    return inner().Start();
  }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    if (uint64_t{offset} + out.size() > geometry().block_size) {
      return Status::Invalid("read past the end of " + DescribeBlock(block));
    }
    if (in_place_) {
      Status status = inner().Read(block, offset, out);
      if (!status.not_a_block()) return status;
    }
    return ReadDecoded(block, offset, out);
  }

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    const uint32_t block_size = geometry().block_size;
    if (offset == 0 && data.size() == block_size) {
      auto guard = GuardRewrites(block);
      return StoreWhole(block, data);
    }
    if (!in_place_) {
      return Status::Invalid("the codec layer writes whole blocks only");
    }
    if (uint64_t{offset} + data.size() > block_size) {
      return Status::Invalid("write past the end of " + DescribeBlock(block));
    }
    Status status = inner().Write(block, offset, data);
    if (!status.not_a_block()) return status;
    return RewriteRaw(block, offset, data);
  }

  Status Trim(uint64_t block) override {
    auto guard = GuardRewrites(block);
    return inner().Trim(block);
  }

  // Objects above this layer would bypass the encoding: not offered.
  Status ReadObject(uint64_t, std::vector<uint8_t>*) override {
    return Status::Error(ENOTSUP, "the codec layer keeps no objects");
  }
  Status WriteObject(uint64_t, std::span<const uint8_t>) override {
    return Status::Error(ENOTSUP, "the codec layer keeps no objects");
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back(
        {"codec.compressed", compressed_.load(), "blocks stored compressed"});
    out->push_back(
        {"codec.stored_raw", stored_raw_.load(),
         "blocks stored uncompressed because zstd did not shrink them"});
    out->push_back(
        {"codec.bytes_in", bytes_in_.load(), "bytes of the blocks encoded"});
    out->push_back({"codec.bytes_stored", bytes_stored_.load(),
                    "bytes of the objects those blocks became"});
    out->push_back({"codec.decode_errors", decode_errors_.load(),
                    "objects that failed to decode (checksum, format)"});
    out->push_back({"codec.partial_rewrites", rewrites_.load(),
                    "partial writes that rewrote an encoded block"});
    ForwardingStore::CollectStats(out);
  }

 private:
  // Reads the block's object and decodes it (a raw block is its own data).
  Status ReadDecoded(uint64_t block, uint32_t offset, std::span<uint8_t> out) {
    const uint32_t block_size = geometry().block_size;
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
      if (!options_.namer) return status;
      return Status::Error(status.code(),
                           status.message() + " (" + options_.namer(block) +
                               ", " + std::to_string(scratch.object.size()) +
                               " bytes)",
                           status.retryable());
    }
    if (whole.data() != out.data()) {
      std::memcpy(out.data(), whole.data() + offset, out.size());
    }
    return Status::Ok();
  }

  // A whole block: raw in place, compressed, or the volume's uncompressed
  // object.
  Status StoreWhole(uint64_t block, std::span<const uint8_t> data) {
    if (in_place_) return inner().Write(block, 0, data);
    Scratch& scratch = ThreadScratch();
    std::span<const uint8_t> object;
    if (options_.level > 0 &&
        CompressBlock(data, options_.level, options_.object_format,
                      &scratch.object)) {
      object = scratch.object;
      compressed_.fetch_add(1, std::memory_order_relaxed);
    } else {
      object =
          UncompressedObject(data, options_.object_format, &scratch.object);
      if (options_.level > 0) {
        stored_raw_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    USBD_RETURN_IF_ERROR(inner().WriteObject(block, object));
    bytes_in_.fetch_add(data.size(), std::memory_order_relaxed);
    bytes_stored_.fetch_add(object.size(), std::memory_order_relaxed);
    return Status::Ok();
  }

  // A partial write to a block that holds an encoded object: decode it,
  // apply the write and store the whole block raw.
  Status RewriteRaw(uint64_t block, uint32_t offset,
                    std::span<const uint8_t> data) {
    auto guard = GuardRewrites(block);
    // Another writer may have made the block raw since.
    Status status = inner().Write(block, offset, data);
    if (!status.not_a_block()) return status;
    std::vector<uint8_t> whole(geometry().block_size);
    USBD_RETURN_IF_ERROR(ReadDecoded(block, 0, whole));
    std::memcpy(whole.data() + offset, data.data(), data.size());
    rewrites_.fetch_add(1, std::memory_order_relaxed);
    return inner().Write(block, 0, whole);
  }

  // Held by a rewrite and by whatever replaces the block's content, so that
  // nothing replaces it between the rewrite's read and its write (partial
  // writes in place cannot: the block is not raw meanwhile). Only needed,
  // and only taken, raw in place.
  std::unique_lock<std::mutex> GuardRewrites(uint64_t block) {
    if (!in_place_) return {};
    return std::unique_lock(locks_[block % kLocks]);
  }

  static constexpr size_t kLocks = 256;
  const CodecOptions options_;
  const bool in_place_;
  std::array<std::mutex, kLocks> locks_;
  std::atomic<uint64_t> compressed_{0}, stored_raw_{0}, bytes_in_{0};
  std::atomic<uint64_t> bytes_stored_{0}, decode_errors_{0}, rewrites_{0};
};

}  // namespace

Status CheckCodecOptions(const CodecOptions& options) {
  if (options.level != 0 && (options.level < kMinCompressLevel ||
                             options.level > kMaxCompressLevel)) {
    return Status::Invalid("--compress level " + std::to_string(options.level) +
                           " is outside " + std::to_string(kMinCompressLevel) +
                           ".." + std::to_string(kMaxCompressLevel));
  }
  return Status::Ok();
}

std::unique_ptr<BlockStore> NewCodecStore(CodecOptions options,
                                          std::unique_ptr<BlockStore> inner) {
  return std::make_unique<CodecStore>(std::move(options), std::move(inner));
}

}  // namespace usbd
