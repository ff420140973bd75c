// The secure allocator: size classes over MADV_DONTDUMP regions; see
// secure_memory.h.
//
// Block layout: a 16-byte header, then the caller's bytes (16-byte
// aligned: regions are page-aligned and every block size is a multiple of
// 32). The header's first word is the size class, or kLarge; for a large
// block the second is the length of its own mapping. A free small block
// keeps the next pointer of its class's free list in its first payload
// bytes; everything else in it is zero (wiped when it was freed).
//
// The state is one process-wide object, constant-initialised and never
// destroyed, because OpenSSL and libcurl call in from anywhere, also
// before main() returns and from atexit handlers after it has.
#include "crypto/secure_memory.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>

namespace usbd {
namespace {

constexpr size_t kHeaderSize = 16;
constexpr int kClasses = 13;  // blocks of 32 B .. 128 KiB
constexpr size_t kMinBlock = 32;
constexpr size_t kMaxBlock = kMinBlock << (kClasses - 1);
constexpr size_t kMaxSmall = kMaxBlock - kHeaderSize;
constexpr size_t kRegionSize = size_t{1} << 20;
constexpr uint64_t kLarge = 0xffff;
// Large blocks up to this size are locked too (scrypt's 64 MiB is not).
constexpr size_t kMaxLockedLarge = size_t{1} << 20;

struct Region {
  Region* next;  // every region, for locking again after fork()
};

struct Allocator {
  std::mutex class_mu[kClasses];
  void* free_list[kClasses] = {};  // guarded by class_mu[class]
  std::mutex region_mu;
  Region* regions = nullptr;  // guarded by region_mu
  uint8_t* carve = nullptr;   // the unused rest of the newest region
  size_t carve_left = 0;
};

constinit Allocator g_allocator;

// A fresh mapping left out of core dumps, or nullptr.
void* MapDontDump(size_t size, bool lock) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (::madvise(p, size, MADV_DONTDUMP) != 0) {
    ::munmap(p, size);
    return nullptr;
  }
  if (lock) (void)::mlock(p, size);  // best effort: RLIMIT_MEMLOCK
  return p;
}

int ClassFor(size_t size) {
  int c = 0;
  while ((kMinBlock << c) - kHeaderSize < size) ++c;
  return c;
}

size_t Capacity(const uint64_t* header) {
  return header[0] == kLarge ? header[1] - kHeaderSize
                             : (kMinBlock << header[0]) - kHeaderSize;
}

uint8_t* CarveBlock(size_t size) {
  Allocator& a = g_allocator;
  std::lock_guard lock(a.region_mu);
  if (a.carve_left < size) {
    // The old region's tail (less than one block) is left unused.
    auto* region = static_cast<uint8_t*>(MapDontDump(kRegionSize, true));
    if (region == nullptr) return nullptr;
    reinterpret_cast<Region*>(region)->next = a.regions;
    a.regions = reinterpret_cast<Region*>(region);
    a.carve = region + kMinBlock;  // the Region link takes the first block
    a.carve_left = kRegionSize - kMinBlock;
  }
  uint8_t* block = a.carve;
  a.carve += size;
  a.carve_left -= size;
  return block;
}

void* AllocateLarge(size_t size) {
  if (size > SIZE_MAX - 2 * kHeaderSize - 4096) return nullptr;
  size_t length = (size + kHeaderSize + 4095) & ~size_t{4095};
  auto* block =
      static_cast<uint64_t*>(MapDontDump(length, length <= kMaxLockedLarge));
  if (block == nullptr) return nullptr;
  block[0] = kLarge;
  block[1] = length;
  return reinterpret_cast<uint8_t*>(block) + kHeaderSize;
}

void PrepareFork() {
  for (std::mutex& mu : g_allocator.class_mu) mu.lock();
  g_allocator.region_mu.lock();
}

void AfterForkParent() {
  g_allocator.region_mu.unlock();
  for (std::mutex& mu : g_allocator.class_mu) mu.unlock();
}

// mlock is not inherited: lock the regions again in the child.
void AfterForkChild() {
  for (Region* r = g_allocator.regions; r != nullptr; r = r->next) {
    (void)::mlock(r, kRegionSize);
  }
  AfterForkParent();
}

void RegisterForkHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::pthread_atfork(&PrepareFork, &AfterForkParent, &AfterForkChild);
  });
}

// The signatures OpenSSL and libcurl want.
void* OpensslMalloc(size_t size, const char*, int) {
  return SecureAllocate(size);
}
void* OpensslRealloc(void* block, size_t size, const char*, int) {
  return SecureReallocate(block, size);
}
void OpensslFree(void* block, const char*, int) { SecureFree(block); }

void* CurlCalloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  void* block = SecureAllocate(count * size);
  if (block != nullptr) std::memset(block, 0, count * size);
  return block;
}

char* CurlStrdup(const char* text) {
  size_t size = std::strlen(text) + 1;
  auto* copy = static_cast<char*>(SecureAllocate(size));
  if (copy != nullptr) std::memcpy(copy, text, size);
  return copy;
}

}  // namespace

void* SecureAllocate(size_t size) {
  RegisterForkHandlers();
  if (size > kMaxSmall) return AllocateLarge(size);
  const int c = ClassFor(size);
  Allocator& a = g_allocator;
  uint8_t* block = nullptr;
  {
    std::lock_guard lock(a.class_mu[c]);
    if (a.free_list[c] != nullptr) {
      block = static_cast<uint8_t*>(a.free_list[c]);
      void* next;
      std::memcpy(&next, block + kHeaderSize, sizeof next);
      a.free_list[c] = next;
      std::memset(block + kHeaderSize, 0, sizeof next);
    }
  }
  if (block == nullptr) block = CarveBlock(kMinBlock << c);
  if (block == nullptr) return nullptr;
  auto* header = reinterpret_cast<uint64_t*>(block);
  header[0] = static_cast<uint64_t>(c);
  header[1] = 0;
  return block + kHeaderSize;
}

void SecureFree(void* payload) {
  if (payload == nullptr) return;
  uint8_t* block = static_cast<uint8_t*>(payload) - kHeaderSize;
  auto* header = reinterpret_cast<uint64_t*>(block);
  if (header[0] == kLarge) {
    // Unmapped pages leave the process (and so every later dump) at once.
    ::munmap(block, header[1]);
    return;
  }
  const int c = static_cast<int>(header[0]);
  OPENSSL_cleanse(payload, Capacity(header));
  std::lock_guard lock(g_allocator.class_mu[c]);
  std::memcpy(payload, &g_allocator.free_list[c], sizeof(void*));
  g_allocator.free_list[c] = block;
}

void* SecureReallocate(void* payload, size_t size) {
  if (payload == nullptr) return SecureAllocate(size);
  if (size == 0) {
    SecureFree(payload);
    return nullptr;
  }
  const size_t capacity = Capacity(reinterpret_cast<uint64_t*>(
      static_cast<uint8_t*>(payload) - kHeaderSize));
  if (size <= capacity) return payload;
  void* bigger = SecureAllocate(size);
  if (bigger == nullptr) return nullptr;
  std::memcpy(bigger, payload, capacity);
  SecureFree(payload);
  return bigger;
}

Status InstallSecureAllocators() {
  if (CRYPTO_set_mem_functions(&OpensslMalloc, &OpensslRealloc, &OpensslFree) !=
      1) {
    return Status::Error(EBUSY,
                         "OpenSSL allocated memory before its allocator could "
                         "be set: secrets may appear in core dumps");
  }
  CURLcode code =
      curl_global_init_mem(CURL_GLOBAL_DEFAULT, &SecureAllocate, &SecureFree,
                           &SecureReallocate, &CurlStrdup, &CurlCalloc);
  if (code != CURLE_OK) {
    return Status::IoError(std::string("libcurl initialisation failed: ") +
                           curl_easy_strerror(code));
  }
  return Status::Ok();
}

SecretString::SecretString(std::string_view text) { Append(text); }

SecretString::SecretString(SecretString&& other) noexcept
    : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  other.data_ = nullptr;
  other.size_ = other.capacity_ = 0;
}

SecretString& SecretString::operator=(SecretString other) noexcept {
  std::swap(data_, other.data_);
  std::swap(size_, other.size_);
  std::swap(capacity_, other.capacity_);
  return *this;
}

void SecretString::clear() {
  SecureFree(data_);  // wipes
  data_ = nullptr;
  size_ = capacity_ = 0;
}

void SecretString::Append(std::string_view more) {
  if (more.empty()) return;
  if (size_ + more.size() > capacity_) {
    size_t capacity = std::max(size_ + more.size(), 2 * capacity_);
    auto* bigger = static_cast<char*>(SecureAllocate(capacity + 1));
    if (bigger == nullptr) throw std::bad_alloc();
    if (size_ > 0) std::memcpy(bigger, data_, size_);
    // Before the old block is wiped: `more` may be part of it.
    std::memcpy(bigger + size_, more.data(), more.size());
    SecureFree(data_);
    data_ = bigger;
    capacity_ = capacity;
  } else {
    std::memmove(data_ + size_, more.data(), more.size());
  }
  size_ += more.size();
  data_[size_] = '\0';
}

}  // namespace usbd
