#include "daemon/captive.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "util/spawn.h"

extern char** environ;

namespace usbd {

Result<CaptiveCommand> CaptiveCommand::Start(
    const std::string& command, const CaptiveVariables& variables) {
  const std::pair<const char*, const std::string&> ours[] = {
      {"uri", variables.uri},
      {"nbd", variables.uri},
      {"unixsocket", variables.unix_socket},
      {"port", variables.port},
      {"exportname", variables.export_name}};
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    bool replaced = false;
    for (const auto& [name, value] : ours) {
      const size_t length = std::strlen(name);
      replaced |=
          std::strncmp(*entry, name, length) == 0 && (*entry)[length] == '=';
    }
    if (!replaced) environment.emplace_back(*entry);
  }
  for (const auto& [name, value] : ours) {
    environment.push_back(std::string(name) + "=" + value);
  }
  std::vector<const char*> envp;
  for (const std::string& entry : environment) envp.push_back(entry.c_str());
  envp.push_back(nullptr);

  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  Result<pid_t> pid = Spawn(argv, envp.data());
  if (!pid.ok()) return pid.status().WithContext("--run");
  // The child is not reaped before Wait(), so its PID cannot be reused:
  // the pidfd is the command's even if it has exited already.
  // (glibc 2.36's <sys/pidfd.h> lacks extern "C": the system call itself.)
  Fd exit_fd(static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0)));
  if (!exit_fd.valid()) {
    Status status = ErrnoStatus("--run: pidfd_open");
    ::kill(*pid, SIGTERM);
    (void)WaitExitStatus(*pid);
    return status;
  }
  return CaptiveCommand(*pid, std::move(exit_fd));
}

Result<int> CaptiveCommand::Wait() { return WaitExitStatus(pid_); }

Status ExitWithParent(pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
    return ErrnoStatus("--exit-with-parent: prctl(PR_SET_PDEATHSIG)");
  }
  // The parent may have exited before prctl(): we were reparented then.
  if (::getppid() != parent) ::kill(::getpid(), SIGTERM);
  return Status::Ok();
}

}  // namespace usbd
