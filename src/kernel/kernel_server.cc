#include "kernel/kernel_server.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <thread>

#include "kernel/stop_policy.h"
#include "nbd/connection.h"
#include "nbd/protocol.h"
#include "util/log.h"

namespace usbd::kernel {
namespace {

// Transmission flags the kernel acts on (newer kernels also know
// WRITE_ZEROES, which the server implements).
constexpr uint16_t kKernelFlags =
    nbd::kTransHasFlags | nbd::kTransReadOnly | nbd::kTransSendFlush |
    nbd::kTransSendFua | nbd::kTransSendTrim | nbd::kTransSendWriteZeroes |
    nbd::kTransCanMultiConn;

struct Slot {
  std::unique_ptr<nbd::Connection> connection;
  std::thread thread;
  std::atomic<bool> done{false};
};

size_t CountDone(const std::list<Slot>& slots) {
  return std::count_if(slots.begin(), slots.end(),
                       [](const Slot& slot) { return slot.done.load(); });
}

void StopAll(std::list<Slot>* slots) {
  for (Slot& slot : *slots) slot.connection->Stop();
  for (Slot& slot : *slots) {
    if (slot.thread.joinable()) slot.thread.join();
  }
}

}  // namespace

unsigned DefaultConnections() {
  unsigned cpus = std::thread::hardware_concurrency();
  return std::clamp(cpus, 1u, 4u);
}

Result<ClientHandshake> NegotiateAsClient(int fd,
                                          const std::string& export_name) {
  uint8_t greeting[18];
  USBD_RETURN_IF_ERROR(ReadAll(fd, greeting));
  if (nbd::Get64(greeting) != nbd::kNbdMagic ||
      nbd::Get64(greeting + 8) != nbd::kIHaveOpt) {
    return Status::IoError("the server's greeting is not fixed newstyle");
  }
  uint16_t server_flags = nbd::Get16(greeting + 16);
  if (!(server_flags & nbd::kFlagFixedNewstyle)) {
    return Status::IoError("the server does not speak fixed newstyle");
  }
  bool no_zeroes = server_flags & nbd::kFlagNoZeroes;
  uint8_t client_flags[4];
  nbd::Put32(client_flags, nbd::kClientFlagFixedNewstyle |
                               (no_zeroes ? nbd::kClientFlagNoZeroes : 0));
  USBD_RETURN_IF_ERROR(WriteAll(fd, client_flags));

  std::vector<uint8_t> option(16 + export_name.size());
  nbd::Put64(option.data(), nbd::kIHaveOpt);
  nbd::Put32(option.data() + 8, nbd::kOptExportName);
  nbd::Put32(option.data() + 12, static_cast<uint32_t>(export_name.size()));
  std::copy(export_name.begin(), export_name.end(), option.begin() + 16);
  USBD_RETURN_IF_ERROR(WriteAll(fd, option));

  uint8_t reply[10 + 124];
  size_t reply_size = no_zeroes ? 10 : sizeof reply;
  Status status = ReadAll(fd, {reply, reply_size});
  if (!status.ok()) {
    return status.WithContext("the server refused export '" + export_name +
                              "'");
  }
  ClientHandshake result;
  result.size = nbd::Get64(reply);
  result.transmission_flags = nbd::Get16(reply + 8);
  return result;
}

Result<int> ServeKernel(
    const KernelServeOptions& options, const nbd::ExportInfo& info,
    nbd::Frontend* frontend, int signal_fd,
    const std::function<void(const std::string& device)>& on_ready) {
  Result<int> index = ParseNbdTarget(options.target);
  if (!index.ok()) return index.status();
  AttachOptions attach;
  attach.index = *index;
  attach.block_size = options.block_size != 0
                          ? options.block_size
                          : DefaultKernelBlockSize(info.preferred_block_size);
  USBD_RETURN_IF_ERROR(CheckKernelBlockSize(attach.block_size));
  attach.timeout_seconds = options.timeout_seconds;
  attach.dead_conn_timeout_seconds = options.dead_conn_timeout_seconds;
  attach.max_sectors_kb = info.preferred_block_size / 1024;
  attach.backend = "usbd:" + info.name;
  attach.interface = options.interface;
  attach.lock_dir = options.lock_dir;

  unsigned connections =
      options.connections != 0 ? options.connections : DefaultConnections();
  if (connections > 1 && !info.can_multi_conn) {
    LogInfo("the store does not allow several connections: using one");
    connections = 1;
  }

  // Our ends are served from the start: the handshake needs them, and the
  // kernel reads the partition table as soon as it is attached.
  std::list<Slot> slots;
  std::vector<Fd> kernel_ends;
  for (unsigned i = 0; i < connections; ++i) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      Status status = ErrnoStatus("socketpair");
      StopAll(&slots);
      return status;
    }
    kernel_ends.emplace_back(pair[1]);
    Slot& slot = slots.emplace_back();
    slot.connection = std::make_unique<nbd::Connection>(
        Fd(pair[0]), frontend, info, options.threads_per_connection);
    slot.thread = std::thread([&slot] {
      slot.connection->Serve();
      slot.done = true;
    });
    Result<ClientHandshake> handshake =
        NegotiateAsClient(kernel_ends.back().get(), info.name);
    if (handshake.ok() && handshake->size != info.size) {
      handshake = Status::IoError("the handshake gave a different size");
    }
    if (!handshake.ok()) {
      kernel_ends.clear();
      StopAll(&slots);
      return handshake.status().WithContext("handshake for the kernel");
    }
    attach.size = handshake->size;
    attach.server_flags = handshake->transmission_flags & kKernelFlags;
  }
  if (!(attach.server_flags & nbd::kTransSendFlush)) {
    LogWarning("the store cannot flush: the kernel will not send FLUSH");
  }

  Result<std::unique_ptr<NbdDevice>> attached =
      NbdDevice::Attach(attach, std::move(kernel_ends));
  if (!attached.ok()) {
    StopAll(&slots);
    return attached.status();
  }
  std::unique_ptr<NbdDevice> device = std::move(attached).value();
  if (device->reattached()) {
    // Sockets the kernel did not take (no dead one left to replace) were
    // closed when Attach returned: their connections end at once.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    size_t ended = CountDone(slots);
    if (ended == slots.size()) {
      device->Abandon();  // not ours to disconnect
      StopAll(&slots);
      return Status::Error(EBUSY, "/dev/nbd" + std::to_string(*index) +
                                      " is busy: its server is alive");
    }
    LogInfo("reattached " + device->path() + " with " +
            std::to_string(slots.size() - ended) + " connection(s)");
  }
  LogInfo("attached " + device->path() + " (" + device->interface_name() +
          ", " + std::to_string(connections) + " connection(s), " +
          std::to_string(attach.block_size) + "-byte sectors)");
  on_ready(device->path());

  int signal_number = 0;
  const int device_index = device->index();
  StopPolicy stop(device->path(),
                  [device_index] { return DeviceInUse(device_index); });
  while (true) {
    struct pollfd fds[1] = {{signal_fd, POLLIN, 0}};
    int n = ::poll(fds, 1, 500);
    if (n < 0 && errno != EINTR) {
      Status status = ErrnoStatus("poll");
      StopAll(&slots);
      return status;
    }
    if (n > 0 && (fds[0].revents & POLLIN)) {
      struct signalfd_siginfo siginfo;
      if (::read(signal_fd, &siginfo, sizeof siginfo) == sizeof siginfo) {
        if (siginfo.ssi_signo == SIGHUP) {
          if (options.on_hangup) {
            options.on_hangup();
          } else {
            LogInfo("SIGHUP: nothing to reopen");
          }
          continue;
        }
        signal_number = static_cast<int>(siginfo.ssi_signo);
        if (stop.OnSignal(signal_number, StopPolicy::Clock::now()) ==
            StopPolicy::Action::kDisconnect) {
          break;
        }
      }
    }
    if (CountDone(slots) == slots.size()) {
      LogWarning("the kernel disconnected " + device->path());
      break;
    }
    if (stop.OnTick(StopPolicy::Clock::now()) ==
        StopPolicy::Action::kDisconnect) {
      break;
    }
  }
  if (signal_number != 0) {
    LogInfo("signal " + std::to_string(signal_number) + ": disconnecting " +
            device->path() + "; finishing requests in flight");
  }
  Status status = device->Detach();
  // The kernel has sent NBD_CMD_DISC and shut its ends: the connections
  // finish what they read and close.
  if (!status.ok()) LogWarning(status.ToString());
  StopAll(&slots);
  return signal_number;
}

}  // namespace usbd::kernel
