#include "nbd/listen.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace usbd::nbd {
namespace {

TEST(NbdUriTest, UnixSocketPathAndExportArePercentEncoded) {
  ListenSocket socket;
  socket.unix_path = "/run/my disk/a&b#c?.sock";
  EXPECT_EQ(
      NbdUri(socket, "bucket/vol 1"),
      "nbd+unix:///bucket/vol%201?socket=/run/my%20disk/a%26b%23c%3F.sock");
  EXPECT_EQ(NbdUri(socket, ""),
            "nbd+unix:///?socket=/run/my%20disk/a%26b%23c%3F.sock");
}

TEST(NbdUriTest, AnAbsoluteExportKeepsItsSlash) {
  ListenSocket socket;
  socket.unix_path = "/tmp/s";
  // The URI format passes the path less its first '/': "/srv/store".
  EXPECT_EQ(NbdUri(socket, "/srv/store"),
            "nbd+unix:////srv/store?socket=/tmp/s");
}

TEST(NbdUriTest, TcpHostsAndIpv6Brackets) {
  ListenSocket socket;
  socket.tcp_host = "localhost";
  socket.tcp_port = 10809;
  EXPECT_EQ(NbdUri(socket, "b"), "nbd://localhost:10809/b");
  socket.tcp_host = "::1";
  EXPECT_EQ(NbdUri(socket, ""), "nbd://[::1]:10809/");
}

TEST(ListenTest, PortZeroReportsThePortTheKernelChose) {
  Result<ListenSocket> listener = Listen("tcp:127.0.0.1:0");
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  EXPECT_NE(listener->tcp_port, 0);
  EXPECT_EQ(NbdUri(*listener, "x"),
            "nbd://127.0.0.1:" + std::to_string(listener->tcp_port) + "/x");
}

TEST(ListenTest, UnixSocketWithASpaceInItsPath) {
  char dir_template[] = "/tmp/usbd-listen-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = std::string(dir_template) + "/a b";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string path = dir + "/usbd.sock";
  Result<ListenSocket> listener = Listen("unix:" + path);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  EXPECT_EQ(listener->unix_path, path);
  EXPECT_EQ(
      NbdUri(*listener, "v"),
      "nbd+unix:///v?socket=" + std::string(dir_template) + "/a%20b/usbd.sock");
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  ::rmdir(dir_template);
}

}  // namespace
}  // namespace usbd::nbd
