#include "store/zero_store.h"

#include <atomic>
#include <cstring>

#include "util/iszero.h"

namespace usbd {
namespace {

class ZeroStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    bool whole = offset == 0 && data.size() == geometry().block_size;
    if (whole && capabilities().trim && IsAllZero(data)) {
      zero_writes_.fetch_add(1, std::memory_order_relaxed);
      return inner().Trim(block);
    }
    return inner().Write(block, offset, data);
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"zero.writes_as_trim", zero_writes_.load(),
                    "all-zero block writes stored as trims"});
    ForwardingStore::CollectStats(out);
  }

 private:
  std::atomic<uint64_t> zero_writes_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewZeroStore(std::unique_ptr<BlockStore> inner) {
  return std::make_unique<ZeroStore>(std::move(inner));
}

}  // namespace usbd
