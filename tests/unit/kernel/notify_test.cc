// sd_notify without libsystemd: a real datagram socket stands in for
// systemd's.
#include "kernel/notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "util/fd.h"

namespace usbd {
namespace {

class NotifyTest : public ::testing::Test {
 protected:
  void TearDown() override { ::unsetenv("NOTIFY_SOCKET"); }

  // Binds a datagram socket at `name` (a path, or "@abstract").
  Fd Listen(const std::string& name) {
    Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un address = {};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    socklen_t length = offsetof(struct sockaddr_un, sun_path) + name.size();
    if (name[0] == '@') address.sun_path[0] = '\0';
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), length),
              0)
        << std::strerror(errno);
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
    return fd;
  }

  std::string Receive(const Fd& fd) {
    char buffer[512];
    ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    return n > 0 ? std::string(buffer, n) : "";
  }
};

TEST_F(NotifyTest, NothingWithoutTheVariable) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(NotifyEnabled());
  EXPECT_TRUE(Notify("READY=1").ok());
}

TEST_F(NotifyTest, ReadyStatusStoppingToAPath) {
  char dir[] = "/tmp/usbd-notify.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/notify";
  Fd fd = Listen(path);
  EXPECT_TRUE(NotifyEnabled());
  NotifyReady("serving /dev/nbd0");
  EXPECT_EQ(Receive(fd), "READY=1\nMAINPID=" + std::to_string(::getpid()) +
                             "\nSTATUS=serving /dev/nbd0");
  NotifyStatus("uploading\n3 blocks");
  EXPECT_EQ(Receive(fd), "STATUS=uploading 3 blocks");
  NotifyStopping("flushing");
  EXPECT_EQ(Receive(fd), "STOPPING=1\nSTATUS=flushing");
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST_F(NotifyTest, AbstractSocket) {
  std::string name = "@usbd-notify-test-" + std::to_string(::getpid());
  Fd fd = Listen(name);
  ASSERT_TRUE(Notify("STATUS=x").ok());
  EXPECT_EQ(Receive(fd), "STATUS=x");
}

TEST_F(NotifyTest, BadVariableIsAnError) {
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(Notify("READY=1").ok());
}

}  // namespace
}  // namespace usbd
