#include "crypto/encoding_settings.h"

#include "codec/block_codec.h"
#include "util/hex.h"

namespace usbd {
namespace {

std::vector<uint8_t> FromHex(std::string_view text) {
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::vector<uint8_t> bytes(text.size() / 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] =
        static_cast<uint8_t>(digit(text[2 * i]) << 4 | digit(text[2 * i + 1]));
  }
  return bytes;
}

}  // namespace

EncodingEntries EncodingSettingsToEntries(const EncodingSettings& settings) {
  EncodingEntries entries;
  entries.emplace_back("codec", std::string(CodecName(settings.codec)));
  entries.emplace_back("cipher", std::string(CipherName(settings.cipher)));
  if (settings.cipher != Cipher::kNone) {
    entries.emplace_back("kdf", FormatKdfParams(settings.kdf));
    entries.emplace_back("kdf_salt", HexBytes(settings.kdf_salt));
    entries.emplace_back("key_check", settings.key_check);
  }
  if (settings.codec_level != 0) {
    entries.emplace_back("x-codec-level", std::to_string(settings.codec_level));
  }
  return entries;
}

Result<EncodingSettings> EncodingSettingsFromEntries(
    const EncodingEntries& entries) {
  EncodingSettings settings;
  const std::string* kdf = nullptr;
  const std::string* salt = nullptr;
  const std::string* check = nullptr;
  for (const auto& entry : entries) {
    // Named copies: lambdas cannot capture structured bindings in clang 14.
    const std::string& key = entry.first;
    const std::string& value = entry.second;
    auto bad = [&](const std::string& why) {
      return Status::Invalid(key + "=" + value + ": " + why);
    };
    if (key == "codec") {
      if (!ParseCodecName(value, &settings.codec)) return bad("unknown codec");
    } else if (key == "cipher") {
      if (!ParseCipherName(value, &settings.cipher)) {
        return bad("unknown cipher");
      }
    } else if (key == "kdf") {
      kdf = &value;
    } else if (key == "kdf_salt") {
      if (!IsLowerHex(value, 2 * kKdfSaltSize)) {
        return bad("expected " + std::to_string(2 * kKdfSaltSize) +
                   " lower-case hex digits");
      }
      salt = &value;
    } else if (key == "key_check") {
      if (!IsLowerHex(value, kKeyCheckHexDigits)) {
        return bad("expected " + std::to_string(kKeyCheckHexDigits) +
                   " lower-case hex digits");
      }
      check = &value;
    } else if (key == "x-codec-level") {
      int level = 0;
      for (char c : value) {
        if (c < '0' || c > '9' || level > kMaxCompressLevel) {
          level = -1;
          break;
        }
        level = level * 10 + (c - '0');
      }
      if (level < kMinCompressLevel || level > kMaxCompressLevel) {
        return bad("not a zstd level 1..19");
      }
      settings.codec_level = level;
    }
  }
  bool encrypted = settings.cipher != Cipher::kNone;
  if (!encrypted) {
    if (kdf || salt || check) {
      return Status::Invalid("kdf, kdf_salt or key_check without a cipher");
    }
    return settings;
  }
  if (!kdf || !salt || !check) {
    return Status::Invalid("cipher " +
                           std::string(CipherName(settings.cipher)) +
                           " needs kdf, kdf_salt and key_check");
  }
  auto params = ParseKdfParams(*kdf);
  if (!params.ok()) return params.status().WithContext("kdf");
  settings.kdf = *params;
  settings.kdf_salt = FromHex(*salt);
  settings.key_check = *check;
  return settings;
}

Result<std::unique_ptr<SecretKey>> CreateVolumeKey(std::string_view password,
                                                   EncodingSettings* settings) {
  if (settings->cipher == Cipher::kNone) {
    return Status::Invalid("a volume without a cipher has no key");
  }
  auto salt = NewKdfSalt();
  if (!salt.ok()) return salt.status();
  auto key = DeriveKey(password, *salt, settings->kdf);
  if (!key.ok()) return key.status();
  settings->kdf_salt = std::move(*salt);
  settings->key_check = KeyCheckValue(**key);
  return key;
}

Result<std::unique_ptr<SecretKey>> OpenVolumeKey(
    std::string_view password, const EncodingSettings& settings) {
  if (settings.cipher == Cipher::kNone) {
    return Status::Invalid("the volume is not encrypted: it has no key");
  }
  auto key = DeriveKey(password, settings.kdf_salt, settings.kdf);
  if (!key.ok()) return key.status();
  USBD_RETURN_IF_ERROR(VerifyKeyCheck(**key, settings.key_check));
  return key;
}

}  // namespace usbd
