// usbd: a user-space block device served over NBD.
//
// main() parses the options, builds the layer stack, opens the listening
// socket, detaches (unless -f), starts the stack and serves until SIGTERM or
// SIGINT, then flushes and shuts the stack down.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "config/options.h"
#include "daemon/daemon.h"
#include "nbd/frontend.h"
#include "nbd/listen.h"
#include "nbd/server.h"
#include "store/stack.h"
#include "util/log.h"
#include "volume/volume_session.h"

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

int Run(Options options) {
  if (options.debug) SetLogLevel(LogLevel::kDebug);
  if (options.quiet) SetLogLevel(LogLevel::kWarning);
  if (options.test) options.bucket = AbsolutePath(options.bucket);
  if (options.listen.rfind("unix:", 0) == 0) {
    options.listen = "unix:" + AbsolutePath(options.listen.substr(5));
  }

  // Termination signals are read from a signalfd by the accept loop; block
  // them before any thread exists so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const bool object_store = options.store() == StoreKind::kS3 ||
                            options.store() == StoreKind::kHttp;
  if (options.erase || options.reset_mounted_flag) {
    return RunVolumeAction(options);
  }
  std::unique_ptr<VolumeSession> volume;
  if (object_store) {
    Result<std::unique_ptr<VolumeSession>> opened =
        VolumeSession::Open(&options);
    if (!opened.ok()) {
      LogError(opened.status().message());
      return 1;
    }
    volume = std::move(opened).value();
  }

  Result<std::unique_ptr<BlockStore>> stack = BuildStack(options);
  if (!stack.ok()) {
    LogError(stack.status().message());
    return 1;
  }
  std::unique_ptr<BlockStore> store = std::move(stack).value();

  Result<nbd::ListenSocket> listener = nbd::Listen(options.listen);
  if (!listener.ok()) {
    LogError(listener.status().ToString());
    return 1;
  }

  Daemon daemon;
  if (!options.foreground) {
    Status status = daemon.Detach();
    if (!status.ok()) {
      LogError(status.ToString());
      return 1;
    }
  }
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

  nbd::Frontend frontend(store.get());
  nbd::ServerOptions server_options;
  nbd::ExportInfo& info = server_options.export_info;
  info.name = options.export_name;
  info.description = "usbd volume " + options.export_name;
  info.size = frontend.size();
  info.preferred_block_size = frontend.block_size();
  info.read_only = options.read_only || frontend.capabilities().read_only;
  info.can_flush = frontend.capabilities().flush;
  info.can_trim = frontend.capabilities().trim;
  info.can_multi_conn = frontend.capabilities().multi_conn;
  info.can_fast_zero = frontend.capabilities().fast_zero;
  server_options.threads_per_connection = options.nbd_threads;

  LogInfo("serving " + options.export_name + " (" + HumanSize(info.size) +
          ", " + HumanSize(frontend.block_size()) + " blocks" +
          (info.read_only ? ", read-only" : "") + ") at " + listener->uri);
  daemon.Ready();

  Result<int> served =
      nbd::Serve(server_options, &frontend, listener->fd.get(), signal_fd);
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
  return exit_code;
}

}  // namespace
}  // namespace usbd

int main(int argc, char** argv) {
  usbd::Options options;
  usbd::Result<usbd::ParseAction> action =
      usbd::ParseOptions(argc, argv, std::cout, &options);
  if (!action.ok()) {
    std::fprintf(stderr, "usbd: %s\n", action.status().message().c_str());
    std::fprintf(stderr, "Try 'usbd --help' for more information.\n");
    return 2;
  }
  if (*action == usbd::ParseAction::kExit) return 0;
  return usbd::Run(std::move(options));
}
