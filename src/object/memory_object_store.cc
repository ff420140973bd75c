#include "object/memory_object_store.h"

#include <map>
#include <mutex>

namespace usbd {
namespace {

class MemoryObjectStore : public ObjectStore {
 public:
  explicit MemoryObjectStore(MemoryObjectStoreOptions options)
      : options_(options) {}

  std::string Describe() const override { return "in-memory object store"; }

  Result<std::optional<std::vector<uint8_t>>> Get(const std::string& key,
                                                  size_t) override {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return std::optional<std::vector<uint8_t>>();
    return std::optional<std::vector<uint8_t>>(it->second);
  }

  Status Put(const std::string& key, std::span<const uint8_t> data) override {
    std::vector<uint8_t> copy(data.begin(), data.end());
    std::lock_guard lock(mu_);
    objects_[key] = std::move(copy);
    return Status::Ok();
  }

  Status Delete(const std::string& key) override {
    std::lock_guard lock(mu_);
    objects_.erase(key);
    return Status::Ok();
  }

  Result<std::optional<uint64_t>> Head(const std::string& key) override {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return std::optional<uint64_t>();
    return std::optional<uint64_t>(it->second.size());
  }

  // Page by page like ListObjectsV2, the lock released between pages and
  // while the callback runs, so the callback may call back into the store.
  Status List(const std::string& prefix,
              const ListCallback& callback) override {
    std::string after;
    bool first = true;
    while (true) {
      std::vector<ObjectInfo> page;
      {
        std::lock_guard lock(mu_);
        auto it =
            first ? objects_.lower_bound(prefix) : objects_.upper_bound(after);
        for (; it != objects_.end() && page.size() < options_.list_page_size;
             ++it) {
          if (!it->first.starts_with(prefix)) break;
          page.push_back({it->first, it->second.size()});
        }
      }
      first = false;
      if (page.empty()) return Status::Ok();
      for (const ObjectInfo& info : page) {
        if (!callback(info)) return Status::Ok();
      }
      if (page.size() < options_.list_page_size) return Status::Ok();
      after = page.back().key;
    }
  }

  bool CanList() const override { return true; }

 private:
  const MemoryObjectStoreOptions options_;
  std::mutex mu_;
  std::map<std::string, std::vector<uint8_t>> objects_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<ObjectStore> NewMemoryObjectStore(
    MemoryObjectStoreOptions options) {
  if (options.list_page_size == 0) options.list_page_size = 1;
  return std::make_unique<MemoryObjectStore>(options);
}

}  // namespace usbd
