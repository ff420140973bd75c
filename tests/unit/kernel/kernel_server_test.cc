// The client side of the handshake (what usbd --nbd does on the kernel's
// end of each socketpair) against the real server-side handshake.
#include "kernel/kernel_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "nbd/handshake.h"
#include "nbd/protocol.h"

namespace usbd::kernel {
namespace {

TEST(NegotiateAsClient, GetsSizeAndSimpleReplyFlags) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Fd server(pair[0]), client(pair[1]);
  nbd::ExportInfo info;
  info.name = "bucket/vol";
  info.size = 64 << 20;
  Result<nbd::Session> session = Status::IoError("not run");
  std::thread thread([&] { session = nbd::Negotiate(server.get(), info); });
  Result<ClientHandshake> result = NegotiateAsClient(client.get(), info.name);
  thread.join();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_FALSE(session->structured_replies);  // the kernel cannot do them
  EXPECT_EQ(result->size, info.size);
  EXPECT_EQ(result->transmission_flags, session->transmission_flags);
  EXPECT_EQ(result->transmission_flags,
            nbd::TransmissionFlags(info, /*structured_replies=*/false));
  EXPECT_TRUE(result->transmission_flags & nbd::kTransSendFlush);
  EXPECT_TRUE(result->transmission_flags & nbd::kTransSendFua);
  EXPECT_TRUE(result->transmission_flags & nbd::kTransCanMultiConn);
}

TEST(NegotiateAsClient, UnknownExportFails) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  Fd server(pair[0]), client(pair[1]);
  nbd::ExportInfo info;
  info.name = "vol";
  info.size = 1 << 20;
  std::thread thread([&] {
    (void)nbd::Negotiate(server.get(), info);
    ::shutdown(server.get(), SHUT_RDWR);
  });
  Result<ClientHandshake> result = NegotiateAsClient(client.get(), "other");
  thread.join();
  EXPECT_FALSE(result.ok());
}

TEST(DefaultConnections, BetweenOneAndFour) {
  EXPECT_GE(DefaultConnections(), 1u);
  EXPECT_LE(DefaultConnections(), 4u);
}

}  // namespace
}  // namespace usbd::kernel
