// Logging: one line per event, to stderr (foreground) or syslog (daemon).
// Thread-safe. Secrets must never be passed to these functions.
//
// On stderr a line is "usbd[PID]: LEVEL: message", unless stderr is a
// stream to the systemd journal (LogToJournalIfConnected): the journal
// records the identifier, the PID and the time itself, and takes the
// priority from a "<N>" prefix (sd-daemon(3)), so the line is then
// "<N>message": <3> error, <4> warning, <6> info, <7> debug.
#ifndef USBD_UTIL_LOG_H_
#define USBD_UTIL_LOG_H_

#include <string>

namespace usbd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below `level` are dropped. Default: kInfo.
void SetLogLevel(LogLevel level);
// Sends log lines to syslog (ident "usbd") instead of stderr.
void LogToSyslog();
// Writes stderr's lines in the journal's form when the environment
// variable JOURNAL_STREAM names stderr, and in the usual form otherwise
// (call it again after stderr or the variable changed). systemd sets
// JOURNAL_STREAM to "DEVICE:INODE" of the stream it connects; a child
// whose stderr was redirected inherits the variable, which then names
// another file, so the variable alone proves nothing.
void LogToJournalIfConnected();
// Whether stderr's lines are in the journal's form.
bool LoggingToJournal();
// Whether `journal_stream` ("DEVICE:INODE", decimal) names the file open
// on `fd`.
bool IsJournalStream(const char* journal_stream, int fd);
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
