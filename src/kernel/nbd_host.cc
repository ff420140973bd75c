// Host helpers for the kernel NBD driver: target names, block sizes, the
// module, sysfs, mounts, and the memory-deadlock remedies.
#include "kernel/nbd_host.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "kernel/nbd_attach.h"
#include "util/log.h"
#include "util/spawn.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

namespace usbd::kernel {
namespace {

std::string SysBlock(int index) {
  return "/sys/block/nbd" + std::to_string(index);
}

// The first line of a small file, or "" when it cannot be read.
std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  return line;
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  if (!out) return false;
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

uint64_t ReadNumber(const std::string& path) {
  std::string line = ReadLine(path);
  if (line.empty()) return 0;
  return std::strtoull(line.c_str(), nullptr, 10);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Runs `argv` and returns its exit status (or -1 when it cannot run or
// was killed).
int Run(const char* const* argv) {
  Result<pid_t> pid = Spawn(argv);
  if (!pid.ok()) return -1;
  Result<int> status = WaitExitStatus(*pid);
  return status.ok() && *status < 128 ? *status : -1;
}

}  // namespace

Result<int> ParseNbdTarget(const std::string& target) {
  if (target.empty()) return -1;
  std::string name = target;
  if (name.rfind("/dev/", 0) == 0) name = name.substr(5);
  if (name.rfind("nbd", 0) == 0) name = name.substr(3);
  if (name.empty() || name.size() > 6 ||
      !std::all_of(name.begin(), name.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return Status::Invalid("TARGET '" + target +
                           "' is not an NBD device (/dev/nbdN)");
  }
  return std::stoi(name);
}

Status CheckKernelBlockSize(uint32_t block_size) {
  long page = ::sysconf(_SC_PAGESIZE);
  uint32_t max = std::min<uint32_t>(4096, page > 0 ? page : 4096);
  if (block_size < 512 || block_size > max ||
      (block_size & (block_size - 1)) != 0) {
    return Status::Invalid("kernel block size " + std::to_string(block_size) +
                           " is not a power of two from 512 to " +
                           std::to_string(max));
  }
  return Status::Ok();
}

uint32_t DefaultKernelBlockSize(uint32_t object_block_size) {
  uint32_t size = 4096;
  while (size > 512 &&
         (size > object_block_size || !CheckKernelBlockSize(size).ok())) {
    size /= 2;
  }
  return size;
}

Status LoadNbdModule() {
  if (Exists("/sys/module/nbd")) return Status::Ok();
  const char* argv[] = {"modprobe", "nbd", nullptr};
  int status = Run(argv);
  if (Exists("/sys/module/nbd")) {
    LogInfo("loaded the nbd kernel module");
    return Status::Ok();
  }
  std::string why =
      status < 0 ? "modprobe could not be run"
                 : "modprobe nbd exited with status " + std::to_string(status);
  if (::geteuid() != 0) why += " (not root)";
  return Status::Error(ENODEV,
                       "the kernel's nbd driver is not available: " + why +
                           "; install the kernel's modules (nbd.ko) or serve "
                           "over --listen instead of --nbd");
}

void ProtectFromMemoryDeadlock(bool lock_memory) {
  // Memory reclaim by our threads must not wait for I/O to the device we
  // serve (which would wait for us).
  if (::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) != 0) {
    LogWarning(ErrnoStatus("prctl(PR_SET_IO_FLUSHER)").message() +
               ": memory reclaim may deadlock on the device (needs "
               "CAP_SYS_RESOURCE and Linux >= 5.6)");
  }
  if (lock_memory) {
    // MCL_ONFAULT: lock pages as they are touched, without populating
    // every mapping (thread stacks, LMDB's map) at once.
    if (::mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
      LogWarning(ErrnoStatus("mlockall").message() +
                 ": usbd's memory may be swapped out under pressure");
    }
  }
  if (!WriteText("/proc/self/oom_score_adj", "-1000\n")) {
    LogWarning(
        "cannot set oom_score_adj to -1000: the OOM killer may "
        "pick usbd");
  }
}

std::string MountPointOf(int index) {
  // The device numbers of nbdINDEX and of its partitions.
  std::set<std::string> numbers;
  std::string base = SysBlock(index);
  std::string own = ReadLine(base + "/dev");
  if (own.empty()) return "";
  numbers.insert(own);
  std::string prefix = "nbd" + std::to_string(index) + "p";
  if (DIR* dir = ::opendir(base.c_str())) {
    while (struct dirent* entry = ::readdir(dir)) {
      if (std::strncmp(entry->d_name, prefix.c_str(), prefix.size()) == 0) {
        std::string number = ReadLine(base + "/" + entry->d_name + "/dev");
        if (!number.empty()) numbers.insert(number);
      }
    }
    ::closedir(dir);
  }
  // /proc/self/mountinfo: id parent major:minor root mount-point ...
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mountinfo, line)) {
    std::istringstream fields(line);
    std::string id, parent, number, root, mount_point;
    if (!(fields >> id >> parent >> number >> root >> mount_point)) continue;
    if (numbers.count(number)) return mount_point;
  }
  return "";
}

std::string DeviceInUse(int index) {
  std::string mount_point = MountPointOf(index);
  if (!mount_point.empty()) return "mounted on " + mount_point;
  // A mounted file system (in any mount namespace), device-mapper, md and
  // swap all claim the device exclusively; so does a partition's user.
  std::string path = "/dev/nbd" + std::to_string(index);
  int fd = ::open(path.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) {
    ::close(fd);
    return "";
  }
  if (errno == EBUSY) {
    return "in use (held exclusively: mounted in another mount namespace, "
           "or used by device-mapper, md or swap)";
  }
  return "";
}

bool DeviceConnected(int index) { return Exists(SysBlock(index) + "/pid"); }

uint64_t DeviceSizeBytes(int index) {
  return ReadNumber(SysBlock(index) + "/size") * 512;
}

std::string DeviceBackend(int index) {
  return ReadLine(SysBlock(index) + "/backend");
}

int FirstFreeDevice() {
  for (int index = 0; index < 1024; ++index) {
    if (!Exists("/dev/nbd" + std::to_string(index))) {
      if (!Exists(SysBlock(index))) return -1;  // past the last device
      continue;
    }
    if (!DeviceConnected(index) && DeviceSizeBytes(index) == 0) return index;
  }
  return -1;
}

void RaiseMaxSectors(int index, uint32_t kb) {
  std::string queue = SysBlock(index) + "/queue/";
  uint64_t current = ReadNumber(queue + "max_sectors_kb");
  uint64_t hardware = ReadNumber(queue + "max_hw_sectors_kb");
  uint64_t target = hardware > 0 ? std::min<uint64_t>(kb, hardware) : kb;
  if (current == 0 || target <= current) return;
  if (WriteText(queue + "max_sectors_kb", std::to_string(target) + "\n")) {
    LogDebug("nbd" + std::to_string(index) + ": max_sectors_kb " +
             std::to_string(current) + " -> " + std::to_string(target));
  } else {
    LogDebug("nbd" + std::to_string(index) + ": cannot raise max_sectors_kb");
  }
}

}  // namespace usbd::kernel
