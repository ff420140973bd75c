#include "daemon/start_checks.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cache/cache_store.h"
#include "nbd/listen.h"
#include "util/log.h"

namespace usbd {
namespace {

std::string Mebibytes(uint64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

// --test: a directory that cannot be written serves reads only.
Status CheckStoreDirectory(const Options& o) {
  struct stat st;
  if (::stat(o.bucket.c_str(), &st) != 0) return Status::Ok();  // created
  if (!S_ISDIR(st.st_mode)) {
    return Status::Error(ENOTDIR,
                         "--test: " + o.bucket + " is not a directory");
  }
  if (::access(o.bucket.c_str(), W_OK | X_OK) == 0) return Status::Ok();
  const int err = errno;
  if (o.read_only) {
    LogWarning("--test: directory " + o.bucket + " is not writable (" +
               std::strerror(err) + "); serving it read-only (--readOnly)");
    return Status::Ok();
  }
  return Status::Error(err, "--test: directory " + o.bucket +
                                " is not writable (" + std::strerror(err) +
                                "); give --readOnly to serve it read-only");
}

// A file usbd opens read-write, creating it if needed.
Status CheckWritableFile(const std::string& path, const char* option) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      return Status::Error(
          EINVAL, std::string(option) + ": " + path + " is not a regular file");
    }
    if (::access(path.c_str(), R_OK | W_OK) != 0) {
      return ErrnoStatus(std::string(option) + ": cannot write " + path);
    }
    return Status::Ok();
  }
  if (errno != ENOENT) return ErrnoStatus(std::string(option) + ": " + path);
  return CheckCanCreate(path, option);
}

void WarnIfOthersMayRead(const std::string& path, const char* what) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return;
  if ((st.st_mode & 077) == 0) return;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
  LogWarning(std::string(what) + " " + path +
             " may be read by other users (mode " + mode +
             "); make it private: chmod 600 " + path);
}

}  // namespace

Status CheckBeforeStart(const Options& options) {
  WarnAboutExposure(options);
  if (options.store() == StoreKind::kDirectory) {
    USBD_RETURN_IF_ERROR(CheckStoreDirectory(options));
  }
  if (!options.block_cache_file.empty()) {
    USBD_RETURN_IF_ERROR(
        CheckWritableFile(options.block_cache_file, "--blockCacheFile"));
    USBD_RETURN_IF_ERROR(CheckWritableFile(options.block_cache_file + ".lmdb",
                                           "--blockCacheFile"));
    // With a block size known before the volume is read. Without
    // --blockSize, a remote volume's comes from its metadata or from
    // s3backer's blocks (often not the default), so main() checks only
    // once the volume is open (a volume it creates then stays created).
    const bool remote = options.store() == StoreKind::kS3 ||
                        options.store() == StoreKind::kHttp;
    if (options.block_size_given || !remote) {
      USBD_RETURN_IF_ERROR(CheckCacheSpace(options, options.block_size));
    }
  }
  if (!options.nbd) {
    USBD_RETURN_IF_ERROR(nbd::CheckListenAddress(options.listen));
  }
  const std::pair<const std::string&, const char*> files[] = {
      {options.pid_file, "--pidfile"},
      {options.stats_file, "--statsFilename"},
      {options.metrics_file, "--metricsFile"}};
  for (const auto& [path, option] : files) {
    if (!path.empty()) USBD_RETURN_IF_ERROR(CheckCanCreate(path, option));
  }
  return Status::Ok();
}

Status CheckCacheSpace(const Options& options, uint32_t block_size) {
  if (options.block_cache_file.empty()) return Status::Ok();
  const uint64_t slots = options.block_cache_size != 0
                             ? options.block_cache_size
                             : CacheOptions{}.block_cache_size;
  // The cache file's layout (cache_store.h): a 4 KiB header, then the slots.
  const uint64_t size = 4096 + slots * block_size;
  uint64_t missing = size;
  struct stat st;
  if (::stat(options.block_cache_file.c_str(), &st) == 0) {
    const uint64_t allocated = uint64_t{512} * st.st_blocks;
    missing = size > allocated ? size - allocated : 0;
  }
  if (missing == 0) return Status::Ok();
  const std::string dir = DirectoryOf(options.block_cache_file);
  struct statvfs fs;
  if (::statvfs(dir.c_str(), &fs) != 0) {
    return ErrnoStatus("--blockCacheFile: file system of " + dir);
  }
  // Blocks reserved for root are root's to use.
  const uint64_t free_blocks = ::geteuid() == 0 ? fs.f_bfree : fs.f_bavail;
  const uint64_t free_bytes = free_blocks * fs.f_frsize;
  if (missing <= free_bytes) return Status::Ok();
  return Status::Error(
      ENOSPC, "--blockCacheFile: " + options.block_cache_file + " needs " +
                  Mebibytes(missing) + " more (" + std::to_string(slots) +
                  " blocks of " + std::to_string(block_size >> 10) +
                  " KiB, --blockCacheSize) but its file system has " +
                  Mebibytes(free_bytes) +
                  " free; lower --blockCacheSize or free space");
}

void WarnAboutExposure(const Options& options) {
  if (!options.nbd && options.listen.rfind("tcp:", 0) == 0) {
    const std::string host_port = options.listen.substr(4);
    const std::string host = host_port.substr(0, host_port.rfind(':'));
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]" ||
        host == "*") {
      LogWarning("--listen=" + options.listen +
                 ": listening on every network interface, with neither TLS "
                 "nor authentication: anyone who can reach this port can "
                 "read and write the volume; prefer a unix socket or "
                 "tcp:127.0.0.1:PORT");
    }
  }
  if (options.encrypt) {
    WarnIfOthersMayRead(options.password_file, "--passwordFile");
  }
  if (options.store() == StoreKind::kS3 && options.access_key.empty() &&
      options.access_key_env.empty()) {  // else no access file is read
    if (!options.access_file.empty()) {
      WarnIfOthersMayRead(options.access_file, "--accessFile");
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      WarnIfOthersMayRead(std::string(home) + "/.s3backer_passwd",
                          "access file");
    }
  }
  if (options.store() == StoreKind::kHttp) {
    WarnIfOthersMayRead(options.http_header_file, "--httpHeaderFile");
  }
  for (const std::string& name : options.secrets_on_command_line) {
    const char* instead = name == "--accessKey"
                              ? "--accessKeyEnv or --accessFile"
                              : "--httpHeaderFile";
    LogWarning(name +
               " on the command line can be read by other users (ps, /proc) "
               "until usbd has started; prefer " +
               instead);
  }
}

}  // namespace usbd
