// `usbd --nbd`: serves the volume through the kernel's NBD driver, with no
// helper process and no network socket.
//
// For each connection: a socketpair(AF_UNIX, SOCK_STREAM). Our end is an
// ordinary nbd::Connection (handshake, then the transmission phase); on the
// kernel's end we speak the client side of the handshake ourselves
// (NBD_OPT_EXPORT_NAME, no structured replies: the kernel only knows simple
// replies), then hand it to the kernel with NbdDevice::Attach. The kernel's
// transmission flags are the ones the handshake gave, so what the kernel is
// told and what the server does cannot differ.
//
// Shutdown (a signal on signal_fd): once the device is not in use (see
// stop_policy.h: a mounted device is served on until it is unmounted, or a
// second signal or SIGQUIT forces it), disconnect the device (the kernel
// sends NBD_CMD_DISC on every socket), let the requests in flight finish,
// wait for every connection to close, and return; the caller then flushes
// the store.
#ifndef USBD_KERNEL_KERNEL_SERVER_H_
#define USBD_KERNEL_KERNEL_SERVER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "kernel/nbd_attach.h"
#include "nbd/frontend.h"
#include "nbd/handshake.h"
#include "util/fd.h"
#include "util/status.h"

namespace usbd::kernel {

struct KernelServeOptions {
  // "/dev/nbdN", "nbdN" or "" (the kernel picks a free device).
  std::string target;
  unsigned connections = 0;  // 0: DefaultConnections()
  unsigned threads_per_connection = 8;
  // The kernel's logical block size; 0: DefaultKernelBlockSize() of the
  // export's preferred block size (4096 for object blocks >= 4 KiB).
  uint32_t block_size = 0;
  uint32_t timeout_seconds = 0;              // see AttachOptions
  uint32_t dead_conn_timeout_seconds = 600;  // see AttachOptions
  NbdInterface interface = NbdInterface::kAuto;
  std::string lock_dir = "/run/usbd";
  // Called on SIGHUP (when the signalfd includes it), which does not stop
  // serving: reopen the logs. Null: SIGHUP is logged and ignored.
  std::function<void()> on_hangup;
};

// min(4, number of CPUs): one blk-mq hardware queue per connection.
unsigned DefaultConnections();

// The client side of the fixed newstyle handshake on `fd`, asking for
// `export_name` with NBD_OPT_EXPORT_NAME. Returns the export's size and
// transmission flags.
struct ClientHandshake {
  uint64_t size = 0;
  uint16_t transmission_flags = 0;
};
Result<ClientHandshake> NegotiateAsClient(int fd,
                                          const std::string& export_name);

// Serves `frontend` on a kernel NBD device until a signal other than SIGHUP
// that StopPolicy obeys is read from `signal_fd` (a signalfd: SIGTERM,
// SIGINT, SIGQUIT), or the device is disconnected from outside
// (`nbd-client -d`). Calls `on_ready(device_path)` once the device is usable.
// Returns the signal number (0: disconnected from outside). The device is
// disconnected and every connection closed when it returns.
Result<int> ServeKernel(
    const KernelServeOptions& options, const nbd::ExportInfo& info,
    nbd::Frontend* frontend, int signal_fd,
    const std::function<void(const std::string& device)>& on_ready);

}  // namespace usbd::kernel

#endif  // USBD_KERNEL_KERNEL_SERVER_H_
