// Attaching the kernel's NBD driver (/dev/nbdX) to sockets we serve.
//
// The caller makes one socketpair(AF_UNIX, SOCK_STREAM) per connection,
// serves one end of each (already in the transmission phase) and hands the
// other ends to Attach(), which gives them to the kernel:
//   - over generic netlink (family "nbd", kernels >= 4.12): NBD_CMD_CONNECT
//     with the size, block size, server flags, timeouts and the sockets; the
//     kernel picks a free device when no index is given and names it in its
//     reply. When the device is still configured from a server that died
//     (kill -9), NBD_CMD_RECONFIGURE replaces its dead sockets with ours, so
//     a mounted file system carries on (within the dead-connection timeout);
//   - or with the old ioctls (NBD_SET_SOCK ..., NBD_DO_IT in a thread), when
//     the kernel has no netlink interface or it is asked for.
// Detach() (or the destructor) disconnects the device.
//
// Needs root (CAP_SYS_ADMIN). Errors are one clear line: no nbd module,
// not root, device busy, no such device.
#ifndef USBD_KERNEL_NBD_ATTACH_H_
#define USBD_KERNEL_NBD_ATTACH_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "kernel/netlink.h"
#include "nbd/protocol.h"
#include "util/fd.h"
#include "util/status.h"

namespace usbd::kernel {

enum class NbdInterface {
  kAuto,     // netlink, or the ioctls when the kernel has no netlink family
  kNetlink,  // netlink only
  kIoctl,    // the ioctls only
};

struct AttachOptions {
  int index = -1;     // /dev/nbdINDEX; -1: the first free device
  uint64_t size = 0;  // bytes, a multiple of block_size
  // The kernel's logical block size: a power of two, 512 to 4096 (and at
  // most the page size). Keep it the same for the life of a volume: some
  // file systems (xfs) do not mount on a device with larger sectors.
  uint32_t block_size = 4096;
  // nbd::kTrans* bits (the wire's transmission flags). HAS_FLAGS is added;
  // CAN_MULTI_CONN is required for more than one socket. Include SEND_FLUSH, or
  // the kernel disables its write cache and never sends FLUSH.
  uint64_t server_flags = 0;
  uint32_t timeout_seconds = 0;  // per request; 0: never give up
  // How long requests wait for a dead server to come back (RECONFIGURE,
  // i.e. usbd restarted) before they fail with EIO; 0: fail at once.
  uint32_t dead_conn_timeout_seconds = 0;
  // Raise /sys/block/nbdX/queue/max_sectors_kb to this (bounded by
  // max_hw_sectors_kb) when it is lower; 0: leave it.
  uint32_t max_sectors_kb = 0;
  // Shown in /sys/block/nbdX/backend (netlink, Linux >= 5.16); a restarted
  // usbd reattaches only to a device with the same identifier.
  std::string backend;
  NbdInterface interface = NbdInterface::kAuto;
  // Directory for the per-device lock files (a live usbd holds
  // DIR/nbdX.lock); "" disables locking.
  std::string lock_dir = "/run/usbd";
};

// "/dev/nbd3", "nbd3" or "3" -> 3; "" -> -1 (any free device). EINVAL for
// anything else.
Result<int> ParseNbdTarget(const std::string& target);
// EINVAL unless a power of two from 512 to min(4096, page size).
Status CheckKernelBlockSize(uint32_t block_size);
// The largest valid kernel block size not above `object_block_size`.
uint32_t DefaultKernelBlockSize(uint32_t object_block_size);

// Loads the nbd module (modprobe nbd) unless /sys/module/nbd exists.
Status LoadNbdModule();

// The remedies against the deadlock of serving one's own block device under
// memory pressure: PR_SET_IO_FLUSHER, mlockall(MCL_CURRENT | MCL_FUTURE |
// MCL_ONFAULT) when `lock_memory`, oom_score_adj -1000. Each one that fails
// (not root, old kernel) is a warning, not an error. Call it in the main
// thread before any other thread starts (threads inherit IO_FLUSHER) and
// after any fork (mlockall does not survive fork).
void ProtectFromMemoryDeadlock(bool lock_memory);

// Where /dev/nbdINDEX (or one of its partitions) is mounted, or "".
std::string MountPointOf(int index);
// Why /dev/nbdINDEX must not be disconnected now, or "" when it is free:
// it (or a partition) is mounted in our mount namespace (named), or an
// exclusive open of it fails with EBUSY (mounted in another namespace, or
// held by device-mapper, md or swap). Opening does no I/O.
std::string DeviceInUse(int index);

// Netlink messages (exposed for the unit tests). `command` is
// NBD_CMD_CONNECT or NBD_CMD_RECONFIGURE.
NetlinkMessage BuildNbdConnect(uint16_t family, uint8_t command,
                               const AttachOptions& options,
                               std::span<const int> fds);
NetlinkMessage BuildNbdDisconnect(uint16_t family, int index);
// The device index in a CONNECT reply's attributes.
Result<int> ParseNbdConnectReply(std::span<const uint8_t> attributes);

class NbdDevice {
 public:
  // Hands `sockets` (the kernel's ends) to the kernel; our copies are
  // closed on return. The other ends must already be served: the kernel
  // reads the partition table at once.
  static Result<std::unique_ptr<NbdDevice>> Attach(const AttachOptions& options,
                                                   std::vector<Fd> sockets);

  ~NbdDevice();
  NbdDevice(const NbdDevice&) = delete;
  NbdDevice& operator=(const NbdDevice&) = delete;

  int index() const { return index_; }
  std::string path() const { return "/dev/nbd" + std::to_string(index_); }
  // "netlink" or "ioctl".
  const char* interface_name() const { return netlink_ ? "netlink" : "ioctl"; }
  // True when we replaced the dead sockets of a device left configured by
  // a server that died (its file system may still be mounted).
  bool reattached() const { return reattached_; }

  // Disconnects the device: the kernel sends NBD_CMD_DISC and closes its
  // ends. Idempotent.
  Status Detach();
  // Leaves the device as it is (no disconnect): for a reattach that found
  // the device's server alive after all.
  void Abandon() { attached_ = false; }

 private:
  NbdDevice() = default;
  Status AttachNetlink(const AttachOptions& options, std::vector<Fd>* sockets);
  Status Reconfigure(const AttachOptions& options, std::span<const int> fds);
  Status AttachIoctl(const AttachOptions& options, std::vector<Fd>* sockets);
  Status Lock(const std::string& lock_dir, bool required);

  int index_ = -1;
  bool netlink_ = false;
  bool reattached_ = false;
  bool attached_ = false;
  std::optional<GenericNetlink> genl_;
  uint16_t family_ = 0;
  Fd device_;          // ioctl: the open /dev/nbdX
  Fd lock_;            // the held lock file
  std::thread do_it_;  // ioctl: the thread blocked in NBD_DO_IT
  std::atomic<bool> do_it_done_{false};
  int do_it_error_ = 0;
};

}  // namespace usbd::kernel

#endif  // USBD_KERNEL_NBD_ATTACH_H_
