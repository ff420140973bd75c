#include "nbd/server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "nbd/connection.h"
#include "util/log.h"

namespace usbd::nbd {
namespace {

struct Slot {
  std::unique_ptr<Connection> connection;
  std::thread thread;
  std::atomic<bool> done{false};
};

void JoinFinished(std::list<Slot>* slots, bool all) {
  for (auto it = slots->begin(); it != slots->end();) {
    if (all || it->done) {
      it->thread.join();
      it = slots->erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

Result<int> Serve(const ServerOptions& options, Frontend* frontend,
                  int listen_fd, int signal_fd) {
  std::list<Slot> slots;
  int signal_number = 0;
  bool stop_requested = false;
  while (signal_number == 0 && !stop_requested) {
    // A negative fd is not polled (its revents stay 0).
    struct pollfd fds[3] = {{listen_fd, POLLIN, 0},
                            {signal_fd, POLLIN, 0},
                            {options.stop_fd, POLLIN, 0}};
    int n = ::poll(fds, 3, 1000);
    JoinFinished(&slots, false);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("poll");
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (::read(signal_fd, &info, sizeof info) == sizeof info) {
        signal_number = static_cast<int>(info.ssi_signo);
      }
      continue;
    }
    if (fds[2].revents != 0) {
      stop_requested = true;
      continue;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        LogWarning(ErrnoStatus("accept").ToString());
        if (errno == EMFILE || errno == ENFILE) ::usleep(100 * 1000);
      }
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // TCP only
    Slot& slot = slots.emplace_back();
    slot.connection = std::make_unique<Connection>(
        Fd(fd), frontend, options.export_info, options.threads_per_connection);
    slot.thread = std::thread([&slot] {
      slot.connection->Serve();
      slot.done = true;
    });
  }
  LogInfo((stop_requested ? std::string("stop requested")
                          : "signal " + std::to_string(signal_number)) +
          ": stopping; finishing requests in flight");
  for (Slot& slot : slots) slot.connection->Stop(/*refuse_unread=*/true);
  JoinFinished(&slots, true);
  return signal_number;
}

}  // namespace usbd::nbd
