#include "util/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

namespace usbd {
namespace {

int RunShell(const std::string& script) {
  const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
  Result<pid_t> pid = Spawn(argv);
  EXPECT_TRUE(pid.ok()) << pid.status().ToString();
  if (!pid.ok()) return -1;
  Result<int> status = WaitExitStatus(*pid);
  EXPECT_TRUE(status.ok()) << status.status().ToString();
  return status.ok() ? *status : -1;
}

TEST(SpawnTest, StatusIsTheShellsDollarQuestionMark) {
  EXPECT_EQ(RunShell("exit 0"), 0);
  EXPECT_EQ(RunShell("exit 3"), 3);
  EXPECT_EQ(RunShell("kill -KILL $$"), 128 + SIGKILL);
}

TEST(SpawnTest, ChildStartsWithNoBlockedSignalAndSigpipeAtDefault) {
  sigset_t usr2, old;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &usr2, &old), 0);
  struct sigaction ignore = {}, saved = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &saved), 0);
  EXPECT_EQ(RunShell("kill -USR2 $$; exit 0"), 128 + SIGUSR2);
  EXPECT_EQ(RunShell("kill -PIPE $$; exit 0"), 128 + SIGPIPE);
  ::sigaction(SIGPIPE, &saved, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST(SpawnTest, ChildGetsNoDescriptorAboveStderr) {
  int fd = ::open("/dev/null", O_RDONLY);  // inheritable: no O_CLOEXEC
  ASSERT_GE(fd, 3);
  EXPECT_EQ(RunShell("test ! -e /proc/self/fd/" + std::to_string(fd)), 0);
  EXPECT_EQ(RunShell("test -e /proc/self/fd/2"), 0);
  ::close(fd);
}

TEST(SpawnTest, AMissingProgramIsAnError) {
  const char* argv[] = {"/nonexistent/usbd-test-program", nullptr};
  Result<pid_t> pid = Spawn(argv);
  EXPECT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), ENOENT);
}

}  // namespace
}  // namespace usbd
