// Counters on demand: SIGUSR1 makes usbd log one info line with every
// layer's counters (BlockStore::CollectStats), top layer first:
//
//   usbd[PID]: info: stats: cache.hits=12 cache.lost=0 ... retry.retries=3
//
// The cache's lost blocks (cache.lost), dirty blocks, retries and the other
// counters an operator asks about are there, whatever the frontend (socket
// or --nbd) and whether usbd runs in the foreground or detached (the line
// then goes to syslog/journal like every other).
//
// Use: BlockStatsSignal() in main before any thread exists (threads inherit
// the mask; the serving loops' signalfd does not include SIGUSR1), then,
// once the stack has started, a StatsReporter over it. The reporter's
// thread waits for SIGUSR1 only; its destructor stops it. The store must
// outlive the reporter. CollectStats must be safe to call concurrently
// with I/O, as the BlockStore contract says.
#ifndef USBD_DAEMON_STATS_REPORT_H_
#define USBD_DAEMON_STATS_REPORT_H_

#include <pthread.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "store/block_store.h"

namespace usbd {

// Blocks SIGUSR1 in the calling thread (and so in every thread it starts).
void BlockStatsSignal();

// "stats: a=1 b=2".
std::string FormatStats(const std::vector<StatEntry>& stats);

class StatsReporter {
 public:
  explicit StatsReporter(const BlockStore* store);
  ~StatsReporter();
  StatsReporter(const StatsReporter&) = delete;
  StatsReporter& operator=(const StatsReporter&) = delete;

 private:
  void Run();

  const BlockStore* store_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace usbd

#endif  // USBD_DAEMON_STATS_REPORT_H_
