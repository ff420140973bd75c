#include "stack/build_stack.h"

#include "codec/codec_store.h"
#include "stack/object_store_factory.h"
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
  if (spec.encryption.key) {
    spec.encryption.object_format = spec.object_format;
    store = NewEncryptStore(std::move(spec.encryption), std::move(store));
  }
  CodecOptions codec;
  codec.level = spec.compress_level;
  codec.object_format = spec.object_format;
  codec.namer = spec.namer;
  store = NewCodecStore(std::move(codec), std::move(store));
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
