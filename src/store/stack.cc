#include "store/stack.h"

#include "config/credentials.h"
#include "http/http_store.h"
#include "http/object_block_store.h"
#include "http/s3_store.h"
#include "store/dir_store.h"
#include "store/memory_store.h"
#include "store/zero_store.h"

namespace usbd {
namespace {

CurlOptions CurlOptionsFor(const Options& options) {
  CurlOptions curl;
  curl.timeout = std::chrono::seconds(options.timeout_seconds);
  curl.max_upload_bytes_per_sec = options.max_upload_bytes_per_sec;
  curl.max_download_bytes_per_sec = options.max_download_bytes_per_sec;
  curl.ca_file = options.ca_file;
  curl.insecure = options.insecure;
  curl.debug = options.debug_http;
  return curl;
}

}  // namespace

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
      s3.access_type = options.access_type;
      s3.http = CurlOptionsFor(options);
      return NewS3ObjectStore(std::move(s3));
    }
    case StoreKind::kHttp: {
      Result<std::string> header = ResolveHttpHeader(options);
      if (!header.ok()) return header.status();
      HttpStoreOptions http;
      http.base_url = options.base_url + options.bucket + "/";
      http.header = std::move(header).value();
      http.http = CurlOptionsFor(options);
      return NewHttpObjectStore(std::move(http));
    }
    default:
      return Status::Invalid("--test and --memory have no object store");
  }
}

RetryOptions RetryOptionsFor(const Options& options) {
  RetryOptions retry;
  retry.initial_pause =
      std::chrono::milliseconds(options.initial_retry_pause_ms);
  retry.max_pause_total = std::chrono::milliseconds(options.max_retry_pause_ms);
  return retry;
}

Result<std::unique_ptr<BlockStore>> BuildStack(const Options& options) {
  Geometry geometry;
  geometry.block_size = options.block_size;
  geometry.block_count = options.size / options.block_size;

  std::unique_ptr<BlockStore> store;
  switch (options.store()) {
    case StoreKind::kMemory:
      store = NewMemoryStore({geometry, options.read_only});
      break;
    case StoreKind::kDirectory:
      store = NewDirStore(
          {options.bucket, options.prefix, geometry, options.read_only});
      break;
    case StoreKind::kS3:
    case StoreKind::kHttp: {
      Result<std::unique_ptr<ObjectStore>> objects = NewObjectStore(options);
      if (!objects.ok()) return objects.status();
      ObjectBlockStoreOptions blocks;
      blocks.geometry = geometry;
      blocks.prefix = options.prefix;
      blocks.block_hash_prefix = options.block_hash_prefix;
      blocks.read_only = options.read_only;
      blocks.list_blocks = options.list_blocks;
      blocks.list_threads = options.list_blocks_threads;
      store = NewRetryStore(
          RetryOptionsFor(options),
          NewObjectBlockStore(std::move(blocks), std::move(objects).value()));
      break;
    }
  }
  return NewZeroStore(std::move(store));
}

}  // namespace usbd
