#include "crypto/kdf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <map>

#include "util/hex.h"
#include "util/strings.h"

namespace usbd {
namespace {

constexpr std::string_view kScryptName = "scrypt";
constexpr std::string_view kPbkdf2Name = "pbkdf2-sha256";
constexpr uint64_t kMaxScryptMemory = uint64_t{1} << 30;
constexpr std::string_view kKeyCheckLabel = "usbd key check v1";

// What EVP_PBE_scrypt allocates: B (p * 128 * r) and V (128 * r * (N + 2)).
uint64_t ScryptMemory(const KdfParams& p) {
  return 128ULL * p.scrypt_r * (p.scrypt_n + 2 + p.scrypt_p);
}

Status CheckParams(const KdfParams& p) {
  if (p.algorithm == KdfAlgorithm::kScrypt) {
    bool power_of_two = (p.scrypt_n & (p.scrypt_n - 1)) == 0;
    if (!power_of_two || p.scrypt_n < (1u << 10) || p.scrypt_n > (1u << 22) ||
        p.scrypt_r < 1 || p.scrypt_r > 32 || p.scrypt_p < 1 ||
        p.scrypt_p > 16 || ScryptMemory(p) > kMaxScryptMemory) {
      return Status::Invalid("scrypt parameters " + FormatKdfParams(p) +
                             " are outside what this usbd accepts (N a power "
                             "of two 2^10..2^22, r 1..32, p 1..16, <= 1 GiB)");
    }
    return Status::Ok();
  }
  if (p.pbkdf2_iterations < 1000 || p.pbkdf2_iterations > 1000000000) {
    return Status::Invalid("PBKDF2 iterations " +
                           std::to_string(p.pbkdf2_iterations) +
                           " outside 1000..1000000000");
  }
  return Status::Ok();
}

// A canonical decimal: no leading zero, so a parameter has one spelling.
bool ParseNumber(std::string_view text, uint64_t* value) {
  if (text.size() > 1 && text[0] == '0') return false;
  std::optional<uint64_t> parsed = ParseDecimal(text);
  if (!parsed) return false;
  *value = *parsed;
  return true;
}

}  // namespace

std::string FormatKdfParams(const KdfParams& params) {
  if (params.algorithm == KdfAlgorithm::kPbkdf2Sha256) {
    return std::string(kPbkdf2Name) +
           ":iterations=" + std::to_string(params.pbkdf2_iterations);
  }
  return std::string(kScryptName) + ":n=" + std::to_string(params.scrypt_n) +
         ",r=" + std::to_string(params.scrypt_r) +
         ",p=" + std::to_string(params.scrypt_p);
}

Result<KdfParams> ParseKdfParams(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::Invalid("key derivation \"" + std::string(text) +
                           "\": " + why);
  };
  size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    return bad("expected NAME:KEY=VALUE,...");
  std::string_view name = text.substr(0, colon);
  std::map<std::string, uint64_t, std::less<>> values;
  std::string_view rest = text.substr(colon + 1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view()
                                           : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty()) {
      return bad("trailing comma");
    }
    size_t eq = item.find('=');
    uint64_t value;
    if (eq == std::string_view::npos ||
        !ParseNumber(item.substr(eq + 1), &value)) {
      return bad("\"" + std::string(item) + "\" is not KEY=NUMBER");
    }
    if (!values.emplace(std::string(item.substr(0, eq)), value).second) {
      return bad("\"" + std::string(item.substr(0, eq)) + "\" appears twice");
    }
  }
  KdfParams params;
  std::vector<std::string_view> keys;
  if (name == kScryptName) {
    keys = {"n", "r", "p"};
  } else if (name == kPbkdf2Name) {
    params.algorithm = KdfAlgorithm::kPbkdf2Sha256;
    keys = {"iterations"};
  } else {
    return bad("unknown algorithm \"" + std::string(name) + "\"");
  }
  if (values.size() != keys.size()) return bad("wrong set of parameters");
  for (std::string_view key : keys) {
    auto it = values.find(key);
    if (it == values.end()) return bad("missing " + std::string(key));
    if (key != "n" && it->second > UINT32_MAX) return bad("value too large");
  }
  if (params.algorithm == KdfAlgorithm::kScrypt) {
    params.scrypt_n = values.find("n")->second;
    params.scrypt_r = static_cast<uint32_t>(values.find("r")->second);
    params.scrypt_p = static_cast<uint32_t>(values.find("p")->second);
  } else {
    params.pbkdf2_iterations =
        static_cast<uint32_t>(values.find("iterations")->second);
  }
  USBD_RETURN_IF_ERROR(CheckParams(params));
  return params;
}

Result<std::vector<uint8_t>> NewKdfSalt() {
  std::vector<uint8_t> salt(kKdfSaltSize);
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return Status::IoError("cannot draw a random salt (OpenSSL RAND_bytes)");
  }
  return salt;
}

Result<std::unique_ptr<SecretKey>> DeriveKey(std::string_view password,
                                             std::span<const uint8_t> salt,
                                             const KdfParams& params) {
  if (password.empty()) return Status::Invalid("the password is empty");
  if (salt.empty()) return Status::Invalid("the key derivation salt is empty");
  USBD_RETURN_IF_ERROR(CheckParams(params));
  auto key = SecretKey::New();
  if (!key.ok()) return key.status();
  auto out = (*key)->mutable_bytes();
  int ok;
  if (params.algorithm == KdfAlgorithm::kScrypt) {
    ok = EVP_PBE_scrypt(password.data(), password.size(), salt.data(),
                        salt.size(), params.scrypt_n, params.scrypt_r,
                        params.scrypt_p, ScryptMemory(params) + (1 << 16),
                        out.data(), out.size());
  } else {
    ok = PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                           salt.data(), static_cast<int>(salt.size()),
                           static_cast<int>(params.pbkdf2_iterations),
                           EVP_sha256(), static_cast<int>(out.size()),
                           out.data());
  }
  if (ok != 1) {
    return Status::Error(ENOMEM, "key derivation " + FormatKdfParams(params) +
                                     " failed (out of memory?)");
  }
  return std::move(*key);
}

std::string KeyCheckValue(const SecretKey& key) {
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  auto bytes = key.bytes();
  HMAC(EVP_sha256(), bytes.data(), static_cast<int>(bytes.size()),
       reinterpret_cast<const uint8_t*>(kKeyCheckLabel.data()),
       kKeyCheckLabel.size(), mac, &length);
  std::string check = HexBytes({mac, kKeyCheckHexDigits / 2});
  OPENSSL_cleanse(mac, sizeof mac);
  return check;
}

Status VerifyKeyCheck(const SecretKey& key, std::string_view expected) {
  std::string actual = KeyCheckValue(key);
  if (expected.size() != actual.size() ||
      CRYPTO_memcmp(expected.data(), actual.data(), actual.size()) != 0) {
    return Status::Error(EACCES,
                         "wrong password: it does not match the key check "
                         "value recorded in the volume metadata");
  }
  return Status::Ok();
}

}  // namespace usbd
