// The netlink message builder and parser (layout, alignment, nesting), the
// NBD CONNECT message, and a real NETLINK_GENERIC socket.
#include "kernel/netlink.h"

#include <gtest/gtest.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>

#include <cstring>

#include "kernel/nbd_attach.h"

namespace usbd::kernel {
namespace {

uint16_t U16At(std::span<const uint8_t> b, size_t offset) {
  uint16_t v;
  std::memcpy(&v, &b[offset], sizeof v);
  return v;
}

uint32_t U32At(std::span<const uint8_t> b, size_t offset) {
  uint32_t v;
  std::memcpy(&v, &b[offset], sizeof v);
  return v;
}

uint64_t U64At(std::span<const uint8_t> b, size_t offset) {
  uint64_t v;
  std::memcpy(&v, &b[offset], sizeof v);
  return v;
}

// The attributes of a built message (after nlmsghdr and genlmsghdr).
std::vector<NetlinkAttribute> AttributesOf(const NetlinkMessage& message) {
  Result<std::vector<NetlinkAttribute>> parsed = ParseAttributes(
      message.bytes().subspan(kNlmsgHeaderSize + kGenlHeaderSize));
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  return parsed.ok() ? *parsed : std::vector<NetlinkAttribute>{};
}

TEST(NetlinkMessage, Headers) {
  NetlinkMessage message(0x1234, 7, 1);
  message.set_sequence(42);
  std::span<const uint8_t> b = message.bytes();
  ASSERT_EQ(b.size(), 20u);
  EXPECT_EQ(U32At(b, 0), 20u);     // nlmsg_len
  EXPECT_EQ(U16At(b, 4), 0x1234);  // nlmsg_type: the family
  EXPECT_EQ(U16At(b, 6), NLM_F_REQUEST | NLM_F_ACK);
  EXPECT_EQ(U32At(b, 8), 42u);  // nlmsg_seq
  EXPECT_EQ(U32At(b, 12), 0u);  // nlmsg_pid
  EXPECT_EQ(b[16], 7);          // genl cmd
  EXPECT_EQ(b[17], 1);          // genl version
  EXPECT_EQ(U16At(b, 18), 0);   // reserved
  EXPECT_EQ(message.sequence(), 42u);
}

TEST(NetlinkMessage, ScalarAttributesAreAlignedAndZeroPadded) {
  NetlinkMessage message(16, 1, 1);
  message.PutU8(1, 0xab);
  message.PutU16(2, 0xbeef);
  message.PutU32(3, 0xdeadbeef);
  message.PutU64(4, 0x0102030405060708ull);
  std::span<const uint8_t> b = message.bytes();
  // u8: len 5, padded to 8; u16: len 6 -> 8; u32: 8; u64: 12.
  ASSERT_EQ(b.size(), 20u + 8 + 8 + 8 + 12);
  EXPECT_EQ(U32At(b, 0), b.size());
  EXPECT_EQ(U16At(b, 20), 5);
  EXPECT_EQ(U16At(b, 22), 1);
  EXPECT_EQ(b[24], 0xab);
  EXPECT_EQ(b[25], 0);
  EXPECT_EQ(b[26], 0);
  EXPECT_EQ(b[27], 0);
  EXPECT_EQ(U16At(b, 28), 6);
  EXPECT_EQ(U16At(b, 32), 0xbeef);
  EXPECT_EQ(U16At(b, 34), 0);
  EXPECT_EQ(U16At(b, 36), 8);
  EXPECT_EQ(U32At(b, 40), 0xdeadbeefu);
  EXPECT_EQ(U16At(b, 44), 12);
  EXPECT_EQ(U16At(b, 46), 4);
  EXPECT_EQ(U64At(b, 48), 0x0102030405060708ull);

  std::vector<NetlinkAttribute> a = AttributesOf(message);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].payload.size(), 1u);
  EXPECT_EQ(*a[1].U16(), 0xbeef);
  EXPECT_EQ(*a[2].U32(), 0xdeadbeefu);
  EXPECT_EQ(*a[3].U64(), 0x0102030405060708ull);
  EXPECT_FALSE(a[0].U32().has_value());  // too short for a u32
}

TEST(NetlinkMessage, StringsCarryTheirNul) {
  NetlinkMessage message(16, 1, 1);
  message.PutString(2, "nbd");   // 4 + 4 bytes: no padding
  message.PutString(3, "abcd");  // 4 + 5 bytes: padded to 12
  message.PutString(4, "");      // 4 + 1: padded to 8
  std::span<const uint8_t> b = message.bytes();
  ASSERT_EQ(b.size(), 20u + 8 + 12 + 8);
  EXPECT_EQ(U16At(b, 20), 8);
  EXPECT_EQ(std::memcmp(&b[24], "nbd\0", 4), 0);
  EXPECT_EQ(U16At(b, 28), 9);
  EXPECT_EQ(std::memcmp(&b[32], "abcd\0\0\0\0", 8), 0);
  EXPECT_EQ(U16At(b, 40), 5);
  std::vector<NetlinkAttribute> a = AttributesOf(message);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].String(), "nbd");
  EXPECT_EQ(a[1].String(), "abcd");
  EXPECT_EQ(a[2].String(), "");
}

TEST(NetlinkMessage, BytesOfOddLength) {
  NetlinkMessage message(16, 1, 1);
  const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7};
  message.PutBytes(9, data);
  message.PutU32(10, 99);
  std::vector<NetlinkAttribute> a = AttributesOf(message);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(a[0].payload.size(), 7u);
  EXPECT_EQ(std::memcmp(a[0].payload.data(), data, 7), 0);
  EXPECT_EQ(*a[1].U32(), 99u);
}

TEST(NetlinkMessage, NestedAttributes) {
  NetlinkMessage message(16, 1, 1);
  message.PutU32(1, 5);
  size_t outer = message.BeginNested(7);
  for (uint32_t fd : {3u, 4u}) {
    size_t item = message.BeginNested(1);
    message.PutU32(1, fd);
    message.EndNested(item);
  }
  message.EndNested(outer);
  message.PutU8(2, 1);
  std::span<const uint8_t> b = message.bytes();
  // outer = 4 + 2 * (4 + 8) = 28 bytes, with NLA_F_NESTED in its type.
  EXPECT_EQ(U16At(b, 28), 28);
  EXPECT_EQ(U16At(b, 30), 7 | kAttrNested);
  EXPECT_EQ(U16At(b, 32), 12);
  EXPECT_EQ(U16At(b, 34), 1 | kAttrNested);
  EXPECT_EQ(U16At(b, 36), 8);
  EXPECT_EQ(U32At(b, 40), 3u);
  EXPECT_EQ(U32At(b, 0), b.size());

  std::vector<NetlinkAttribute> a = AttributesOf(message);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_FALSE(a[0].nested);
  EXPECT_TRUE(a[1].nested);
  EXPECT_EQ(a[1].type, 7);  // the flag is not part of the type
  Result<std::vector<NetlinkAttribute>> items = ParseAttributes(a[1].payload);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 2u);
  std::vector<uint32_t> fds;
  for (const NetlinkAttribute& item : *items) {
    EXPECT_TRUE(item.nested);
    EXPECT_EQ(item.type, 1);
    Result<std::vector<NetlinkAttribute>> inner = ParseAttributes(item.payload);
    ASSERT_TRUE(inner.ok());
    ASSERT_EQ(inner->size(), 1u);
    fds.push_back(*(*inner)[0].U32());
  }
  EXPECT_EQ(fds, (std::vector<uint32_t>{3, 4}));
  EXPECT_EQ(*a[2].payload.data(), 1);
}

TEST(NetlinkMessage, EmptyNest) {
  NetlinkMessage message(16, 1, 1);
  message.EndNested(message.BeginNested(3));
  std::span<const uint8_t> b = message.bytes();
  ASSERT_EQ(b.size(), 24u);
  EXPECT_EQ(U16At(b, 20), 4);
}

TEST(ParseAttributes, RejectsImpossibleLengths) {
  uint8_t too_short[8] = {2, 0, 1, 0, 0, 0, 0, 0};  // len 2 < header
  EXPECT_EQ(ParseAttributes(too_short).status().code(), EINVAL);
  uint8_t too_long[8] = {12, 0, 1, 0, 0, 0, 0, 0};  // len 12 > 8 bytes
  EXPECT_EQ(ParseAttributes(too_long).status().code(), EINVAL);
  // The last attribute's padding may be missing; trailing bytes shorter
  // than a header are ignored.
  uint8_t unpadded[7] = {7, 0, 1, 0, 'a', 'b', 'c'};
  Result<std::vector<NetlinkAttribute>> parsed = ParseAttributes(unpadded);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].String(), "abc");
  EXPECT_TRUE(ParseAttributes({}).ok());
}

TEST(SplitMessages, TwoMessagesInOneDatagram) {
  NetlinkMessage first(20, 1, 1);
  first.PutU32(1, 7);
  first.set_sequence(5);
  NetlinkMessage second(NLMSG_ERROR, 0, 0);
  second.set_sequence(6);
  std::vector<uint8_t> datagram(first.bytes().begin(), first.bytes().end());
  datagram.insert(datagram.end(), second.bytes().begin(), second.bytes().end());
  Result<std::vector<NetlinkReply>> messages = SplitMessages(datagram);
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[0].type, 20);
  EXPECT_EQ((*messages)[0].sequence, 5u);
  EXPECT_EQ((*messages)[0].payload.size(), 4u + 8);
  EXPECT_EQ((*messages)[1].type, NLMSG_ERROR);
  EXPECT_EQ((*messages)[1].sequence, 6u);
  datagram[0] = 200;  // longer than the datagram
  EXPECT_FALSE(SplitMessages(datagram).ok());
}

TEST(NbdMessages, ConnectCarriesEverything) {
  AttachOptions options;
  options.index = 3;
  options.size = 256 << 20;
  options.block_size = 4096;
  options.server_flags = nbd::kTransSendFlush | nbd::kTransSendFua |
                         nbd::kTransSendTrim | nbd::kTransCanMultiConn;
  options.timeout_seconds = 30;
  options.dead_conn_timeout_seconds = 120;
  options.backend = "usbd:vol";
  const int fds[] = {5, 6};
  NetlinkMessage message = BuildNbdConnect(0x20, NBD_CMD_CONNECT, options, fds);
  std::span<const uint8_t> b = message.bytes();
  EXPECT_EQ(U16At(b, 4), 0x20);
  EXPECT_EQ(b[16], NBD_CMD_CONNECT);
  EXPECT_EQ(b[17], NBD_GENL_VERSION);
  std::vector<NetlinkAttribute> a = AttributesOf(message);
  auto find = [&](uint16_t type) { return FindAttribute(a, type); };
  ASSERT_NE(find(NBD_ATTR_INDEX), nullptr);
  EXPECT_EQ(find(NBD_ATTR_INDEX)->payload.size(), 4u);  // NLA_U32
  EXPECT_EQ(*find(NBD_ATTR_INDEX)->U32(), 3u);
  EXPECT_EQ(*find(NBD_ATTR_SIZE_BYTES)->U64(), 256u << 20);
  EXPECT_EQ(*find(NBD_ATTR_BLOCK_SIZE_BYTES)->U64(), 4096u);
  EXPECT_EQ(*find(NBD_ATTR_SERVER_FLAGS)->U64(),
            nbd::kTransHasFlags | nbd::kTransSendFlush | nbd::kTransSendFua |
                nbd::kTransSendTrim | nbd::kTransCanMultiConn);
  EXPECT_EQ(*find(NBD_ATTR_TIMEOUT)->U64(), 30u);
  EXPECT_EQ(*find(NBD_ATTR_DEAD_CONN_TIMEOUT)->U64(), 120u);
  EXPECT_EQ(find(NBD_ATTR_BACKEND_IDENTIFIER)->String(), "usbd:vol");
  const NetlinkAttribute* sockets = find(NBD_ATTR_SOCKETS);
  ASSERT_NE(sockets, nullptr);
  EXPECT_TRUE(sockets->nested);
  Result<std::vector<NetlinkAttribute>> items =
      ParseAttributes(sockets->payload);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*items)[i].type, NBD_SOCK_ITEM);
    Result<std::vector<NetlinkAttribute>> fd =
        ParseAttributes((*items)[i].payload);
    ASSERT_TRUE(fd.ok());
    ASSERT_EQ(fd->size(), 1u);
    EXPECT_EQ((*fd)[0].type, NBD_SOCK_FD);
    EXPECT_EQ(*(*fd)[0].U32(), static_cast<uint32_t>(fds[i]));
  }
}

TEST(NbdMessages, ConnectWithoutIndexAndOneSocket) {
  AttachOptions options;
  options.size = 1 << 20;
  options.block_size = 512;
  options.server_flags = nbd::kTransSendFlush | nbd::kTransCanMultiConn;
  const int fds[] = {9};
  NetlinkMessage message = BuildNbdConnect(0x20, NBD_CMD_CONNECT, options, fds);
  std::vector<NetlinkAttribute> a = AttributesOf(message);
  EXPECT_EQ(FindAttribute(a, NBD_ATTR_INDEX), nullptr);
  EXPECT_EQ(FindAttribute(a, NBD_ATTR_BACKEND_IDENTIFIER), nullptr);
  // One socket: CAN_MULTI_CONN is dropped, HAS_FLAGS added.
  EXPECT_EQ(*FindAttribute(a, NBD_ATTR_SERVER_FLAGS)->U64(),
            nbd::kTransHasFlags | nbd::kTransSendFlush);
}

TEST(NbdMessages, ReconfigureAndDisconnect) {
  AttachOptions options;
  options.index = 1;
  options.size = 1 << 20;
  options.backend = "usbd:vol";
  const int fds[] = {4};
  // Attributes point into the message: keep it alive while they are used.
  NetlinkMessage reconfigure =
      BuildNbdConnect(0x20, NBD_CMD_RECONFIGURE, options, fds);
  std::vector<NetlinkAttribute> a = AttributesOf(reconfigure);
  EXPECT_NE(FindAttribute(a, NBD_ATTR_INDEX), nullptr);
  EXPECT_NE(FindAttribute(a, NBD_ATTR_SOCKETS), nullptr);
  EXPECT_EQ(FindAttribute(a, NBD_ATTR_SIZE_BYTES), nullptr);
  EXPECT_EQ(FindAttribute(a, NBD_ATTR_TIMEOUT), nullptr);
  EXPECT_EQ(FindAttribute(a, NBD_ATTR_DEAD_CONN_TIMEOUT), nullptr);
  // The kernel refuses a RECONFIGURE without the device's identifier.
  ASSERT_NE(FindAttribute(a, NBD_ATTR_BACKEND_IDENTIFIER), nullptr);
  EXPECT_EQ(FindAttribute(a, NBD_ATTR_BACKEND_IDENTIFIER)->String(),
            "usbd:vol");

  NetlinkMessage disconnect = BuildNbdDisconnect(0x20, 7);
  EXPECT_EQ(disconnect.bytes()[16], NBD_CMD_DISCONNECT);
  a = AttributesOf(disconnect);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(*a[0].U32(), 7u);
}

TEST(NbdMessages, ConnectReply) {
  NetlinkMessage reply(0x20, NBD_CMD_CONNECT, 1);
  reply.PutU32(NBD_ATTR_INDEX, 12);
  Result<int> index = ParseNbdConnectReply(
      reply.bytes().subspan(kNlmsgHeaderSize + kGenlHeaderSize));
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*index, 12);
  EXPECT_FALSE(ParseNbdConnectReply({}).ok());
}

TEST(NbdTarget, Parse) {
  EXPECT_EQ(*ParseNbdTarget(""), -1);
  EXPECT_EQ(*ParseNbdTarget("/dev/nbd0"), 0);
  EXPECT_EQ(*ParseNbdTarget("nbd15"), 15);
  EXPECT_EQ(*ParseNbdTarget("3"), 3);
  EXPECT_FALSE(ParseNbdTarget("/dev/sda").ok());
  EXPECT_FALSE(ParseNbdTarget("/dev/nbd").ok());
  EXPECT_FALSE(ParseNbdTarget("/dev/nbd0p1").ok());
}

TEST(NbdBlockSize, PowersOfTwoUpTo4096) {
  EXPECT_TRUE(CheckKernelBlockSize(512).ok());
  EXPECT_TRUE(CheckKernelBlockSize(4096).ok());
  EXPECT_FALSE(CheckKernelBlockSize(256).ok());
  EXPECT_FALSE(CheckKernelBlockSize(1000).ok());
  EXPECT_FALSE(CheckKernelBlockSize(8192).ok());
  EXPECT_EQ(DefaultKernelBlockSize(256 * 1024), 4096u);
  EXPECT_EQ(DefaultKernelBlockSize(1024), 1024u);
  EXPECT_EQ(DefaultKernelBlockSize(512), 512u);
}

// The real kernel: the controller family always exists.
TEST(GenericNetlink, ResolvesTheControllerFamily) {
  Result<GenericNetlink> genl = GenericNetlink::Open();
  if (!genl.ok()) GTEST_SKIP() << genl.status().ToString();
  Result<uint16_t> id = genl->ResolveFamily("nlctrl");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, GENL_ID_CTRL);
  Result<uint16_t> missing = genl->ResolveFamily("usbd-nofamily");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
  // Names are at most 15 bytes: the kernel's policy rejects longer ones,
  // and its extended acknowledgement says why.
  Result<uint16_t> too_long = genl->ResolveFamily("usbd-name-too-long-here");
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), EINVAL) << too_long.status().ToString();
  // "nbd" exists exactly when the module is loaded.
  Result<uint16_t> nbd = genl->ResolveFamily("nbd");
  EXPECT_TRUE(nbd.ok() || nbd.status().code() == ENOENT)
      << nbd.status().ToString();
}

}  // namespace
}  // namespace usbd::kernel
