#include "daemon/stats_report.h"

#include <signal.h>

#include "util/log.h"

namespace usbd {

void BlockStatsSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string FormatStats(const std::vector<StatEntry>& stats) {
  std::string line = "stats:";
  for (const StatEntry& entry : stats) {
    line += " " + entry.name + "=" + std::to_string(entry.value);
  }
  return line;
}

StatsReporter::StatsReporter(const BlockStore* store)
    : store_(store), thread_([this] { Run(); }) {}

StatsReporter::~StatsReporter() {
  stopping_.store(true);
  // Wakes the thread from sigwait; it sees stopping_ and returns.
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

void StatsReporter::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  while (true) {
    int signal_number = 0;
    if (sigwait(&set, &signal_number) != 0) continue;
    if (stopping_.load()) return;
    std::vector<StatEntry> stats;
    store_->CollectStats(&stats);
    LogInfo(FormatStats(stats));
  }
}

}  // namespace usbd
