// nbdkit's two ways of tying a server's life to another process
// (nbdkit-captive(1)), in usbd:
//  - --run CMD: usbd starts CMD once it serves and stops when CMD exits;
//  - --exit-with-parent: usbd stops when the process that started it exits.
// Either way usbd stops as on SIGTERM: the requests in flight finish and
// every written block is flushed to the store before it exits. Both imply
// --foreground: a detached usbd would no longer be the parent of CMD, nor
// the child of its starter.
#ifndef USBD_DAEMON_CAPTIVE_H_
#define USBD_DAEMON_CAPTIVE_H_

#include <sys/types.h>

#include <string>

#include "util/fd.h"
#include "util/status.h"

namespace usbd {

// What --run's command finds in its environment (as nbdkit sets them):
// $uri and $nbd, the export's NBD URI; $unixsocket, the socket's path, or
// ""; $port, the TCP port, or ""; $exportname.
struct CaptiveVariables {
  std::string uri;
  std::string unix_socket;
  std::string port;
  std::string export_name;
};

// The --run command. Not thread-safe; used by main() only.
class CaptiveCommand {
 public:
  // Starts `/bin/sh -c command` with this process's environment plus
  // `variables` (replacing any of those names), usbd's stdin, stdout and
  // stderr, and the signal settings of util/spawn.h.
  static Result<CaptiveCommand> Start(const std::string& command,
                                      const CaptiveVariables& variables);

  // Readable once the command has exited (a pidfd): what the serving loop
  // polls (nbd::ServerOptions::stop_fd).
  int exit_fd() const { return exit_fd_.get(); }
  // Waits for the command to exit and reaps it: its status as the shell's
  // $? (128 + N when killed by signal N). A command not waited for (usbd
  // stopped first, by a signal) is left running.
  Result<int> Wait();

 private:
  CaptiveCommand(pid_t pid, Fd exit_fd)
      : pid_(pid), exit_fd_(std::move(exit_fd)) {}
  pid_t pid_;
  Fd exit_fd_;
};

// --exit-with-parent: SIGTERM for this process when `parent` (getppid()
// when main() started) exits, with prctl(PR_SET_PDEATHSIG); if it has
// exited already, SIGTERM now. The signal is then pending until the
// serving loop reads it from its signalfd, so it also stops a usbd that
// is still starting, once it serves. Call from the main thread before
// any other thread exists.
Status ExitWithParent(pid_t parent);

}  // namespace usbd

#endif  // USBD_DAEMON_CAPTIVE_H_
