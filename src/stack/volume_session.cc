#include "stack/volume_session.h"

#include <chrono>
#include <iostream>

#include "codec/object_format.h"
#include "crypto/encoding_settings.h"
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
  request.password = {};
  password.clear();
  if (!opened.ok()) return opened.status();
  VolumeMetadata& metadata = opened->metadata;
  if (metadata.codec != "none" || metadata.cipher != "none") {
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
  return std::unique_ptr<VolumeSession>(new VolumeSession(
      *options, std::move(store), std::move(metadata), std::move(opened->key)));
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
