#include "nbd/handshake.h"

#include <optional>
#include <vector>

#include "nbd/protocol.h"
#include "util/fd.h"
#include "util/log.h"

namespace usbd::nbd {
namespace {

// A cursor over an option's payload; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& data) : data_(data) {}
  bool Has(size_t n) const { return data_.size() - pos_ >= n; }
  bool done() const { return pos_ == data_.size(); }
  std::optional<uint16_t> U16() {
    if (!Has(2)) return std::nullopt;
    pos_ += 2;
    return Get16(&data_[pos_ - 2]);
  }
  std::optional<uint32_t> U32() {
    if (!Has(4)) return std::nullopt;
    pos_ += 4;
    return Get32(&data_[pos_ - 4]);
  }
  // A u32 length followed by that many bytes.
  std::optional<std::string> String() {
    auto length = U32();
    if (!length || !Has(*length)) return std::nullopt;
    std::string s(data_.begin() + pos_, data_.begin() + pos_ + *length);
    pos_ += *length;
    return s;
  }

 private:
  const std::vector<uint8_t>& data_;
  size_t pos_ = 0;
};

class Negotiation {
 public:
  Negotiation(int fd, const ExportInfo& info) : fd_(fd), info_(info) {}

  Result<Session> Run();

 private:
  enum class Next { kContinue, kTransmit, kClose };

  Next HandleOption(uint32_t option, const std::vector<uint8_t>& data);
  Next HandleInfo(uint32_t option, const std::vector<uint8_t>& data);
  Next HandleMetaContext(uint32_t option, const std::vector<uint8_t>& data);
  Next HandleExportName(const std::vector<uint8_t>& data);

  bool KnownExport(const std::string& name) const {
    return name.empty() || name == info_.name;
  }
  Status Reply(uint32_t option, uint32_t type,
               const std::vector<uint8_t>& data = {});
  Next ReplyOrClose(uint32_t option, uint32_t type,
                    const std::vector<uint8_t>& data = {}) {
    return Reply(option, type, data).ok() ? Next::kContinue : Next::kClose;
  }
  Status ReplyInfoExport(uint32_t option);

  const int fd_;
  const ExportInfo& info_;
  Session session_;
  bool no_zeroes_ = false;
  Status failure_;
};

void Append16(std::vector<uint8_t>* out, uint16_t v) {
  out->resize(out->size() + 2);
  Put16(out->data() + out->size() - 2, v);
}
void Append32(std::vector<uint8_t>* out, uint32_t v) {
  out->resize(out->size() + 4);
  Put32(out->data() + out->size() - 4, v);
}
void Append64(std::vector<uint8_t>* out, uint64_t v) {
  out->resize(out->size() + 8);
  Put64(out->data() + out->size() - 8, v);
}
void AppendBytes(std::vector<uint8_t>* out, const std::string& s) {
  out->insert(out->end(), s.begin(), s.end());
}

Status Negotiation::Reply(uint32_t option, uint32_t type,
                          const std::vector<uint8_t>& data) {
  std::vector<uint8_t> msg;
  msg.reserve(20 + data.size());
  Append64(&msg, kOptReplyMagic);
  Append32(&msg, option);
  Append32(&msg, type);
  Append32(&msg, static_cast<uint32_t>(data.size()));
  msg.insert(msg.end(), data.begin(), data.end());
  Status status = WriteAll(fd_, msg);
  if (!status.ok()) failure_ = status;
  return status;
}

Status Negotiation::ReplyInfoExport(uint32_t option) {
  std::vector<uint8_t> data;
  Append16(&data, kInfoExport);
  Append64(&data, info_.size);
  Append16(&data, TransmissionFlags(info_, session_.structured_replies));
  return Reply(option, kRepInfo, data);
}

Result<Session> Negotiation::Run() {
  uint8_t greeting[18];
  Put64(greeting, kNbdMagic);
  Put64(greeting + 8, kIHaveOpt);
  Put16(greeting + 16, kFlagFixedNewstyle | kFlagNoZeroes);
  USBD_RETURN_IF_ERROR(WriteAll(fd_, greeting));

  uint8_t client_flags_buf[4];
  USBD_RETURN_IF_ERROR(ReadAll(fd_, client_flags_buf));
  uint32_t client_flags = Get32(client_flags_buf);
  if (client_flags & ~(kClientFlagFixedNewstyle | kClientFlagNoZeroes)) {
    return Status::Invalid("client sent unknown handshake flags " +
                           std::to_string(client_flags));
  }
  no_zeroes_ = client_flags & kClientFlagNoZeroes;

  while (true) {
    uint8_t header[16];
    USBD_RETURN_IF_ERROR(ReadAll(fd_, header));
    if (Get64(header) != kIHaveOpt) {
      return Status::Invalid("bad option magic from client");
    }
    uint32_t option = Get32(header + 8);
    uint32_t length = Get32(header + 12);
    if (length > kMaxOptionLength) {
      if (option == kOptExportName) {
        return Status::Invalid("export name too long");
      }
      // Drain what the client sends so the stream stays in sync.
      std::vector<uint8_t> sink(4096);
      for (uint32_t left = length; left > 0;) {
        uint32_t n = std::min<uint32_t>(left, sink.size());
        USBD_RETURN_IF_ERROR(ReadAll(fd_, {sink.data(), n}));
        left -= n;
      }
      USBD_RETURN_IF_ERROR(Reply(option, kRepErrTooBig));
      continue;
    }
    std::vector<uint8_t> data(length);
    USBD_RETURN_IF_ERROR(ReadAll(fd_, data));
    switch (HandleOption(option, data)) {
      case Next::kContinue:
        break;
      case Next::kTransmit:
        return session_;
      case Next::kClose:
        if (!failure_.ok()) return failure_;
        return Status::Error(ECONNABORTED, "client ended the handshake");
    }
  }
}

Negotiation::Next Negotiation::HandleOption(uint32_t option,
                                            const std::vector<uint8_t>& data) {
  switch (option) {
    case kOptExportName:
      return HandleExportName(data);
    case kOptAbort:
      (void)Reply(option, kRepAck);
      return Next::kClose;
    case kOptList: {
      if (!data.empty()) return ReplyOrClose(option, kRepErrInvalid);
      std::vector<uint8_t> entry;
      Append32(&entry, static_cast<uint32_t>(info_.name.size()));
      AppendBytes(&entry, info_.name);
      AppendBytes(&entry, info_.description);
      if (!Reply(option, kRepServer, entry).ok()) return Next::kClose;
      return ReplyOrClose(option, kRepAck);
    }
    case kOptStartTls:
      return ReplyOrClose(option, kRepErrUnsup);
    case kOptInfo:
    case kOptGo:
      return HandleInfo(option, data);
    case kOptStructuredReply:
      if (!data.empty()) return ReplyOrClose(option, kRepErrInvalid);
      session_.structured_replies = true;
      return ReplyOrClose(option, kRepAck);
    case kOptListMetaContext:
    case kOptSetMetaContext:
      return HandleMetaContext(option, data);
    default:
      return ReplyOrClose(option, kRepErrUnsup);
  }
}

Negotiation::Next Negotiation::HandleExportName(
    const std::vector<uint8_t>& data) {
  std::string name(data.begin(), data.end());
  if (!KnownExport(name)) {
    // This option cannot carry an error: the only answer is to hang up.
    failure_ =
        Status::Error(ENOENT, "client asked for unknown export '" + name + "'");
    return Next::kClose;
  }
  session_.transmission_flags =
      TransmissionFlags(info_, session_.structured_replies);
  std::vector<uint8_t> reply;
  Append64(&reply, info_.size);
  Append16(&reply, session_.transmission_flags);
  if (!no_zeroes_) reply.resize(reply.size() + 124, 0);
  Status status = WriteAll(fd_, reply);
  if (!status.ok()) {
    failure_ = status;
    return Next::kClose;
  }
  return Next::kTransmit;
}

Negotiation::Next Negotiation::HandleInfo(uint32_t option,
                                          const std::vector<uint8_t>& data) {
  Reader reader(data);
  auto name = reader.String();
  auto count = reader.U16();
  if (!name || !count || !reader.Has(size_t{*count} * 2)) {
    return ReplyOrClose(option, kRepErrInvalid);
  }
  bool want_name = false, want_description = false;
  for (uint16_t i = 0; i < *count; ++i) {
    uint16_t type = *reader.U16();
    want_name |= type == kInfoName;
    want_description |= type == kInfoDescription;
  }
  if (!reader.done()) return ReplyOrClose(option, kRepErrInvalid);
  if (!KnownExport(*name)) return ReplyOrClose(option, kRepErrUnknown);

  if (!ReplyInfoExport(option).ok()) return Next::kClose;
  if (want_name) {
    std::vector<uint8_t> info;
    Append16(&info, kInfoName);
    AppendBytes(&info, info_.name);
    if (!Reply(option, kRepInfo, info).ok()) return Next::kClose;
  }
  if (want_description && !info_.description.empty()) {
    std::vector<uint8_t> info;
    Append16(&info, kInfoDescription);
    AppendBytes(&info, info_.description);
    if (!Reply(option, kRepInfo, info).ok()) return Next::kClose;
  }
  // We serve any alignment (the frontend does read-modify-write), so the
  // minimum is 1; the preferred size is the object block size.
  std::vector<uint8_t> sizes;
  Append16(&sizes, kInfoBlockSize);
  Append32(&sizes, 1);
  Append32(&sizes, std::min(info_.preferred_block_size, kMaxPayload));
  Append32(&sizes, kMaxPayload);
  if (!Reply(option, kRepInfo, sizes).ok()) return Next::kClose;
  if (!Reply(option, kRepAck).ok()) return Next::kClose;
  if (option == kOptInfo) return Next::kContinue;
  session_.transmission_flags =
      TransmissionFlags(info_, session_.structured_replies);
  return Next::kTransmit;
}

Negotiation::Next Negotiation::HandleMetaContext(
    uint32_t option, const std::vector<uint8_t>& data) {
  const bool set = option == kOptSetMetaContext;
  // SET replaces every earlier selection, even when it fails.
  if (set) session_.base_allocation = false;
  if (!session_.structured_replies) return ReplyOrClose(option, kRepErrInvalid);
  Reader reader(data);
  auto name = reader.String();
  auto count = reader.U32();
  if (!name || !count) return ReplyOrClose(option, kRepErrInvalid);
  std::vector<std::string> queries;
  for (uint32_t i = 0; i < *count; ++i) {
    auto query = reader.String();
    if (!query) return ReplyOrClose(option, kRepErrInvalid);
    queries.push_back(std::move(*query));
  }
  if (!reader.done()) return ReplyOrClose(option, kRepErrInvalid);
  if (!KnownExport(*name)) return ReplyOrClose(option, kRepErrUnknown);

  bool match = false;
  if (queries.empty()) {
    match = !set;  // LIST with no query lists all; SET with none selects none
  }
  for (const std::string& query : queries) {
    if (query == kBaseAllocation || (!set && query == "base:")) match = true;
  }
  if (match) {
    std::vector<uint8_t> reply;
    Append32(&reply, set ? kBaseAllocationId : 0);
    AppendBytes(&reply, kBaseAllocation);
    if (!Reply(option, kRepMetaContext, reply).ok()) return Next::kClose;
    if (set) session_.base_allocation = true;
  }
  return ReplyOrClose(option, kRepAck);
}

}  // namespace

uint16_t TransmissionFlags(const ExportInfo& info, bool structured_replies) {
  uint16_t flags = kTransHasFlags | kTransSendCache;
  if (info.can_flush) flags |= kTransSendFlush | kTransSendFua;
  if (info.can_multi_conn) flags |= kTransCanMultiConn;
  if (structured_replies) flags |= kTransSendDf;
  if (info.read_only) {
    flags |= kTransReadOnly;
  } else {
    flags |= kTransSendWriteZeroes;
    if (info.can_trim) flags |= kTransSendTrim;
    if (info.can_fast_zero) flags |= kTransSendFastZero;
  }
  return flags;
}

Result<Session> Negotiate(int fd, const ExportInfo& info) {
  return Negotiation(fd, info).Run();
}

}  // namespace usbd::nbd
