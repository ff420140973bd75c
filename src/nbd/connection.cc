#include "nbd/connection.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "nbd/protocol.h"
#include "util/log.h"

namespace usbd::nbd {
namespace {

const char* CommandName(uint16_t type) {
  switch (type) {
    case kCmdRead:
      return "READ";
    case kCmdWrite:
      return "WRITE";
    case kCmdDisc:
      return "DISC";
    case kCmdFlush:
      return "FLUSH";
    case kCmdTrim:
      return "TRIM";
    case kCmdCache:
      return "CACHE";
    case kCmdWriteZeroes:
      return "WRITE_ZEROES";
    case kCmdBlockStatus:
      return "BLOCK_STATUS";
  }
  return "UNKNOWN";
}

// Flags each command accepts; anything else is EINVAL. FUA is accepted on
// every command, as the NBD spec requires once it is advertised (clients set
// it on reads and flushes too); it means something only on the commands
// that write, and is ignored on the others.
uint16_t AllowedFlags(uint16_t type) {
  switch (type) {
    case kCmdRead:
      return kCmdFlagFua | kCmdFlagDf;
    case kCmdWrite:
    case kCmdTrim:
    case kCmdFlush:
    case kCmdCache:
      return kCmdFlagFua;
    case kCmdWriteZeroes:
      return kCmdFlagFua | kCmdFlagNoHole | kCmdFlagFastZero;
    case kCmdBlockStatus:
      return kCmdFlagFua | kCmdFlagReqOne;
    default:
      return 0;
  }
}

bool IsWriteCommand(uint16_t type) {
  return type == kCmdWrite || type == kCmdTrim || type == kCmdWriteZeroes;
}

// Reads and discards `length` bytes: a rejected WRITE's payload.
Status Drain(int fd, uint64_t length) {
  std::vector<uint8_t> sink(std::min<uint64_t>(length, 1 << 20));
  while (length > 0) {
    size_t n = std::min<uint64_t>(length, sink.size());
    USBD_RETURN_IF_ERROR(ReadAll(fd, {sink.data(), n}));
    length -= n;
  }
  return Status::Ok();
}

}  // namespace

Connection::Connection(Fd socket, Frontend* frontend, const ExportInfo& info,
                       unsigned threads)
    : socket_(std::move(socket)),
      frontend_(frontend),
      info_(info),
      threads_(std::max(1u, threads)) {}

void Connection::Stop(bool refuse_unread) {
  if (refuse_unread) {
    // Only what is in the socket now: over TCP a client may go on sending
    // after SHUT_RD, and must not hold the stop up.
    int pending = 0;
    if (::ioctl(socket_.get(), FIONREAD, &pending) != 0) pending = 0;
    refuse_budget_ = pending;
    refuse_unread_ = true;
  }
  stopped_ = true;
  // Wakes a reader blocked in read(); what was queued before stays
  // readable (then end of file), for the ESHUTDOWN answers.
  ::shutdown(socket_.get(), SHUT_RD);
}

void Connection::Serve() {
  Result<Session> session = Negotiate(socket_.get(), info_);
  if (!session.ok()) {
    LogDebug("handshake ended: " + session.status().ToString());
    // The client sees the end now; the descriptor itself is closed by the
    // destructor, so a concurrent Stop() never touches a reused number.
    ::shutdown(socket_.get(), SHUT_RDWR);
    return;
  }
  session_ = *session;
  LogDebug(std::string("client connected, structured replies ") +
           (session_.structured_replies ? "on" : "off"));
  std::vector<std::thread> helpers;
  for (unsigned i = 1; i < threads_; ++i) {
    helpers.emplace_back([this] { WorkerLoop(); });
  }
  WorkerLoop();
  for (std::thread& t : helpers) t.join();
  ::shutdown(socket_.get(), SHUT_RDWR);
  LogDebug("client disconnected");
}

void Connection::WorkerLoop() {
  Request request;
  std::vector<uint8_t> buffer;  // payload in, data out; reused
  while (ReadRequest(&request, &buffer)) Process(request, &buffer);
}

bool Connection::ReadRequest(Request* request, std::vector<uint8_t>* payload) {
  std::lock_guard lock(read_mu_);
  if (draining_) return false;
  // Stopping: only what the client sent already, each answered ESHUTDOWN.
  const bool refusing = stopped_;
  if (refusing && (!refuse_unread_ || refuse_budget_ <= 0)) return false;
  uint8_t header[kRequestSize];
  Status status = ReadAll(socket_.get(), header);
  if (!status.ok()) {
    if (status.code() != ECONNRESET) LogDebug("read: " + status.ToString());
    draining_ = true;
    return false;
  }
  if (Get32(header) != kRequestMagic) {
    LogWarning("client sent a request with bad magic: disconnecting");
    draining_ = true;
    return false;
  }
  request->flags = Get16(header + 4);
  request->type = Get16(header + 6);
  request->cookie = Get64(header + 8);
  request->offset = Get64(header + 16);
  request->length = Get32(header + 24);
  if (request->type == kCmdDisc) {
    draining_ = true;
    return false;
  }
  request->error = refusing ? ESHUTDOWN : Validate(*request);
  if (refusing) {
    refuse_budget_ -= static_cast<int64_t>(
        kRequestSize + (request->type == kCmdWrite ? request->length : 0));
  }
  if (request->type == kCmdWrite) {
    if (request->length > kMaxPayload) {
      status = Drain(socket_.get(), request->length);
    } else {
      payload->resize(request->length);
      status = ReadAll(socket_.get(), *payload);
    }
    if (!status.ok()) {
      LogWarning("client hung up inside a WRITE payload");
      draining_ = true;
      return false;
    }
  }
  return true;
}

int Connection::Validate(const Request& r) const {
  switch (r.type) {
    case kCmdRead:
    case kCmdWrite:
    case kCmdFlush:
    case kCmdTrim:
    case kCmdCache:
    case kCmdWriteZeroes:
    case kCmdBlockStatus:
      break;
    default:
      return EINVAL;
  }
  if (r.flags & ~AllowedFlags(r.type)) return EINVAL;
  if ((r.flags & kCmdFlagDf) && !session_.structured_replies) return EINVAL;
  if (r.type == kCmdBlockStatus &&
      (!session_.base_allocation || r.length == 0)) {
    return EINVAL;
  }
  if ((r.type == kCmdRead || r.type == kCmdWrite) && r.length > kMaxPayload) {
    return EOVERFLOW;
  }
  if (IsWriteCommand(r.type) && info_.read_only) return EPERM;
  if (r.type == kCmdFlush) return 0;
  uint64_t size = frontend_->size();
  if (r.offset > size || r.length > size - r.offset) {
    bool grows = r.type == kCmdWrite || r.type == kCmdWriteZeroes;
    return grows ? ENOSPC : EINVAL;
  }
  return 0;
}

void Connection::Process(const Request& r, std::vector<uint8_t>* buffer) {
  const bool fua = r.flags & kCmdFlagFua;
  const bool structured_read =
      session_.structured_replies &&
      (r.type == kCmdRead || r.type == kCmdBlockStatus);
  int error = r.error;
  std::vector<Extent> extents;
  Status status;
  if (error == 0) {
    switch (r.type) {
      case kCmdRead:
        buffer->resize(r.length);
        status = frontend_->Read(r.offset, *buffer);
        break;
      case kCmdWrite:
        status = frontend_->Write(r.offset, *buffer, fua);
        break;
      case kCmdFlush:
        status = frontend_->Flush();
        break;
      case kCmdTrim:
        status = frontend_->Trim(r.offset, r.length, fua);
        break;
      case kCmdCache:
        status = frontend_->Cache(r.offset, r.length);
        break;
      case kCmdWriteZeroes: {
        bool may_trim = !(r.flags & kCmdFlagNoHole);
        // The zero layer stores no all-zero block, so zeroing is fast
        // whenever the store can release blocks, NO_HOLE or not.
        if ((r.flags & kCmdFlagFastZero) &&
            !frontend_->capabilities().fast_zero) {
          error = ENOTSUP;
          break;
        }
        status = frontend_->Zero(r.offset, r.length, may_trim, fua);
        break;
      }
      case kCmdBlockStatus:
        status = frontend_->BlockStatus(
            r.offset, r.length, (r.flags & kCmdFlagReqOne) ? 1 : 1024 * 1024,
            &extents);
        break;
    }
    if (!status.ok()) {
      error = status.code();
      LogError(std::string(CommandName(r.type)) + " offset " +
               std::to_string(r.offset) + " length " +
               std::to_string(r.length) + ": " + status.ToString());
    }
  } else if (error != ENOTSUP) {
    LogDebug(std::string(CommandName(r.type)) +
             " rejected: " + std::strerror(error));
  }

  if (structured_read) {
    if (error != 0) {
      SendStructuredError(r, error);
    } else if (r.type == kCmdRead) {
      SendRead(r, *buffer);
    } else {
      SendBlockStatus(r, extents);
    }
  } else if (r.type == kCmdRead && error == 0) {
    SendSimple(r, 0, *buffer);
  } else {
    SendSimple(r, error);
  }
}

void Connection::Send(struct iovec* iov, int count) {
  std::lock_guard lock(write_mu_);
  if (write_failed_) return;
  Status status = WritevAll(socket_.get(), iov, count);
  if (!status.ok()) {
    // The client is gone: stop reading; the other workers finish quietly.
    LogDebug("send: " + status.ToString());
    write_failed_ = true;
    ::shutdown(socket_.get(), SHUT_RDWR);
  }
}

void Connection::SendSimple(const Request& r, int error,
                            std::span<const uint8_t> data) {
  uint8_t header[16];
  Put32(header, kSimpleReplyMagic);
  Put32(header + 4, ErrnoToNbd(error));
  Put64(header + 8, r.cookie);
  struct iovec iov[2] = {{header, sizeof header},
                         {const_cast<uint8_t*>(data.data()), data.size()}};
  Send(iov, data.empty() ? 1 : 2);
}

// Structured reply chunk header: magic, flags, type, cookie, length.
static void PutChunkHeader(uint8_t* p, uint16_t flags, uint16_t type,
                           uint64_t cookie, uint32_t length) {
  Put32(p, kStructuredReplyMagic);
  Put16(p + 4, flags);
  Put16(p + 6, type);
  Put64(p + 8, cookie);
  Put32(p + 16, length);
}

void Connection::SendRead(const Request& r, std::span<const uint8_t> data) {
  uint8_t header[28];
  if (data.empty()) {
    PutChunkHeader(header, kReplyFlagDone, kReplyTypeNone, r.cookie, 0);
    struct iovec iov[1] = {{header, 20}};
    Send(iov, 1);
    return;
  }
  PutChunkHeader(header, kReplyFlagDone, kReplyTypeOffsetData, r.cookie,
                 static_cast<uint32_t>(8 + data.size()));
  Put64(header + 20, r.offset);
  struct iovec iov[2] = {{header, sizeof header},
                         {const_cast<uint8_t*>(data.data()), data.size()}};
  Send(iov, 2);
}

void Connection::SendStructuredError(const Request& r, int error) {
  const char* message = std::strerror(error);
  uint16_t message_length = static_cast<uint16_t>(std::strlen(message));
  uint8_t header[26];
  PutChunkHeader(header, kReplyFlagDone, kReplyTypeError, r.cookie,
                 6 + message_length);
  Put32(header + 20, ErrnoToNbd(error));
  Put16(header + 24, message_length);
  struct iovec iov[2] = {{header, sizeof header},
                         {const_cast<char*>(message), message_length}};
  Send(iov, 2);
}

void Connection::SendBlockStatus(const Request& r,
                                 const std::vector<Extent>& extents) {
  std::vector<uint8_t> reply(24 + 8 * extents.size());
  PutChunkHeader(reply.data(), kReplyFlagDone, kReplyTypeBlockStatus, r.cookie,
                 static_cast<uint32_t>(reply.size() - 20));
  Put32(reply.data() + 20, kBaseAllocationId);
  uint8_t* p = reply.data() + 24;
  for (const Extent& e : extents) {
    Put32(p, static_cast<uint32_t>(e.length));
    Put32(p + 4, e.hole ? (kStateHole | kStateZero) : 0);
    p += 8;
  }
  struct iovec iov[1] = {{reply.data(), reply.size()}};
  Send(iov, 1);
}

}  // namespace usbd::nbd
