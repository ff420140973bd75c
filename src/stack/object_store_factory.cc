#include "stack/object_store_factory.h"

#include "http/http_store.h"
#include "http/s3_store.h"
#include "object/dir_object_store.h"
#include "object/dir_store.h"
#include "object/object_block_store.h"
#include "s3backer/s3backer_object_store.h"
#include "stack/credentials.h"
#include "store/memory_store.h"

namespace usbd {

CurlOptions CurlOptionsFor(const Options& options) {
  CurlOptions curl;
  curl.timeout = std::chrono::seconds(options.timeout_seconds);
  curl.max_upload_bytes_per_sec = options.max_upload_bytes_per_sec;
  curl.max_download_bytes_per_sec = options.max_download_bytes_per_sec;
  curl.ca_file = options.ca_file;
  curl.insecure = options.insecure;
  curl.http11 = options.http11;
  curl.debug = options.debug_http;
  return curl;
}

RetryOptions RetryOptionsFor(const Options& options) {
  RetryOptions retry;
  retry.initial_pause =
      std::chrono::milliseconds(options.initial_retry_pause_ms);
  retry.max_pause_total = std::chrono::milliseconds(options.max_retry_pause_ms);
  return retry;
}

Result<std::unique_ptr<ObjectStore>> NewObjectStore(const Options& options) {
  switch (options.store()) {
    case StoreKind::kS3: {
      Result<AwsCredentials> credentials = ResolveCredentials(options);
      if (!credentials.ok()) return credentials.status();
      S3StoreOptions s3;
      s3.base_url = options.base_url;
      s3.bucket = options.bucket;
      s3.region = options.region;
      s3.virtual_host = options.vhost;
      s3.credentials = std::move(credentials).value();
      s3.storage_class = options.storage_class;
      s3.sse = options.sse;
      s3.sse_key_id = options.sse_key_id;
      s3.access_type = options.access_type;
      s3.http = CurlOptionsFor(options);
      return NewS3ObjectStore(std::move(s3));
    }
    case StoreKind::kHttp: {
      Result<SecretString> header = ResolveHttpHeader(options);
      if (!header.ok()) return header.status();
      HttpStoreOptions http;
      http.base_url = options.base_url + options.bucket + "/";
      http.header = std::move(header).value();
      http.http = CurlOptionsFor(options);
      return NewHttpObjectStore(std::move(http));
    }
    case StoreKind::kDirectory:
      return NewDirObjectStore(options.bucket);
    default:
      return Status::Invalid("--memory has no object store");
  }
}

Result<std::unique_ptr<BlockStore>> NewBottomStore(
    const Options& options, const Geometry& geometry, BlockNaming naming,
    const S3backerEncoding* s3backer) {
  switch (options.store()) {
    case StoreKind::kMemory:
      return NewMemoryStore({geometry, options.read_only});
    case StoreKind::kDirectory:
      return NewDirStore(
          {options.bucket, options.prefix, geometry, options.read_only});
    case StoreKind::kS3:
    case StoreKind::kHttp:
      break;
  }
  Result<std::unique_ptr<ObjectStore>> objects = NewObjectStore(options);
  if (!objects.ok()) return objects.status();
  if (s3backer != nullptr) {
    S3backerStoreOptions format;
    format.geometry = geometry;
    format.prefix = options.prefix;
    format.naming = naming;
    format.encoding = *s3backer;
    objects =
        NewS3backerObjectStore(std::move(format), std::move(objects).value());
  }
  ObjectBlockStoreOptions blocks;
  blocks.geometry = geometry;
  blocks.prefix = options.prefix;
  blocks.naming = naming;
  blocks.read_only = options.read_only;
  blocks.list_blocks = options.list_blocks;
  blocks.list_threads = options.list_blocks_threads;
  return NewObjectBlockStore(std::move(blocks), std::move(objects).value());
}

ObjectNamer NamerFor(const Options& options, BlockNaming naming) {
  if (options.store() == StoreKind::kDirectory) {
    return [prefix = options.prefix](uint64_t block) {
      return "block file " + BlockObjectName(prefix, block);
    };
  }
  return [prefix = options.prefix, naming](uint64_t block) {
    return "object " + BlockObjectKey(prefix, naming, block);
  };
}

}  // namespace usbd
