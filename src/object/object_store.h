// ObjectStore: a flat namespace of whole objects addressed by key, the
// interface the S3, plain-HTTP and in-memory stores implement and the block
// adapter (object_block_store.h) is written against.
//
// Contract, for every implementation:
//  - Objects are written and read whole. Put replaces an object atomically:
//    a Get sees the old or the new content, never a mix.
//  - Once Put or Delete returned OK, the change is durable (an S3 or HTTP
//    2xx is durable) and visible to every later Get, Head and List.
//  - A missing object is not an error: Get and Head return std::nullopt and
//    Delete returns OK.
//  - Every failure is a Status whose retryable() bit says whether trying the
//    same call again may succeed (5xx, 429/SlowDown, timeouts, connection
//    reset or refused, truncated bodies) or cannot (bad credentials, denied,
//    malformed request, missing bucket). Stores never retry by themselves;
//    the retry layer above does. A store never blocks longer than its
//    per-attempt timeout.
//  - Error messages name the operation, the key and, for credential errors,
//    the access key id and bucket, never a secret.
//
// Thread safety: every method may be called concurrently from any number of
// threads; implementations run concurrent calls in parallel.
//
// Lifecycle: constructing a store does no I/O; the first call connects.
#ifndef USBD_OBJECT_OBJECT_STORE_H_
#define USBD_OBJECT_OBJECT_STORE_H_

#include <cerrno>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/stat_entry.h"
#include "util/status.h"

namespace usbd {

// One entry of a listing.
struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

// What a store keeps about an object besides its bytes, as (name, value)
// pairs with names in lower case: S3's user metadata ("x-amz-meta-...")
// and Content-Encoding. How usbd recognises objects other tools wrote
// (s3backer records its block size and file size there).
using ObjectHeaders = std::vector<std::pair<std::string, std::string>>;

// An object with the headers stored with it.
struct StoredObject {
  std::vector<uint8_t> data;
  ObjectHeaders headers;
};

// Called once per object found by List. Return true to go on, false to stop
// the listing early (List then returns OK).
using ListCallback = std::function<bool(const ObjectInfo&)>;

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Where the objects live, for log lines: "s3://bucket at https://host/".
  // Contains no secret.
  virtual std::string Describe() const = 0;

  // The object's content, or std::nullopt when it does not exist.
  // `size_hint` (the expected size, or 0) only pre-sizes the buffer.
  virtual Result<std::optional<std::vector<uint8_t>>> Get(
      const std::string& key, size_t size_hint = 0) = 0;

  // Creates or replaces the object.
  virtual Status Put(const std::string& key, std::span<const uint8_t> data) = 0;

  // Removes the object; removing a missing object is OK.
  virtual Status Delete(const std::string& key) = 0;

  // The object's size, or std::nullopt when it does not exist.
  virtual Result<std::optional<uint64_t>> Head(const std::string& key) = 0;

  // The object's headers (ObjectHeaders), or std::nullopt when it does not
  // exist. A store that keeps none (memory, directory, plain HTTP) returns
  // an empty list for an object that exists: this default.
  virtual Result<std::optional<ObjectHeaders>> HeadHeaders(
      const std::string& key) {
    auto size = Head(key);
    if (!size.ok()) return size.status();
    if (!size->has_value()) return std::optional<ObjectHeaders>();
    return std::optional<ObjectHeaders>(ObjectHeaders{});
  }

  // Get with the object's headers, in one request. A store that keeps none
  // returns an empty list: this default.
  virtual Result<std::optional<StoredObject>> GetWithHeaders(
      const std::string& key, size_t size_hint = 0) {
    auto got = Get(key, size_hint);
    if (!got.ok()) return got.status();
    if (!got->has_value()) return std::optional<StoredObject>();
    return std::optional<StoredObject>(StoredObject{std::move(**got), {}});
  }

  // Put, storing `headers` (Content-Encoding, x-amz-meta-...) with the
  // object. A store that keeps no headers refuses a non-empty list with
  // ENOTSUP (not retryable) rather than dropping them: this default.
  virtual Status PutWithHeaders(const std::string& key,
                                std::span<const uint8_t> data,
                                const ObjectHeaders& headers) {
    if (!headers.empty()) {
      return Status::Error(ENOTSUP, Describe() + " keeps no object headers");
    }
    return Put(key, data);
  }

  // Calls `callback` for every object whose key starts with `prefix`, in
  // ascending key order, fetching as many pages as needed. Returns ENOTSUP
  // (not retryable) when the store cannot list (plain HTTP). Objects
  // created or removed during the listing may or may not be reported.
  virtual Status List(const std::string& prefix,
                      const ListCallback& callback) = 0;

  // Whether List is supported, without any I/O.
  virtual bool CanList() const = 0;

  // Appends this store's own counters (the HTTP stores': responses by
  // status class); none by default. Safe to call concurrently with I/O.
  virtual void CollectStats(std::vector<StatEntry>*) const {}
};

}  // namespace usbd

#endif  // USBD_OBJECT_OBJECT_STORE_H_
