// The three stores that keep objects, for the codec and crypto tests: the
// memory store, the directory store (in a temporary directory, removed by
// the destructor) and the object block store over the in-memory object
// store (the production bottom layer, without a server).
#ifndef USBD_TESTS_UNIT_TESTING_TEST_BACKENDS_H_
#define USBD_TESTS_UNIT_TESTING_TEST_BACKENDS_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "object/dir_store.h"
#include "object/memory_object_store.h"
#include "object/object_block_store.h"
#include "store/block_store.h"
#include "store/memory_store.h"

namespace usbd::testing {

enum class Backend { kMemory, kDir, kObject };

inline const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kMemory:
      return "Memory";
    case Backend::kDir:
      return "Dir";
    case Backend::kObject:
      return "Object";
  }
  return "?";
}

// Owns the temporary directory a kDir store lives in; the stores made
// from it share it, so a second "run" sees the first one's blocks.
class BackendFactory {
 public:
  explicit BackendFactory(Backend backend, Geometry geometry = {4096, 16})
      : backend_(backend), geometry_(geometry) {
    if (backend_ == Backend::kDir) {
      std::string pattern =
          std::filesystem::temp_directory_path() / "usbd-codec-XXXXXX";
      EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
      dir_ = pattern;
    }
  }
  ~BackendFactory() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  BackendFactory(const BackendFactory&) = delete;
  BackendFactory& operator=(const BackendFactory&) = delete;

  Geometry geometry() const { return geometry_; }
  const std::string& directory() const { return dir_; }

  // A new, unstarted store over this factory's medium. A kMemory or
  // kObject store is a fresh, empty medium each time.
  std::unique_ptr<BlockStore> New(const std::string& prefix = "vol/") const {
    switch (backend_) {
      case Backend::kMemory:
        return NewMemoryStore({geometry_, false});
      case Backend::kDir:
        return NewDirStore({dir_ + "/store", prefix, geometry_, false});
      case Backend::kObject:
        return NewObjectBlockStore(
            {.geometry = geometry_, .prefix = prefix, .list_blocks = true},
            NewMemoryObjectStore());
    }
    return nullptr;
  }

 private:
  const Backend backend_;
  const Geometry geometry_;
  std::string dir_;
};

// Narrows a store to whole-block writes, as the directory and object
// stores are, so the frontend must read-modify-write partial blocks.
class WholeBlockStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Capabilities capabilities() const override {
    Capabilities caps = ForwardingStore::capabilities();
    caps.partial_write = false;
    return caps;
  }
  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (offset != 0 || data.size() != geometry().block_size) {
      return Status::Invalid("partial write reached a whole-block store");
    }
    return ForwardingStore::Write(block, offset, data);
  }
};

// Text, zeros and random bytes in one block: realistic, compressible.
inline std::vector<uint8_t> MixedBlock(size_t size, uint8_t seed) {
  static const char kWords[] = "usbd stores blocks as objects; ";
  std::vector<uint8_t> data(size, 0);
  uint32_t x = 0x9e3779b9u * (seed + 1u);
  for (size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    if (i < size / 2) {
      data[i] = static_cast<uint8_t>(kWords[(i + seed) % (sizeof kWords - 1)]);
    } else if (i >= size * 3 / 4) {
      data[i] = static_cast<uint8_t>(x >> 24);
    }
  }
  return data;
}

inline std::vector<uint8_t> RandomBlock(size_t size, uint8_t seed) {
  std::vector<uint8_t> data(size);
  uint64_t x = 0x243f6a8885a308d3ull ^ seed;
  for (auto& b : data) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  return data;
}

inline std::vector<uint8_t> Bytes(size_t size, uint8_t value) {
  return std::vector<uint8_t>(size, value);
}

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_TEST_BACKENDS_H_
