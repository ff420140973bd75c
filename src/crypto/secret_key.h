// SecretKey: the 32 bytes of an AES-256 key, in memory that is locked (not
// swapped out), left out of core dumps, and wiped with OPENSSL_cleanse
// before it is released. Owned by one std::unique_ptr; never copied.
//
// The key is also expanded inside OpenSSL's cipher contexts, which live in
// OpenSSL's memory: secure memory too in usbd (crypto/secure_memory.h),
// left out of core dumps and wiped when freed.
#ifndef USBD_CRYPTO_SECRET_KEY_H_
#define USBD_CRYPTO_SECRET_KEY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "util/status.h"

namespace usbd {

class SecretKey {
 public:
  static constexpr size_t kSize = 32;

  // A zeroed key. ENOMEM when no memory can be mapped. When the memory
  // cannot be locked (RLIMIT_MEMLOCK), logs one warning per process and
  // goes on: refusing to run would not protect anything.
  static Result<std::unique_ptr<SecretKey>> New();

  ~SecretKey();
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  std::span<uint8_t, kSize> mutable_bytes() {
    return std::span<uint8_t, kSize>(page_, kSize);
  }
  std::span<const uint8_t, kSize> bytes() const {
    return std::span<const uint8_t, kSize>(page_, kSize);
  }

  // Locks the page again (mlock is not inherited across fork()); warns
  // once per process when it cannot.
  void Lock();

  // Only New() can make one (it owns the mapping).
  class Token {
    friend class SecretKey;
    Token() = default;
  };
  SecretKey(Token, uint8_t* page, size_t page_size, bool locked)
      : page_(page), page_size_(page_size), locked_(locked) {}

 private:
  uint8_t* const page_;
  const size_t page_size_;
  bool locked_;
};

// Wipes a string that held a secret (a password read from a file) and
// empties it.
void CleanseString(std::string* secret);

}  // namespace usbd

#endif  // USBD_CRYPTO_SECRET_KEY_H_
