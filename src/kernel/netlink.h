// Generic netlink without libnl: a message builder, an attribute parser and
// a socket that sends one request and collects its reply and acknowledgement.
//
// Wire layout (all host byte order, every part padded to 4 bytes):
//   struct nlmsghdr   { len, type (= family id), flags, seq, pid }   16 bytes
//   struct genlmsghdr { cmd, version, reserved }                      4 bytes
//   attributes: struct nlattr { len, type } + payload + padding;
//   len counts header and payload, not the padding. A nested attribute's
//   payload is a run of attributes; its type carries NLA_F_NESTED.
#ifndef USBD_KERNEL_NETLINK_H_
#define USBD_KERNEL_NETLINK_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/fd.h"
#include "util/status.h"

namespace usbd::kernel {

constexpr size_t kNetlinkAlign = 4;
constexpr size_t NetlinkAlign(size_t n) {
  return (n + kNetlinkAlign - 1) & ~(kNetlinkAlign - 1);
}
constexpr size_t kNlmsgHeaderSize = 16;
constexpr size_t kGenlHeaderSize = 4;
constexpr size_t kAttrHeaderSize = 4;
constexpr uint16_t kAttrNested = 1 << 15;     // NLA_F_NESTED
constexpr uint16_t kAttrByteOrder = 1 << 14;  // NLA_F_NET_BYTEORDER
constexpr uint16_t kAttrTypeMask = 0x3fff;    // NLA_TYPE_MASK

// One generic netlink request: headers, then attributes appended in order.
class NetlinkMessage {
 public:
  // nlmsg_flags are NLM_F_REQUEST | NLM_F_ACK | extra_flags.
  NetlinkMessage(uint16_t family, uint8_t command, uint8_t version,
                 uint16_t extra_flags = 0);

  void set_sequence(uint32_t sequence);
  uint32_t sequence() const;

  void PutU8(uint16_t type, uint8_t value);
  void PutU16(uint16_t type, uint16_t value);
  void PutU32(uint16_t type, uint32_t value);
  void PutU64(uint16_t type, uint64_t value);
  // A NUL-terminated string (NLA_STRING / NLA_NUL_STRING).
  void PutString(uint16_t type, std::string_view value);
  void PutBytes(uint16_t type, std::span<const uint8_t> value);

  // Opens a nested attribute; returns its offset for EndNested. Nests may
  // be nested; close them in reverse order.
  size_t BeginNested(uint16_t type);
  void EndNested(size_t start);

  // The whole message, nlmsg_len filled in.
  std::span<const uint8_t> bytes() const { return buffer_; }

 private:
  uint8_t* Reserve(uint16_t type, size_t payload_size);

  std::vector<uint8_t> buffer_;
};

// One attribute of a received message; `payload` points into its buffer.
struct NetlinkAttribute {
  uint16_t type = 0;  // without the NLA_F_* bits
  bool nested = false;
  std::span<const uint8_t> payload;

  std::optional<uint16_t> U16() const;
  std::optional<uint32_t> U32() const;
  std::optional<uint64_t> U64() const;
  // Up to the first NUL (or the whole payload).
  std::string String() const;
};

// Parses a run of attributes (a message's, or a nested attribute's
// payload). EINVAL when an attribute's length is impossible.
Result<std::vector<NetlinkAttribute>> ParseAttributes(
    std::span<const uint8_t> data);
// The first attribute of `type`, or nullptr.
const NetlinkAttribute* FindAttribute(
    const std::vector<NetlinkAttribute>& attributes, uint16_t type);

// One message of a received datagram.
struct NetlinkReply {
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t sequence = 0;
  std::span<const uint8_t> payload;  // after the nlmsghdr
};
// Splits a datagram into messages. EINVAL when a length is impossible.
Result<std::vector<NetlinkReply>> SplitMessages(std::span<const uint8_t> data);

// A NETLINK_GENERIC socket for request/response calls.
class GenericNetlink {
 public:
  static Result<GenericNetlink> Open();

  // CTRL_CMD_GETFAMILY: the id of a registered family. ENOENT when the
  // family does not exist (for "nbd": the module is not loaded).
  Result<uint16_t> ResolveFamily(std::string_view name);

  // Sends `message` (with a fresh sequence number) and waits for the
  // kernel's acknowledgement. Returns the attributes (after the genl
  // header) of the reply messages, concatenated; an error acknowledgement
  // becomes a Status with its errno and, when the kernel gave one, its
  // extended-ack message.
  Result<std::vector<uint8_t>> Call(NetlinkMessage& message);

 private:
  explicit GenericNetlink(Fd fd) : fd_(std::move(fd)) {}

  Fd fd_;
  uint32_t sequence_ = 1;
};

}  // namespace usbd::kernel

#endif  // USBD_KERNEL_NETLINK_H_
