#include "retry/retry_policy.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <thread>
#include <utility>

#include "util/log.h"

namespace usbd {
namespace {

using Clock = RetryOptions::Clock;
using std::chrono::duration;
using std::chrono::duration_cast;

// Fills in the real clock, sleep and random source where none was injected.
RetryOptions WithDefaults(RetryOptions options) {
  if (!options.now) options.now = [] { return Clock::now(); };
  if (!options.sleep) {
    options.sleep = [](Clock::duration d) { std::this_thread::sleep_for(d); };
  }
  if (!options.random) {
    options.random = [] {
      thread_local std::mt19937_64 engine{std::random_device{}()};
      return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
    };
  }
  if (options.initial_pause.count() < 0) options.initial_pause = {};
  if (options.max_pause_total.count() < 0) options.max_pause_total = {};
  if (options.max_single_pause.count() < 0) options.max_single_pause = {};
  return options;
}

std::string FormatSeconds(Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", duration<double>(d).count());
  return text;
}

}  // namespace

RetryPolicy::RetryPolicy(RetryOptions options)
    : options_(WithDefaults(std::move(options))) {}

Clock::time_point RetryPolicy::Now() const { return options_.now(); }

RetryStats RetryPolicy::stats() const {
  RetryStats stats;
  stats.retries = retries_.load(std::memory_order_relaxed);
  stats.recovered = recovered_.load(std::memory_order_relaxed);
  stats.giveups = giveups_.load(std::memory_order_relaxed);
  stats.corrupt = corrupt_.load(std::memory_order_relaxed);
  return stats;
}

Clock::duration RetryPolicy::NextPause(int retry) const {
  constexpr Clock::duration kMinPause = std::chrono::milliseconds(1);
  const Clock::duration cap = options_.max_single_pause;
  Clock::duration ceiling = options_.initial_pause;
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);

  double r = options_.random();
  if (!(r >= 0.0)) r = 0.0;  // also catches NaN
  r = std::min(r, 1.0);
  auto pause = duration_cast<Clock::duration>(duration<double, Clock::period>(
      static_cast<double>(ceiling.count()) * r));
  return std::max(pause, kMinPause);
}

Status RetryPolicy::Run(const std::string& what,
                        const std::function<Status()>& op) {
  const Clock::time_point start = Now();
  Status first = Attempt(start, op);
  return Resume(start, std::move(first), what, op);
}

Status RetryPolicy::Resume(Clock::time_point start, Status status,
                           const std::string& what,
                           const std::function<Status()>& op) {
  if (status.ok() || !status.retryable()) return status;

  const Clock::time_point deadline = start + options_.max_pause_total;
  int attempts = 1;
  // The last corruption seen: the give-up line names it even when the last
  // attempt failed otherwise (cut short by what was left of the budget).
  std::string corruption;
  // The first failure, named too when the last one differs (often only a
  // timeout cut short by what was left of the budget).
  const std::string first_failure = status.ToString();
  for (Clock::time_point now = Now(); now < deadline; now = Now()) {
    const Clock::duration pause = std::min(NextPause(attempts), deadline - now);
    if (status.corrupt()) {
      corruption = status.message();
      corrupt_.fetch_add(1, std::memory_order_relaxed);
      LogWarning(what + ": attempt " + std::to_string(attempts) +
                 " read a corrupt object (" + status.message() +
                 "), retrying in " + FormatSeconds(pause));
    } else if (LogEnabled(LogLevel::kDebug)) {
      LogDebug(what + ": attempt " + std::to_string(attempts) + " failed (" +
               status.ToString() + "), retrying in " + FormatSeconds(pause));
    }
    options_.sleep(pause);
    retries_.fetch_add(1, std::memory_order_relaxed);
    ++attempts;
    status = Attempt(start, op);
    if (status.ok()) {
      recovered_.fetch_add(1, std::memory_order_relaxed);
      return status;
    }
    if (!status.retryable()) return status;
  }

  if (status.corrupt()) {
    corrupt_.fetch_add(1, std::memory_order_relaxed);
    corruption.clear();  // the last error says it
  }
  giveups_.fetch_add(1, std::memory_order_relaxed);
  std::string message = what + " failed after " + std::to_string(attempts) +
                        (attempts == 1 ? " attempt" : " attempts") + " in " +
                        FormatSeconds(Now() - start) +
                        ", giving up: " + status.ToString();
  if (!corruption.empty()) {
    message += "; an earlier attempt read a corrupt object: " + corruption;
  } else if (attempts > 1 && first_failure != status.ToString()) {
    message += "; the first attempt failed with: " + first_failure;
  }
  LogError(message);
  return Status::IoError(std::move(message), /*retryable=*/false);
}

Status RetryWithBackoff(const RetryOptions& options, const std::string& what,
                        const std::function<Status()>& op) {
  RetryPolicy policy(options);
  return policy.Run(what, op);
}

}  // namespace usbd
