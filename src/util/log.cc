#include "util/log.h"

#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "util/strings.h"

namespace usbd {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_syslog{false};
std::atomic<bool> g_journal{false};

// syslog(3)'s priorities, by LogLevel; also the journal's "<N>" prefixes.
constexpr int kPriority[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

void LogToSyslog() {
  ::openlog("usbd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  g_syslog = true;
}

bool IsJournalStream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  std::string_view text = journal_stream;
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  std::optional<uint64_t> device = ParseDecimal(text.substr(0, colon));
  std::optional<uint64_t> inode = ParseDecimal(text.substr(colon + 1));
  struct stat st;
  return device && inode && ::fstat(fd, &st) == 0 && st.st_dev == *device &&
         st.st_ino == *inode;
}

void LogToJournalIfConnected() {
  g_journal = IsJournalStream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO);
}

bool LoggingToJournal() { return g_journal; }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level; }

void Log(LogLevel level, const std::string& message) {
  if (!LogEnabled(level)) return;
  const int priority = kPriority[static_cast<int>(level)];
  if (g_syslog) {
    ::syslog(priority, "%s", message.c_str());
    return;
  }
  if (g_journal) {
    std::fprintf(stderr, "<%d>%s\n", priority, message.c_str());
    return;
  }
  // One fprintf per line: stdio locks the stream, so lines never interleave.
  std::fprintf(stderr, "usbd[%d]: %s: %s\n", static_cast<int>(::getpid()),
               LevelName(level), message.c_str());
}

}  // namespace usbd
