#include "util/attempt_deadline.h"

#include <algorithm>

namespace usbd {
namespace {

using Clock = std::chrono::steady_clock;

thread_local std::optional<Clock::time_point> attempt_deadline;

}  // namespace

ScopedAttemptDeadline::ScopedAttemptDeadline(Clock::duration time_left)
    : saved_(attempt_deadline) {
  Clock::time_point deadline = Clock::now() + time_left;
  if (saved_) deadline = std::min(deadline, *saved_);
  attempt_deadline = deadline;
}

ScopedAttemptDeadline::~ScopedAttemptDeadline() { attempt_deadline = saved_; }

std::chrono::milliseconds AttemptTimeout(std::chrono::milliseconds timeout) {
  if (!attempt_deadline) return timeout;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*attempt_deadline -
                                                           Clock::now());
  if (timeout.count() <= 0 || left < timeout) timeout = left;
  return std::max(timeout, std::chrono::milliseconds{1});
}

}  // namespace usbd
