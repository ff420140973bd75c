// When `usbd --nbd` may disconnect its device on a stop request.
//
// Disconnecting a /dev/nbdX that holds a mounted file system fails every
// write the kernel still has queued or cached: ext4 aborts its journal and
// files written since the last sync are lost. So a stop request (SIGTERM,
// SIGINT) while the device is in use is not obeyed at once: usbd keeps
// serving (and uploading), says why, and disconnects as soon as the device
// is no longer in use (unmounted), or when an explicit second request
// forces it: a second SIGTERM or SIGINT, or SIGQUIT (which forces at once).
//
// StopPolicy is the decision alone, with the clock and the "in use" test
// given to it, so it can be tested without a kernel. Not thread-safe: one
// owner (the serving loop) calls it.
#ifndef USBD_KERNEL_STOP_POLICY_H_
#define USBD_KERNEL_STOP_POLICY_H_

#include <chrono>
#include <functional>
#include <string>

namespace usbd::kernel {

// Why a device cannot be disconnected now: "" when it is free, otherwise a
// short reason ("mounted on /srv/data", "open exclusively (mounted, ...)").
using InUseProbe = std::function<std::string()>;

class StopPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  enum class Action {
    kServe,       // keep serving
    kDisconnect,  // disconnect the device now
  };

  // `device` names the device in the log lines; `probe` says whether it is
  // in use; the "still in use" line is repeated at most every
  // `log_interval` while usbd waits.
  StopPolicy(std::string device, InUseProbe probe,
             std::chrono::seconds log_interval = std::chrono::seconds(60));

  // A termination signal (SIGTERM, SIGINT, SIGQUIT) arrived at `now`.
  // SIGQUIT, or a second SIGTERM/SIGINT, forces the disconnect.
  Action OnSignal(int signal_number, Clock::time_point now);
  // Called periodically (every ~0.5 s) while serving: once a stop was asked
  // for, disconnects as soon as the device is free.
  Action OnTick(Clock::time_point now);

  bool stopping() const { return stopping_; }
  // The stop was forced while the device was still in use.
  bool forced() const { return forced_; }

 private:
  std::string device_;
  InUseProbe probe_;
  std::chrono::seconds log_interval_;
  bool stopping_ = false;
  bool forced_ = false;
  Clock::time_point last_log_{};
};

}  // namespace usbd::kernel

#endif  // USBD_KERNEL_STOP_POLICY_H_
