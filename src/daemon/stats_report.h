// Counters for operators: every layer's (BlockStore::CollectStats), top
// layer first, three ways:
//  - SIGUSR1 logs one info line, whatever the frontend and whether usbd
//    runs in the foreground or detached (the line then goes to syslog or
//    the journal like every other):
//      usbd[PID]: info: stats: cache.hits=12 cache.lost=0 ... retry.retries=3
//  - --statsFilename=FILE (s3backer's name): one "NAME VALUE" line each,
//    in that order, then the derived values (codec.compression_ratio);
//  - --metricsFile=FILE: the same in Prometheus' text exposition format,
//    for node_exporter's textfile collector: usbd_NAME_total (counters)
//    or usbd_NAME (gauges), '.' as '_', with # HELP and # TYPE lines and
//    the label volume="BUCKET[/PREFIX]" (several usbd on one host).
// Both files are replaced whole (written beside, then renamed: a reader
// never sees half a file) once the stack has started, every
// --statsInterval seconds, on SIGUSR1, and a last time when the reporter
// is destroyed, after the stack has shut down (the uploads at exit
// counted).
//
// Use: BlockStatsSignal() in main before any thread exists (threads inherit
// the mask; the serving loops' signalfd does not include SIGUSR1), then,
// once the stack has started, a StatsReporter over it. The reporter's
// thread waits for SIGUSR1 or the interval; its destructor stops it. The
// store must outlive the reporter. CollectStats must be safe to call
// concurrently with I/O, as the BlockStore contract says.
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
// --statsFilename's content: "a 1\nb 2\n" and the derived values.
std::string FormatStatsFile(const std::vector<StatEntry>& stats);
// --metricsFile's content, every sample labelled volume="`volume`".
std::string FormatMetrics(const std::vector<StatEntry>& stats,
                          const std::string& volume);

struct StatsFiles {
  std::string stats_file;          // --statsFilename ("": none)
  std::string metrics_file;        // --metricsFile ("": none)
  std::string volume;              // the metrics' volume label
  unsigned interval_seconds = 10;  // --statsInterval
};

class StatsReporter {
 public:
  StatsReporter(const BlockStore* store, StatsFiles files);
  ~StatsReporter();
  StatsReporter(const StatsReporter&) = delete;
  StatsReporter& operator=(const StatsReporter&) = delete;

 private:
  void Run();
  void WriteFiles();

  const BlockStore* store_;
  const StatsFiles files_;
  // The last write failed (warned once). Written by one thread at a time:
  // the constructor, Run(), the destructor after the join.
  bool failing_ = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace usbd

#endif  // USBD_DAEMON_STATS_REPORT_H_
