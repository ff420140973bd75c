#include "util/status.h"

#include <cstring>

namespace usbd {

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_ + " (" + std::strerror(code_) + ")";
}

Status ErrnoStatus(const std::string& what, int err) {
  bool retryable = err == EINTR || err == EAGAIN;
  return Status::Error(err, what + ": " + std::strerror(err), retryable);
}

}  // namespace usbd
