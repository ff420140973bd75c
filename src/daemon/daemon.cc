#include "daemon/daemon.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "util/log.h"

namespace usbd {

Status Daemon::Detach() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe");
  Fd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoStatus("fork");
  if (pid > 0) {
    write_end.Reset();
    uint8_t verdict = 1;
    std::vector<uint8_t> message;
    if (::read(read_end.get(), &verdict, 1) != 1) {
      std::fprintf(stderr, "usbd: exited during start (see the system log)\n");
      std::_Exit(1);
    }
    uint8_t buf[512];
    ssize_t n;
    while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0) {
      message.insert(message.end(), buf, buf + n);
    }
    if (verdict != 0) {
      std::fprintf(stderr, "usbd: %.*s\n", static_cast<int>(message.size()),
                   reinterpret_cast<const char*>(message.data()));
    }
    std::_Exit(verdict == 0 ? 0 : 1);
  }
  read_end.Reset();
  report_ = std::move(write_end);
  ::setsid();
  if (::chdir("/") != 0) return ErrnoStatus("chdir /");
  return Status::Ok();
}

void Daemon::Ready() {
  if (!report_.valid()) return;
  LogToSyslog();
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
    ::close(null_fd);
  }
  uint8_t ok = 0;
  (void)WriteAll(report_.get(), {&ok, 1});
  report_.Reset();
}

void Daemon::Failed(const std::string& message) {
  if (!report_.valid()) return;
  uint8_t failed = 1;
  (void)WriteAll(report_.get(), {&failed, 1});
  (void)WriteAll(
      report_.get(),
      {reinterpret_cast<const uint8_t*>(message.data()), message.size()});
  report_.Reset();
}

}  // namespace usbd
