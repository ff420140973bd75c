#include "s3backer/s3backer_codec.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <strings.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "store/block_store.h"
#include "util/hex.h"

namespace usbd {
namespace {

constexpr int kPbkdf2Rounds = 5000;
constexpr unsigned kMaxKeyLength = EVP_MAX_KEY_LENGTH;  // 64
constexpr std::string_view kEncryptPrefix = "encrypt-";
constexpr std::string_view kDeflate = "deflate";
constexpr char kHmacHeader[] = "x-amz-meta-s3backer-hmac";

const EVP_CIPHER* Evp(const void* evp) {
  return static_cast<const EVP_CIPHER*>(evp);
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(c));
  return out;
}

// s3backer's spelling of a block number in IVs and signatures.
std::string BlockDigits(uint64_t block) { return HexNumber(block, 8); }

std::string Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text[0]))) {
    text.remove_prefix(1);
  }
  while (!text.empty() &&
         std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

const std::string* FindHeader(const ObjectHeaders& headers,
                              std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

}  // namespace

Result<std::unique_ptr<S3backerCipher>> S3backerCipher::New(
    std::string_view cipher, std::string_view password, unsigned key_length,
    const std::string& bucket, const std::string& prefix) {
  const std::string name = Upper(cipher);
  const EVP_CIPHER* evp = EVP_get_cipherbyname(name.c_str());
  if (evp == nullptr) {
    return Status::Invalid("--encrypt=" + name +
                           ": not a cipher this OpenSSL knows");
  }
  const int block = EVP_CIPHER_get_block_size(evp);
  if (block <= 1 || block != EVP_CIPHER_get_iv_length(evp) ||
      block > EVP_MAX_IV_LENGTH) {
    return Status::Invalid("--encrypt=" + name +
                           ": s3backer's encryption needs a block cipher "
                           "whose IV is one block (as AES-128-CBC)");
  }
  const unsigned cipher_key = EVP_CIPHER_get_key_length(evp);
  const unsigned length = key_length != 0 ? key_length : cipher_key;
  if (length < cipher_key || length > kMaxKeyLength) {
    return Status::Invalid("--keyLength " + std::to_string(length) +
                           " is out of range for " + name + " (" +
                           std::to_string(cipher_key) + " to " +
                           std::to_string(kMaxKeyLength) + ")");
  }
  if (password.empty()) {
    return Status::Invalid("s3backer's encrypted blocks need the password");
  }
  const std::string salt = bucket + "/" + prefix;
  uint8_t key[kMaxKeyLength], ivkey[kMaxKeyLength];
  bool ok =
      PKCS5_PBKDF2_HMAC_SHA1(password.data(), static_cast<int>(password.size()),
                             reinterpret_cast<const uint8_t*>(salt.data()),
                             static_cast<int>(salt.size()), kPbkdf2Rounds,
                             static_cast<int>(length), key) == 1 &&
      PKCS5_PBKDF2_HMAC_SHA1(reinterpret_cast<const char*>(key),
                             static_cast<int>(length), key,
                             static_cast<int>(length), kPbkdf2Rounds,
                             static_cast<int>(length), ivkey) == 1;
  std::unique_ptr<S3backerCipher> made(new S3backerCipher());
  made->mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  ok = ok && made->mac_ != nullptr;
  if (ok) {
    made->name_ = name;
    made->evp_ = evp;
    made->key_ = SecretString(
        std::string_view(reinterpret_cast<const char*>(key), length));
    made->ivkey_ = SecretString(
        std::string_view(reinterpret_cast<const char*>(ivkey), length));
  }
  OPENSSL_cleanse(key, sizeof(key));
  OPENSSL_cleanse(ivkey, sizeof(ivkey));
  if (!ok) return Status::IoError("s3backer key derivation failed");
  return made;
}

S3backerCipher::~S3backerCipher() { EVP_MAC_free(static_cast<EVP_MAC*>(mac_)); }

std::string S3backerCipher::Hmac(uint64_t block,
                                 std::span<const uint8_t> sealed) const {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(static_cast<EVP_MAC*>(mac_));
  char digest_name[] = "SHA1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  const std::string digits = BlockDigits(block);
  const char* cipher_name = EVP_CIPHER_get0_name(Evp(evp_));
  uint8_t out[EVP_MAX_MD_SIZE];
  size_t out_size = 0;
  bool ok = ctx != nullptr &&
            EVP_MAC_init(ctx, reinterpret_cast<const uint8_t*>(key_.c_str()),
                         key_.size(), params) == 1 &&
            EVP_MAC_update(ctx, reinterpret_cast<const uint8_t*>(digits.data()),
                           digits.size()) == 1 &&
            EVP_MAC_update(ctx, reinterpret_cast<const uint8_t*>(cipher_name),
                           std::strlen(cipher_name)) == 1 &&
            EVP_MAC_update(ctx, sealed.data(), sealed.size()) == 1 &&
            EVP_MAC_final(ctx, out, &out_size, sizeof(out)) == 1;
  EVP_MAC_CTX_free(ctx);
  if (!ok) return "";
  return HexBytes(std::span<const uint8_t>(out, out_size));
}

Status S3backerCipher::BlockIv(uint64_t block, uint8_t* iv) const {
  const int size = EVP_CIPHER_get_block_size(Evp(evp_));
  uint8_t number[EVP_MAX_IV_LENGTH] = {};
  const std::string digits = BlockDigits(block);
  std::memcpy(number, digits.data(),
              std::min(digits.size(), static_cast<size_t>(size)));
  const auto* ivkey = reinterpret_cast<const uint8_t*>(ivkey_.c_str());
  CipherCtx c;
  int out = 0, tail = 0;
  if (c.ctx == nullptr ||
      EVP_EncryptInit_ex(c.ctx, Evp(evp_), nullptr, ivkey, ivkey) != 1 ||
      EVP_CIPHER_CTX_set_padding(c.ctx, 0) != 1 ||
      EVP_EncryptUpdate(c.ctx, iv, &out, number, size) != 1 ||
      EVP_EncryptFinal_ex(c.ctx, iv + out, &tail) != 1 || out != size) {
    return Status::IoError(DescribeBlock(block) + ": s3backer IV failed");
  }
  return Status::Ok();
}

bool S3backerCipher::Crypt(uint64_t block, bool encrypt,
                           std::span<const uint8_t> in,
                           std::vector<uint8_t>* out) const {
  uint8_t iv[EVP_MAX_IV_LENGTH];
  if (!BlockIv(block, iv).ok()) return false;
  out->resize(in.size() + EVP_MAX_IV_LENGTH);
  CipherCtx c;
  int done = 0, tail = 0;
  if (c.ctx == nullptr ||
      EVP_CipherInit_ex(c.ctx, Evp(evp_), nullptr,
                        reinterpret_cast<const uint8_t*>(key_.c_str()), iv,
                        encrypt ? 1 : 0) != 1 ||
      EVP_CipherUpdate(c.ctx, out->data(), &done, in.data(),
                       static_cast<int>(in.size())) != 1 ||
      EVP_CipherFinal_ex(c.ctx, out->data() + done, &tail) != 1) {
    out->clear();
    return false;
  }
  out->resize(static_cast<size_t>(done + tail));
  return true;
}

Status S3backerCipher::Seal(uint64_t block, std::span<const uint8_t> plain,
                            std::vector<uint8_t>* sealed,
                            std::string* hmac) const {
  if (!Crypt(block, true, plain, sealed)) {
    return Status::IoError(DescribeBlock(block) +
                           ": s3backer encryption failed");
  }
  const std::string mac = Hmac(block, *sealed);
  if (mac.empty()) return Status::IoError("HMAC-SHA1 failed");
  *hmac = "\"" + mac + "\"";
  return Status::Ok();
}

Status S3backerCipher::Open(uint64_t block, std::span<const uint8_t> sealed,
                            std::string_view hmac,
                            std::vector<uint8_t>* plain) const {
  std::string given = Trim(hmac);
  if (given.size() >= 2 && given.front() == '"' && given.back() == '"') {
    given = given.substr(1, given.size() - 2);
  }
  if (given.empty()) {
    return Status::IoError(DescribeBlock(block) +
                           ": s3backer block is encrypted but carries no "
                           "signature (x-amz-meta-s3backer-hmac)");
  }
  for (char& ch : given) ch = static_cast<char>(std::tolower(ch));
  const std::string want = Hmac(block, sealed);
  if (want.size() != given.size() ||
      CRYPTO_memcmp(want.data(), given.data(), want.size()) != 0) {
    return Status::Corrupt(DescribeBlock(block) +
                           ": s3backer block signature does not verify "
                           "(wrong password, or the object was changed)");
  }
  if (!Crypt(block, false, sealed, plain)) {
    return Status::Corrupt(DescribeBlock(block) +
                           ": s3backer block does not decrypt");
  }
  return Status::Ok();
}

Status EncodeS3backerBlock(uint64_t block, std::span<const uint8_t> raw,
                           const S3backerEncoding& encoding,
                           std::vector<uint8_t>* object,
                           ObjectHeaders* headers) {
  headers->clear();
  int level = encoding.deflate_level;
  if (encoding.cipher && level == 0) level = Z_DEFAULT_COMPRESSION;
  if (level == 0) {
    object->assign(raw.begin(), raw.end());
    return Status::Ok();
  }
  std::vector<uint8_t> deflated(compressBound(raw.size()));
  uLongf size = deflated.size();
  if (compress2(deflated.data(), &size, raw.data(), raw.size(), level) !=
      Z_OK) {
    return Status::IoError(DescribeBlock(block) + ": zlib compress failed");
  }
  deflated.resize(size);
  std::string encodings(kDeflate);
  if (encoding.cipher) {
    std::string hmac;
    USBD_RETURN_IF_ERROR(encoding.cipher->Seal(block, deflated, object, &hmac));
    encodings += ", " + std::string(kEncryptPrefix) + encoding.cipher->name();
    headers->emplace_back(kHmacHeader, hmac);
  } else {
    *object = std::move(deflated);
  }
  headers->emplace_back("content-encoding", encodings);
  return Status::Ok();
}

Status DecodeS3backerBlock(uint64_t block, StoredObject object,
                           uint32_t block_size, const S3backerCipher* cipher,
                           std::vector<uint8_t>* raw) {
  const std::string name = DescribeBlock(block) + " (s3backer's)";
  const std::string* encoding = FindHeader(object.headers, "content-encoding");
  std::vector<std::string> layers;
  if (encoding != nullptr) {
    size_t start = 0;
    while (start <= encoding->size()) {
      size_t comma = encoding->find(',', start);
      if (comma == std::string::npos) comma = encoding->size();
      std::string layer =
          Trim(std::string_view(*encoding).substr(start, comma - start));
      if (!layer.empty()) layers.push_back(std::move(layer));
      start = comma + 1;
    }
  }
  std::vector<uint8_t> data = std::move(object.data), next;
  bool encrypted = false;
  // The last encoding applied is undone first.
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    const std::string& layer = *it;
    if (layer.size() > kEncryptPrefix.size() &&
        strncasecmp(layer.c_str(), kEncryptPrefix.data(),
                    kEncryptPrefix.size()) == 0) {
      const std::string used = Upper(layer.substr(kEncryptPrefix.size()));
      if (cipher == nullptr) {
        return Status::IoError(name + " is encrypted with " + used +
                               " but --encrypt was not given");
      }
      if (encrypted || it != layers.rbegin()) {
        return Status::IoError(name + ": unexpected encoding '" + *encoding +
                               "'");
      }
      if (strcasecmp(used.c_str(), cipher->name().c_str()) != 0) {
        return Status::IoError(name + " is encrypted with " + used + " but " +
                               cipher->name() +
                               " is configured (--encrypt=" + used + ")");
      }
      const std::string* hmac = FindHeader(object.headers, kHmacHeader);
      USBD_RETURN_IF_ERROR(
          cipher->Open(block, data, hmac ? *hmac : std::string(), &next));
      data.swap(next);
      encrypted = true;
    } else if (strcasecmp(layer.c_str(), kDeflate.data()) == 0) {
      next.resize(block_size);
      uLongf size = block_size;
      const int rc = uncompress(next.data(), &size, data.data(), data.size());
      if (rc != Z_OK || size != block_size) {
        return Status::Corrupt(name + ": deflate data " +
                               (rc == Z_BUF_ERROR || rc == Z_OK
                                    ? "does not hold one block"
                                    : "is corrupt or truncated"));
      }
      data.swap(next);
    } else {
      return Status::IoError(name + " has an encoding usbd does not know: '" +
                             layer + "'");
    }
  }
  if (cipher != nullptr && !encrypted) {
    return Status::IoError(name +
                           " is not encrypted, though --encrypt was given "
                           "(s3backer refuses it too)");
  }
  if (data.size() != block_size) {
    return Status::Corrupt(name + ": " + std::to_string(data.size()) +
                           " bytes, not one block of " +
                           std::to_string(block_size));
  }
  raw->swap(data);
  return Status::Ok();
}

}  // namespace usbd
