#include "kernel/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "util/fd.h"
#include "util/log.h"

namespace usbd {
namespace {

// STATUS= values are one line; replace anything that would break one.
std::string OneLine(const std::string& text) {
  std::string line = text;
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

void SendOrLog(const std::string& state) {
  Status status = Notify(state);
  if (!status.ok()) LogDebug("sd_notify: " + status.ToString());
}

}  // namespace

bool NotifyEnabled() {
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  return socket_name != nullptr && socket_name[0] != '\0';
}

Status Notify(const std::string& state) {
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (socket_name == nullptr || socket_name[0] == '\0') return Status::Ok();
  size_t length = std::strlen(socket_name);
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if ((socket_name[0] != '/' && socket_name[0] != '@') ||
      length >= sizeof address.sun_path) {
    return Status::Invalid("NOTIFY_SOCKET is not a unix socket path");
  }
  std::memcpy(address.sun_path, socket_name, length);
  socklen_t address_length =
      static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + length);
  if (socket_name[0] == '@') {
    address.sun_path[0] = '\0';  // abstract namespace, not NUL-terminated
  } else {
    ++address_length;  // include the NUL of a path
  }
  Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("notify socket");
  ssize_t sent;
  do {
    sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<sockaddr*>(&address), address_length);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ErrnoStatus(std::string("notify ") + socket_name);
  return Status::Ok();
}

void NotifyReady(const std::string& status) {
  SendOrLog("READY=1\nMAINPID=" + std::to_string(::getpid()) +
            "\nSTATUS=" + OneLine(status));
}

void NotifyStatus(const std::string& status) {
  SendOrLog("STATUS=" + OneLine(status));
}

void NotifyStopping(const std::string& status) {
  SendOrLog("STOPPING=1\nSTATUS=" + OneLine(status));
}

}  // namespace usbd
