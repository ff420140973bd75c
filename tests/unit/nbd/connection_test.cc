// The connection state machine driven over a socketpair by a raw client, for
// the protocol cases that well-behaved client libraries never produce.
#include "nbd/connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "nbd/protocol.h"
#include "store/memory_store.h"

namespace usbd::nbd {
namespace {

// Once closed, holds every Read until Open(), counting the reads waiting.
class GateStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    {
      std::unique_lock lock(mu_);
      if (!open_) ++waiting_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
    }
    return ForwardingStore::Read(block, offset, out);
  }
  bool WaitForReads(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10),
                        [&] { return waiting_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  bool open_ = true;
};

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(false); }
  void TearDown() override {
    gate_->Open();
    Finish();
  }

  void Start(bool read_only) {
    auto gate =
        std::make_unique<GateStore>(NewMemoryStore({{4096, 256}, read_only}));
    gate_ = gate.get();
    store_ = std::move(gate);
    ASSERT_TRUE(store_->Start().ok());
    frontend_ = std::make_unique<Frontend>(store_.get());
    info_.name = "vol";
    info_.size = frontend_->size();
    info_.preferred_block_size = 4096;
    info_.read_only = read_only;
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    client_.Reset(fds[0]);
    connection_ =
        std::make_unique<Connection>(Fd(fds[1]), frontend_.get(), info_, 4);
    server_ = std::thread([this] { connection_->Serve(); });
  }
  void Finish() {
    client_.Reset();
    if (server_.joinable()) server_.join();
  }

  void Send(const std::vector<uint8_t>& bytes) {
    ASSERT_TRUE(WriteAll(client_.get(), bytes).ok());
  }
  std::vector<uint8_t> Receive(size_t n) {
    std::vector<uint8_t> bytes(n);
    Status status = ReadAll(client_.get(), bytes);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return bytes;
  }
  bool ServerClosed() {
    uint8_t byte;
    return ::read(client_.get(), &byte, 1) == 0;
  }

  void Greet(uint32_t client_flags = kClientFlagFixedNewstyle |
                                     kClientFlagNoZeroes) {
    auto greeting = Receive(18);
    EXPECT_EQ(Get64(greeting.data()), kNbdMagic);
    EXPECT_EQ(Get64(greeting.data() + 8), kIHaveOpt);
    EXPECT_EQ(Get16(greeting.data() + 16), kFlagFixedNewstyle | kFlagNoZeroes);
    std::vector<uint8_t> flags(4);
    Put32(flags.data(), client_flags);
    Send(flags);
  }
  void SendOption(uint32_t option, const std::vector<uint8_t>& data = {}) {
    std::vector<uint8_t> msg(16);
    Put64(msg.data(), kIHaveOpt);
    Put32(msg.data() + 8, option);
    Put32(msg.data() + 12, static_cast<uint32_t>(data.size()));
    msg.insert(msg.end(), data.begin(), data.end());
    Send(msg);
  }
  // Returns {reply type, payload}.
  std::pair<uint32_t, std::vector<uint8_t>> ReceiveOptionReply(
      uint32_t option) {
    auto header = Receive(20);
    EXPECT_EQ(Get64(header.data()), kOptReplyMagic);
    EXPECT_EQ(Get32(header.data() + 8), option);
    return {Get32(header.data() + 12), Receive(Get32(header.data() + 16))};
  }
  static std::vector<uint8_t> InfoRequest(const std::string& name) {
    std::vector<uint8_t> data(4 + name.size() + 2);
    Put32(data.data(), static_cast<uint32_t>(name.size()));
    std::copy(name.begin(), name.end(), data.begin() + 4);
    Put16(data.data() + 4 + name.size(), 0);
    return data;
  }
  // Handshake up to transmission with NBD_OPT_GO.
  void Go(bool structured = false) {
    Greet();
    if (structured) {
      SendOption(kOptStructuredReply);
      EXPECT_EQ(ReceiveOptionReply(kOptStructuredReply).first, kRepAck);
    }
    SendOption(kOptGo, InfoRequest(""));
    while (ReceiveOptionReply(kOptGo).first == kRepInfo) {
    }
  }
  void SendRequest(uint16_t type, uint64_t offset, uint32_t length,
                   uint16_t flags = 0, uint64_t cookie = 7,
                   const std::vector<uint8_t>& payload = {},
                   uint32_t magic = kRequestMagic) {
    std::vector<uint8_t> msg(kRequestSize);
    Put32(msg.data(), magic);
    Put16(msg.data() + 4, flags);
    Put16(msg.data() + 6, type);
    Put64(msg.data() + 8, cookie);
    Put64(msg.data() + 16, offset);
    Put32(msg.data() + 24, length);
    msg.insert(msg.end(), payload.begin(), payload.end());
    Send(msg);
  }
  // Returns the NBD error of a simple reply with the given cookie.
  uint32_t ReceiveSimpleReply(uint64_t cookie = 7) {
    auto reply = Receive(16);
    EXPECT_EQ(Get32(reply.data()), kSimpleReplyMagic);
    EXPECT_EQ(Get64(reply.data() + 8), cookie);
    return Get32(reply.data() + 4);
  }

  std::unique_ptr<BlockStore> store_;
  GateStore* gate_ = nullptr;  // store_, as a GateStore
  std::unique_ptr<Frontend> frontend_;
  ExportInfo info_;
  Fd client_;
  std::unique_ptr<Connection> connection_;
  std::thread server_;
};

TEST_F(ConnectionTest, UnknownClientFlagsDropTheConnection) {
  Greet(kClientFlagFixedNewstyle | 0x100);
  EXPECT_TRUE(ServerClosed());
}

TEST_F(ConnectionTest, UnknownOptionIsUnsupportedAndNegotiationGoesOn) {
  Greet();
  SendOption(99, {1, 2, 3});
  EXPECT_EQ(ReceiveOptionReply(99).first, kRepErrUnsup);
  SendOption(kOptStructuredReply);
  EXPECT_EQ(ReceiveOptionReply(kOptStructuredReply).first, kRepAck);
}

TEST_F(ConnectionTest, StartTlsIsRefusedWithoutTls) {
  Greet();
  SendOption(kOptStartTls);
  EXPECT_EQ(ReceiveOptionReply(kOptStartTls).first, kRepErrUnsup);
}

TEST_F(ConnectionTest, StructuredReplyWithDataIsInvalid) {
  Greet();
  SendOption(kOptStructuredReply, {0});
  EXPECT_EQ(ReceiveOptionReply(kOptStructuredReply).first, kRepErrInvalid);
}

TEST_F(ConnectionTest, MetaContextNeedsStructuredReplies) {
  Greet();
  std::vector<uint8_t> query(8, 0);  // export "", zero queries
  SendOption(kOptSetMetaContext, query);
  EXPECT_EQ(ReceiveOptionReply(kOptSetMetaContext).first, kRepErrInvalid);
}

TEST_F(ConnectionTest, ListNamesTheExport) {
  Greet();
  SendOption(kOptList);
  auto [type, data] = ReceiveOptionReply(kOptList);
  ASSERT_EQ(type, kRepServer);
  ASSERT_GE(data.size(), 7u);
  EXPECT_EQ(Get32(data.data()), 3u);
  EXPECT_EQ(std::string(data.begin() + 4, data.begin() + 7), "vol");
  EXPECT_EQ(ReceiveOptionReply(kOptList).first, kRepAck);
}

TEST_F(ConnectionTest, InfoOnUnknownExportIsUnknown) {
  Greet();
  SendOption(kOptInfo, InfoRequest("other"));
  EXPECT_EQ(ReceiveOptionReply(kOptInfo).first, kRepErrUnknown);
}

TEST_F(ConnectionTest, TruncatedInfoRequestIsInvalid) {
  Greet();
  SendOption(kOptInfo, {0, 0, 0, 9, 'a'});
  EXPECT_EQ(ReceiveOptionReply(kOptInfo).first, kRepErrInvalid);
}

TEST_F(ConnectionTest, GoSendsExportAndBlockSizeBeforeAck) {
  Greet();
  SendOption(kOptGo, InfoRequest("vol"));
  auto [type, data] = ReceiveOptionReply(kOptGo);
  ASSERT_EQ(type, kRepInfo);
  ASSERT_EQ(data.size(), 12u);
  EXPECT_EQ(Get16(data.data()), kInfoExport);
  EXPECT_EQ(Get64(data.data() + 2), 4096u * 256);
  auto [type2, sizes] = ReceiveOptionReply(kOptGo);
  ASSERT_EQ(type2, kRepInfo);
  EXPECT_EQ(Get16(sizes.data()), kInfoBlockSize);
  EXPECT_EQ(Get32(sizes.data() + 2), 1u);
  EXPECT_EQ(Get32(sizes.data() + 6), 4096u);
  EXPECT_EQ(Get32(sizes.data() + 10), kMaxPayload);
  EXPECT_EQ(ReceiveOptionReply(kOptGo).first, kRepAck);
}

TEST_F(ConnectionTest, ExportNameSends124ZeroesUnlessNoZeroes) {
  Greet(kClientFlagFixedNewstyle);
  SendOption(kOptExportName, {});
  auto reply = Receive(10 + 124);
  EXPECT_EQ(Get64(reply.data()), 4096u * 256);
  EXPECT_EQ(std::count(reply.begin() + 10, reply.end(), 0), 124);
  SendRequest(kCmdFlush, 0, 0);
  EXPECT_EQ(ReceiveSimpleReply(), 0u);
}

TEST_F(ConnectionTest, UnknownExportNameClosesTheConnection) {
  Greet();
  SendOption(kOptExportName, {'x'});
  EXPECT_TRUE(ServerClosed());
}

TEST_F(ConnectionTest, WriteThenReadWithSimpleReplies) {
  Go();
  std::vector<uint8_t> data(5000, 0x5a);
  SendRequest(kCmdWrite, 4000, 5000, 0, 1, data);
  EXPECT_EQ(ReceiveSimpleReply(1), 0u);
  SendRequest(kCmdRead, 4000, 5000, 0, 2);
  EXPECT_EQ(ReceiveSimpleReply(2), 0u);
  EXPECT_EQ(Receive(5000), data);
}

TEST_F(ConnectionTest, OutOfRangeWriteIsDrainedAndConnectionStaysInSync) {
  Go();
  std::vector<uint8_t> data(8192, 1);
  SendRequest(kCmdWrite, 4096 * 256 - 4096, 8192, 0, 3, data);
  EXPECT_EQ(ReceiveSimpleReply(3), kErrNoSpc);
  SendRequest(kCmdRead, 0, 0, 0, 4);
  EXPECT_EQ(ReceiveSimpleReply(4), 0u);
}

TEST_F(ConnectionTest, OutOfRangeReadIsInvalid) {
  Go();
  SendRequest(kCmdRead, 4096 * 256, 1);
  EXPECT_EQ(ReceiveSimpleReply(), kErrInval);
  SendRequest(kCmdRead, ~0ull - 10, 100);  // offset + length overflows
  EXPECT_EQ(ReceiveSimpleReply(), kErrInval);
}

TEST_F(ConnectionTest, UnknownCommandAndFlagsAreInvalid) {
  Go();
  SendRequest(42, 0, 0);
  EXPECT_EQ(ReceiveSimpleReply(), kErrInval);
  SendRequest(kCmdRead, 0, 512, 1 << 9);  // a flag no command has
  EXPECT_EQ(ReceiveSimpleReply(), kErrInval);
  SendRequest(kCmdFlush, 0, 0, kCmdFlagNoHole);  // a flag of another command
  EXPECT_EQ(ReceiveSimpleReply(), kErrInval);
  SendRequest(kCmdRead, 0, 512, kCmdFlagDf);  // DF needs structured replies
  EXPECT_EQ(ReceiveSimpleReply(), kErrInval);
  SendRequest(kCmdBlockStatus, 0, 512);  // no meta context selected
  EXPECT_EQ(ReceiveSimpleReply(), kErrInval);
}

// A server stopping (SIGTERM) answers the requests still unread in the
// socket with ESHUTDOWN, after finishing those in flight.
TEST_F(ConnectionTest, RequestsUnreadAtAStopAreAnsweredEshutdown) {
  Go();
  gate_->Close();
  for (uint64_t cookie = 1; cookie <= 4; ++cookie) {
    // One per worker, each held in the store (distinct blocks).
    SendRequest(kCmdRead, (cookie - 1) * 4096, 512, 0, cookie);
  }
  ASSERT_TRUE(gate_->WaitForReads(4)) << "the reads did not reach the store";
  SendRequest(kCmdRead, 8 * 4096, 512, 0, 5);  // no worker free to read these
  SendRequest(kCmdFlush, 0, 0, 0, 6);
  connection_->Stop(/*refuse_unread=*/true);
  gate_->Open();
  std::map<uint64_t, uint32_t> errors;
  for (int i = 0; i < 6; ++i) {
    auto header = Receive(16);
    ASSERT_EQ(Get32(header.data()), kSimpleReplyMagic);
    const uint64_t cookie = Get64(header.data() + 8);
    errors[cookie] = Get32(header.data() + 4);
    if (errors[cookie] == 0 && cookie <= 5) Receive(512);
  }
  for (uint64_t cookie = 1; cookie <= 4; ++cookie) {
    EXPECT_EQ(errors[cookie], 0u) << "in flight: " << cookie;
  }
  EXPECT_EQ(errors[5], kErrShutdown);
  EXPECT_EQ(errors[6], kErrShutdown);
  EXPECT_TRUE(ServerClosed());
}

TEST_F(ConnectionTest, OversizedWriteIsDrainedAndRefused) {
  Go();
  std::vector<uint8_t> payload(kMaxPayload + 4096, 3);
  std::thread sender(
      [&] { SendRequest(kCmdWrite, 0, payload.size(), 0, 5, payload); });
  EXPECT_EQ(ReceiveSimpleReply(5), kErrOverflow);
  sender.join();
  SendRequest(kCmdFlush, 0, 0, 0, 6);
  EXPECT_EQ(ReceiveSimpleReply(6), 0u);
}

TEST_F(ConnectionTest, BadRequestMagicDisconnects) {
  Go();
  SendRequest(kCmdRead, 0, 512, 0, 7, {}, 0x12345678);
  EXPECT_TRUE(ServerClosed());
}

TEST_F(ConnectionTest, DisconnectGetsNoReply) {
  Go();
  SendRequest(kCmdDisc, 0, 0);
  EXPECT_TRUE(ServerClosed());
}

TEST_F(ConnectionTest, StructuredReadIsOneDataChunkWithDone) {
  Go(true);
  SendRequest(kCmdRead, 512, 100, kCmdFlagDf, 9);
  auto header = Receive(20);
  EXPECT_EQ(Get32(header.data()), kStructuredReplyMagic);
  EXPECT_EQ(Get16(header.data() + 4), kReplyFlagDone);
  EXPECT_EQ(Get16(header.data() + 6), kReplyTypeOffsetData);
  EXPECT_EQ(Get64(header.data() + 8), 9u);
  ASSERT_EQ(Get32(header.data() + 16), 108u);
  auto body = Receive(108);
  EXPECT_EQ(Get64(body.data()), 512u);
}

TEST_F(ConnectionTest, StructuredReadErrorIsAnErrorChunk) {
  Go(true);
  SendRequest(kCmdRead, 4096 * 256, 100, 0, 10);
  auto header = Receive(20);
  EXPECT_EQ(Get16(header.data() + 6), kReplyTypeError);
  EXPECT_EQ(Get16(header.data() + 4), kReplyFlagDone);
  auto body = Receive(Get32(header.data() + 16));
  EXPECT_EQ(Get32(body.data()), kErrInval);
  EXPECT_EQ(Get16(body.data() + 4), body.size() - 6);
}

class ReadOnlyConnectionTest : public ConnectionTest {
 protected:
  void SetUp() override { Start(true); }
};

TEST_F(ReadOnlyConnectionTest, WritesArePermissionErrorsAndDrained) {
  Go();
  std::vector<uint8_t> data(4096, 1);
  SendRequest(kCmdWrite, 0, 4096, 0, 11, data);
  EXPECT_EQ(ReceiveSimpleReply(11), kErrPerm);
  SendRequest(kCmdTrim, 0, 4096, 0, 12);
  EXPECT_EQ(ReceiveSimpleReply(12), kErrPerm);
  SendRequest(kCmdRead, 0, 16, 0, 13);
  EXPECT_EQ(ReceiveSimpleReply(13), 0u);
  EXPECT_EQ(Receive(16), std::vector<uint8_t>(16, 0));
}

TEST(ErrnoToNbdTest, CorruptAndNotABlockAreEioOnTheWire) {
  EXPECT_EQ(ErrnoToNbd(Status::Corrupt("x").code()), kErrIo);
  EXPECT_EQ(ErrnoToNbd(Status::NotABlock("x").code()), kErrIo);
  EXPECT_EQ(ErrnoToNbd(EIO), kErrIo);
  EXPECT_EQ(ErrnoToNbd(ENOSPC), kErrNoSpc);
}

}  // namespace
}  // namespace usbd::nbd
