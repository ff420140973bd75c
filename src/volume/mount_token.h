// The mount token: an object that says which usbd has a volume mounted, so
// a second usbd (on this host or another) is refused instead of writing the
// same blocks.
//
// Key: MountTokenKey(prefix) = prefix + "usbd-mounted" (not hex: never a
// block key, see metadata.h). Content (format 1, volume_text.h):
//
//   usbd-mounted 1
//   host=build-7                     gethostname(), for people
//   pid=12345
//   since=2026-01-02T03:04:05Z       UTC
//   token=9b1f...                    32 random lower-case hex digits
//   machine=0d3f...                  /etc/machine-id
//   boot=6c1a...                     /proc/sys/kernel/random/boot_id
//   started=4711                     the pid's start time (clock ticks
//                                    since boot, /proc/PID/stat field 22)
//   cache=/var/cache/usbd/v.cache    the holder's --blockCacheFile, or
//                                    empty: no persistent cache
//
// Unknown keys are ignored (the token is advisory and only read back to
// name its holder); a missing host, pid, since or token, or a newer format,
// is EIO. machine, boot, started and cache were added later: a token
// without them (an older usbd) cannot be told apart from a live holder.
//
// Acquire reads the key. No token: take it. A token that is there is
// judged by who wrote it (Judge()):
//   - kOurStale: the holder is gone and was "us": written on this machine
//     (same machine id) by a process that no longer runs (another boot
//     since, or no process with that pid and start time now), with the
//     same persistent cache file as ours (or neither had one, so no dirty
//     blocks can be stranded). This is what a kill -9, an OOM kill or a
//     power cut leaves behind; usbd takes it over with an info line saying
//     whose token it was, so a restart after a crash needs no person.
//   - kLive: a process with that pid and start time runs on this machine
//     in this boot: EBUSY naming it.
//   - kOtherMachine: another machine id (or a token without identity, or
//     one that cannot be parsed): EBUSY naming the holder, as it may be
//     alive and usbd cannot know.
//   - kOtherCache: a dead holder on this machine that used another cache
//     file: its dirty blocks may still be in that file and would be lost
//     (or later uploaded over ours): EBUSY naming that cache file.
// Every EBUSY says how to clear a stale token ("... if that usbd is gone,
// run usbd --reset-mounted-flag b/vol1 (or add --force)"); `force` takes
// over any token with a warning. Then Acquire writes its own token, waits
// `settle`, and reads the token back: if another usbd's token is there, it
// lost a race and fails with EBUSY naming the winner (the winner's token is
// left alone).
//
// Identity relies on /etc/machine-id being unique per machine (and per
// container that shares a volume); when it cannot be read, the host name
// stands in for it.
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
// s3backer's mounted flag, S3backerFlagKey(prefix) = prefix +
// "s3backer-mounted", is honoured both ways, so s3backer and usbd never
// both write one bucket (s3backer refuses while the object exists; it reads
// nothing else of usbd's):
//   - Acquire: a flag that s3backer wrote (its first line is a host name,
//     without a space) is EBUSY naming its host and date, unless `force`
//     (taken over with a warning); read-only runs only warn. A flag a usbd
//     wrote ("usbd HOST pid PID token ID") goes with that usbd's token and
//     is judged with it above.
//   - After taking the token, Acquire writes the flag as "usbd ... token
//     ID"; if that fails, it deletes its token again and fails.
//   - Release deletes the flag (if it is still this token's) before the
//     token; a kill -9 leaves both, and the next start takes them over.
//   - Reset (--reset-mounted-flag) deletes the flag too, whoever wrote it.
//
// Thread safety: reentrant; calls on the same volume race as described.
#ifndef USBD_VOLUME_MOUNT_TOKEN_H_
#define USBD_VOLUME_MOUNT_TOKEN_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "object/object_store.h"
#include "retry/retry_policy.h"
#include "util/status.h"

namespace usbd {

constexpr uint32_t kMountTokenFormat = 1;

// prefix + "usbd-mounted".
std::string MountTokenKey(const std::string& prefix);

// prefix + "s3backer-mounted": s3backer's mounted flag (see above).
std::string S3backerFlagKey(const std::string& prefix);

struct MountToken {
  std::string host;
  uint64_t pid = 0;
  std::string since;  // "2026-01-02T03:04:05Z"
  std::string id;     // 32 lower-case hex digits; empty: no token held
  // Identity of the holder (empty / 0 in tokens of older usbds).
  std::string machine;   // machine id (or "host:NAME" when unreadable)
  std::string boot;      // boot id
  uint64_t started = 0;  // the pid's start time, clock ticks since boot
  std::string cache;     // absolute --blockCacheFile; empty: none

  bool held() const { return !id.empty(); }
  // "host X pid 123 since 2026-01-02T03:04:05Z".
  std::string Describe() const;
};

// Who this process is, as a token records it.
struct MountIdentity {
  std::string host;
  uint64_t pid = 0;
  std::string machine;
  std::string boot;
  uint64_t started = 0;
  std::string cache;
};

// This process on this machine (gethostname, getpid, /etc/machine-id,
// boot id, /proc/self/stat), with `cache` as the cache file.
MountIdentity CurrentMountIdentity(const std::string& cache);

// Whether a process with `pid` that started at `started` (clock ticks
// since boot, as in /proc/PID/stat) runs now on this machine.
bool ProcessIsRunning(uint64_t pid, uint64_t started);

enum class HolderKind { kOurStale, kLive, kOtherMachine, kOtherCache };

// Judges a token that is there against `self` by the rules above.
// `is_running(pid, started)` says whether that process runs now (only
// asked for a token of this machine and boot).
HolderKind JudgeMountToken(
    const MountToken& there, const MountIdentity& self,
    const std::function<bool(uint64_t, uint64_t)>& is_running);

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
  // Recorded in the token and compared with the token that is there;
  // unset: CurrentMountIdentity(cache_file).
  std::optional<MountIdentity> identity;
  // This run's persistent cache file (absolute path); empty: none.
  std::string cache_file;
  // ProcessIsRunning unless set (tests).
  std::function<bool(uint64_t pid, uint64_t started)> is_running;
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

// s3backer's mounted flag as found: who holds it ("s3backer on HOST (flag
// written DATE)", or "a usbd (HOST pid PID) ..." for one a usbd wrote beside
// its token).
struct S3backerFlagInfo {
  std::string holder;
  bool by_usbd = false;
};
// The flag under `prefix`, or nullopt when there is none.
Result<std::optional<S3backerFlagInfo>> ReadS3backerFlagInfo(
    ObjectStore& store, const std::string& prefix, const RetryOptions& retry);

// --reset-mounted-flag: deletes whatever token is there. Returns true when
// there was one (and logs whose it was), false when there was none.
Result<bool> ResetMountToken(ObjectStore& store, const std::string& prefix,
                             const RetryOptions& retry);

}  // namespace usbd

#endif  // USBD_VOLUME_MOUNT_TOKEN_H_
