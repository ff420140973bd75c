// The time limit of the store request in progress on this thread: the retry
// layer sets it to what is left of an operation's budget, and the transport
// (curl_client.cc) shortens its own per-request timeout to fit, so the last
// attempt cannot overrun the budget by a whole --timeout.
//
// Thread safety: the limit is per thread; a request that runs on another
// thread than the one that set it is bounded by its own timeout only.
#ifndef USBD_UTIL_ATTEMPT_DEADLINE_H_
#define USBD_UTIL_ATTEMPT_DEADLINE_H_

#include <chrono>
#include <optional>

namespace usbd {

// Sets this thread's attempt deadline to `time_left` from now for the
// scope's lifetime (an enclosing one is restored afterwards; the earlier of
// the two applies).
class ScopedAttemptDeadline {
 public:
  explicit ScopedAttemptDeadline(std::chrono::steady_clock::duration time_left);
  ~ScopedAttemptDeadline();
  ScopedAttemptDeadline(const ScopedAttemptDeadline&) = delete;
  ScopedAttemptDeadline& operator=(const ScopedAttemptDeadline&) = delete;

 private:
  std::optional<std::chrono::steady_clock::time_point> saved_;
};

// `timeout`, shortened to the time left before this thread's attempt
// deadline if one is set (then at least 1 ms: 0 means "no limit" to curl).
std::chrono::milliseconds AttemptTimeout(std::chrono::milliseconds timeout);

}  // namespace usbd

#endif  // USBD_UTIL_ATTEMPT_DEADLINE_H_
