#include "daemon/stats_report.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <optional>

#include "util/fd.h"
#include "util/log.h"

namespace usbd {
namespace {

const StatEntry* Find(const std::vector<StatEntry>& stats, const char* name) {
  for (const StatEntry& entry : stats) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

// What the counters give only together: stored bytes per block byte over
// the codec layer (below 1 when zstd saves space), once it has encoded.
std::optional<double> CompressionRatio(const std::vector<StatEntry>& stats) {
  const StatEntry* in = Find(stats, "codec.bytes_in");
  const StatEntry* stored = Find(stats, "codec.bytes_stored");
  if (in == nullptr || stored == nullptr || in->value == 0) return std::nullopt;
  return static_cast<double>(stored->value) / static_cast<double>(in->value);
}

std::string FormatRatio(double ratio) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", ratio);
  return text;
}

// Prometheus' escapes: '\' and newline in help text, also '"' in labels.
std::string Escape(const std::string& text, bool label) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && label) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string MetricName(const StatEntry& entry) {
  std::string name = "usbd_" + entry.name;
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return entry.kind == StatKind::kCounter ? name + "_total" : name;
}

void AppendMetric(const std::string& name, const char* type,
                  const std::string& help, const std::string& labels,
                  const std::string& value, std::string* out) {
  *out += "# HELP " + name + " " + Escape(help, false) + "\n";
  *out += "# TYPE " + name + " " + type + "\n";
  *out += name + labels + " " + value + "\n";
}

}  // namespace

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

std::string FormatStatsFile(const std::vector<StatEntry>& stats) {
  std::string text;
  for (const StatEntry& entry : stats) {
    text += entry.name + " " + std::to_string(entry.value) + "\n";
  }
  if (std::optional<double> ratio = CompressionRatio(stats)) {
    text += "codec.compression_ratio " + FormatRatio(*ratio) + "\n";
  }
  return text;
}

std::string FormatMetrics(const std::vector<StatEntry>& stats,
                          const std::string& volume) {
  const std::string labels = "{volume=\"" + Escape(volume, true) + "\"}";
  std::string text;
  for (const StatEntry& entry : stats) {
    AppendMetric(MetricName(entry),
                 entry.kind == StatKind::kCounter ? "counter" : "gauge",
                 entry.help, labels, std::to_string(entry.value), &text);
  }
  if (std::optional<double> ratio = CompressionRatio(stats)) {
    AppendMetric("usbd_codec_compression_ratio", "gauge",
                 "bytes stored per byte of block encoded (below 1: zstd "
                 "saves space)",
                 labels, FormatRatio(*ratio), &text);
  }
  return text;
}

StatsReporter::StatsReporter(const BlockStore* store, StatsFiles files)
    : store_(store), files_(std::move(files)) {
  WriteFiles();  // at once: the files exist as soon as usbd serves
  thread_ = std::thread([this] { Run(); });
}

StatsReporter::~StatsReporter() {
  stopping_.store(true);
  // Wakes the thread from its wait; it sees stopping_ and returns.
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
  WriteFiles();
}

void StatsReporter::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  const bool periodic =
      !files_.stats_file.empty() || !files_.metrics_file.empty();
  const struct timespec interval = {
      static_cast<time_t>(files_.interval_seconds), 0};
  while (true) {
    const int signal_number =
        sigtimedwait(&set, nullptr, periodic ? &interval : nullptr);
    if (stopping_.load()) return;
    if (signal_number < 0 && errno != EAGAIN) continue;  // EINTR
    if (signal_number == SIGUSR1) {
      std::vector<StatEntry> stats;
      store_->CollectStats(&stats);
      LogInfo(FormatStats(stats));
    }
    WriteFiles();
  }
}

void StatsReporter::WriteFiles() {
  if (files_.stats_file.empty() && files_.metrics_file.empty()) return;
  std::vector<StatEntry> stats;
  store_->CollectStats(&stats);
  Status status = Status::Ok();
  if (!files_.stats_file.empty()) {
    status = ReplaceFile(files_.stats_file, FormatStatsFile(stats))
                 .WithContext("--statsFilename");
  }
  if (status.ok() && !files_.metrics_file.empty()) {
    status =
        ReplaceFile(files_.metrics_file, FormatMetrics(stats, files_.volume))
            .WithContext("--metricsFile");
  }
  // One line when writing starts to fail, one when it works again.
  if (!status.ok() && !failing_) LogWarning(status.message());
  if (status.ok() && failing_) LogInfo("statistics files written again");
  failing_ = !status.ok();
}

}  // namespace usbd
