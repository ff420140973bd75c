#include "util/log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace usbd {
namespace {

std::string DeviceInode(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// Sends stderr to a temporary file for the test's duration.
class CapturedStderr {
 public:
  CapturedStderr() {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    file_ = std::tmpfile();
    ::dup2(::fileno(file_), STDERR_FILENO);
  }
  ~CapturedStderr() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::fclose(file_);
    ::unsetenv("JOURNAL_STREAM");
    LogToJournalIfConnected();
  }
  int fd() const { return ::fileno(file_); }
  std::string Text() {
    std::fflush(stderr);
    std::string text;
    char buf[256];
    ssize_t n;
    for (off_t off = 0; (n = ::pread(fd(), buf, sizeof buf, off)) > 0;
         off += n) {
      text.append(buf, static_cast<size_t>(n));
    }
    return text;
  }

 private:
  int saved_ = -1;
  FILE* file_ = nullptr;
};

TEST(IsJournalStreamTest, MatchesOnlyTheDeviceAndInodeOfTheFd) {
  FILE* file = std::tmpfile();
  FILE* other = std::tmpfile();
  const std::string mine = DeviceInode(::fileno(file));
  EXPECT_TRUE(IsJournalStream(mine.c_str(), ::fileno(file)));
  EXPECT_FALSE(IsJournalStream(mine.c_str(), ::fileno(other)));
  EXPECT_FALSE(IsJournalStream(nullptr, ::fileno(file)));
  for (const std::string& bad :
       {std::string(""), std::string(":"), mine + "x", " " + mine, mine + ":1",
        mine.substr(0, mine.find(':'))}) {
    EXPECT_FALSE(IsJournalStream(bad.c_str(), ::fileno(file))) << bad;
  }
  std::fclose(file);
  std::fclose(other);
}

TEST(LogTest, JournalLinesCarryThePriorityAndNoPrefix) {
  CapturedStderr captured;
  ::setenv("JOURNAL_STREAM", DeviceInode(captured.fd()).c_str(), 1);
  LogToJournalIfConnected();
  SetLogLevel(LogLevel::kDebug);
  LogDebug("d");
  LogInfo("i");
  LogWarning("w");
  LogError("e");
  SetLogLevel(LogLevel::kInfo);
  EXPECT_EQ(captured.Text(), "<7>d\n<6>i\n<4>w\n<3>e\n");
}

TEST(LogTest, AnInheritedJournalStreamNamingAnotherFileIsIgnored) {
  CapturedStderr captured;
  FILE* journal = std::tmpfile();
  ::setenv("JOURNAL_STREAM", DeviceInode(::fileno(journal)).c_str(), 1);
  LogToJournalIfConnected();
  LogWarning("w");
  std::fclose(journal);
  EXPECT_EQ(captured.Text(),
            "usbd[" + std::to_string(::getpid()) + "]: warning: w\n");
}

}  // namespace
}  // namespace usbd
