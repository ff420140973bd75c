#include "kernel/stop_policy.h"

#include <signal.h>

#include <utility>

#include "util/log.h"

namespace usbd::kernel {

StopPolicy::StopPolicy(std::string device, InUseProbe probe,
                       std::chrono::seconds log_interval)
    : device_(std::move(device)),
      probe_(std::move(probe)),
      log_interval_(log_interval) {}

StopPolicy::Action StopPolicy::OnSignal(int signal_number,
                                        Clock::time_point now) {
  std::string name = "signal " + std::to_string(signal_number);
  if (signal_number == SIGQUIT || stopping_) {
    std::string in_use = probe_();
    if (!in_use.empty()) {
      forced_ = true;
      LogWarning(name + ": disconnecting " + device_ + " although it is " +
                 in_use + ": writes the kernel still holds will fail");
    }
    stopping_ = true;
    return Action::kDisconnect;
  }
  stopping_ = true;
  std::string in_use = probe_();
  if (in_use.empty()) return Action::kDisconnect;
  last_log_ = now;
  LogWarning(name + ": " + device_ + " is " + in_use +
             ": still serving it until it is unmounted (SIGQUIT, or a "
             "second SIGTERM, disconnects it now)");
  return Action::kServe;
}

StopPolicy::Action StopPolicy::OnTick(Clock::time_point now) {
  if (!stopping_) return Action::kServe;
  std::string in_use = probe_();
  if (in_use.empty()) {
    LogInfo(device_ + " is no longer in use: stopping");
    return Action::kDisconnect;
  }
  if (now - last_log_ >= log_interval_) {
    last_log_ = now;
    LogWarning("stopping: " + device_ + " is still " + in_use +
               ": serving it until it is unmounted");
  }
  return Action::kServe;
}

}  // namespace usbd::kernel
