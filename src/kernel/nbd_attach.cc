// NbdDevice: CONNECT / RECONFIGURE / DISCONNECT over generic netlink, and
// the ioctl interface as the fallback. Host helpers (module, sysfs, memory
// protection) are in nbd_host.cc.
#include "kernel/nbd_attach.h"

#include <fcntl.h>
#include <linux/nbd-netlink.h>
#include <linux/nbd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "kernel/nbd_host.h"
#include "util/log.h"

namespace usbd::kernel {
namespace {

constexpr int kBusyRetries = 10;  // a transient opener (udev's blkid)
constexpr auto kBusyPause = std::chrono::milliseconds(200);

std::string DevicePath(int index) { return "/dev/nbd" + std::to_string(index); }

// The one-line explanations of the errors an operator can fix.
Status Explain(const Status& status, int index, const std::string& what) {
  std::string device = index >= 0 ? DevicePath(index) : "an nbd device";
  switch (status.code()) {
    case EPERM:
    case EACCES:
      return Status::Error(status.code(), "attaching " + device +
                                              " needs root (CAP_SYS_ADMIN): " +
                                              what + ": " + status.message());
    case EBUSY:
      return Status::Error(EBUSY, device +
                                      " is busy (connected to another "
                                      "server, or open): " +
                                      status.message());
    case ENOENT:
    case ENXIO:
    case ENODEV:
      return Status::Error(
          status.code(), "no such device " + device + ": " + status.message());
    default:
      return status.WithContext(what + " " + device);
  }
}

uint64_t EffectiveFlags(const AttachOptions& options, size_t sockets) {
  uint64_t flags = options.server_flags | nbd::kTransHasFlags;
  if (sockets <= 1) flags &= ~nbd::kTransCanMultiConn;
  return flags;
}

Status CheckOptions(const AttachOptions& options, size_t sockets) {
  if (sockets == 0) return Status::Invalid("no socket to attach");
  USBD_RETURN_IF_ERROR(CheckKernelBlockSize(options.block_size));
  if (options.size == 0 || options.size % options.block_size != 0) {
    return Status::Invalid("device size " + std::to_string(options.size) +
                           " is not a positive multiple of the block size " +
                           std::to_string(options.block_size));
  }
  if (sockets > 1 && !(options.server_flags & nbd::kTransCanMultiConn)) {
    return Status::Invalid(
        "several connections need a server that allows multi-conn");
  }
  return Status::Ok();
}

}  // namespace

NetlinkMessage BuildNbdConnect(uint16_t family, uint8_t command,
                               const AttachOptions& options,
                               std::span<const int> fds) {
  NetlinkMessage message(family, command, NBD_GENL_VERSION);
  if (options.index >= 0) {
    message.PutU32(NBD_ATTR_INDEX, static_cast<uint32_t>(options.index));
  }
  if (command == NBD_CMD_CONNECT) {
    message.PutU64(NBD_ATTR_SIZE_BYTES, options.size);
    message.PutU64(NBD_ATTR_BLOCK_SIZE_BYTES, options.block_size);
    message.PutU64(NBD_ATTR_SERVER_FLAGS, EffectiveFlags(options, fds.size()));
    // Not on RECONFIGURE: the device keeps its settings, and a device that
    // turns out to be someone else's is left as it was.
    message.PutU64(NBD_ATTR_TIMEOUT, options.timeout_seconds);
    message.PutU64(NBD_ATTR_DEAD_CONN_TIMEOUT,
                   options.dead_conn_timeout_seconds);
  }
  // RECONFIGURE must repeat the identifier the device was connected with.
  if (!options.backend.empty()) {
    message.PutString(NBD_ATTR_BACKEND_IDENTIFIER, options.backend);
  }
  size_t sockets = message.BeginNested(NBD_ATTR_SOCKETS);
  for (int fd : fds) {
    size_t item = message.BeginNested(NBD_SOCK_ITEM);
    message.PutU32(NBD_SOCK_FD, static_cast<uint32_t>(fd));
    message.EndNested(item);
  }
  message.EndNested(sockets);
  return message;
}

NetlinkMessage BuildNbdDisconnect(uint16_t family, int index) {
  NetlinkMessage message(family, NBD_CMD_DISCONNECT, NBD_GENL_VERSION);
  message.PutU32(NBD_ATTR_INDEX, static_cast<uint32_t>(index));
  return message;
}

Result<int> ParseNbdConnectReply(std::span<const uint8_t> attributes) {
  Result<std::vector<NetlinkAttribute>> parsed = ParseAttributes(attributes);
  if (!parsed.ok()) return parsed.status();
  const NetlinkAttribute* index = FindAttribute(*parsed, NBD_ATTR_INDEX);
  if (index == nullptr || !index->U32()) {
    return Status::IoError("the kernel's CONNECT reply names no device");
  }
  return static_cast<int>(*index->U32());
}

Result<std::unique_ptr<NbdDevice>> NbdDevice::Attach(
    const AttachOptions& options, std::vector<Fd> sockets) {
  USBD_RETURN_IF_ERROR(CheckOptions(options, sockets.size()));
  USBD_RETURN_IF_ERROR(LoadNbdModule());
  std::unique_ptr<NbdDevice> device(new NbdDevice());
  device->index_ = options.index;
  if (options.index >= 0) {
    USBD_RETURN_IF_ERROR(device->Lock(options.lock_dir, true));
  }

  Status status;
  bool use_ioctl = options.interface == NbdInterface::kIoctl;
  if (!use_ioctl) {
    status = device->AttachNetlink(options, &sockets);
    if (status.code() == EAFNOSUPPORT &&
        options.interface == NbdInterface::kAuto) {
      LogInfo("the kernel has no nbd netlink interface: using the ioctls");
      use_ioctl = true;
    } else if (!status.ok()) {
      return status;
    }
  }
  if (use_ioctl) USBD_RETURN_IF_ERROR(device->AttachIoctl(options, &sockets));
  device->attached_ = true;
  if (options.index < 0) (void)device->Lock(options.lock_dir, false);
  if (options.max_sectors_kb > 0) {
    RaiseMaxSectors(device->index_, options.max_sectors_kb);
  }
  return device;
}

Status NbdDevice::Lock(const std::string& lock_dir, bool required) {
  if (lock_dir.empty()) return Status::Ok();
  ::mkdir(lock_dir.c_str(), 0755);
  std::string path = lock_dir + "/nbd" + std::to_string(index_) + ".lock";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    // No lock directory (not root, read-only /run): go on without one.
    LogDebug(ErrnoStatus("lock file " + path).ToString());
    return Status::Ok();
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (!required) return Status::Ok();
    char pid[32] = {};
    ssize_t n = ::pread(fd.get(), pid, sizeof pid - 1, 0);
    std::string owner = n > 0 ? std::string(pid, n) : "?";
    while (!owner.empty() && owner.back() == '\n') owner.pop_back();
    return Status::Error(EBUSY, DevicePath(index_) +
                                    " is busy: served by another usbd (pid " +
                                    owner + ", " + path + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  // The pid is only shown to a second usbd that finds the device busy; the
  // lock itself is what keeps it out, so a failed write is logged, not fatal.
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) !=
          static_cast<ssize_t>(pid.size())) {
    LogDebug(ErrnoStatus("write pid to lock file " + path).ToString());
  }
  lock_ = std::move(fd);
  return Status::Ok();
}

Status NbdDevice::AttachNetlink(const AttachOptions& options,
                                std::vector<Fd>* sockets) {
  Result<GenericNetlink> genl = GenericNetlink::Open();
  if (!genl.ok()) return genl.status();
  Result<uint16_t> family = genl->ResolveFamily(NBD_GENL_FAMILY_NAME);
  if (!family.ok()) {
    if (family.status().code() == ENOENT) {
      return Status::Error(EAFNOSUPPORT, "no generic netlink family nbd");
    }
    return family.status();
  }
  genl_.emplace(std::move(genl).value());
  family_ = *family;
  std::vector<int> fds;
  for (const Fd& fd : *sockets) fds.push_back(fd.get());

  Status status;
  for (int attempt = 0; attempt < kBusyRetries; ++attempt) {
    NetlinkMessage connect =
        BuildNbdConnect(family_, NBD_CMD_CONNECT, options, fds);
    Result<std::vector<uint8_t>> reply = genl_->Call(connect);
    if (reply.ok()) {
      Result<int> index = ParseNbdConnectReply(*reply);
      if (!index.ok()) return index.status();
      index_ = *index;
      netlink_ = true;
      sockets->clear();  // the kernel holds its own references now
      return Status::Ok();
    }
    status = reply.status();
    if (status.code() != EBUSY || options.index < 0) break;
    // Busy: left configured by a server that died (we hold the lock, so
    // it is no live usbd), or opened for a moment by someone.
    if (DeviceConnected(options.index)) {
      return Reconfigure(options, fds);
    }
    std::this_thread::sleep_for(kBusyPause);
  }
  if (status.code() == EINVAL) {
    return Status::Invalid(
        "the kernel refused to connect " + DevicePath(options.index) +
        " (size " + std::to_string(options.size) + ", block size " +
        std::to_string(options.block_size) + "): " + status.message());
  }
  return Explain(status, options.index, "netlink CONNECT");
}

Status NbdDevice::Reconfigure(const AttachOptions& options,
                              std::span<const int> fds) {
  int index = options.index;
  std::string device = DevicePath(index);
  const std::string hint =
      " (if its server is gone: nbd-client -d " + device + ")";
  uint64_t size = DeviceSizeBytes(index);
  std::string backend = DeviceBackend(index);
  if (size != options.size) {
    return Status::Error(EBUSY, device + " is busy: connected with size " +
                                    std::to_string(size) + ", not " +
                                    std::to_string(options.size) + hint);
  }
  if (!backend.empty() && !options.backend.empty() &&
      backend != options.backend) {
    return Status::Error(
        EBUSY, device + " is busy: connected to '" + backend + "'" + hint);
  }
  LogInfo(device + " is still connected, to a server that stopped?" +
          " trying to reattach");
  NetlinkMessage message =
      BuildNbdConnect(family_, NBD_CMD_RECONFIGURE, options, fds);
  Result<std::vector<uint8_t>> reply = genl_->Call(message);
  if (reply.status().code() == EINVAL) {
    // Not set up over netlink, or for another backend: someone else's.
    return Status::Error(EBUSY, device +
                                    " is busy: the kernel refused to "
                                    "reattach it (" +
                                    reply.status().message() + ")" + hint);
  }
  if (!reply.ok()) {
    return Explain(reply.status(), index, "netlink RECONFIGURE");
  }
  index_ = index;
  netlink_ = true;
  reattached_ = true;
  return Status::Ok();
}

Status NbdDevice::AttachIoctl(const AttachOptions& options,
                              std::vector<Fd>* sockets) {
  int index = options.index;
  if (index < 0) {
    index = FirstFreeDevice();
    if (index < 0) return Status::Error(EBUSY, "no free /dev/nbdX device");
    index_ = index;
    USBD_RETURN_IF_ERROR(Lock(options.lock_dir, true));
  }
  std::string path = DevicePath(index);
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Explain(ErrnoStatus("open " + path), index, "open");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    return Status::Error(ENODEV, path + " is not a block device");
  }
  const int d = fd.get();
  auto call = [&](unsigned long request, unsigned long arg,
                  const char* name) -> Status {
    if (::ioctl(d, request, arg) == 0) return Status::Ok();
    return Explain(ErrnoStatus(name), index, "ioctl");
  };
  USBD_RETURN_IF_ERROR(
      call(NBD_SET_BLKSIZE, options.block_size, "NBD_SET_BLKSIZE"));
  USBD_RETURN_IF_ERROR(call(NBD_SET_SIZE_BLOCKS,
                            options.size / options.block_size,
                            "NBD_SET_SIZE_BLOCKS"));
  USBD_RETURN_IF_ERROR(call(NBD_CLEAR_SOCK, 0, "NBD_CLEAR_SOCK"));
  USBD_RETURN_IF_ERROR(call(NBD_SET_FLAGS,
                            EffectiveFlags(options, sockets->size()),
                            "NBD_SET_FLAGS"));
  for (const Fd& socket : *sockets) {
    USBD_RETURN_IF_ERROR(call(NBD_SET_SOCK, static_cast<unsigned>(socket.get()),
                              "NBD_SET_SOCK"));
  }
  USBD_RETURN_IF_ERROR(
      call(NBD_SET_TIMEOUT, options.timeout_seconds, "NBD_SET_TIMEOUT"));
  sockets->clear();
  index_ = index;
  device_ = std::move(fd);
  // NBD_DO_IT starts the device and blocks until it is disconnected.
  do_it_ = std::thread([this] {
    if (::ioctl(device_.get(), NBD_DO_IT) != 0) do_it_error_ = errno;
    do_it_done_ = true;
  });
  for (int i = 0; i < 100 && !do_it_done_; ++i) {
    if (DeviceConnected(index)) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (DeviceConnected(index)) return Status::Ok();
  if (do_it_done_) {
    do_it_.join();
    (void)::ioctl(device_.get(), NBD_CLEAR_SOCK);
    device_.Reset();
    return Explain(ErrnoStatus("NBD_DO_IT", do_it_error_ ? do_it_error_ : EIO),
                   index, "ioctl");
  }
  // Still starting (slow machine): the device is being set up; go on.
  LogWarning(path + " did not report its server pid within 5 s");
  return Status::Ok();
}

Status NbdDevice::Detach() {
  if (!attached_) return Status::Ok();
  attached_ = false;
  Status status;
  if (netlink_ && !DeviceConnected(index_)) {
    // Disconnected from outside (nbd-client -d): nothing left to do.
  } else if (netlink_) {
    NetlinkMessage message = BuildNbdDisconnect(family_, index_);
    Result<std::vector<uint8_t>> reply = genl_->Call(message);
    if (!reply.ok()) status = Explain(reply.status(), index_, "disconnect");
  } else {
    if (::ioctl(device_.get(), NBD_DISCONNECT) != 0) {
      status = Explain(ErrnoStatus("NBD_DISCONNECT"), index_, "disconnect");
      // Shut the sockets down instead, so NBD_DO_IT returns.
      (void)::ioctl(device_.get(), NBD_CLEAR_SOCK);
    }
    if (do_it_.joinable()) do_it_.join();
    (void)::ioctl(device_.get(), NBD_CLEAR_SOCK);
    device_.Reset();
  }
  if (status.ok()) LogInfo("disconnected " + path());
  lock_.Reset();
  return status;
}

NbdDevice::~NbdDevice() {
  Status status = Detach();
  if (!status.ok()) LogWarning(status.ToString());
  if (do_it_.joinable()) do_it_.join();
}

}  // namespace usbd::kernel
