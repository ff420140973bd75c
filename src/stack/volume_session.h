// The volume-level steps around serving a volume, in the order main() needs
// them:
//
//   Open()        before daemonising, so errors reach the terminal: reads or
//                 creates the volume metadata (S3, HTTP, and --test, whose
//                 metadata is the file usbd-volume in its directory), or
//                 makes up a fresh identity for a --memory volume; derives
//                 and checks the volume key with --encrypt (a wrong
//                 password fails here, before any block is read). What the
//                 volume is (geometry, naming, format) is metadata(), which
//                 StackSpecFor (stack/build_stack.h) combines with the
//                 options; the options are not changed.
//   TakeEncryption()  the key and UUID for StackSpecFor.
//   AcquireMountToken()  after daemonising (the token records our pid).
//   Release()     at exit, after the stack has shut down.
//
// The session owns its own ObjectStore instance; the block stack has
// another. S3, HTTP and --test volumes have a mount token (a usbd killed
// with SIGKILL starts again on its own: mount_token.h takes over a token
// this machine's dead usbd left with the same cache file); a --memory
// volume is private to its process.
#ifndef USBD_STACK_VOLUME_SESSION_H_
#define USBD_STACK_VOLUME_SESSION_H_

#include <memory>
#include <string>

#include "config/options.h"
#include "crypto/encrypt_store.h"
#include "crypto/secret_key.h"
#include "object/object_store.h"
#include "s3backer/s3backer_codec.h"
#include "volume/metadata.h"
#include "volume/mount_token.h"

namespace usbd {

class VolumeSession {
 public:
  // Wipes options->password (after reading it); changes nothing else.
  static Result<std::unique_ptr<VolumeSession>> Open(Options* options);

  // The volume's metadata as this run uses it.
  const VolumeMetadata& metadata() const { return metadata_; }

  // For BuildStack: the volume key (null without --encrypt) and UUID. The
  // key moves out: call once.
  EncryptOptions TakeEncryption();

  // For StackSpecFor: how the blocks of a volume adopted from s3backer are
  // kept (the run's --compress and --encrypt as s3backer's, the cipher's
  // password checked at Open on one stored block: EACCES when it does not
  // verify). Empty for other volumes, where s3backer's value names
  // (--encrypt=AES-128-CBC, --compress=deflate, --keyLength) fail Open.
  S3backerEncoding S3backerBlocks() const;

  Status AcquireMountToken();
  Status Release();

 private:
  VolumeSession(const Options& options, std::unique_ptr<ObjectStore> store,
                VolumeMetadata metadata, std::unique_ptr<SecretKey> key);

  const Options options_;
  std::unique_ptr<ObjectStore> store_;  // null for --memory
  VolumeMetadata metadata_;
  std::unique_ptr<SecretKey> key_;
  std::shared_ptr<const S3backerCipher> s3backer_cipher_;
  MountToken token_;
};

// The VolumeRequest for `options` (password and KDF parameters aside).
VolumeRequest VolumeRequestFor(const Options& options);

// Runs --erase or --reset-mounted-flag; returns the process exit status.
int RunVolumeAction(const Options& options);

}  // namespace usbd

#endif  // USBD_STACK_VOLUME_SESSION_H_
