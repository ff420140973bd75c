// Helpers shared by the volume objects (metadata, mount token, erase): their
// small versioned text format, UTC timestamps, random ids, and ObjectStore
// calls wrapped in the retry policy. Internal to src/volume/.
//
// The text format of every volume object:
//
//   MAGIC VERSION\n          e.g. "usbd-volume 1"
//   key=value\n              zero or more, in any order, each key once
//
// Strict: printable ASCII only (no NUL, no CR, no tab), every line ends in
// '\n' (so an object cut short inside a line is detected), keys are
// [a-z0-9_.-]+, values any printable text (may be empty or contain '=').
// At most kMaxVolumeTextSize bytes. The version is checked before anything
// after the first line, so a newer format can change everything else.
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

#include "http/object_store.h"
#include "retry/retry_store.h"
#include "util/status.h"

namespace usbd {

constexpr size_t kMaxVolumeTextSize = 64 * 1024;

using TextEntries = std::vector<std::pair<std::string, std::string>>;

std::string FormatVolumeText(std::string_view magic, uint32_t version,
                             const TextEntries& entries);

// Parses `bytes` read from object `key`. `what` names the object kind in
// messages ("volume metadata", "mount token"). Every error is EIO, not
// retryable, and names `key`. A version other than `version` is refused
// ("... format 2 is newer than this usbd supports ...").
Result<TextEntries> ParseVolumeText(std::span<const uint8_t> bytes,
                                    std::string_view magic, uint32_t version,
                                    const std::string& what,
                                    const std::string& key);

// Strict unsigned decimal: digits only, no sign, no overflow.
std::optional<uint64_t> ParseDecimal(std::string_view text);

// "2026-01-02T03:04:05Z".
std::string UtcTimestamp(std::chrono::system_clock::time_point when);
bool IsUtcTimestamp(std::string_view text);

// `bytes` random bytes from the kernel, as 2 * bytes lower-case hex digits.
std::string RandomHex(size_t bytes);
bool IsLowerHex(std::string_view text, size_t digits);

// "NAME" when given, else a description from the store and the prefix.
std::string VolumeDisplayName(const ObjectStore& store,
                              const std::string& prefix,
                              const std::string& name);

// Store calls through RetryWithBackoff; `what` names them in messages.
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
