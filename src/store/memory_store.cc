#include "store/memory_store.h"

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

namespace usbd {
namespace {

// Each block slot is guarded by one of kStripes mutexes (block % kStripes),
// so concurrent I/O to different blocks rarely contends and I/O to the same
// block never races.
constexpr size_t kStripes = 256;

class MemoryStore : public BlockStore {
 public:
  explicit MemoryStore(const MemoryStoreOptions& options)
      : options_(options), blocks_(options.geometry.block_count) {}

  Geometry geometry() const override { return options_.geometry; }
  Capabilities capabilities() const override {
    Capabilities caps;
    caps.partial_write = true;
    caps.read_only = options_.read_only;
    return caps;
  }
  Status Start() override { return Status::Ok(); }
  Status Shutdown() override { return Status::Ok(); }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    std::lock_guard lock(StripeOf(block));
    const auto& data = blocks_[block];
    if (data) {
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
    if (!slot) {
      // make_unique<T[]> value-initialises: a new block is all zeros.
      slot = std::make_unique<uint8_t[]>(options_.geometry.block_size);
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
      (*allocated)[i] = blocks_[first + i] != nullptr;
    }
    return Status::Ok();
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"memory.reads", reads_.load()});
    out->push_back({"memory.writes", writes_.load()});
    out->push_back({"memory.trims", trims_.load()});
  }

 private:
  std::mutex& StripeOf(uint64_t block) { return stripes_[block % kStripes]; }

  const MemoryStoreOptions options_;
  std::array<std::mutex, kStripes> stripes_;
  std::vector<std::unique_ptr<uint8_t[]>> blocks_;  // guarded by stripes_
  std::atomic<uint64_t> reads_{0}, writes_{0}, trims_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewMemoryStore(const MemoryStoreOptions& options) {
  return std::make_unique<MemoryStore>(options);
}

}  // namespace usbd
