// --erase: deletes every object of a volume: its block objects (in either
// naming, with or without --blockHashPrefix), its metadata and its mount
// token. Objects under the prefix that are none of these (another tool's,
// or another volume's whose prefix extends this one) are left alone and
// counted.
//
// Order, so that an erase that is interrupted leaves a volume no run uses
// by accident: the metadata object goes first (a later run then refuses the
// remaining blocks as "blocks but no metadata" unless --force), the blocks
// next, in parallel, and the mount token last.
//
// Finding the blocks: by listing the prefix when the store can list (the
// deletions run while the listing goes on; memory stays bounded by a queue
// of keys); otherwise (plain HTTP) by deleting every block number of the
// geometry recorded in the metadata, which then must be readable (else
// ENOTSUP).
//
// Refused with EBUSY, naming the holder, when a mount token is there,
// unless `force`. The confirmation prompt is the caller's: see
// ConfirmOnTerminal.
//
// Thread safety: reentrant. Runs `threads` threads of its own for the
// deletions; they end before EraseVolume returns.
#ifndef USBD_VOLUME_ERASE_H_
#define USBD_VOLUME_ERASE_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

#include "object/object_store.h"
#include "retry/retry_policy.h"
#include "util/status.h"

namespace usbd {

struct EraseProgress {
  uint64_t deleted = 0;       // objects deleted so far
  uint64_t found = 0;         // objects to delete found so far
  bool listing_done = false;  // `found` is final
};

// Called after every deletion and once more at the end, never twice at
// once (from any of the erase threads); must be cheap and not throw.
using EraseProgressCallback = std::function<void(const EraseProgress&)>;

struct EraseOptions {
  bool force = false;     // --force: erase even if a mount token is there
  unsigned threads = 16;  // parallel DELETEs
  // How messages name the volume; empty: the store's description + prefix.
  std::string name;
  RetryOptions retry;
  EraseProgressCallback progress;  // may be empty
};

struct EraseSummary {
  uint64_t deleted = 0;  // objects deleted (blocks, metadata, token)
  uint64_t foreign = 0;  // objects under the prefix left alone
};

// Erases the volume under `prefix` as described above. On an error, stops
// (the deletions under way finish) and returns it with how far it got.
Result<EraseSummary> EraseVolume(ObjectStore& store, const std::string& prefix,
                                 const EraseOptions& options);

// The deletion engine EraseVolume uses, for any set of keys: `source` calls
// `emit` once per key (emit returns false when the deletion has failed and
// the source should stop) and returns its own Status. With `known_total`,
// progress reports it as `found` from the start. `deleted` (optional)
// receives the number of objects deleted, also on failure.
using KeySource =
    std::function<Status(const std::function<bool(std::string key)>& emit)>;
Status DeleteObjectsInParallel(ObjectStore& store, const KeySource& source,
                               unsigned threads, const RetryOptions& retry,
                               std::optional<uint64_t> known_total,
                               const EraseProgressCallback& progress,
                               uint64_t* deleted);

// Writes `question` and " [y/N] " to `out`, reads one line from `in`.
// True only for "y" or "yes" (any case, surrounding blanks ignored); end of
// input or anything else is false.
bool ConfirmOnTerminal(const std::string& question, std::istream& in,
                       std::ostream& out);

// A progress callback for a terminal: "\rerased N of M objects" at most ten
// times a second and on the final call, then a newline once the listing is
// done and everything found is deleted. `out` must outlive the callback.
EraseProgressCallback TerminalEraseProgress(std::ostream& out);

}  // namespace usbd

#endif  // USBD_VOLUME_ERASE_H_
