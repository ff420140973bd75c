// --pidfile: a file holding usbd's PID, for scripts and service managers
// that start usbd and later signal it. Written once usbd serves (after it
// detached: the PID is the daemon's), so a file that exists names a usbd
// that accepts connections; removed when usbd stops, unless another
// process has written its own PID there meanwhile. After a kill -9 the
// file stays, naming a dead process.
#ifndef USBD_DAEMON_PID_FILE_H_
#define USBD_DAEMON_PID_FILE_H_

#include <string>

#include "util/status.h"

namespace usbd {

class PidFile {
 public:
  PidFile() = default;  // no file
  // Writes "PID\n" to `path`, replacing any file there in one rename.
  static Result<PidFile> Write(const std::string& path);
  PidFile(PidFile&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  PidFile& operator=(PidFile&& other) noexcept;
  ~PidFile() { Remove(); }

  // Removes the file if it still holds this process's PID.
  void Remove();

 private:
  explicit PidFile(std::string path) : path_(std::move(path)) {}
  std::string path_;  // empty: nothing to remove
};

}  // namespace usbd

#endif  // USBD_DAEMON_PID_FILE_H_
