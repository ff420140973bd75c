#include "stack/build_stack.h"

#include "codec/codec_store.h"
#include "stack/object_store_factory.h"
#include "store/checked_store.h"
#include "store/zero_store.h"

namespace usbd {

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
                               EncryptOptions encryption,
                               S3backerEncoding s3backer) {
  StackSpec spec;
  spec.geometry = volume.geometry();
  spec.naming = volume.naming;
  spec.object_format = static_cast<uint8_t>(volume.object_format);
  spec.compress_level = static_cast<int>(options.compress);
  if (volume.s3backer_blocks) {
    if (options.encrypt && !s3backer.cipher) {
      return Status::Invalid(
          "--encrypt: no s3backer cipher (the volume must be opened first)");
    }
    spec.compress_level = 0;
    spec.s3backer_blocks = std::move(s3backer);
  } else if (options.encrypt) {
    if (!encryption.key || encryption.volume_uuid.empty()) {
      return Status::Invalid(
          "--encrypt: no volume key (the volume must be opened first)");
    }
    spec.encryption = std::move(encryption);
  }
  spec.namer = NamerFor(options, volume.naming);
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

namespace {

// Builds the stack bottom up, with a checking seam under each layer when
// asked.
class Layering {
 public:
  Layering(std::unique_ptr<BlockStore> bottom, bool check)
      : store_(std::move(bottom)), check_(check) {}

  // The store the next layer (`name`) is built over.
  std::unique_ptr<BlockStore> Under(const std::string& name) {
    if (check_) {
      store_ = NewCheckedStore({name + " -> " + below_, /*fatal=*/true},
                               std::move(store_));
    }
    below_ = name;
    return std::move(store_);
  }
  void Put(std::unique_ptr<BlockStore> layer) { store_ = std::move(layer); }

  std::unique_ptr<BlockStore> Top() {
    if (!check_) return std::move(store_);
    return NewCheckedStore({"top -> " + below_, /*fatal=*/false},
                           std::move(store_));
  }

 private:
  std::unique_ptr<BlockStore> store_;
  const bool check_;
  std::string below_ = "bottom";
};

}  // namespace

Result<std::unique_ptr<BlockStore>> BuildLayers(
    StackSpec spec, std::unique_ptr<BlockStore> bottom) {
  Layering layers(std::move(bottom), spec.check_seams);
  if (spec.encryption.key) {
    spec.encryption.object_format = spec.object_format;
    layers.Put(
        NewEncryptStore(std::move(spec.encryption), layers.Under("encrypt")));
  }
  CodecOptions codec;
  codec.level = spec.compress_level;
  codec.object_format = spec.object_format;
  codec.namer = spec.namer;
  layers.Put(NewCodecStore(std::move(codec), layers.Under("codec")));
  if (spec.retry) {
    layers.Put(NewRetryStore(*spec.retry, layers.Under("retry"), spec.namer));
  }
  layers.Put(NewZeroStore(layers.Under("zero")));
  if (spec.cache) {
    auto cache =
        NewCacheStore(std::move(*spec.cache), std::move(spec.cache_identity),
                      layers.Under("cache"));
    if (!cache.ok()) return cache.status();
    layers.Put(std::move(cache).value());
  }
  return layers.Top();
}

Result<std::unique_ptr<BlockStore>> BuildStack(const Options& options,
                                               StackSpec spec) {
  Result<std::unique_ptr<BlockStore>> bottom =
      NewBottomStore(options, spec.geometry, spec.naming,
                     spec.s3backer_blocks ? &*spec.s3backer_blocks : nullptr);
  if (!bottom.ok()) return bottom.status();
  return BuildLayers(std::move(spec), std::move(bottom).value());
}

}  // namespace usbd
