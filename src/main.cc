// usbd: a user-space block device served over NBD.
//
// main() parses the options, builds the layer stack, opens the listening
// socket (or, with --nbd, nothing: the kernel gets socketpairs), detaches
// (unless -f), starts the stack and serves until SIGTERM or SIGINT, then
// flushes and shuts the stack down.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "config/options.h"
#include "crypto/secure_memory.h"
#include "daemon/captive.h"
#include "daemon/daemon.h"
#include "daemon/pid_file.h"
#include "daemon/start_checks.h"
#include "daemon/stats_report.h"
#include "kernel/kernel_server.h"
#include "kernel/notify.h"
#include "nbd/frontend.h"
#include "nbd/listen.h"
#include "nbd/server.h"
#include "stack/build_stack.h"
#include "stack/volume_session.h"
#include "util/log.h"

namespace usbd {
namespace {

std::string AbsolutePath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

std::string HumanSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.4g %s", value, kUnits[unit]);
  return text;
}

// `parent`: getppid() when main() started (--exit-with-parent).
int Run(Options options, pid_t parent) {
  if (options.debug) SetLogLevel(LogLevel::kDebug);
  if (options.quiet) SetLogLevel(LogLevel::kWarning);
  if (options.test) options.bucket = AbsolutePath(options.bucket);
  // Opened after detaching (chdir /); also the cache's identity in the
  // mount token.
  options.block_cache_file = AbsolutePath(options.block_cache_file);
  options.pid_file = AbsolutePath(options.pid_file);
  options.stats_file = AbsolutePath(options.stats_file);
  options.metrics_file = AbsolutePath(options.metrics_file);
  if (options.listen.rfind("unix:", 0) == 0) {
    options.listen = "unix:" + AbsolutePath(options.listen.substr(5));
  }

  // Termination signals are read from a signalfd by the accept loop; block
  // them before any thread exists so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // --nbd: SIGHUP reopens the logs (ServeKernel calls on_hangup) instead of
  // killing the process that serves a mounted device.
  // SIGQUIT disconnects a device that is still mounted (kernel/stop_policy.h).
  if (options.nbd) {
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGQUIT);
  }
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  BlockStatsSignal();  // SIGUSR1: log the counters (StatsReporter)
  ::signal(SIGPIPE, SIG_IGN);
  if (options.exit_with_parent) {
    if (Status status = ExitWithParent(parent); !status.ok()) {
      LogError(status.message());
      return 1;
    }
  }
  // A detached usbd is neither the parent of the --run command nor the
  // child of the process --exit-with-parent watches.
  const bool foreground =
      options.foreground || !options.run.empty() || options.exit_with_parent;

  if (options.erase || options.reset_mounted_flag) {
    return RunVolumeAction(options);
  }
  // Local paths and addresses first: a start that fails on one of them
  // must not have created the volume.
  if (Status checked = CheckBeforeStart(options); !checked.ok()) {
    LogError(checked.message());
    return 1;
  }
  // Every store: metadata (size, block size, encoding) and, with
  // --encrypt, the volume key; a wrong password stops here.
  std::unique_ptr<VolumeSession> volume;
  {
    Result<std::unique_ptr<VolumeSession>> opened =
        VolumeSession::Open(&options);
    if (!opened.ok()) {
      LogError(opened.status().message());
      return 1;
    }
    volume = std::move(opened).value();
  }
  Result<StackSpec> spec =
      StackSpecFor(options, volume->metadata(), volume->TakeEncryption(),
                   volume->S3backerBlocks());
  if (!spec.ok()) {
    LogError(spec.status().message());
    return 1;
  }
  // Again with the volume's block size, which may differ from the option's.
  if (Status space = CheckCacheSpace(options, spec->geometry.block_size);
      !space.ok()) {
    LogError(space.message());
    return 1;
  }

  Result<std::unique_ptr<BlockStore>> stack =
      BuildStack(options, std::move(spec).value());
  if (!stack.ok()) {
    LogError(stack.status().message());
    return 1;
  }
  std::unique_ptr<BlockStore> store = std::move(stack).value();

  Result<nbd::ListenSocket> listener =
      options.nbd ? Result<nbd::ListenSocket>(nbd::ListenSocket{})
                  : nbd::Listen(options.listen);
  if (!listener.ok()) {
    LogError(listener.status().ToString());
    return 1;
  }

  Daemon daemon;
  if (!foreground) {
    Status status = daemon.Detach();
    if (!status.ok()) {
      LogError(status.ToString());
      return 1;
    }
  }
  // Serving our own kernel device: guard against the memory-reclaim
  // deadlock. After the fork (mlockall is not inherited), before any
  // thread starts (threads inherit PR_SET_IO_FLUSHER).
  if (options.nbd) kernel::ProtectFromMemoryDeadlock(/*lock_memory=*/true);
  int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);
  Status status = signal_fd < 0 ? ErrnoStatus("signalfd") : Status::Ok();
  if (status.ok() && volume) status = volume->AcquireMountToken();
  if (status.ok()) status = store->Start();
  if (!status.ok()) {
    std::string message = "cannot start: " + status.message();
    LogError(message);
    daemon.Failed(message);
    if (volume) (void)volume->Release();
    if (!listener->unix_path.empty()) ::unlink(listener->unix_path.c_str());
    return 1;
  }

  // Destroyed in the reverse order: the statistics files are written a
  // last time before the pid file goes.
  PidFile pid_file;
  StatsReporter stats_reporter(
      store.get(), {.stats_file = options.stats_file,
                    .metrics_file = options.metrics_file,
                    .volume = options.export_name,
                    .interval_seconds = options.stats_interval_secs});
  nbd::Frontend frontend(store.get());
  nbd::ServerOptions server_options;
  nbd::ExportInfo& info = server_options.export_info;
  info.name = options.export_name;
  info.description = "usbd volume " + options.export_name;
  info.size = frontend.size();
  info.preferred_block_size = frontend.block_size();
  info.read_only = options.read_only || frontend.capabilities().read_only;
  // FLUSH and FUA are always offered: over a store whose writes are
  // durable on return (S3, HTTP) they cost nothing, and clients such as
  // `nbdcopy --flush` and the kernel's write cache depend on them.
  info.can_flush = true;
  info.can_trim = frontend.capabilities().trim;
  info.can_multi_conn = frontend.capabilities().multi_conn;
  info.can_fast_zero = frontend.capabilities().fast_zero;
  server_options.threads_per_connection = options.nbd_threads;

  const std::string description = options.export_name + " (" +
                                  HumanSize(info.size) + ", " +
                                  HumanSize(frontend.block_size()) + " blocks" +
                                  (info.read_only ? ", read-only" : "") + ")";
  // Once clients can connect: the log line, `printed` on stdout (before
  // Ready() sends stdout to /dev/null), --pidfile, the waiting parent and
  // systemd. `where`: "at URI" or "on /dev/nbdX".
  auto announce = [&](const std::string& where, const std::string& printed) {
    LogInfo("serving " + description + " " + where);
    if (!printed.empty()) std::printf("%s\n", printed.c_str());
    std::fflush(stdout);
    if (!options.pid_file.empty()) {
      Result<PidFile> written = PidFile::Write(options.pid_file);
      if (written.ok()) {
        pid_file = std::move(written).value();
      } else {
        LogError(written.status().message());
      }
    }
    daemon.Ready();
    NotifyReady("serving " + options.export_name + " " + where);
  };
  Result<int> served = 0;
  std::optional<CaptiveCommand> command;  // --run
  if (options.nbd) {
    kernel::KernelServeOptions kernel_options;
    kernel_options.target = options.target;
    kernel_options.connections = options.nbd_connections;
    kernel_options.threads_per_connection = options.nbd_threads;
    kernel_options.block_size = static_cast<uint32_t>(options.nbd_block_size);
    // s3backer served its volumes as a file on a loop device (512-byte
    // sectors), so their file systems may have blocks smaller than the
    // 4096 default, which the kernel would refuse to mount.
    if (kernel_options.block_size == 0 && volume &&
        volume->metadata().AdoptedFrom() == "s3backer") {
      kernel_options.block_size = 512;
    }
    kernel_options.timeout_seconds = options.nbd_timeout;
    kernel_options.dead_conn_timeout_seconds = options.nbd_dead_conn_timeout;
    if (options.nbd_ioctl) {
      kernel_options.interface = kernel::NbdInterface::kIoctl;
    }
    kernel_options.on_hangup = [] { LogInfo("SIGHUP: logs reopened"); };
    bool ready = false;
    served = kernel::ServeKernel(
        kernel_options, info, &frontend, signal_fd,
        [&](const std::string& device) {
          // Without TARGET the kernel picked the device: say which.
          announce("on " + device, options.target.empty() ? device : "");
          ready = true;
        });
    if (!served.ok() && !ready) {
      std::string message = "cannot attach: " + served.status().message();
      LogError(message);
      daemon.Failed(message);
      (void)store->Shutdown();
      if (volume) (void)volume->Release();
      ::close(signal_fd);
      return 1;
    }
  } else {
    const std::string uri = nbd::NbdUri(*listener, options.export_name);
    announce("at " + uri, options.print_uri ? uri : "");
    if (!options.run.empty()) {
      Result<CaptiveCommand> started = CaptiveCommand::Start(
          options.run,
          {.uri = uri,
           .unix_socket = listener->unix_path,
           .port = listener->tcp_port != 0 ? std::to_string(listener->tcp_port)
                                           : "",
           .export_name = options.export_name});
      if (started.ok()) {
        command.emplace(std::move(started).value());
        server_options.stop_fd = command->exit_fd();
      } else {
        served = started.status();
      }
    }
    if (served.ok()) {
      served =
          nbd::Serve(server_options, &frontend, listener->fd.get(), signal_fd);
    }
  }
  NotifyStopping("stopping: uploading dirty blocks");
  if (!listener->unix_path.empty()) ::unlink(listener->unix_path.c_str());
  int exit_code = 0;
  if (!served.ok()) {
    LogError(served.status().ToString());
    exit_code = 1;
  }
  status = store->Shutdown();
  if (!status.ok()) {
    LogError("shutdown: " + status.ToString());
    exit_code = 1;
  } else {
    LogInfo("stopped; all data flushed");
  }
  if (volume) {
    status = volume->Release();
    if (!status.ok()) {
      LogError("mount token: " + status.message());
      exit_code = 1;
    }
  }
  ::close(signal_fd);
  // --run: the command's status when it is not 0; usbd's own (1 if the
  // flush failed) when it is. Not when a signal stopped usbd first: the
  // command is left running.
  if (command && served.ok() && *served == 0) {
    Result<int> command_status = command->Wait();
    if (!command_status.ok()) {
      LogError(command_status.status().ToString());
      return 1;
    }
    LogInfo("--run: the command exited with status " +
            std::to_string(*command_status));
    if (*command_status != 0) exit_code = *command_status;
  }
  return exit_code;
}

}  // namespace
}  // namespace usbd

int main(int argc, char** argv) {
  const pid_t parent = ::getppid();  // before anything can outlive it
  // Under systemd, before the first line: the journal takes priorities
  // from "<N>" prefixes and adds "usbd[PID]:" itself.
  usbd::LogToJournalIfConnected();
  // Before anything uses OpenSSL or libcurl: their memory (cipher contexts,
  // signing keys, request headers) is then left out of core dumps.
  usbd::Status secure = usbd::InstallSecureAllocators();
  if (!secure.ok()) {
    usbd::LogError(secure.message());
    return 1;
  }
  usbd::Options options;
  usbd::Result<usbd::ParseAction> action =
      usbd::ParseOptions(argc, argv, std::cout, &options);
  if (!action.ok()) {  // as every start-up error: one log line, status 1
    usbd::LogError(action.status().message());
    // A hint for a terminal; in the journal it would be a line of its own.
    if (!usbd::LoggingToJournal()) {
      std::fprintf(stderr, "Try 'usbd --help' for more information.\n");
    }
    return 1;
  }
  if (*action == usbd::ParseAction::kExit) return 0;
  return usbd::Run(std::move(options), parent);
}
