#include "volume/volume_session.h"

#include <iostream>

#include "store/stack.h"
#include "util/log.h"
#include "volume/erase.h"
#include "volume/metadata.h"

namespace usbd {

VolumeSession::VolumeSession(const Options& options,
                             std::unique_ptr<ObjectStore> store)
    : options_(options), store_(std::move(store)) {}

Result<std::unique_ptr<VolumeSession>> VolumeSession::Open(Options* options) {
  Result<std::unique_ptr<ObjectStore>> store = NewObjectStore(*options);
  if (!store.ok()) return store.status();
  VolumeRequest request;
  request.size = options->size;
  request.block_size = options->block_size_given ? options->block_size : 0;
  if (options->block_hash_prefix) request.block_hash_prefix = true;
  request.force = options->force;
  request.read_only = options->read_only;
  request.name = options->export_name;
  Result<OpenedVolume> opened = OpenOrCreateVolume(
      **store, options->prefix, request, RetryOptionsFor(*options));
  if (!opened.ok()) return opened.status();
  const VolumeMetadata& metadata = opened->metadata;
  options->size = metadata.size;
  options->block_size = metadata.block_size;
  options->block_hash_prefix = metadata.block_hash_prefix;
  return std::unique_ptr<VolumeSession>(
      new VolumeSession(*options, std::move(store).value()));
}

Status VolumeSession::AcquireMountToken() {
  MountTokenOptions token_options;
  token_options.force = options_.force;
  token_options.read_only = options_.read_only;
  token_options.name = options_.export_name;
  token_options.retry = RetryOptionsFor(options_);
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
      !ConfirmOnTerminal("Erase every object of volume " +
                             options.export_name + "? This cannot be undone.",
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
