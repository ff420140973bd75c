#include "crypto/object_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <mutex>

#include "util/coding.h"

namespace usbd {
namespace {

constexpr size_t kMaxUuidSize = 64;

// Cipher contexts already keyed for one direction, so an object pays only
// for its nonce. EVP_CIPHER_CTX_free wipes a context's key schedule.
class ContextPool {
 public:
  ~ContextPool() {
    for (EVP_CIPHER_CTX* ctx : free_) EVP_CIPHER_CTX_free(ctx);
  }

  EVP_CIPHER_CTX* Take() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return nullptr;
    EVP_CIPHER_CTX* ctx = free_.back();
    free_.pop_back();
    return ctx;
  }

  void Give(EVP_CIPHER_CTX* ctx) {
    std::lock_guard lock(mu_);
    free_.push_back(ctx);
  }

 private:
  std::mutex mu_;
  std::vector<EVP_CIPHER_CTX*> free_;  // guarded by mu_
};

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

struct CipherFree {
  void operator()(EVP_CIPHER* cipher) const { EVP_CIPHER_free(cipher); }
};

class AesGcmObjectCipher : public ObjectCipher {
 public:
  AesGcmObjectCipher(std::unique_ptr<SecretKey> key, std::string volume_uuid,
                     std::unique_ptr<EVP_CIPHER, CipherFree> cipher)
      : key_(std::move(key)),
        volume_uuid_(std::move(volume_uuid)),
        cipher_(std::move(cipher)) {}

  Status Seal(uint64_t block, ObjectHeader header,
              std::span<const uint8_t> payload,
              std::vector<uint8_t>* sealed) override {
    if (payload.size() > INT_MAX) return Status::Invalid("payload too large");
    header.cipher = Cipher::kAes256Gcm;
    header.payload_length = static_cast<uint32_t>(payload.size());
    sealed->resize(header.object_size() - (header.version >= kObjectFormatV2
                                               ? kObjectChecksumSize
                                               : 0));
    uint8_t* out = sealed->data();
    EncodeObjectHeader(header, *sealed);
    uint8_t* nonce = out + kObjectHeaderSize;
    uint8_t* ciphertext = nonce + kObjectNonceSize;
    uint8_t* tag = ciphertext + payload.size();
    if (RAND_bytes(nonce, kObjectNonceSize) != 1) {
      return Status::IoError("cannot draw a random nonce (RAND_bytes)");
    }
    CtxPtr ctx = Acquire(/*encrypt=*/true);
    int length = 0, final_length = 0;
    bool ok =
        ctx != nullptr &&
        EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, nullptr, nonce) == 1 &&
        AddAad(ctx.get(), out, block) &&
        EVP_EncryptUpdate(ctx.get(), ciphertext, &length, payload.data(),
                          static_cast<int>(payload.size())) == 1 &&
        EVP_EncryptFinal_ex(ctx.get(), ciphertext + length, &final_length) ==
            1 &&
        static_cast<size_t>(length + final_length) == payload.size() &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kObjectTagSize,
                            tag) == 1;
    if (!ok) {
      return Status::IoError("AES-256-GCM encryption of " +
                             DescribeBlock(block) + " failed (OpenSSL)");
    }
    Release(std::move(ctx), /*encrypt=*/true);
    SealObjectChecksum(header, sealed);
    return Status::Ok();
  }

  Result<ObjectHeader> Open(uint64_t block, uint32_t block_size,
                            std::span<const uint8_t> sealed,
                            std::vector<uint8_t>* payload) override {
    payload->clear();
    auto header = CheckStoredObject(sealed, block_size, block);
    if (!header.ok()) return header.status();
    if (header->cipher != Cipher::kAes256Gcm) {
      return Status::IoError(DescribeBlock(block) +
                             ": object is not encrypted, in an encrypted "
                             "volume; not served as data");
    }
    const uint8_t* nonce = sealed.data() + kObjectHeaderSize;
    const uint8_t* ciphertext = nonce + kObjectNonceSize;
    const size_t n = header->payload_length;
    uint8_t tag[kObjectTagSize];
    std::memcpy(tag, ciphertext + n, kObjectTagSize);
    payload->resize(n);
    CtxPtr ctx = Acquire(/*encrypt=*/false);
    int length = 0, final_length = 0;
    bool ok =
        ctx != nullptr &&
        EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, nullptr, nonce) == 1 &&
        AddAad(ctx.get(), sealed.data(), block) &&
        EVP_DecryptUpdate(ctx.get(), payload->data(), &length, ciphertext,
                          static_cast<int>(n)) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kObjectTagSize,
                            tag) == 1 &&
        EVP_DecryptFinal_ex(ctx.get(), payload->data() + length,
                            &final_length) == 1 &&
        static_cast<size_t>(length + final_length) == n;
    if (!ok) {
      // Never let unauthenticated plaintext out, not even in a buffer.
      OPENSSL_cleanse(payload->data(), payload->size());
      payload->clear();
      return Status::Corrupt(
          DescribeBlock(block) +
          ": object failed authentication (tampered with, truncated, moved "
          "from another block or volume, or sealed with another key); not "
          "served as data");
    }
    Release(std::move(ctx), /*encrypt=*/false);
    return *header;
  }

 private:
  // The AAD described in the header: header bytes, block, volume UUID.
  bool AddAad(EVP_CIPHER_CTX* ctx, const uint8_t* header, uint64_t block) {
    uint8_t block_le[8];
    PutLe64(block_le, block);
    int unused;
    return EVP_CipherUpdate(ctx, nullptr, &unused, header, kObjectHeaderSize) ==
               1 &&
           EVP_CipherUpdate(ctx, nullptr, &unused, block_le, sizeof block_le) ==
               1 &&
           EVP_CipherUpdate(
               ctx, nullptr, &unused,
               reinterpret_cast<const uint8_t*>(volume_uuid_.data()),
               static_cast<int>(volume_uuid_.size())) == 1;
  }

  // A pooled context, or a new one keyed for the direction.
  CtxPtr Acquire(bool encrypt) {
    if (EVP_CIPHER_CTX* ctx =
            (encrypt ? encrypt_pool_ : decrypt_pool_).Take()) {
      return CtxPtr(ctx);
    }
    CtxPtr ctx(EVP_CIPHER_CTX_new());
    if (ctx == nullptr || EVP_CipherInit_ex(ctx.get(), cipher_.get(), nullptr,
                                            key_->bytes().data(), nullptr,
                                            encrypt ? 1 : 0) != 1) {
      return nullptr;
    }
    return ctx;
  }

  // Only contexts whose last use succeeded go back to the pool.
  void Release(CtxPtr ctx, bool encrypt) {
    (encrypt ? encrypt_pool_ : decrypt_pool_).Give(ctx.release());
  }

  const std::unique_ptr<SecretKey> key_;
  const std::string volume_uuid_;
  const std::unique_ptr<EVP_CIPHER, CipherFree> cipher_;
  ContextPool encrypt_pool_, decrypt_pool_;
};

}  // namespace

Result<std::unique_ptr<ObjectCipher>> ObjectCipher::New(
    std::unique_ptr<SecretKey> key, std::string volume_uuid) {
  if (key == nullptr) return Status::Invalid("encryption needs a key");
  if (volume_uuid.empty() || volume_uuid.size() > kMaxUuidSize) {
    return Status::Invalid("encryption needs the volume UUID (1 to 64 bytes)");
  }
  std::unique_ptr<EVP_CIPHER, CipherFree> cipher(
      EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  if (cipher == nullptr) {
    return Status::IoError("OpenSSL provides no AES-256-GCM");
  }
  return std::unique_ptr<ObjectCipher>(std::make_unique<AesGcmObjectCipher>(
      std::move(key), std::move(volume_uuid), std::move(cipher)));
}

}  // namespace usbd
