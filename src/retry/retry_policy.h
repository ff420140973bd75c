// The retry policy: tries an operation again while the layer below says its
// failure is transient (Status::retryable()), with exponential backoff and full
// jitter, within a total time budget (s3backer's --initialRetryPause and
// --maxRetryPause).
//
// Policy, for one operation:
//  - Attempt 1 runs at once. A success, or an error that is not retryable,
//    is returned unchanged, at once.
//  - Before retry n (n = 1, 2, ...) the caller pauses for a random time drawn
//    uniformly from (0, ceiling_n], where ceiling_n = initial_pause * 2^(n-1),
//    capped at max_single_pause ("full jitter": concurrent clients that failed
//    together do not retry together). A pause is at least 1 ms, so a failing
//    store is never hammered in a tight loop.
//  - The budget, max_pause_total, counts everything since attempt 1 started:
//    the attempts themselves and the pauses. A pause never extends past the
//    budget (it is shortened to end exactly at it); once the budget is spent
//    no further attempt starts. Each attempt runs with what is left of the
//    budget as its time limit (util/attempt_deadline.h), which the HTTP
//    transport applies on top of its own per-attempt timeout: so an
//    operation over HTTP takes at most the budget (plus the time to notice
//    it is spent). A budget of zero disables retries (the one attempt is
//    bounded by its own timeout only).
//  - When the budget is spent and the last error was retryable, the operation
//    fails with EIO (not retryable, so no layer above retries it again) and
//    one log line naming the operation (and block and object), the number
//    of attempts, the time spent and the last error.
//  - Integrity failures (Status::Corrupt: an object that failed its
//    checksum or authentication when read back) are retried like any
//    transient error; each failed attempt is logged as a warning (other
//    failed attempts at debug level), so corruption is never silent, and
//    the give-up line names the last corruption seen even when the last
//    attempt failed otherwise.
//
// Thread safety: RetryPolicy::Run may be called concurrently. The injected
// now/sleep/random functions must then be safe to call concurrently too (the
// defaults are). The retry layer (retry/retry_store.h) runs every block
// operation through it; volume/ runs its metadata and mount-token calls through
// it directly.
#ifndef USBD_RETRY_RETRY_POLICY_H_
#define USBD_RETRY_RETRY_POLICY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "util/attempt_deadline.h"
#include "util/status.h"

namespace usbd {

struct RetryOptions {
  using Clock = std::chrono::steady_clock;

  // Ceiling of the first pause; each further pause doubles it.
  std::chrono::milliseconds initial_pause{200};
  // Total time budget of one operation, attempts and pauses included.
  std::chrono::milliseconds max_pause_total{30000};
  // Ceiling of any single pause, so a long budget still retries regularly.
  std::chrono::milliseconds max_single_pause{10000};

  // Injection points for tests; empty means the real thing.
  std::function<Clock::time_point()> now;      // default Clock::now
  std::function<void(Clock::duration)> sleep;  // default sleep_for
  std::function<double()> random;              // uniform in [0, 1]
};

struct RetryStats {
  uint64_t retries = 0;    // attempts after the first one
  uint64_t corrupt = 0;    // failed attempts that were Status::Corrupt
  uint64_t recovered = 0;  // operations that succeeded after retrying
  uint64_t giveups = 0;    // operations failed with EIO, budget spent
};

// The policy above, reusable by code that is not a BlockStore (volume
// metadata, mount token). Counts what it does in RetryStats.
class RetryPolicy {
 public:
  using Clock = RetryOptions::Clock;

  explicit RetryPolicy(RetryOptions options);

  // Runs `op` until it succeeds, fails with a non-retryable error, or the
  // budget is spent (then EIO). `what` names the operation in the give-up
  // log line and message, e.g. "read of volume metadata".
  Status Run(const std::string& what, const std::function<Status()>& op);

  // Continues an operation whose first attempt the caller made itself,
  // starting at `start` and failing with `first` (retryable or not). Lets a
  // hot path skip building `what` and `op` until something failed.
  Status Resume(Clock::time_point start, Status first, const std::string& what,
                const std::function<Status()>& op);

  Clock::time_point Now() const;
  RetryStats stats() const;

  // Runs one attempt of an operation started at `start` with what is left
  // of the budget as its time limit (ScopedAttemptDeadline), so that the
  // transport below cuts an attempt short instead of overrunning.
  template <typename Op>
  Status Attempt(Clock::time_point start, const Op& op) const;

 private:
  Clock::duration NextPause(int retry) const;

  RetryOptions options_;
  std::atomic<uint64_t> retries_{0}, recovered_{0}, giveups_{0}, corrupt_{0};
};

// One-shot form of RetryPolicy::Run.
Status RetryWithBackoff(const RetryOptions& options, const std::string& what,
                        const std::function<Status()>& op);

template <typename Op>
Status RetryPolicy::Attempt(Clock::time_point start, const Op& op) const {
  if (options_.max_pause_total.count() == 0) return op();  // no budget
  ScopedAttemptDeadline limit(start + options_.max_pause_total - Now());
  return op();
}

}  // namespace usbd

#endif  // USBD_RETRY_RETRY_POLICY_H_
