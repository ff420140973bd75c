#include "retry/retry_store.h"

#include <string>
#include <utility>

namespace usbd {
namespace {

using Clock = RetryOptions::Clock;

class RetryStore : public ForwardingStore {
 public:
  RetryStore(RetryOptions options, std::unique_ptr<BlockStore> inner,
             ObjectNamer namer)
      : ForwardingStore(std::move(inner)),
        policy_(std::move(options)),
        namer_(std::move(namer)) {}

  Status Start() override {
    return policy_.Run("start of the object store",
                       [this] { return inner().Start(); });
  }

  // Shutdown() is not retried: it runs on the way out, and the layers above
  // have already flushed (with retries) before calling it.

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    return Retry([&] { return inner().Read(block, offset, out); },
                 [&] { return BlockWhat("read", block); });
  }

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    return Retry([&] { return inner().Write(block, offset, data); },
                 [&] { return BlockWhat("write", block); });
  }

  Status ReadObject(uint64_t block, std::vector<uint8_t>* object) override {
    return Retry([&] { return inner().ReadObject(block, object); },
                 [&] { return BlockWhat("read", block); });
  }

  Status WriteObject(uint64_t block, std::span<const uint8_t> object) override {
    return Retry([&] { return inner().WriteObject(block, object); },
                 [&] { return BlockWhat("write", block); });
  }

  Status Trim(uint64_t block) override {
    return Retry([&] { return inner().Trim(block); },
                 [&] { return BlockWhat("trim", block); });
  }

  Status Flush() override {
    return Retry([&] { return inner().Flush(); },
                 [] { return std::string("flush"); });
  }

  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    return Retry(
        [&] { return inner().QueryAllocation(first, count, allocated); },
        [&] {
          return "allocation query of blocks " + std::to_string(first) + ".." +
                 std::to_string(first + count - 1);
        });
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    const RetryStats stats = policy_.stats();
    out->push_back(
        {"retry.retries", stats.retries, "attempts after the first one"});
    out->push_back({"retry.recovered", stats.recovered,
                    "operations that succeeded after retrying"});
    out->push_back(
        {"retry.giveups", stats.giveups,
         "operations failed with EIO once the retry budget was spent"});
    out->push_back({"retry.corrupt", stats.corrupt,
                    "attempts that read an object failing its checksum"});
    ForwardingStore::CollectStats(out);
  }

 private:
  std::string BlockWhat(const char* operation, uint64_t block) const {
    return std::string(operation) + " of " + DescribeBlock(block) +
           (namer_ ? " (" + namer_(block) + ")" : "");
  }

  // The first attempt runs without building a std::function or a message;
  // only a retryable failure pays for them.
  template <typename Op, typename What>
  Status Retry(const Op& op, const What& what) {
    const Clock::time_point start = policy_.Now();
    Status first = policy_.Attempt(start, op);
    if (first.ok() || !first.retryable()) return first;
    return policy_.Resume(start, std::move(first), what(), op);
  }

  RetryPolicy policy_;
  const ObjectNamer namer_;
};

}  // namespace

std::unique_ptr<BlockStore> NewRetryStore(RetryOptions options,
                                          std::unique_ptr<BlockStore> inner,
                                          ObjectNamer namer) {
  return std::make_unique<RetryStore>(std::move(options), std::move(inner),
                                      std::move(namer));
}

}  // namespace usbd
