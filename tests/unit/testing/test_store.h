// An ObjectStore for the volume tests: the real in-memory store underneath,
// with counters of the writes that reach it, a switch that makes it a store
// that cannot list (like plain HTTP), a hook run after every Put, and keys
// whose Delete fails (not retryable), to test the failure paths.
#ifndef USBD_TESTS_UNIT_TESTING_TEST_STORE_H_
#define USBD_TESTS_UNIT_TESTING_TEST_STORE_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "object/memory_object_store.h"
#include "object/object_store.h"

namespace usbd {
namespace testing {

// `text` without its last line, the checksum line (volume_text.h): a
// volume object as a usbd from before checksums wrote it, which may be
// edited and still parses.
inline std::string WithoutChecksum(std::string text) {
  size_t start = text.rfind('\n', text.size() - 2);
  if (text.find("checksum=", start) != std::string::npos) {
    text.resize(start + 1);
  }
  return text;
}

class TestObjectStore : public ObjectStore {
 public:
  explicit TestObjectStore(MemoryObjectStoreOptions options = {})
      : inner_(NewMemoryObjectStore(options)) {}

  std::string Describe() const override { return "test store"; }
  Result<std::optional<std::vector<uint8_t>>> Get(const std::string& key,
                                                  size_t hint) override {
    auto got = inner_->Get(key, hint);
    gets++;
    if (on_get && got.ok() && got->has_value()) on_get(key, &**got);
    return got;
  }
  Status Put(const std::string& key, std::span<const uint8_t> data) override {
    puts++;
    Status status = inner_->Put(key, data);
    if (after_put) after_put(key);
    return status;
  }
  Status Delete(const std::string& key) override {
    deletes++;
    {
      std::lock_guard lock(mu_);
      if (fail_delete_.contains(key)) {
        return Status::IoError("injected DELETE failure of " + key);
      }
    }
    return inner_->Delete(key);
  }
  Result<std::optional<uint64_t>> Head(const std::string& key) override {
    return inner_->Head(key);
  }
  // Headers set by the test (SetHeaders) for objects that exist.
  Result<std::optional<ObjectHeaders>> HeadHeaders(
      const std::string& key) override {
    auto size = inner_->Head(key);
    if (!size.ok() || !size->has_value()) return ObjectStore::HeadHeaders(key);
    std::lock_guard lock(mu_);
    auto it = headers_.find(key);
    return std::optional<ObjectHeaders>(it == headers_.end() ? ObjectHeaders{}
                                                             : it->second);
  }
  void SetHeaders(const std::string& key, ObjectHeaders headers) {
    std::lock_guard lock(mu_);
    headers_[key] = std::move(headers);
  }
  Status List(const std::string& prefix,
              const ListCallback& callback) override {
    if (!can_list) return Status::Error(ENOTSUP, "test store cannot list");
    return inner_->List(prefix, callback);
  }
  bool CanList() const override { return can_list; }

  // Helpers for the tests, straight to the store underneath.
  void PutText(const std::string& key, const std::string& text) {
    std::span<const uint8_t> bytes(
        reinterpret_cast<const uint8_t*>(text.data()), text.size());
    (void)inner_->Put(key, bytes);
  }
  std::optional<std::string> GetText(const std::string& key) {
    auto got = inner_->Get(key);
    if (!got.ok() || !got->has_value()) return std::nullopt;
    return std::string((*got)->begin(), (*got)->end());
  }
  std::set<std::string> Keys() {
    std::set<std::string> keys;
    (void)inner_->List("", [&](const ObjectInfo& info) {
      keys.insert(info.key);
      return true;
    });
    return keys;
  }
  void FailDelete(const std::string& key) {
    std::lock_guard lock(mu_);
    fail_delete_.insert(key);
  }

  std::atomic<int> puts{0};
  std::atomic<int> deletes{0};
  std::atomic<int> gets{0};
  bool can_list = true;
  std::function<void(const std::string& key)> after_put;
  // Run on every object a Get returns (to corrupt it in transit).
  std::function<void(const std::string& key, std::vector<uint8_t>* object)>
      on_get;

 private:
  std::unique_ptr<ObjectStore> inner_;
  std::mutex mu_;
  std::set<std::string> fail_delete_;
  std::map<std::string, ObjectHeaders> headers_;
};

}  // namespace testing
}  // namespace usbd

#endif  // USBD_TESTS_UNIT_TESTING_TEST_STORE_H_
