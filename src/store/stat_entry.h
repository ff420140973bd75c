// The counters each layer reports (BlockStore::CollectStats,
// ObjectStore::CollectStats).
#ifndef USBD_STORE_STAT_ENTRY_H_
#define USBD_STORE_STAT_ENTRY_H_

#include <cstdint>
#include <string>

namespace usbd {

// A counter counts events since start and only grows; a gauge is a level
// that also falls (blocks dirty now).
enum class StatKind { kCounter, kGauge };

// One named counter, reported by SIGUSR1, --statsFilename, --metricsFile
// (daemon/stats_report.h) and the tests.
struct StatEntry {
  std::string name;  // "layer.counter": [a-z0-9_], one '.'
  uint64_t value;
  const char* help = "";  // what it counts, one line (Prometheus' # HELP)
  StatKind kind = StatKind::kCounter;
};

}  // namespace usbd

#endif  // USBD_STORE_STAT_ENTRY_H_
