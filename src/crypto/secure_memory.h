// Secure memory: where usbd keeps its secrets (the password, the S3 secret
// key, the --httpHeader line) and, once InstallSecureAllocators() has run,
// everything OpenSSL and libcurl allocate: cipher contexts and their AES key
// schedules, HMAC and digest states, the SigV4 signing key, TLS buffers,
// curl's header lists and request buffers.
//
// The memory is anonymous mappings marked MADV_DONTDUMP, so neither a
// kernel core dump nor gdb's gcore includes it (both skip such mappings);
// each mapping is also locked in RAM (mlock) when RLIMIT_MEMLOCK allows,
// best effort, and locked again in the child after fork(). A block is
// wiped (OPENSSL_cleanse) when it is freed, so memory that once held a
// secret never keeps it after its owner is done. Small blocks come from
// power-of-two size classes carved out of 1 MiB regions that are kept for
// reuse (the footprint is the peak in use); blocks over 128 KiB (scrypt's
// work area) are mappings of their own, unmapped when freed.
//
// Thread safety: every function may be called concurrently, also across
// fork() (the allocator's locks are taken around it).
#ifndef USBD_CRYPTO_SECURE_MEMORY_H_
#define USBD_CRYPTO_SECURE_MEMORY_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "util/status.h"

namespace usbd {

// malloc/free/realloc over secure memory. SecureAllocate(0) returns a
// unique block; nullptr means ENOMEM (or a mapping the kernel would not
// mark MADV_DONTDUMP). SecureReallocate(p, 0) frees p and returns nullptr.
void* SecureAllocate(size_t size);
void SecureFree(void* block);
void* SecureReallocate(void* block, size_t size);

// Routes OpenSSL's allocations (CRYPTO_set_mem_functions) and libcurl's
// (curl_global_init_mem) into secure memory. Call it first thing in
// main(), before anything uses OpenSSL or libcurl: OpenSSL refuses a
// change once it has allocated. EBUSY then (nothing is changed), EIO when
// libcurl cannot initialise. Not thread-safe; call once.
Status InstallSecureAllocators();

// A string in secure memory, wiped when it changes or dies. Unlike
// std::string it keeps no byte inside the object itself (no small-string
// buffer), so an object on the stack or in an ordinary struct holds only a
// pointer. Copies are secure copies. c_str() is always NUL-terminated.
// Not thread-safe (like std::string).
class SecretString {
 public:
  SecretString() = default;
  SecretString(std::string_view text);  // NOLINT
  SecretString(const char* text)
      : SecretString(std::string_view(text)) {}  // NOLINT
  SecretString(const std::string& text)          // NOLINT
      : SecretString(std::string_view(text)) {}
  SecretString(const SecretString& other) : SecretString(other.view()) {}
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString other) noexcept;
  ~SecretString() { clear(); }

  std::string_view view() const { return {data_ ? data_ : "", size_}; }
  const char* c_str() const { return data_ ? data_ : ""; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Wipes and releases the text.
  void clear();
  // Appends, growing in secure memory (the old block is wiped).
  void Append(std::string_view more);

  friend bool operator==(const SecretString& a, std::string_view b) {
    return a.view() == b;
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;  // bytes usable before the NUL
};

}  // namespace usbd

#endif  // USBD_CRYPTO_SECURE_MEMORY_H_
