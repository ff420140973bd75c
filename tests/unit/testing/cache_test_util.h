// Test doubles and helpers for the block cache tests.
//
// TestStore: the real memory store underneath (owned by the test, so it
// outlives a "crashed" cache), narrowed to whole-block writes as the
// directory and object stores are, with counters per operation, injected
// failures, and a gate that holds uploads (Write/Trim) until opened.
#ifndef USBD_TESTS_UNIT_TESTING_CACHE_TEST_UTIL_H_
#define USBD_TESTS_UNIT_TESTING_CACHE_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "cache/cache_store.h"
#include "store/memory_store.h"

namespace usbd::testing {

class TestStore : public BlockStore {
 public:
  explicit TestStore(Geometry geometry)
      : geometry_(geometry), memory_(NewMemoryStore({geometry, false})) {
    (void)memory_->Start();
  }

  Geometry geometry() const override { return geometry_; }
  Capabilities capabilities() const override {
    Capabilities caps = memory_->capabilities();
    caps.partial_write = false;
    caps.flush = has_flush;
    caps.allocation = has_allocation;
    return caps;
  }
  Status Start() override { return Status::Ok(); }
  Status Shutdown() override { return Status::Ok(); }
  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    reads++;
    if (fail_reads) return Status::IoError("injected read failure");
    return memory_->Read(block, offset, out);
  }
  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (offset != 0 || data.size() != geometry_.block_size) {
      return Status::Invalid("partial write reached a whole-block store");
    }
    PassGate();
    if (refuse_uploads) return Status::IoError("injected: store unreachable");
    writes++;
    if (fail_writes > 0) {
      fail_writes--;
      return Status::IoError("injected write failure");
    }
    {
      std::lock_guard lock(mu_);
      writes_per_block[block]++;
    }
    return memory_->Write(block, offset, data);
  }
  Status Trim(uint64_t block) override {
    PassGate();
    if (refuse_uploads) return Status::IoError("injected: store unreachable");
    trims++;
    return memory_->Trim(block);
  }
  Status Flush() override {
    flushes++;
    return Status::Ok();
  }
  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    queries++;
    return memory_->QueryAllocation(first, count, allocated);
  }
  void CollectStats(std::vector<StatEntry>* out) const override {
    memory_->CollectStats(out);
  }

  // Straight to the memory store, bypassing counters and the gate.
  std::vector<uint8_t> Peek(uint64_t block) {
    std::vector<uint8_t> data(geometry_.block_size);
    EXPECT_TRUE(memory_->Read(block, 0, data).ok());
    return data;
  }
  bool Holds(uint64_t block) {
    std::vector<bool> allocated;
    EXPECT_TRUE(memory_->QueryAllocation(block, 1, &allocated).ok());
    return allocated[0];
  }
  int WritesOf(uint64_t block) {
    std::lock_guard lock(mu_);
    return writes_per_block[block];
  }

  // While closed, uploads wait in Write/Trim. Open it before destroying
  // a cache: its threads are joined.
  void CloseGate() {
    std::lock_guard lock(mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    {
      std::lock_guard lock(mu_);
      gate_open_ = true;
    }
    gate_cv_.notify_all();
  }
  int waiting_at_gate() {
    std::lock_guard lock(mu_);
    return waiting_;
  }

  std::atomic<int> reads{0}, writes{0}, trims{0}, flushes{0}, queries{0};
  std::atomic<int> fail_writes{0};
  std::atomic<bool> fail_reads{false};
  // Every Write and Trim fails at once (the store is unreachable). Unlike
  // the gate, this lets a cache be crashed with uploads pending.
  std::atomic<bool> refuse_uploads{false};
  bool has_flush = true;
  bool has_allocation = true;

 private:
  void PassGate() {
    std::unique_lock lock(mu_);
    ++waiting_;
    gate_cv_.wait(lock, [&] { return gate_open_; });
    --waiting_;
  }

  const Geometry geometry_;
  std::unique_ptr<BlockStore> memory_;
  std::mutex mu_;
  std::condition_variable gate_cv_;
  bool gate_open_ = true;
  int waiting_ = 0;
  std::map<uint64_t, int> writes_per_block;
};

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/usbd-cache-test.XXXXXX";
    path_ = ::mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> Filled(size_t size, uint8_t value) {
  return std::vector<uint8_t>(size, value);
}

// Polls `done` for up to `seconds`.
inline bool Eventually(const std::function<bool()>& done, double seconds = 10) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int>(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return done();
}

inline uint64_t Stat(BlockStore& store, const std::string& name) {
  std::vector<StatEntry> stats;
  store.CollectStats(&stats);
  for (const StatEntry& s : stats) {
    if (s.name == name) return s.value;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_CACHE_TEST_UTIL_H_
