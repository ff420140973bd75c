#include "kernel/netlink.h"

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace usbd::kernel {
namespace {

template <typename T>
void Store(uint8_t* p, T value) {
  std::memcpy(p, &value, sizeof value);
}

template <typename T>
T Load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

template <typename T>
std::optional<T> LoadExact(std::span<const uint8_t> payload) {
  if (payload.size() < sizeof(T)) return std::nullopt;
  return Load<T>(payload.data());
}

}  // namespace

NetlinkMessage::NetlinkMessage(uint16_t family, uint8_t command,
                               uint8_t version, uint16_t extra_flags)
    : buffer_(kNlmsgHeaderSize + kGenlHeaderSize, 0) {
  Store<uint32_t>(&buffer_[0], static_cast<uint32_t>(buffer_.size()));
  Store<uint16_t>(&buffer_[4], family);
  Store<uint16_t>(&buffer_[6], NLM_F_REQUEST | NLM_F_ACK | extra_flags);
  buffer_[kNlmsgHeaderSize] = command;
  buffer_[kNlmsgHeaderSize + 1] = version;
}

void NetlinkMessage::set_sequence(uint32_t sequence) {
  Store<uint32_t>(&buffer_[8], sequence);
}

uint32_t NetlinkMessage::sequence() const {
  return Load<uint32_t>(&buffer_[8]);
}

uint8_t* NetlinkMessage::Reserve(uint16_t type, size_t payload_size) {
  size_t start = buffer_.size();
  size_t length = kAttrHeaderSize + payload_size;
  buffer_.resize(start + NetlinkAlign(length), 0);  // padding is zeroed
  Store<uint16_t>(&buffer_[start], static_cast<uint16_t>(length));
  Store<uint16_t>(&buffer_[start + 2], type);
  Store<uint32_t>(&buffer_[0], static_cast<uint32_t>(buffer_.size()));
  return &buffer_[start + kAttrHeaderSize];
}

void NetlinkMessage::PutU8(uint16_t type, uint8_t value) {
  *Reserve(type, 1) = value;
}

void NetlinkMessage::PutU16(uint16_t type, uint16_t value) {
  Store(Reserve(type, sizeof value), value);
}

void NetlinkMessage::PutU32(uint16_t type, uint32_t value) {
  Store(Reserve(type, sizeof value), value);
}

void NetlinkMessage::PutU64(uint16_t type, uint64_t value) {
  Store(Reserve(type, sizeof value), value);
}

void NetlinkMessage::PutString(uint16_t type, std::string_view value) {
  uint8_t* p = Reserve(type, value.size() + 1);
  std::memcpy(p, value.data(), value.size());  // the NUL is already there
}

void NetlinkMessage::PutBytes(uint16_t type, std::span<const uint8_t> value) {
  uint8_t* p = Reserve(type, value.size());
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
}

size_t NetlinkMessage::BeginNested(uint16_t type) {
  size_t start = buffer_.size();
  Reserve(type | kAttrNested, 0);
  return start;
}

void NetlinkMessage::EndNested(size_t start) {
  // Every attribute inside is padded, so the nest's length is aligned too.
  Store<uint16_t>(&buffer_[start],
                  static_cast<uint16_t>(buffer_.size() - start));
}

std::optional<uint16_t> NetlinkAttribute::U16() const {
  return LoadExact<uint16_t>(payload);
}

std::optional<uint32_t> NetlinkAttribute::U32() const {
  return LoadExact<uint32_t>(payload);
}

std::optional<uint64_t> NetlinkAttribute::U64() const {
  return LoadExact<uint64_t>(payload);
}

std::string NetlinkAttribute::String() const {
  const char* begin = reinterpret_cast<const char*>(payload.data());
  size_t length = 0;
  while (length < payload.size() && begin[length] != '\0') ++length;
  return std::string(begin, length);
}

Result<std::vector<NetlinkAttribute>> ParseAttributes(
    std::span<const uint8_t> data) {
  std::vector<NetlinkAttribute> attributes;
  size_t offset = 0;
  while (data.size() - offset >= kAttrHeaderSize) {
    uint16_t length = Load<uint16_t>(&data[offset]);
    uint16_t type = Load<uint16_t>(&data[offset + 2]);
    if (length < kAttrHeaderSize || length > data.size() - offset) {
      return Status::Invalid("netlink attribute at offset " +
                             std::to_string(offset) + " has length " +
                             std::to_string(length));
    }
    NetlinkAttribute attribute;
    attribute.type = type & kAttrTypeMask;
    attribute.nested = type & kAttrNested;
    attribute.payload =
        data.subspan(offset + kAttrHeaderSize, length - kAttrHeaderSize);
    attributes.push_back(attribute);
    offset += NetlinkAlign(length);
    if (offset > data.size()) break;  // the last one's padding may be cut
  }
  return attributes;
}

const NetlinkAttribute* FindAttribute(
    const std::vector<NetlinkAttribute>& attributes, uint16_t type) {
  for (const NetlinkAttribute& attribute : attributes) {
    if (attribute.type == type) return &attribute;
  }
  return nullptr;
}

Result<std::vector<NetlinkReply>> SplitMessages(std::span<const uint8_t> data) {
  std::vector<NetlinkReply> messages;
  size_t offset = 0;
  while (data.size() - offset >= kNlmsgHeaderSize) {
    uint32_t length = Load<uint32_t>(&data[offset]);
    if (length < kNlmsgHeaderSize || length > data.size() - offset) {
      return Status::Invalid("netlink message with length " +
                             std::to_string(length));
    }
    NetlinkReply message;
    message.type = Load<uint16_t>(&data[offset + 4]);
    message.flags = Load<uint16_t>(&data[offset + 6]);
    message.sequence = Load<uint32_t>(&data[offset + 8]);
    message.payload =
        data.subspan(offset + kNlmsgHeaderSize, length - kNlmsgHeaderSize);
    messages.push_back(message);
    offset += NetlinkAlign(length);
    if (offset > data.size()) break;
  }
  return messages;
}

Result<GenericNetlink> GenericNetlink::Open() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) return ErrnoStatus("netlink socket");
  Fd owned(fd);
  struct sockaddr_nl address = {};
  address.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return ErrnoStatus("netlink bind");
  }
  int one = 1;
  // Extended acknowledgements carry the kernel's error text, when it has
  // one; not capping them returns our request too, which we skip.
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  return GenericNetlink(std::move(owned));
}

Result<std::vector<uint8_t>> GenericNetlink::Call(NetlinkMessage& message) {
  message.set_sequence(sequence_++);
  std::span<const uint8_t> request = message.bytes();
  struct sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = ::sendto(fd_.get(), request.data(), request.size(), 0,
                    reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return ErrnoStatus("netlink send");

  std::vector<uint8_t> attributes;
  std::vector<uint8_t> buffer(64 * 1024);
  while (true) {
    ssize_t n = ::recv(fd_.get(), buffer.data(), buffer.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("netlink receive");
    }
    if (static_cast<size_t>(n) > buffer.size()) {
      return Status::IoError("netlink reply larger than 64 KiB");
    }
    Result<std::vector<NetlinkReply>> messages =
        SplitMessages({buffer.data(), static_cast<size_t>(n)});
    if (!messages.ok()) return messages.status();
    for (const NetlinkReply& reply : *messages) {
      if (reply.sequence != message.sequence()) continue;  // not ours
      if (reply.type == NLMSG_ERROR) {
        if (reply.payload.size() < sizeof(int32_t)) {
          return Status::IoError("short netlink error message");
        }
        int32_t error = Load<int32_t>(reply.payload.data());
        if (error == 0) return attributes;  // the acknowledgement
        std::string text;
        if (reply.flags & NLM_F_ACK_TLVS) {
          // nlmsgerr: error, then the request's header (NLM_F_CAPPED) or
          // the whole request, then the TLVs.
          size_t skip = sizeof(int32_t) + kNlmsgHeaderSize;
          if (!(reply.flags & NLM_F_CAPPED)) {
            skip = sizeof(int32_t) + NetlinkAlign(request.size());
          }
          if (skip <= reply.payload.size()) {
            Result<std::vector<NetlinkAttribute>> tlvs =
                ParseAttributes(reply.payload.subspan(skip));
            const NetlinkAttribute* msg =
                tlvs.ok() ? FindAttribute(*tlvs, NLMSGERR_ATTR_MSG) : nullptr;
            if (msg != nullptr) text = msg->String();
          }
        }
        return Status::Error(-error, text.empty() ? "netlink request" : text);
      }
      if (reply.type == NLMSG_DONE || reply.type == NLMSG_NOOP) continue;
      if (reply.payload.size() >= kGenlHeaderSize) {
        attributes.insert(attributes.end(),
                          reply.payload.begin() + kGenlHeaderSize,
                          reply.payload.end());
      }
    }
  }
}

Result<uint16_t> GenericNetlink::ResolveFamily(std::string_view name) {
  NetlinkMessage message(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
  message.PutString(CTRL_ATTR_FAMILY_NAME, name);
  Result<std::vector<uint8_t>> reply = Call(message);
  if (!reply.ok()) {
    return Status::Error(reply.status().code(),
                         "generic netlink family '" + std::string(name) +
                             "': " + reply.status().message());
  }
  Result<std::vector<NetlinkAttribute>> attributes = ParseAttributes(*reply);
  if (!attributes.ok()) return attributes.status();
  const NetlinkAttribute* id = FindAttribute(*attributes, CTRL_ATTR_FAMILY_ID);
  if (id == nullptr || !id->U16()) {
    return Status::IoError("no family id in the reply for '" +
                           std::string(name) + "'");
  }
  return *id->U16();
}

}  // namespace usbd::kernel
