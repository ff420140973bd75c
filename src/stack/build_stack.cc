#include "stack/build_stack.h"

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "codec/block_codec.h"
#include "codec/compress_store.h"
#include "stack/object_store_factory.h"
#include "store/zero_store.h"

namespace usbd {
namespace {

// Raw blocks written through a store that writes in place (the directory
// store: capabilities().partial_write) are read and partially written
// straight through it, with no read-modify-write; only a block holding an
// encoded object, which such a store refuses with EIO, takes the decoding
// path. A partial write to an encoded block rewrites it raw, under a lock
// that whole-block writes and trims of the block also take, so that no
// write completed meanwhile is lost.
class DecodeStore : public ForwardingStore {
 public:
  DecodeStore(std::unique_ptr<BlockStore> inner, ObjectNamer namer,
              uint8_t object_format)
      : ForwardingStore(std::move(inner)),
        namer_(std::move(namer)),
        object_format_(object_format),
        direct_(this->inner().capabilities().partial_write) {}

  Capabilities capabilities() const override {
    Capabilities caps = inner().capabilities();
    caps.partial_write = direct_;
    caps.objects = false;
    return caps;
  }

  Status Start() override {
    if (!inner().capabilities().objects) {
      return Status::Invalid(
          "the decoding layer needs a store below it that keeps objects");
    }
    return inner().Start();
  }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    if (uint64_t{offset} + out.size() > geometry().block_size) {
      return Status::Invalid("read past the end of " + DescribeBlock(block));
    }
    if (direct_) {
      Status status = inner().Read(block, offset, out);
      // EIO: not a raw block (or a real error, which decoding reports too).
      if (status.code() != EIO) return status;
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
    if (!direct_) {
      return Status::Invalid("the decoding layer writes whole blocks only");
    }
    if (uint64_t{offset} + data.size() > block_size) {
      return Status::Invalid("write past the end of " + DescribeBlock(block));
    }
    Status status = inner().Write(block, offset, data);
    if (status.code() != EIO) return status;
    return RewriteRaw(block, offset, data);
  }

  Status Trim(uint64_t block) override {
    auto guard = GuardRewrites(block);
    return inner().Trim(block);
  }

  Status ReadObject(uint64_t, std::vector<uint8_t>*) override {
    return Status::Error(ENOTSUP, "the decoding layer keeps no objects");
  }
  Status WriteObject(uint64_t, std::span<const uint8_t>) override {
    return Status::Error(ENOTSUP, "the decoding layer keeps no objects");
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"decode.decode_errors", decode_errors_.load()});
    out->push_back({"decode.partial_rewrites", rewrites_.load()});
    ForwardingStore::CollectStats(out);
  }

 private:
  // Reads the block's object and decodes it (a raw block is its own data).
  Status ReadDecoded(uint64_t block, uint32_t offset, std::span<uint8_t> out) {
    const uint32_t block_size = geometry().block_size;
    thread_local std::vector<uint8_t> object, whole_block;
    USBD_RETURN_IF_ERROR(inner().ReadObject(block, &object));
    if (object.empty()) {
      std::memset(out.data(), 0, out.size());
      return Status::Ok();
    }
    std::span<uint8_t> whole = out;
    if (offset != 0 || out.size() != block_size) {
      whole_block.resize(block_size);
      whole = whole_block;
    }
    Status status = DecodeObject(block, object, whole);
    if (!status.ok()) {
      decode_errors_.fetch_add(1, std::memory_order_relaxed);
      return Status::Error(status.code(),
                           status.message() + " (" + Name(block) + ", " +
                               std::to_string(object.size()) + " bytes)",
                           status.retryable());
    }
    if (whole.data() != out.data()) {
      std::memcpy(out.data(), whole.data() + offset, out.size());
    }
    return Status::Ok();
  }

  // A partial write to a block that is not raw: decode it, apply the write
  // and store the whole block raw.
  Status RewriteRaw(uint64_t block, uint32_t offset,
                    std::span<const uint8_t> data) {
    auto guard = GuardRewrites(block);
    // Another writer may have made the block raw since.
    Status status = inner().Write(block, offset, data);
    if (status.code() != EIO) return status;
    std::vector<uint8_t> whole(geometry().block_size);
    USBD_RETURN_IF_ERROR(ReadDecoded(block, 0, whole));
    std::memcpy(whole.data() + offset, data.data(), data.size());
    rewrites_.fetch_add(1, std::memory_order_relaxed);
    return inner().WriteObject(block, whole);
  }

  // A whole block: raw in place (a store that writes in place), else the
  // object of the volume's format.
  Status StoreWhole(uint64_t block, std::span<const uint8_t> data) {
    if (direct_) return inner().WriteObject(block, data);
    thread_local std::vector<uint8_t> object;
    return inner().WriteObject(
        block, UncompressedObject(data, object_format_, &object));
  }

  // Held by a rewrite and by whatever replaces the block's object, so that
  // nothing replaces it between the rewrite's read and its write (partial
  // writes in place cannot: the block is not raw meanwhile). Only needed,
  // and only taken, when partial writes go straight through.
  std::unique_lock<std::mutex> GuardRewrites(uint64_t block) {
    if (!direct_) return {};
    return std::unique_lock(locks_[block % kLocks]);
  }

  std::string Name(uint64_t block) const {
    return namer_ ? namer_(block) : "its object";
  }

  static constexpr size_t kLocks = 256;
  const ObjectNamer namer_;
  const uint8_t object_format_;
  const bool direct_;
  std::array<std::mutex, kLocks> locks_;
  std::atomic<uint64_t> decode_errors_{0}, rewrites_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewDecodeStore(std::unique_ptr<BlockStore> inner,
                                           ObjectNamer namer,
                                           uint8_t object_format) {
  return std::make_unique<DecodeStore>(std::move(inner), std::move(namer),
                                       object_format);
}

CacheOptions CacheOptionsFor(const Options& options) {
  CacheOptions cache;
  if (options.block_cache_size != 0) {
    cache.block_cache_size = options.block_cache_size;
  }
  cache.block_cache_file = options.block_cache_file;
  cache.write_delay =
      std::chrono::milliseconds(options.block_cache_write_delay_ms);
  cache.threads = options.block_cache_threads;
  cache.max_dirty = options.block_cache_max_dirty;
  cache.sync = options.block_cache_sync;
  cache.discard_dirty = options.block_cache_discard_dirty;
  cache.num_protected = options.block_cache_num_protected;
  cache.timeout = std::chrono::milliseconds(options.block_cache_timeout_ms);
  cache.read_ahead = options.read_ahead;
  cache.read_ahead_trigger = options.read_ahead_trigger;
  return cache;
}

Result<StackSpec> StackSpecFor(const Options& options,
                               const VolumeMetadata& volume,
                               EncryptOptions encryption) {
  StackSpec spec;
  spec.geometry = volume.geometry();
  spec.block_hash_prefix = volume.block_hash_prefix;
  spec.object_format = static_cast<uint8_t>(volume.object_format);
  spec.compress_level = static_cast<int>(options.compress);
  if (options.encrypt) {
    if (!encryption.key || encryption.volume_uuid.empty()) {
      return Status::Invalid(
          "--encrypt: no volume key (the volume must be opened first)");
    }
    spec.encryption = std::move(encryption);
  }
  spec.namer = NamerFor(options, volume.block_hash_prefix);
  if (options.store() == StoreKind::kS3 ||
      options.store() == StoreKind::kHttp) {
    spec.retry = RetryOptionsFor(options);
  }
  if (options.block_cache_size != 0 || !options.block_cache_file.empty()) {
    spec.cache = CacheOptionsFor(options);
    spec.cache_identity = {volume.uuid, volume.block_size, volume.size};
  }
  return spec;
}

Result<std::unique_ptr<BlockStore>> BuildLayers(
    StackSpec spec, std::unique_ptr<BlockStore> bottom) {
  std::unique_ptr<BlockStore> store = std::move(bottom);
  const bool encrypt = spec.encryption.key != nullptr;
  if (encrypt) {
    spec.encryption.object_format = spec.object_format;
    store = NewEncryptStore(std::move(spec.encryption), std::move(store));
  }
  if (spec.compress_level != 0) {
    CompressOptions compress;
    compress.level = spec.compress_level;
    compress.object_format = spec.object_format;
    store = NewCompressStore(compress, std::move(store));
  } else if (!encrypt) {
    store = NewDecodeStore(std::move(store), spec.namer, spec.object_format);
  }
  if (spec.retry) {
    store = NewRetryStore(*spec.retry, std::move(store), spec.namer);
  }
  store = NewZeroStore(std::move(store));
  if (!spec.cache) return store;
  return NewCacheStore(std::move(*spec.cache), std::move(spec.cache_identity),
                       std::move(store));
}

Result<std::unique_ptr<BlockStore>> BuildStack(const Options& options,
                                               StackSpec spec) {
  Result<std::unique_ptr<BlockStore>> bottom =
      NewBottomStore(options, spec.geometry, spec.block_hash_prefix);
  if (!bottom.ok()) return bottom.status();
  return BuildLayers(std::move(spec), std::move(bottom).value());
}

}  // namespace usbd
