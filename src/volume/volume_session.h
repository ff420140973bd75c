// The volume-level steps around serving an object-store volume (S3 or plain
// HTTP), in the order main() needs them:
//
//   Open()        before daemonising, so errors reach the terminal: reads or
//                 creates the volume metadata and fills in the options'
//                 size, block size and block naming from it.
//   AcquireMountToken()  after daemonising (the token records our pid).
//   Release()     at exit, after the stack has shut down.
//
// The session owns its own ObjectStore instance; the block stack has
// another. --test and --memory volumes have no session.
#ifndef USBD_VOLUME_VOLUME_SESSION_H_
#define USBD_VOLUME_VOLUME_SESSION_H_

#include <memory>

#include "config/options.h"
#include "http/object_store.h"
#include "volume/mount_token.h"

namespace usbd {

class VolumeSession {
 public:
  // Updates options->size, block_size and block_hash_prefix.
  static Result<std::unique_ptr<VolumeSession>> Open(Options* options);

  Status AcquireMountToken();
  Status Release();

 private:
  VolumeSession(const Options& options, std::unique_ptr<ObjectStore> store);

  const Options options_;
  std::unique_ptr<ObjectStore> store_;
  MountToken token_;
};

// Runs --erase or --reset-mounted-flag; returns the process exit status.
int RunVolumeAction(const Options& options);

}  // namespace usbd

#endif  // USBD_VOLUME_VOLUME_SESSION_H_
