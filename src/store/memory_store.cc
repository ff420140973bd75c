#include "store/memory_store.h"

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace usbd {
namespace {

// Each block slot is guarded by one of kStripes mutexes (block % kStripes),
// so concurrent I/O to different blocks rarely contends and I/O to the same
// block never races. A block holds nothing, a block (blocks_) or an object
// (objects_), never both; objects are rare enough for a map per stripe.
constexpr size_t kStripes = 256;

class MemoryStore : public BlockStore {
 public:
  explicit MemoryStore(const MemoryStoreOptions& options)
      : options_(options), blocks_(options.geometry.block_count) {}

  Geometry geometry() const override { return options_.geometry; }
  Capabilities capabilities() const override {
    return LocalStoreCapabilities(options_.read_only);
  }
  Status Start() override { return Status::Ok(); }
  Status Shutdown() override { return Status::Ok(); }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    std::lock_guard lock(StripeOf(block));
    const auto& data = blocks_[block];
    if (const std::vector<uint8_t>* object = ObjectOf(block)) {
      if (object->size() != options_.geometry.block_size) {
        return ObjectIsNotABlock(block, *object);
      }
      std::memcpy(out.data(), object->data() + offset, out.size());
    } else if (data) {
      std::memcpy(out.data(), data.get() + offset, out.size());
    } else {
      std::memset(out.data(), 0, out.size());
    }
    reads_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    std::lock_guard lock(StripeOf(block));
    auto& slot = blocks_[block];
    if (std::vector<uint8_t>* object = ObjectOf(block)) {
      // The object becomes a block again: a whole write replaces it, a
      // partial one updates it only if it is block-sized (never a mix).
      const uint32_t bs = options_.geometry.block_size;
      bool whole = offset == 0 && data.size() == bs;
      if (!whole && object->size() != bs) {
        return ObjectIsNotABlock(block, *object);
      }
      slot = std::make_unique<uint8_t[]>(bs);
      if (!whole) std::memcpy(slot.get(), object->data(), bs);
      ObjectsOf(block).erase(block);
    }
    if (!slot) {
      // A whole-block write fills the new block itself; for a partial one,
      // make_unique<T[]> value-initialises: the rest reads as zeros.
      const uint32_t bs = options_.geometry.block_size;
      slot = offset == 0 && data.size() == bs
                 ? std::make_unique_for_overwrite<uint8_t[]>(bs)
                 : std::make_unique<uint8_t[]>(bs);
    }
    std::memcpy(slot.get() + offset, data.data(), data.size());
    writes_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status Trim(uint64_t block) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    std::unique_ptr<uint8_t[]> released;
    {
      std::lock_guard lock(StripeOf(block));
      released = std::move(blocks_[block]);
      ObjectsOf(block).erase(block);
    }
    trims_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status Flush() override { return Status::Ok(); }

  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    allocated->assign(count, false);
    for (uint64_t i = 0; i < count; ++i) {
      std::lock_guard lock(StripeOf(first + i));
      (*allocated)[i] =
          blocks_[first + i] != nullptr || ObjectOf(first + i) != nullptr;
    }
    return Status::Ok();
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"memory.reads", reads_.load(), "block reads"});
    out->push_back({"memory.writes", writes_.load(), "block writes"});
    out->push_back({"memory.trims", trims_.load(), "block trims"});
  }

  Status ReadObject(uint64_t block, std::vector<uint8_t>* object) override {
    std::lock_guard lock(StripeOf(block));
    if (const std::vector<uint8_t>* stored = ObjectOf(block)) {
      object->assign(stored->begin(), stored->end());
    } else if (const auto& data = blocks_[block]) {
      object->assign(data.get(), data.get() + options_.geometry.block_size);
    } else {
      object->clear();
    }
    reads_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status WriteObject(uint64_t block, std::span<const uint8_t> object) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    USBD_RETURN_IF_ERROR(
        CheckObjectSize(block, object.size(), options_.geometry.block_size));
    std::vector<uint8_t> copy(object.begin(), object.end());
    std::unique_ptr<uint8_t[]> released;
    {
      std::lock_guard lock(StripeOf(block));
      released = std::move(blocks_[block]);
      ObjectsOf(block)[block].swap(copy);
    }
    writes_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

 private:
  std::mutex& StripeOf(uint64_t block) { return stripes_[block % kStripes]; }
  std::unordered_map<uint64_t, std::vector<uint8_t>>& ObjectsOf(
      uint64_t block) {
    return objects_[block % kStripes];
  }
  // The object `block` holds, or nullptr. Requires StripeOf(block) held.
  std::vector<uint8_t>* ObjectOf(uint64_t block) {
    auto& objects = ObjectsOf(block);
    if (objects.empty()) return nullptr;
    auto it = objects.find(block);
    return it == objects.end() ? nullptr : &it->second;
  }

  static Status ObjectIsNotABlock(uint64_t block,
                                  const std::vector<uint8_t>& object) {
    return Status::NotABlock("block " + std::to_string(block) + " holds a " +
                             std::to_string(object.size()) +
                             "-byte object, not a block");
  }

  const MemoryStoreOptions options_;
  std::array<std::mutex, kStripes> stripes_;
  std::vector<std::unique_ptr<uint8_t[]>> blocks_;  // guarded by stripes_
  // objects_[s] guarded by stripes_[s].
  std::array<std::unordered_map<uint64_t, std::vector<uint8_t>>, kStripes>
      objects_;
  std::atomic<uint64_t> reads_{0}, writes_{0}, trims_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewMemoryStore(const MemoryStoreOptions& options) {
  return std::make_unique<MemoryStore>(options);
}

}  // namespace usbd
