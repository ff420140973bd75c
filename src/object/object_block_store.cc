#include "object/object_block_store.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "util/hex.h"
#include "util/log.h"

namespace usbd {
namespace {

class ObjectBlockStore : public BlockStore {
 public:
  ObjectBlockStore(ObjectBlockStoreOptions options,
                   std::unique_ptr<ObjectStore> store)
      : options_(std::move(options)), store_(std::move(store)) {}

  Geometry geometry() const override { return options_.geometry; }

  Capabilities capabilities() const override {
    Capabilities caps;
    caps.partial_write = false;
    caps.trim = true;
    caps.flush = false;
    caps.multi_conn = true;
    caps.read_only = options_.read_only;
    caps.fast_zero = true;
    caps.allocation = options_.list_blocks;
    caps.objects = true;
    return caps;
  }

  Status Start() override {
    if (!options_.list_blocks) return Status::Ok();
    if (!store_->CanList()) {
      return Status::Error(ENOTSUP, "--listBlocks: " + store_->Describe() +
                                        " cannot list objects");
    }
    {
      std::lock_guard lock(mu_);
      present_.assign(options_.geometry.block_count, false);
    }
    return Survey();
  }

  Status Shutdown() override { return Status::Ok(); }

  // Blocks become objects in the codec layer above (codec/codec_store.h);
  // this layer keeps objects only.
  Status Read(uint64_t, uint32_t, std::span<uint8_t>) override {
    return Status::Error(ENOTSUP, "the block adapter keeps objects only");
  }
  Status Write(uint64_t, uint32_t, std::span<const uint8_t>) override {
    return Status::Error(ENOTSUP, "the block adapter keeps objects only");
  }

  Status ReadObject(uint64_t block, std::vector<uint8_t>* object) override {
    USBD_RETURN_IF_ERROR(CheckRange(block, 0, 0));
    object->clear();
    if (options_.list_blocks && !MaybePresent(block)) {
      zero_reads_.fetch_add(1, std::memory_order_relaxed);
      return Status::Ok();
    }
    std::string key = Key(block);
    auto got = store_->Get(key, options_.geometry.block_size);
    gets_.fetch_add(1, std::memory_order_relaxed);
    if (!got.ok()) return Failed(got.status(), "read", block);
    if (!got->has_value()) return Status::Ok();
    std::vector<uint8_t>& data = **got;
    if (!IsObjectSize(data.size(), options_.geometry.block_size)) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      return Status::IoError("block " + std::to_string(block) + ": object " +
                             key + " has " + std::to_string(data.size()) +
                             " bytes, not an object of this volume, in " +
                             store_->Describe());
    }
    bytes_read_.fetch_add(data.size(), std::memory_order_relaxed);
    *object = std::move(data);
    return Status::Ok();
  }

  Status WriteObject(uint64_t block, std::span<const uint8_t> object) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    USBD_RETURN_IF_ERROR(CheckRange(block, 0, 0));
    USBD_RETURN_IF_ERROR(
        CheckObjectSize(block, object.size(), options_.geometry.block_size));
    return Put(block, object);
  }

  Status Trim(uint64_t block) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    USBD_RETURN_IF_ERROR(CheckRange(block, 0, 0));
    return Remove(block, "trim");
  }

  Status Flush() override { return Status::Ok(); }

  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    if (first > options_.geometry.block_count ||
        count > options_.geometry.block_count - first) {
      return Status::Invalid("allocation query beyond the end of the volume");
    }
    if (!options_.list_blocks) {
      allocated->assign(count, true);
      return Status::Ok();
    }
    allocated->resize(count);
    std::lock_guard lock(mu_);
    for (uint64_t i = 0; i < count; ++i) {
      (*allocated)[i] = present_[first + i];
    }
    return Status::Ok();
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"object.gets", gets_.load(), "objects fetched"});
    out->push_back({"object.puts", puts_.load(), "objects stored"});
    out->push_back({"object.deletes", deletes_.load(), "objects deleted"});
    out->push_back({"object.zero_reads", zero_reads_.load(),
                    "reads of blocks with no object (zeros)"});
    out->push_back({"object.bytes_read", bytes_read_.load(),
                    "bytes of objects fetched (down)"});
    out->push_back({"object.bytes_written", bytes_written_.load(),
                    "bytes of objects stored (up)"});
    out->push_back(
        {"object.errors", errors_.load(), "object requests that failed"});
    out->push_back(
        {"object.listed", listed_.load(), "objects found by --listBlocks"});
    store_->CollectStats(out);
  }

 private:
  std::string Key(uint64_t block) const {
    return BlockObjectKey(options_.prefix, options_.naming, block);
  }

  Status CheckRange(uint64_t block, uint32_t offset, size_t size) const {
    if (block >= options_.geometry.block_count ||
        uint64_t{offset} + size > options_.geometry.block_size) {
      return Status::Invalid("block " + std::to_string(block) + " range " +
                             std::to_string(offset) + "+" +
                             std::to_string(size) + " is outside the volume");
    }
    return Status::Ok();
  }

  Status Failed(const Status& status, const char* op, uint64_t block) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    return status.WithContext(std::string(op) + " block " +
                              std::to_string(block));
  }

  Status Put(uint64_t block, std::span<const uint8_t> data) {
    BeginChange(block);
    Status status = store_->Put(Key(block), data);
    puts_.fetch_add(1, std::memory_order_relaxed);
    EndChange(block, /*present=*/true);
    if (!status.ok()) return Failed(status, "write", block);
    bytes_written_.fetch_add(data.size(), std::memory_order_relaxed);
    return Status::Ok();
  }

  Status Remove(uint64_t block, const char* op) {
    BeginChange(block);
    Status status = store_->Delete(Key(block));
    deletes_.fetch_add(1, std::memory_order_relaxed);
    EndChange(block, /*present=*/!status.ok());
    if (!status.ok()) return Failed(status, op, block);
    return Status::Ok();
  }

  bool MaybePresent(uint64_t block) {
    std::lock_guard lock(mu_);
    return present_[block];
  }

  // The bitmap invariant: a block whose object may exist is marked present.
  // A change marks the block present before it starts; when it ends, the
  // block may be marked absent only if it was a successful DELETE that no
  // other change of the same block overlapped (otherwise the order in
  // which the store applied them is unknown).
  void BeginChange(uint64_t block) {
    if (!options_.list_blocks) return;
    std::lock_guard lock(mu_);
    present_[block] = true;
    InFlight& entry = in_flight_[block];
    if (entry.count++ > 0) entry.overlapped = true;
  }

  void EndChange(uint64_t block, bool present) {
    if (!options_.list_blocks) return;
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(block);
    if (it->second.overlapped) present = true;
    if (--it->second.count > 0) return;
    in_flight_.erase(it);
    present_[block] = present;
  }

  // One listing task: keys starting with `sub_prefix`.
  Status SurveyOne(const std::string& sub_prefix,
                   const std::atomic<bool>& stop) {
    uint64_t found = 0;
    Status status = store_->List(sub_prefix, [&](const ObjectInfo& info) {
      uint64_t block;
      if (ParseBlockObjectKey(options_.prefix, options_.naming, info.key,
                              &block) &&
          block < options_.geometry.block_count) {
        std::lock_guard lock(mu_);
        present_[block] = true;
        ++found;
      }
      return !stop.load(std::memory_order_relaxed);
    });
    listed_.fetch_add(found, std::memory_order_relaxed);
    return status;
  }

  // Lists disjoint key ranges in parallel: sub-prefixes made of the first
  // hex digits after the prefix (of the hash, or of the block number).
  std::vector<std::string> SurveyPrefixes() const {
    unsigned threads = std::max(1u, options_.list_threads);
    if (threads == 1) return {options_.prefix};
    std::vector<std::string> prefixes;
    if (options_.naming != BlockNaming::kPlain) {
      int digits = threads <= 4 ? 1 : 2;
      for (uint64_t p = 0; p < (uint64_t{1} << (4 * digits)); ++p) {
        prefixes.push_back(options_.prefix + HexNumber(p, digits));
      }
      return prefixes;
    }
    uint64_t count = options_.geometry.block_count;
    if (count > (uint64_t{1} << 32)) return {options_.prefix};  // > 8 digits
    // The fewest leading digits that give at least 2 ranges per thread.
    int digits = 0;
    while (digits < 8) {
      uint64_t span = uint64_t{1} << (4 * (8 - digits));
      if ((count + span - 1) / span >= 2 * threads) break;
      ++digits;
    }
    if (digits == 0) return {options_.prefix};
    uint64_t span = uint64_t{1} << (4 * (8 - digits));
    for (uint64_t p = 0; p * span < count; ++p) {
      prefixes.push_back(options_.prefix + HexNumber(p, digits));
    }
    return prefixes;
  }

  Status Survey() {
    std::vector<std::string> prefixes = SurveyPrefixes();
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex error_mu;
    Status first_error;
    auto worker = [&] {
      while (!stop.load()) {
        size_t i = next.fetch_add(1);
        if (i >= prefixes.size()) return;
        Status status = SurveyOne(prefixes[i], stop);
        if (!status.ok()) {
          std::lock_guard lock(error_mu);
          if (first_error.ok()) first_error = status;
          stop.store(true);
        }
      }
    };
    size_t threads =
        std::min<size_t>(std::max(1u, options_.list_threads), prefixes.size());
    std::vector<std::thread> pool;
    for (size_t i = 1; i < threads; ++i) pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool) t.join();
    if (!first_error.ok()) {
      return first_error.WithContext("--listBlocks survey of " +
                                     store_->Describe());
    }
    LogInfo("listBlocks: " + std::to_string(listed_.load()) +
            " blocks present of " +
            std::to_string(options_.geometry.block_count) + " in " +
            store_->Describe());
    return Status::Ok();
  }

  struct InFlight {
    uint32_t count = 0;
    bool overlapped = false;
  };

  const ObjectBlockStoreOptions options_;
  const std::unique_ptr<ObjectStore> store_;
  std::mutex mu_;
  std::vector<bool> present_;  // guarded by mu_; used with list_blocks only
  std::unordered_map<uint64_t, InFlight> in_flight_;  // guarded by mu_
  std::atomic<uint64_t> gets_{0}, puts_{0}, deletes_{0}, zero_reads_{0};
  std::atomic<uint64_t> bytes_read_{0}, bytes_written_{0}, errors_{0};
  std::atomic<uint64_t> listed_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewObjectBlockStore(
    ObjectBlockStoreOptions options, std::unique_ptr<ObjectStore> store) {
  return std::make_unique<ObjectBlockStore>(std::move(options),
                                            std::move(store));
}

}  // namespace usbd
