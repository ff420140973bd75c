// Starting other programs from a daemon whose signal settings are its own.
#ifndef USBD_UTIL_SPAWN_H_
#define USBD_UTIL_SPAWN_H_

#include <sys/types.h>

#include "util/status.h"

namespace usbd {

// Starts argv[0] (looked up in PATH, as execvp) with `envp` (nullptr: this
// process's environment). The child starts with no blocked signals and
// SIGPIPE at its default, whatever usbd set for itself (usbd blocks the
// signals its signalfd reads and ignores SIGPIPE), with usbd's stdin,
// stdout and stderr and no other descriptor of usbd's. The caller reaps it
// (waitpid). Safe to call from any thread.
Result<pid_t> Spawn(const char* const* argv, const char* const* envp = nullptr);

// Waits for `pid` and returns its status as the shell's $? gives it: the
// exit status, or 128 + the number of the signal that killed it.
Result<int> WaitExitStatus(pid_t pid);

}  // namespace usbd

#endif  // USBD_UTIL_SPAWN_H_
