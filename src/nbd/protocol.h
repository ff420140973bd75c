// NBD wire constants (fixed newstyle handshake, transmission phase) and
// big-endian helpers. The normative text is doc/proto.md of the NBD project.
#ifndef USBD_NBD_PROTOCOL_H_
#define USBD_NBD_PROTOCOL_H_

#include <cstdint>
#include <cstring>

namespace usbd::nbd {

// Handshake.
constexpr uint64_t kNbdMagic = 0x4e42444d41474943;  // "NBDMAGIC"
constexpr uint64_t kIHaveOpt = 0x49484156454F5054;  // "IHAVEOPT"
constexpr uint64_t kOptReplyMagic = 0x0003e889045565a9;
constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
constexpr uint16_t kFlagNoZeroes = 1 << 1;
constexpr uint32_t kClientFlagFixedNewstyle = 1 << 0;
constexpr uint32_t kClientFlagNoZeroes = 1 << 1;

// Options.
constexpr uint32_t kOptExportName = 1;
constexpr uint32_t kOptAbort = 2;
constexpr uint32_t kOptList = 3;
constexpr uint32_t kOptStartTls = 5;
constexpr uint32_t kOptInfo = 6;
constexpr uint32_t kOptGo = 7;
constexpr uint32_t kOptStructuredReply = 8;
constexpr uint32_t kOptListMetaContext = 9;
constexpr uint32_t kOptSetMetaContext = 10;

// Option replies.
constexpr uint32_t kRepAck = 1;
constexpr uint32_t kRepServer = 2;
constexpr uint32_t kRepInfo = 3;
constexpr uint32_t kRepMetaContext = 4;
constexpr uint32_t kRepErrUnsup = 0x80000001;
constexpr uint32_t kRepErrPolicy = 0x80000002;
constexpr uint32_t kRepErrInvalid = 0x80000003;
constexpr uint32_t kRepErrPlatform = 0x80000004;
constexpr uint32_t kRepErrTlsReqd = 0x80000005;
constexpr uint32_t kRepErrUnknown = 0x80000006;
constexpr uint32_t kRepErrShutdown = 0x80000007;
constexpr uint32_t kRepErrTooBig = 0x80000009;

// Info types (NBD_OPT_INFO / NBD_OPT_GO).
constexpr uint16_t kInfoExport = 0;
constexpr uint16_t kInfoName = 1;
constexpr uint16_t kInfoDescription = 2;
constexpr uint16_t kInfoBlockSize = 3;

// Transmission flags.
constexpr uint16_t kTransHasFlags = 1 << 0;
constexpr uint16_t kTransReadOnly = 1 << 1;
constexpr uint16_t kTransSendFlush = 1 << 2;
constexpr uint16_t kTransSendFua = 1 << 3;
constexpr uint16_t kTransSendTrim = 1 << 5;
constexpr uint16_t kTransSendWriteZeroes = 1 << 6;
constexpr uint16_t kTransSendDf = 1 << 7;
constexpr uint16_t kTransCanMultiConn = 1 << 8;
constexpr uint16_t kTransSendCache = 1 << 10;
constexpr uint16_t kTransSendFastZero = 1 << 11;

// Requests.
constexpr uint32_t kRequestMagic = 0x25609513;
constexpr size_t kRequestSize = 28;
constexpr uint16_t kCmdRead = 0;
constexpr uint16_t kCmdWrite = 1;
constexpr uint16_t kCmdDisc = 2;
constexpr uint16_t kCmdFlush = 3;
constexpr uint16_t kCmdTrim = 4;
constexpr uint16_t kCmdCache = 5;
constexpr uint16_t kCmdWriteZeroes = 6;
constexpr uint16_t kCmdBlockStatus = 7;

constexpr uint16_t kCmdFlagFua = 1 << 0;
constexpr uint16_t kCmdFlagNoHole = 1 << 1;
constexpr uint16_t kCmdFlagDf = 1 << 2;
constexpr uint16_t kCmdFlagReqOne = 1 << 3;
constexpr uint16_t kCmdFlagFastZero = 1 << 4;

// Replies.
constexpr uint32_t kSimpleReplyMagic = 0x67446698;
constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;
constexpr uint16_t kReplyFlagDone = 1 << 0;
constexpr uint16_t kReplyTypeNone = 0;
constexpr uint16_t kReplyTypeOffsetData = 1;
constexpr uint16_t kReplyTypeOffsetHole = 2;
constexpr uint16_t kReplyTypeBlockStatus = 5;
constexpr uint16_t kReplyTypeError = 32769;
constexpr uint16_t kReplyTypeErrorOffset = 32770;

// base:allocation flags.
constexpr uint32_t kStateHole = 1 << 0;
constexpr uint32_t kStateZero = 1 << 1;

// NBD error values on the wire.
constexpr uint32_t kErrPerm = 1;
constexpr uint32_t kErrIo = 5;
constexpr uint32_t kErrNoMem = 12;
constexpr uint32_t kErrInval = 22;
constexpr uint32_t kErrNoSpc = 28;
constexpr uint32_t kErrOverflow = 75;
constexpr uint32_t kErrNotSup = 95;
constexpr uint32_t kErrShutdown = 108;

// The one meta context we serve.
constexpr char kBaseAllocation[] = "base:allocation";
constexpr uint32_t kBaseAllocationId = 1;

// Largest payload we accept or send (WRITE data, READ length).
constexpr uint32_t kMaxPayload = 32 * 1024 * 1024;
// Longest option payload we read during the handshake.
constexpr uint32_t kMaxOptionLength = 64 * 1024;

// Maps a local errno to the NBD error that goes on the wire.
inline uint32_t ErrnoToNbd(int err) {
  switch (err) {
    case 0:
      return 0;
    case EPERM:
    case EROFS:
      return kErrPerm;
    case ENOMEM:
      return kErrNoMem;
    case EINVAL:
      return kErrInval;
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
      return kErrNoSpc;
    case EOVERFLOW:
      return kErrOverflow;
    case ENOTSUP:
      return kErrNotSup;
    case ESHUTDOWN:
      return kErrShutdown;
    default:
      return kErrIo;
  }
}

// Big-endian encoding into and out of byte buffers.
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Put32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline void Put64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
inline uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t Get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 |
         p[3];
}
inline uint64_t Get64(const uint8_t* p) {
  return uint64_t{Get32(p)} << 32 | Get32(p + 4);
}

}  // namespace usbd::nbd

#endif  // USBD_NBD_PROTOCOL_H_
