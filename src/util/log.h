// Logging: one line per event, to stderr (foreground) or syslog (daemon).
// Thread-safe. Secrets must never be passed to these functions.
#ifndef USBD_UTIL_LOG_H_
#define USBD_UTIL_LOG_H_

#include <string>

namespace usbd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below `level` are dropped. Default: kInfo.
void SetLogLevel(LogLevel level);
// Sends log lines to syslog (ident "usbd") instead of stderr.
void LogToSyslog();
bool LogEnabled(LogLevel level);

void Log(LogLevel level, const std::string& message);
inline void LogDebug(const std::string& m) {
  if (LogEnabled(LogLevel::kDebug)) Log(LogLevel::kDebug, m);
}
inline void LogInfo(const std::string& m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(const std::string& m) { Log(LogLevel::kWarning, m); }
inline void LogError(const std::string& m) { Log(LogLevel::kError, m); }

}  // namespace usbd

#endif  // USBD_UTIL_LOG_H_
