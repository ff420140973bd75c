#include "stack/volume_session.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "codec/object_format.h"
#include "crypto/encoding_settings.h"
#include "object/block_key.h"
#include "stack/credentials.h"
#include "stack/object_store_factory.h"
#include "util/log.h"
#include "volume/erase.h"
#include "volume/metadata.h"
#include "volume/volume_text.h"

namespace usbd {

VolumeSession::VolumeSession(const Options& options,
                             std::unique_ptr<ObjectStore> store,
                             VolumeMetadata metadata,
                             std::unique_ptr<SecretKey> key)
    : options_(options),
      store_(std::move(store)),
      metadata_(std::move(metadata)),
      key_(std::move(key)) {}

VolumeRequest VolumeRequestFor(const Options& options) {
  VolumeRequest request;
  request.size = options.size;
  request.block_size = options.block_size_given ? options.block_size : 0;
  if (options.block_hash_prefix) request.block_hash_prefix = true;
  request.codec = std::string(
      CodecName(options.compress != 0 ? Codec::kZstd : Codec::kNone));
  request.codec_level = static_cast<int>(options.compress);
  request.cipher = std::string(
      CipherName(options.encrypt ? Cipher::kAes256Gcm : Cipher::kNone));
  request.force = options.force;
  request.read_only = options.read_only;
  request.name = options.export_name;
  return request;
}

namespace {

// A --memory volume: nothing to read back, a fresh identity every run.
Result<OpenedVolume> NewMemoryVolume(const Options& options,
                                     const VolumeRequest& request) {
  OpenedVolume opened;
  VolumeMetadata& m = opened.metadata;
  m.size = options.size;
  m.block_size = options.block_size;
  m.uuid = RandomHex(16);
  m.created = UtcTimestamp(std::chrono::system_clock::now());
  m.object_format = kNewestObjectFormat;
  m.codec = request.codec;
  m.cipher = request.cipher;
  if (options.encrypt) {
    EncodingSettings settings;
    settings.cipher = Cipher::kAes256Gcm;
    settings.kdf = request.kdf;
    auto key = CreateVolumeKey(request.password, &settings);
    if (!key.ok()) return key.status().WithContext("volume " + request.name);
    opened.key = std::move(key).value();
  }
  return opened;
}

// s3backer's value names (--encrypt=AES-128-CBC, --compress=deflate,
// --keyLength) name its block format: refused on a volume of usbd's.
Status CheckNoS3backerEncoding(const Options& options) {
  std::string given;
  if (!options.s3backer_cipher.empty()) {
    given = "--encrypt=" + options.s3backer_cipher;
  } else if (!options.s3backer_compress.empty()) {
    given = "--compress=" + options.s3backer_compress;
  } else if (options.key_length != 0) {
    given = "--keyLength";
  } else {
    return Status::Ok();
  }
  return Status::Invalid(
      given +
      " is s3backer's format: usbd writes it only to volumes it "
      "adopted from s3backer, and volume " +
      options.export_name +
      " is usbd's (zstd and AES-256-GCM: use --compress and --encrypt)");
}

// The cipher of a volume adopted from s3backer, run with --encrypt, with
// the password checked on one stored block, so a wrong one fails here and
// not on every read.
Result<std::shared_ptr<const S3backerCipher>> OpenS3backerCipher(
    const Options& options, const VolumeMetadata& volume, ObjectStore& store,
    std::string_view password) {
  const std::string name = options.s3backer_cipher.empty()
                               ? std::string(kS3backerDefaultCipher)
                               : options.s3backer_cipher;
  auto cipher = S3backerCipher::New(name, password, options.key_length,
                                    options.bucket, options.prefix);
  if (!cipher.ok()) return cipher.status();
  std::shared_ptr<const S3backerCipher> shared = std::move(cipher).value();
  const RetryOptions retry = RetryOptionsFor(options);
  auto found = FindBlockObject(store, options.prefix, retry);
  if (!found.ok()) return found.status();
  uint64_t block;
  if (!found->has_value() || !ParseBlockObjectKey(options.prefix, volume.naming,
                                                  (*found)->key, &block)) {
    return shared;  // no block yet: nothing to check the password on
  }
  std::optional<StoredObject> object;
  USBD_RETURN_IF_ERROR(
      RetryWithBackoff(retry, "reading " + (*found)->key, [&]() -> Status {
        auto got = store.GetWithHeaders((*found)->key);
        if (!got.ok()) return got.status();
        object = std::move(got).value();
        return Status::Ok();
      }));
  if (!object) return shared;
  std::vector<uint8_t> raw;
  Status decoded = DecodeS3backerBlock(block, std::move(*object),
                                       volume.block_size, shared.get(), &raw);
  if (decoded.corrupt()) {
    return Status::Error(EACCES, "volume " + options.export_name +
                                     ": wrong password? " + decoded.message());
  }
  if (!decoded.ok())
    return decoded.WithContext("volume " + options.export_name);
  return shared;
}

}  // namespace

Result<std::unique_ptr<VolumeSession>> VolumeSession::Open(Options* options) {
  VolumeRequest request = VolumeRequestFor(*options);
  SecretString password;
  if (options->encrypt) {
    if (options->password_on_command_line) {
      LogWarning(
          "--password on the command line can be read by other users (ps, "
          "/proc) until usbd has started; prefer --passwordFile or "
          "--passwordEnv");
    }
    Result<SecretString> resolved = ResolvePassword(*options);
    options->password.clear();
    if (!resolved.ok()) return resolved.status();
    password = std::move(resolved).value();
    request.password = password.view();
  }
  std::unique_ptr<ObjectStore> store;
  Result<OpenedVolume> opened = Status::Ok();
  if (options->store() == StoreKind::kMemory) {
    opened = NewMemoryVolume(*options, request);
  } else {
    Result<std::unique_ptr<ObjectStore>> made = NewObjectStore(*options);
    if (!made.ok()) return made.status();
    store = std::move(made).value();
    opened = OpenOrCreateVolume(*store, options->prefix, request,
                                RetryOptionsFor(*options));
  }
  std::shared_ptr<const S3backerCipher> s3backer_cipher;
  if (opened.ok() && !opened->metadata.s3backer_blocks) {
    Status plain = CheckNoS3backerEncoding(*options);
    if (!plain.ok()) opened = plain;
  } else if (opened.ok() && options->encrypt) {
    auto cipher =
        OpenS3backerCipher(*options, opened->metadata, *store, password.view());
    if (cipher.ok()) {
      s3backer_cipher = std::move(cipher).value();
    } else {
      opened = cipher.status();
    }
  }
  request.password = {};
  password.clear();
  if (!opened.ok()) return opened.status();
  VolumeMetadata& metadata = opened->metadata;
  if (metadata.s3backer_blocks) {
    std::string text = "s3backer's block format";
    if (options->encrypt) {
      text += ", deflate and " + s3backer_cipher->name() +
              " encryption, password checked";
    } else if (options->compress != 0) {
      text += ", deflate compression";
    }
    LogInfo("volume " + options->export_name + ": " + text);
  } else if (metadata.codec != "none" || metadata.cipher != "none") {
    std::string text;
    if (options->compress != 0) {
      text = "zstd compression, level " + std::to_string(options->compress);
    }
    if (options->encrypt) {
      text += std::string(text.empty() ? "" : ", ") +
              "AES-256-GCM encryption, password checked";
    }
    if (!text.empty()) LogInfo("volume " + options->export_name + ": " + text);
  }
  auto session = std::unique_ptr<VolumeSession>(new VolumeSession(
      *options, std::move(store), std::move(metadata), std::move(opened->key)));
  session->s3backer_cipher_ = std::move(s3backer_cipher);
  return session;
}

S3backerEncoding VolumeSession::S3backerBlocks() const {
  S3backerEncoding encoding;
  if (!metadata_.s3backer_blocks) return encoding;
  // zlib's levels are 1..9; usbd's --compress levels reach 19.
  encoding.deflate_level = static_cast<int>(std::min(options_.compress, 9u));
  encoding.cipher = s3backer_cipher_;
  return encoding;
}

EncryptOptions VolumeSession::TakeEncryption() {
  EncryptOptions encryption;
  encryption.key = std::move(key_);
  encryption.volume_uuid = metadata_.uuid;
  return encryption;
}

Status VolumeSession::AcquireMountToken() {
  if (!store_) return Status::Ok();  // --memory: nobody else can see it
  MountTokenOptions token_options;
  token_options.force = options_.force;
  token_options.read_only = options_.read_only;
  token_options.name = options_.export_name;
  token_options.cache_file = options_.block_cache_file;
  token_options.retry = RetryOptionsFor(options_);
  // A local directory has no replication lag to wait out.
  if (options_.store() == StoreKind::kDirectory) {
    token_options.settle = std::chrono::milliseconds(20);
  }
  Result<MountToken> token =
      usbd::AcquireMountToken(*store_, options_.prefix, token_options);
  if (!token.ok()) return token.status();
  token_ = std::move(token).value();
  return Status::Ok();
}

Status VolumeSession::Release() {
  if (!token_.held()) return Status::Ok();
  Status status = ReleaseMountToken(*store_, options_.prefix, token_,
                                    RetryOptionsFor(options_));
  token_ = MountToken();
  return status;
}

int RunVolumeAction(const Options& options) {
  Result<std::unique_ptr<ObjectStore>> store = NewObjectStore(options);
  if (!store.ok()) {
    LogError(store.status().message());
    return 1;
  }
  RetryOptions retry = RetryOptionsFor(options);
  if (options.reset_mounted_flag) {
    Result<bool> removed = ResetMountToken(**store, options.prefix, retry);
    if (!removed.ok()) {
      LogError(removed.status().message());
      return 1;
    }
    LogInfo(*removed ? "mount token of " + options.export_name + " cleared"
                     : options.export_name + " had no mount token");
    return 0;
  }
  if (!options.force &&
      !ConfirmOnTerminal("Erase every object of volume " + options.export_name +
                             "? This cannot be undone.",
                         std::cin, std::cerr)) {
    LogError("erase cancelled");
    return 1;
  }
  EraseOptions erase;
  erase.force = options.force;
  erase.name = options.export_name;
  erase.retry = retry;
  erase.progress = TerminalEraseProgress(std::cerr);
  Result<EraseSummary> summary = EraseVolume(**store, options.prefix, erase);
  if (!summary.ok()) {
    LogError(summary.status().message());
    return 1;
  }
  LogInfo("erased " + std::to_string(summary->deleted) + " objects of " +
          options.export_name +
          (summary->foreign ? "; left " + std::to_string(summary->foreign) +
                                  " objects that are not the volume's"
                            : ""));
  return 0;
}

}  // namespace usbd
