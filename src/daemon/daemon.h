// Running in the background: Detach() forks; the parent waits until the child
// reports that it is serving (Ready) or that it failed (Failed), then exits
// with 0 or 1, so `usbd ...; nbdinfo ...` in a script just works and start
// errors still reach the terminal.
#ifndef USBD_DAEMON_DAEMON_H_
#define USBD_DAEMON_DAEMON_H_

#include <string>

#include "util/fd.h"
#include "util/status.h"

namespace usbd {

class Daemon {
 public:
  // Call before any thread exists. Returns only in the child.
  Status Detach();
  // Child: tells the waiting parent to exit 0; moves logging to syslog and
  // stdio to /dev/null. No-op when not detached.
  void Ready();
  // Child: tells the waiting parent to print `message` and exit 1.
  void Failed(const std::string& message);

 private:
  Fd report_;  // write end of the pipe to the waiting parent
};

}  // namespace usbd

#endif  // USBD_DAEMON_DAEMON_H_
