#include "util/log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace usbd {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_syslog{false};

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

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level; }

void Log(LogLevel level, const std::string& message) {
  if (!LogEnabled(level)) return;
  if (g_syslog) {
    static constexpr int kPriority[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING,
                                        LOG_ERR};
    ::syslog(kPriority[static_cast<int>(level)], "%s", message.c_str());
    return;
  }
  // One fprintf per line: stdio locks the stream, so lines never interleave.
  std::fprintf(stderr, "usbd[%d]: %s: %s\n", static_cast<int>(::getpid()),
               LevelName(level), message.c_str());
}

}  // namespace usbd
