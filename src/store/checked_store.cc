#include "store/checked_store.h"

#include <atomic>
#include <cstdlib>

#include "util/log.h"

namespace usbd {
namespace {

class CheckedStore : public ForwardingStore {
 public:
  CheckedStore(CheckedOptions options, std::unique_ptr<BlockStore> inner)
      : ForwardingStore(std::move(inner)), options_(std::move(options)) {}

  Status Start() override {
    Status status = inner().Start();
    if (status.ok()) state_.store(kStarted);
    return status;
  }

  Status Shutdown() override {
    USBD_RETURN_IF_ERROR(CheckStarted("Shutdown"));
    state_.store(kShutDown);
    return inner().Shutdown();
  }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    USBD_RETURN_IF_ERROR(CheckStarted("Read"));
    USBD_RETURN_IF_ERROR(CheckRange("Read", block, offset, out.size()));
    return inner().Read(block, offset, out);
  }

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    USBD_RETURN_IF_ERROR(CheckChange("Write"));
    USBD_RETURN_IF_ERROR(CheckRange("Write", block, offset, data.size()));
    if ((offset != 0 || data.size() != geometry().block_size) &&
        !inner().capabilities().partial_write) {
      return Violation(EINVAL, "partial Write of " + DescribeBlock(block) +
                                   " (" + std::to_string(data.size()) +
                                   " bytes at " + std::to_string(offset) +
                                   ") to a store that writes whole blocks");
    }
    return inner().Write(block, offset, data);
  }

  Status Trim(uint64_t block) override {
    USBD_RETURN_IF_ERROR(CheckChange("Trim"));
    USBD_RETURN_IF_ERROR(CheckRange("Trim", block, 0, 0));
    return inner().Trim(block);
  }

  Status Flush() override {
    USBD_RETURN_IF_ERROR(CheckStarted("Flush"));
    return inner().Flush();
  }

  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    USBD_RETURN_IF_ERROR(CheckStarted("QueryAllocation"));
    const uint64_t blocks = geometry().block_count;
    if (first > blocks || count > blocks - first) {
      return Violation(EINVAL, "QueryAllocation of blocks " +
                                   std::to_string(first) + "+" +
                                   std::to_string(count) + " beyond " +
                                   std::to_string(blocks));
    }
    Status status = inner().QueryAllocation(first, count, allocated);
    if (status.ok() && allocated->size() != count) {
      Fail("QueryAllocation answered " + std::to_string(allocated->size()) +
           " blocks for " + std::to_string(count));
    }
    return status;
  }

  Status ReadObject(uint64_t block, std::vector<uint8_t>* object) override {
    USBD_RETURN_IF_ERROR(CheckStarted("ReadObject"));
    USBD_RETURN_IF_ERROR(CheckRange("ReadObject", block, 0, 0));
    Status status = inner().ReadObject(block, object);
    if (status.ok() && !object->empty() &&
        !IsObjectSize(object->size(), geometry().block_size)) {
      Fail("ReadObject of " + DescribeBlock(block) + " returned " +
           std::to_string(object->size()) + " bytes");
    }
    return status;
  }

  Status WriteObject(uint64_t block, std::span<const uint8_t> object) override {
    USBD_RETURN_IF_ERROR(CheckChange("WriteObject"));
    USBD_RETURN_IF_ERROR(CheckRange("WriteObject", block, 0, 0));
    if (!IsObjectSize(object.size(), geometry().block_size)) {
      return Violation(EINVAL, "WriteObject of " +
                                   std::to_string(object.size()) +
                                   " bytes to " + DescribeBlock(block));
    }
    return inner().WriteObject(block, object);
  }

 private:
  enum State { kNew, kStarted, kShutDown };

  // A violation coming from above: refused at the top, fatal under a layer.
  Status Violation(int code, const std::string& what) {
    if (options_.fatal) Fail(what);
    return Status::Error(
        code, "contract violation at " + options_.seam + ": " + what);
  }

  // A violation the store below made, or a fatal one from above.
  [[noreturn]] void Fail(const std::string& what) {
    LogError("contract violation at " + options_.seam + ": " + what);
    std::abort();
  }

  Status CheckStarted(const char* call) {
    State state = state_.load();
    if (state == kStarted) return Status::Ok();
    return Violation(EINVAL,
                     std::string(call) +
                         (state == kNew ? " before Start" : " after Shutdown"));
  }

  Status CheckChange(const char* call) {
    USBD_RETURN_IF_ERROR(CheckStarted(call));
    if (!inner().capabilities().read_only) return Status::Ok();
    return Violation(EPERM, std::string(call) + " to a read-only store");
  }

  Status CheckRange(const char* call, uint64_t block, uint32_t offset,
                    size_t size) {
    const Geometry g = geometry();
    if (block < g.block_count && uint64_t{offset} + size <= g.block_size) {
      return Status::Ok();
    }
    return Violation(EINVAL, std::string(call) + " of " + std::to_string(size) +
                                 " bytes at " + std::to_string(offset) +
                                 " in block " + std::to_string(block) + " of " +
                                 std::to_string(g.block_count) + " blocks of " +
                                 std::to_string(g.block_size) + " bytes");
  }

  const CheckedOptions options_;
  std::atomic<State> state_{kNew};
};

}  // namespace

std::unique_ptr<BlockStore> NewCheckedStore(CheckedOptions options,
                                            std::unique_ptr<BlockStore> inner) {
  return std::make_unique<CheckedStore>(std::move(options), std::move(inner));
}

}  // namespace usbd
