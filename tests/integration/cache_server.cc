// A test harness for the block cache until usbd's options table takes the
// cache options: the real directory store, zero layer, block cache, NBD
// frontend and server, on a unix socket, stopped by SIGTERM/SIGINT like
// usbd (the cache uploads its dirty blocks, then it exits 0). It accepts
// usbd's option names for what it supports:
//
//   cache_server --listen=unix:PATH --size=BYTES [--blockSize=BYTES]
//       [--uuid=ID] [--blockCacheFile=PATH] [--blockCacheSize=BLOCKS]
//       [--blockCacheWriteDelay=MS] [--blockCacheThreads=N]
//       [--blockCacheMaxDirty=BLOCKS] [--blockCacheSync]
//       [--blockCacheNumProtected=BLOCKS] [--blockCacheTimeout=MS]
//       [--readAhead=BLOCKS] [--readAheadTrigger=BLOCKS] [--debug]
//       STORE_DIRECTORY
#include <getopt.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cache/cache_store.h"
#include "nbd/frontend.h"
#include "nbd/listen.h"
#include "nbd/server.h"
#include "store/dir_store.h"
#include "store/zero_store.h"
#include "util/log.h"

namespace usbd {
namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: cache_server --listen=unix:PATH --size=BYTES "
               "[cache options] STORE_DIRECTORY\n");
  return 2;
}

int Run(int argc, char** argv) {
  enum {
    kListen = 1000,
    kSize,
    kBlockSize,
    kUuid,
    kFile,
    kCacheSize,
    kDelay,
    kThreads,
    kMaxDirty,
    kSync,
    kProtected,
    kTimeout,
    kReadAhead,
    kTrigger,
    kDebug,
    kForeground
  };
  static const option kOptions[] = {
      {"listen", required_argument, nullptr, kListen},
      {"size", required_argument, nullptr, kSize},
      {"blockSize", required_argument, nullptr, kBlockSize},
      {"uuid", required_argument, nullptr, kUuid},
      {"blockCacheFile", required_argument, nullptr, kFile},
      {"blockCacheSize", required_argument, nullptr, kCacheSize},
      {"blockCacheWriteDelay", required_argument, nullptr, kDelay},
      {"blockCacheThreads", required_argument, nullptr, kThreads},
      {"blockCacheMaxDirty", required_argument, nullptr, kMaxDirty},
      {"blockCacheSync", no_argument, nullptr, kSync},
      {"blockCacheNumProtected", required_argument, nullptr, kProtected},
      {"blockCacheTimeout", required_argument, nullptr, kTimeout},
      {"readAhead", required_argument, nullptr, kReadAhead},
      {"readAheadTrigger", required_argument, nullptr, kTrigger},
      {"debug", no_argument, nullptr, kDebug},
      {"foreground", no_argument, nullptr, kForeground},
      {nullptr, 0, nullptr, 0}};
  std::string listen;
  uint64_t size = 0;
  uint32_t block_size = 256 * 1024;
  CacheOptions cache;
  std::string uuid = "cache-server-volume";
  int c;
  while ((c = getopt_long(argc, argv, "f", kOptions, nullptr)) != -1) {
    switch (c) {
      case kListen:
        listen = optarg;
        break;
      case kSize:
        size = std::strtoull(optarg, nullptr, 0);
        break;
      case kBlockSize:
        block_size = std::strtoul(optarg, nullptr, 0);
        break;
      case kUuid:
        uuid = optarg;
        break;
      case kFile:
        cache.block_cache_file = optarg;
        break;
      case kCacheSize:
        cache.block_cache_size = std::atoi(optarg);
        break;
      case kDelay:
        cache.write_delay = std::chrono::milliseconds(std::atoi(optarg));
        break;
      case kThreads:
        cache.threads = std::atoi(optarg);
        break;
      case kMaxDirty:
        cache.max_dirty = std::atoi(optarg);
        break;
      case kSync:
        cache.sync = true;
        break;
      case kProtected:
        cache.num_protected = std::atoi(optarg);
        break;
      case kTimeout:
        cache.timeout = std::chrono::milliseconds(std::atoi(optarg));
        break;
      case kReadAhead:
        cache.read_ahead = std::atoi(optarg);
        break;
      case kTrigger:
        cache.read_ahead_trigger = std::atoi(optarg);
        break;
      case kDebug:
        SetLogLevel(LogLevel::kDebug);
        break;
      case 'f':
      case kForeground:
        break;
      default:
        return Usage();
    }
  }
  if (optind + 1 != argc || listen.empty() || size == 0) return Usage();

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Geometry geometry{block_size, size / block_size};
  std::unique_ptr<BlockStore> store =
      NewZeroStore(NewDirStore({argv[optind], "", geometry, false}));
  Result<std::unique_ptr<BlockStore>> cached =
      NewCacheStore(cache, {uuid, block_size, size}, std::move(store));
  if (!cached.ok()) {
    LogError(cached.status().ToString());
    return 1;
  }
  store = std::move(cached).value();
  Result<nbd::ListenSocket> listener = nbd::Listen(listen);
  if (!listener.ok()) {
    LogError(listener.status().ToString());
    return 1;
  }
  int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);
  Status status = store->Start();
  if (!status.ok()) {
    LogError("cannot start: " + status.ToString());
    ::unlink(listener->unix_path.c_str());
    return 1;
  }
  nbd::Frontend frontend(store.get());
  nbd::ServerOptions server;
  server.export_info.name = "";
  server.export_info.size = frontend.size();
  server.export_info.preferred_block_size = frontend.block_size();
  server.export_info.can_flush = frontend.capabilities().flush;
  server.export_info.can_trim = frontend.capabilities().trim;
  server.export_info.can_multi_conn = frontend.capabilities().multi_conn;
  server.export_info.can_fast_zero = frontend.capabilities().fast_zero;
  LogInfo("cache_server serving at " + listener->uri);
  Result<int> served =
      nbd::Serve(server, &frontend, listener->fd.get(), signal_fd);
  if (!listener->unix_path.empty()) ::unlink(listener->unix_path.c_str());
  int exit_code = served.ok() ? 0 : 1;
  std::vector<StatEntry> stats;
  store->CollectStats(&stats);
  std::string line = "stats:";
  for (const StatEntry& s : stats) {
    line += " " + s.name + "=" + std::to_string(s.value);
  }
  LogInfo(line);
  status = store->Shutdown();
  if (!status.ok()) {
    LogError("shutdown: " + status.ToString());
    exit_code = 1;
  } else {
    LogInfo("stopped; all data flushed");
  }
  return exit_code;
}

}  // namespace
}  // namespace usbd

int main(int argc, char** argv) { return usbd::Run(argc, argv); }
