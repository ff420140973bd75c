// Helpers shared by the volume objects (metadata, mount token, erase): their
// small versioned text format, UTC timestamps, random ids, and ObjectStore
// calls wrapped in the retry policy. Internal to src/volume/.
//
// The text format of every volume object:
//
//   MAGIC VERSION\n          e.g. "usbd-volume 1"
//   key=value\n              zero or more, in any order, each key once
//
//   checksum=xxh64:HHHHHHHHHHHHHHHH\n
//
// Strict: printable ASCII only (no NUL, no CR, no tab), every line ends in
// '\n' (so an object cut short inside a line is detected), keys are
// [a-z0-9_.-]+, values any printable text (may be empty or contain '=').
// At most kMaxVolumeTextSize bytes. The version is checked before anything
// after the first line, so a newer format can change everything else.
//
// The checksum line (written by every usbd since block object format 2,
// whatever the object's own version) is always the last line: XXH64
// (util/xxh64.h, seed 0) of every byte before that line, as 16 lower-case
// hex digits. It is checked before anything else, so a flipped byte is
// reported as what it is ("object 'K' is corrupt: checksum mismatch"), not
// as a misleading parse error, and GetWithRetry reads such an object again
// within its retry budget. An object that has no checksum line and does
// not contain "checksum=" or "xxh64:" anywhere was written by an earlier
// usbd and is parsed unchecked; one that contains either but no valid last
// checksum line is corrupt (a single flipped byte cannot hide both). The
// key "checksum" is reserved: it is not among the parsed entries.
#ifndef USBD_VOLUME_VOLUME_TEXT_H_
#define USBD_VOLUME_VOLUME_TEXT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "object/object_store.h"
#include "retry/retry_policy.h"
#include "util/hex.h"
#include "util/status.h"

namespace usbd {

constexpr size_t kMaxVolumeTextSize = 64 * 1024;

using TextEntries = std::vector<std::pair<std::string, std::string>>;

std::string FormatVolumeText(std::string_view magic, uint32_t version,
                             const TextEntries& entries);

// Parses `bytes` read from object `key`. `what` names the object kind in
// messages ("volume metadata", "mount token"). A checksum mismatch is
// Status::Corrupt (EBADMSG, retryable) naming `key`; every other error is
// EIO, not retryable, and names `key`. A version other than `version` is
// refused ("... format 2 is newer than this usbd supports ...").
Result<TextEntries> ParseVolumeText(std::span<const uint8_t> bytes,
                                    std::string_view magic, uint32_t version,
                                    const std::string& what,
                                    const std::string& key);

// Checks the checksum line of `bytes` read from object `key`, as described
// above: OK for a valid checksum or an object of an earlier usbd without
// one, else Status::Corrupt ("object 'K' is corrupt: checksum mismatch").
// `*covered`, when given, is set to the length of the text before the
// checksum line (all of it without one).
Status VerifyVolumeText(std::span<const uint8_t> bytes, const std::string& key,
                        size_t* covered = nullptr);

// "2026-01-02T03:04:05Z".
std::string UtcTimestamp(std::chrono::system_clock::time_point when);
bool IsUtcTimestamp(std::string_view text);

// "NAME" when given, else a description from the store and the prefix.
std::string VolumeDisplayName(const ObjectStore& store,
                              const std::string& prefix,
                              const std::string& name);

// Store calls through RetryWithBackoff; `what` names them in messages.
// GetWithRetry reads volume objects only: it checks each object it reads
// with VerifyVolumeText and reads a corrupt one again (so a persistent
// mismatch gives up with "... giving up: object 'K' is corrupt: checksum
// mismatch ...", EIO).
Result<std::optional<std::vector<uint8_t>>> GetWithRetry(
    ObjectStore& store, const std::string& key, const RetryOptions& retry,
    const std::string& what);
Status PutWithRetry(ObjectStore& store, const std::string& key,
                    std::string_view content, const RetryOptions& retry,
                    const std::string& what);
Status DeleteWithRetry(ObjectStore& store, const std::string& key,
                       const RetryOptions& retry, const std::string& what);

}  // namespace usbd

#endif  // USBD_VOLUME_VOLUME_TEXT_H_
