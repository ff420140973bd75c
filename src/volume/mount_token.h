// The mount token: an object that says which usbd has a volume mounted, so
// a second usbd (on this host or another) is refused instead of writing the
// same blocks.
//
// Key: MountTokenKey(prefix) = prefix + "usbd-mounted" (not hex: never a
// block key, see metadata.h). Content (format 1, volume_text.h):
//
//   usbd-mounted 1
//   host=build-7                     gethostname()
//   pid=12345
//   since=2026-01-02T03:04:05Z       UTC
//   token=9b1f...                    32 random lower-case hex digits
//
// Unknown keys are ignored (the token is advisory and only read back to
// name its holder); a missing required key or a newer format is EIO.
//
// Acquire: reads the key; a token that is there (even one that cannot be
// parsed) means "mounted": EBUSY naming the holder and how to clear a stale
// token ("volume b/vol1 is mounted by host X pid 123 since ...; if that
// usbd is gone, run usbd --reset-mounted-flag b/vol1"), unless `force`,
// which takes over with a warning. Then it writes its own token, waits
// `settle`, and reads the token back: if another usbd's token is there, it
// lost a race and fails with EBUSY naming the winner (the winner's token is
// left alone).
//
// Residual race: ObjectStore has no compare-and-swap (S3 conditional PUT
// is not used), so two usbds that both read "no token" and write within
// `settle` of each other's read-back can both believe they hold the volume.
// The read-back after `settle` narrows the window to "both PUTs landed
// inside both check/read-back intervals"; it cannot close it.
//
// Read-only runs take no token (they do not write blocks); Acquire with
// read_only only reads the key and logs a warning when a writer holds it
// (its data may change under the reader), and returns an empty token.
//
// Release deletes the token only if it is still the caller's (same token
// id): a token that another usbd wrote (--force takeover) is left in place
// and reported as EBUSY. Reset deletes whatever is there.
//
// Thread safety: reentrant; calls on the same volume race as described.
#ifndef USBD_VOLUME_MOUNT_TOKEN_H_
#define USBD_VOLUME_MOUNT_TOKEN_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "http/object_store.h"
#include "retry/retry_store.h"
#include "util/status.h"

namespace usbd {

constexpr uint32_t kMountTokenFormat = 1;

// prefix + "usbd-mounted".
std::string MountTokenKey(const std::string& prefix);

struct MountToken {
  std::string host;
  uint64_t pid = 0;
  std::string since;  // "2026-01-02T03:04:05Z"
  std::string id;     // 32 lower-case hex digits; empty: no token held

  bool held() const { return !id.empty(); }
  // "host X pid 123 since 2026-01-02T03:04:05Z".
  std::string Describe() const;
};

std::string FormatMountToken(const MountToken& token);
// Every failure is EIO naming `key`.
Result<MountToken> ParseMountToken(std::span<const uint8_t> bytes,
                                   const std::string& key);

struct MountTokenOptions {
  bool force = false;      // --force: take over a token that is there
  bool read_only = false;  // --readOnly: take no token, only warn
  // Pause between writing the token and reading it back (see above).
  std::chrono::milliseconds settle{250};
  // How messages name the volume, e.g. "mybucket/vol1"; empty: the store's
  // description and the prefix. Also the argument suggested for
  // --reset-mounted-flag.
  std::string name;
  // Recorded in the token; empty / 0: gethostname() and getpid().
  std::string host;
  uint64_t pid = 0;
  RetryOptions retry;
};

// Takes the volume's mount token by the rules above. Returns the token
// written (held()), or, for read_only, an empty token.
Result<MountToken> AcquireMountToken(ObjectStore& store,
                                     const std::string& prefix,
                                     const MountTokenOptions& options);

// Deletes the token if it is still `ours`. OK when deleted, when there is
// none (a warning is logged) and when `ours` is empty (read-only); EBUSY,
// leaving it in place, when another usbd's token is there.
Status ReleaseMountToken(ObjectStore& store, const std::string& prefix,
                         const MountToken& ours, const RetryOptions& retry);

// The token that is there, or nullopt. An unparsable token is EIO.
Result<std::optional<MountToken>> ReadMountToken(ObjectStore& store,
                                                 const std::string& prefix,
                                                 const RetryOptions& retry);

// --reset-mounted-flag: deletes whatever token is there. Returns true when
// there was one (and logs whose it was), false when there was none.
Result<bool> ResetMountToken(ObjectStore& store, const std::string& prefix,
                             const RetryOptions& retry);

}  // namespace usbd

#endif  // USBD_VOLUME_MOUNT_TOKEN_H_
