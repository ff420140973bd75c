// A file descriptor owned by one object, and whole-buffer I/O helpers that
// retry short transfers and EINTR.
#ifndef USBD_UTIL_FD_H_
#define USBD_UTIL_FD_H_

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "util/status.h"

namespace usbd {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Reads exactly buf.size() bytes. EOF before that is ECONNRESET for a
// stream (the peer went away) and is reported as such.
Status ReadAll(int fd, std::span<uint8_t> buf);
Status WriteAll(int fd, std::span<const uint8_t> buf);
// Writes every byte of every iovec (the array is modified).
Status WritevAll(int fd, struct iovec* iov, int count);
Status PreadAll(int fd, std::span<uint8_t> buf, uint64_t offset);
Status PwriteAll(int fd, std::span<const uint8_t> buf, uint64_t offset);

// The directory part of `path`: "." without a '/', "/" for "/name".
std::string DirectoryOf(const std::string& path);

// Whether this process can create `path`: its directory exists, is a
// directory, and may be written and searched. Changes nothing. Messages
// start with `what` ("--listen: directory /run/x: No such file or
// directory").
Status CheckCanCreate(const std::string& path, const std::string& what);

// Replaces the file `path` with `content` so that a reader sees the old
// file or the new one whole, never a part: written to "PATH.tmp" and
// renamed over it. Not synced to disk: for files that readers poll (a pid
// file, statistics), not for data.
Status ReplaceFile(const std::string& path, std::string_view content);

}  // namespace usbd

#endif  // USBD_UTIL_FD_H_
