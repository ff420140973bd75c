#include "crypto/secret_key.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>

#include "util/log.h"

namespace usbd {

Result<std::unique_ptr<SecretKey>> SecretKey::New() {
  long page_size = ::sysconf(_SC_PAGESIZE);
  size_t size = page_size > 0 ? static_cast<size_t>(page_size) : 4096;
  void* page = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return ErrnoStatus("cannot map memory for a key");
  ::madvise(page, size, MADV_DONTDUMP);
  auto key = std::make_unique<SecretKey>(Token(), static_cast<uint8_t*>(page),
                                         size, false);
  key->Lock();
  return key;
}

void SecretKey::Lock() {
  locked_ = ::mlock(page_, page_size_) == 0;
  if (!locked_) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      LogWarning("cannot lock key memory (" + ErrnoStatus("mlock").message() +
                 "): the key may be swapped out; raise RLIMIT_MEMLOCK");
    }
  }
}

SecretKey::~SecretKey() {
  OPENSSL_cleanse(page_, page_size_);
  if (locked_) ::munlock(page_, page_size_);
  ::munmap(page_, page_size_);
}

void CleanseString(std::string* secret) {
  if (!secret->empty()) OPENSSL_cleanse(secret->data(), secret->size());
  secret->clear();
}

}  // namespace usbd
