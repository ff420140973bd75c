// NBD conformance tests: drive a running usbd with libnbd (the C API) and,
// for what libnbd refuses to send, with a small raw-socket client that speaks
// the protocol by hand. Each test checks one rule of doc/proto.md (NBD
// repository) / ../shared/reference/nbd-checklist.md.
//
// The server is started by tests/integration/conformance.sh, which passes:
//   USBD_SOCKET      unix socket of a read-write volume (required)
//   USBD_RO_SOCKET   unix socket of a --readOnly volume (optional)
//   USBD_EXPORT      the BUCKET string (also a valid export name)
//   USBD_SIZE        export size in bytes
//   USBD_BLOCK_SIZE  --blockSize in bytes
// Tests take disjoint regions of the read-write volume (AllocRegion), so the
// order they run in does not matter and every region starts never written.
#include <errno.h>
#include <gtest/gtest.h>
#include <libnbd.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint32_t kMaxPayload = 32 * kMiB;

// ---------------------------------------------------------------------------
// Configuration from the environment
// ---------------------------------------------------------------------------

struct Config {
  std::string socket;
  std::string ro_socket;
  std::string export_name;
  uint64_t size = 0;
  uint32_t block_size = 256 * kKiB;
};

const Config& Cfg() {
  static const Config config = [] {
    Config c;
    if (const char* v = getenv("USBD_SOCKET")) c.socket = v;
    if (const char* v = getenv("USBD_RO_SOCKET")) c.ro_socket = v;
    if (const char* v = getenv("USBD_EXPORT")) c.export_name = v;
    if (const char* v = getenv("USBD_SIZE")) c.size = strtoull(v, nullptr, 0);
    if (const char* v = getenv("USBD_BLOCK_SIZE"))
      c.block_size = static_cast<uint32_t>(strtoul(v, nullptr, 0));
    return c;
  }();
  return config;
}

// Hands out disjoint, block-aligned regions of the read-write volume, each
// followed by an untouched guard block. The last 4 MiB are left to the
// tests that poke at the end of the export.
uint64_t AllocRegion(uint64_t bytes) {
  static std::atomic<uint64_t> next{0};
  const uint64_t align = std::max<uint64_t>(Cfg().block_size, kMiB);
  bytes = (bytes + align - 1) / align * align;
  const uint64_t offset = next.fetch_add(bytes + align);
  if (Cfg().size != 0 && offset + bytes + 4 * kMiB > Cfg().size)
    throw std::runtime_error("test volume too small: raise USBD_SIZE");
  return offset;
}

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<uint8_t> out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = gen();
    memcpy(&out[i], &v, 8);
  }
  for (; i < n; i++) out[i] = static_cast<uint8_t>(gen() | 1);
  return out;
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Index of the first differing byte, or -1.
int64_t FirstDiff(const uint8_t* a, const uint8_t* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  return -1;
}

// ---------------------------------------------------------------------------
// libnbd helpers
// ---------------------------------------------------------------------------

struct NbdClose {
  void operator()(nbd_handle* h) const { nbd_close(h); }
};
using Handle = std::unique_ptr<nbd_handle, NbdClose>;

std::string NbdError() {
  const char* e = nbd_get_error();
  return e ? e : "(no libnbd error)";
}

struct ConnectOptions {
  bool structured = true;
  bool meta = true;  // request base:allocation
  bool read_only_server = false;
  bool opt_mode = false;
  bool strict = true;  // false: let libnbd send anything to the server
  std::string export_name;
  int64_t handshake_flags = -1;  // -1: libnbd default
};

Handle NewHandle(const ConnectOptions& o) {
  Handle h(nbd_create());
  if (!h) throw std::runtime_error("nbd_create: " + NbdError());
  nbd_set_request_structured_replies(h.get(), o.structured);
  if (o.meta) nbd_add_meta_context(h.get(), LIBNBD_CONTEXT_BASE_ALLOCATION);
  nbd_set_export_name(h.get(), o.export_name.c_str());
  if (o.handshake_flags >= 0)
    nbd_set_handshake_flags(h.get(), static_cast<uint32_t>(o.handshake_flags));
  if (!o.strict) nbd_set_strict_mode(h.get(), 0);
  if (o.opt_mode) nbd_set_opt_mode(h.get(), true);
  return h;
}

// Connects (or throws, which gtest reports as a failure of the test).
Handle Connect(const ConnectOptions& o = {}) {
  const std::string& path = o.read_only_server ? Cfg().ro_socket : Cfg().socket;
  Handle h = NewHandle(o);
  if (nbd_connect_unix(h.get(), path.c_str()) == -1)
    throw std::runtime_error("nbd_connect_unix(" + path + "): " + NbdError());
  return h;
}

Handle ConnectLoose(bool structured = true) {
  ConnectOptions o;
  o.structured = structured;
  o.strict = false;
  return Connect(o);
}

// Expects a libnbd call to fail with exactly `expected` as its errno.
#define EXPECT_NBD_ERRNO(expected, call)                                 \
  do {                                                                   \
    const int rc_ = (call);                                              \
    EXPECT_EQ(-1, rc_) << #call " succeeded, expected errno " #expected; \
    if (rc_ == -1) {                                                     \
      EXPECT_EQ((expected), nbd_get_errno())                             \
          << #call ": " << NbdError() << " (errno " << nbd_get_errno()   \
          << " = " << strerror(nbd_get_errno()) << ")";                  \
    }                                                                    \
  } while (0)

#define ASSERT_NBD_OK(call) ASSERT_NE(-1, (call)) << #call ": " << NbdError()
#define EXPECT_NBD_OK(call) EXPECT_NE(-1, (call)) << #call ": " << NbdError()

// A small scratch area used to prove that a connection is still in sync
// after an error: a write followed by a read that must return it.
uint64_t ScratchOffset() {
  static const uint64_t offset = AllocRegion(64 * kKiB);
  return offset;
}

void ExpectUsable(nbd_handle* h, bool can_write = true) {
  ASSERT_EQ(1, nbd_aio_is_ready(h))
      << "connection is no longer ready: " << nbd_connection_state(h);
  static std::atomic<uint64_t> seed{1000};
  std::vector<uint8_t> data = RandomBytes(4096, seed++);
  std::vector<uint8_t> back(data.size());
  if (can_write) {
    ASSERT_NBD_OK(nbd_pwrite(h, data.data(), data.size(), ScratchOffset(), 0))
        << " (connection unusable after an error)";
    ASSERT_NBD_OK(nbd_pread(h, back.data(), back.size(), ScratchOffset(), 0))
        << " (connection unusable after an error)";
    EXPECT_EQ(data, back) << "connection out of sync after an error";
  } else {
    ASSERT_NBD_OK(nbd_pread(h, back.data(), back.size(), 0, 0))
        << " (connection unusable after an error)";
  }
}

void Write(nbd_handle* h, const std::vector<uint8_t>& data, uint64_t offset,
           uint32_t flags = 0) {
  ASSERT_NBD_OK(nbd_pwrite(h, data.data(), data.size(), offset, flags));
}

std::vector<uint8_t> Read(nbd_handle* h, size_t count, uint64_t offset) {
  std::vector<uint8_t> buf(count, 0xAA);
  if (nbd_pread(h, buf.data(), count, offset, 0) == -1)
    throw std::runtime_error("nbd_pread(" + std::to_string(count) + "@" +
                             std::to_string(offset) + "): " + NbdError());
  return buf;
}

::testing::AssertionResult SameBytes(const std::vector<uint8_t>& expected,
                                     const std::vector<uint8_t>& got) {
  if (expected.size() != got.size())
    return ::testing::AssertionFailure()
           << "size " << got.size() << ", expected " << expected.size();
  int64_t d = FirstDiff(expected.data(), got.data(), expected.size());
  if (d < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "first difference at byte " << d << ": got " << int(got[d])
         << ", expected " << int(expected[d]);
}

// --- block status ---

struct Extent {
  uint64_t offset;
  uint64_t length;
  uint32_t flags;
};

struct StatusResult {
  int rc = 0;
  int err = 0;
  int base_allocation_chunks = 0;
  int other_chunks = 0;
  std::vector<Extent> extents;
};

StatusResult BlockStatus(nbd_handle* h, uint64_t count, uint64_t offset,
                         uint32_t flags = 0) {
  StatusResult r;
  nbd_extent_callback cb = {
      .callback = [](void* ud, const char* ctx, uint64_t off, uint32_t* entries,
                     size_t n, int*) -> int {
        auto* r = static_cast<StatusResult*>(ud);
        if (strcmp(ctx, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0) {
          r->other_chunks++;
          return 0;
        }
        r->base_allocation_chunks++;
        for (size_t i = 0; i + 1 < n; i += 2) {
          r->extents.push_back({off, entries[i], entries[i + 1]});
          off += entries[i];
        }
        return 0;
      },
      .user_data = &r,
      .free = nullptr};
  r.rc = nbd_block_status(h, count, offset, cb, flags);
  if (r.rc == -1) r.err = nbd_get_errno();
  return r;
}

// Extents covering [offset, offset+length), following up as a client must
// when the server returns less than asked for.
std::vector<Extent> Map(nbd_handle* h, uint64_t offset, uint64_t length) {
  std::vector<Extent> all;
  uint64_t pos = offset;
  const uint64_t end = offset + length;
  while (pos < end) {
    StatusResult r =
        BlockStatus(h, std::min<uint64_t>(end - pos, 1u << 30), pos);
    if (r.rc == -1) throw std::runtime_error("nbd_block_status: " + NbdError());
    if (r.extents.empty())
      throw std::runtime_error("block status returned no extent");
    for (const Extent& e : r.extents) {
      if (e.length == 0)
        throw std::runtime_error("block status returned a zero-length extent");
      all.push_back(e);
      pos = e.offset + e.length;
    }
  }
  return all;
}

// Checks that every byte of [offset, offset+length) has base:allocation
// flags `expected`.
::testing::AssertionResult AllocationIs(nbd_handle* h, uint64_t offset,
                                        uint64_t length, uint32_t expected) {
  for (const Extent& e : Map(h, offset, length)) {
    uint64_t lo = std::max(e.offset, offset);
    uint64_t hi = std::min(e.offset + e.length, offset + length);
    if (lo < hi && e.flags != expected)
      return ::testing::AssertionFailure()
             << "extent [" << e.offset << ", +" << e.length << ") has flags "
             << e.flags << ", expected " << expected << " over [" << offset
             << ", +" << length << ")";
  }
  return ::testing::AssertionSuccess();
}

// --- structured reads ---

struct ChunkSeen {
  uint64_t offset;
  size_t count;
  unsigned status;
};

int RecordChunk(void* ud, const void*, size_t count, uint64_t offset,
                unsigned status, int*) {
  static_cast<std::vector<ChunkSeen>*>(ud)->push_back({offset, count, status});
  return 0;
}

// ---------------------------------------------------------------------------
// Raw protocol client
// ---------------------------------------------------------------------------

namespace raw {

constexpr uint64_t kNbdMagic = 0x4e42444d41474943ULL;  // "NBDMAGIC"
constexpr uint64_t kIHaveOpt = 0x49484156454F5054ULL;  // "IHAVEOPT"
constexpr uint64_t kOptReplyMagic = 0x3e889045565a9ULL;
constexpr uint32_t kRequestMagic = 0x25609513;
constexpr uint32_t kSimpleReplyMagic = 0x67446698;
constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

constexpr uint16_t kFlagFixedNewstyle = 1;
constexpr uint16_t kFlagNoZeroes = 2;

enum : uint32_t {
  kOptExportName = 1,
  kOptAbort = 2,
  kOptList = 3,
  kOptStartTls = 5,
  kOptInfo = 6,
  kOptGo = 7,
  kOptStructuredReply = 8,
  kOptListMetaContext = 9,
  kOptSetMetaContext = 10,
};

enum : uint32_t {
  kRepAck = 1,
  kRepServer = 2,
  kRepInfo = 3,
  kRepMetaContext = 4,
  kRepErrUnsup = 0x80000001,
  kRepErrPolicy = 0x80000002,
  kRepErrInvalid = 0x80000003,
  kRepErrPlatform = 0x80000004,
  kRepErrUnknown = 0x80000006,
};

enum : uint16_t {
  kInfoExport = 0,
  kInfoName = 1,
  kInfoDescription = 2,
  kInfoBlockSize = 3,
};

enum : uint16_t {
  kCmdRead = 0,
  kCmdWrite = 1,
  kCmdDisc = 2,
  kCmdFlush = 3,
  kCmdTrim = 4,
  kCmdCache = 5,
  kCmdWriteZeroes = 6,
  kCmdBlockStatus = 7,
};

enum : uint16_t {
  kCmdFlagFua = 1,
  kCmdFlagNoHole = 2,
  kCmdFlagDf = 4,
  kCmdFlagReqOne = 8,
  kCmdFlagFastZero = 16,
};

enum : uint16_t {
  kTfHasFlags = 1 << 0,
  kTfReadOnly = 1 << 1,
  kTfSendFlush = 1 << 2,
  kTfSendFua = 1 << 3,
  kTfSendTrim = 1 << 5,
  kTfSendWriteZeroes = 1 << 6,
  kTfSendDf = 1 << 7,
  kTfCanMultiConn = 1 << 8,
  kTfSendCache = 1 << 10,
  kTfSendFastZero = 1 << 11,
};

enum : uint16_t {
  kReplyFlagDone = 1,
};

enum : uint16_t {
  kReplyNone = 0,
  kReplyOffsetData = 1,
  kReplyOffsetHole = 2,
  kReplyBlockStatus = 5,
  kReplyError = 0x8001,
  kReplyErrorOffset = 0x8002,
};

// Big-endian encoding.
struct Out {
  std::string s;
  Out& u16(uint16_t v) {
    for (int i = 1; i >= 0; i--) s.push_back(char(v >> (8 * i)));
    return *this;
  }
  Out& u32(uint32_t v) {
    for (int i = 3; i >= 0; i--) s.push_back(char(v >> (8 * i)));
    return *this;
  }
  Out& u64(uint64_t v) {
    for (int i = 7; i >= 0; i--) s.push_back(char(v >> (8 * i)));
    return *this;
  }
  Out& str(const std::string& v) {
    s += v;
    return *this;
  }
  Out& lstr(const std::string& v) {  // 32-bit length, then the string
    return u32(static_cast<uint32_t>(v.size())).str(v);
  }
};

struct In {
  std::string s;  // owned: callers often pass a temporary
  size_t pos = 0;
  explicit In(std::string str) : s(std::move(str)) {}
  // noinline: gcc 12 -O2 otherwise warns (falsely) that the inlined SSO
  // string may be uninitialized.
  [[gnu::noinline]] uint64_t get(int bytes) {
    if (pos + bytes > s.size())
      throw std::runtime_error("short field in server message");
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
      v = (v << 8) | static_cast<uint8_t>(s[pos++]);
    return v;
  }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  std::string rest() {
    std::string r = s.substr(pos);
    pos = s.size();
    return r;
  }
  size_t left() const { return s.size() - pos; }
};

struct OptReply {
  uint32_t option = 0;
  uint32_t type = 0;
  std::string data;
};

struct Reply {
  bool structured = false;
  uint32_t error = 0;  // simple replies
  uint64_t cookie = 0;
  uint16_t flags = 0;  // structured replies
  uint16_t type = 0;
  std::string payload;
};

struct Export {
  uint64_t size = 0;
  uint16_t flags = 0;
  std::map<uint16_t, std::string> infos;  // type -> payload after the type
  std::vector<OptReply> replies;
};

class Conn {
 public:
  explicit Conn(const std::string& path = Cfg().socket) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      throw std::runtime_error("socket: " + std::string(strerror(errno)));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
      throw std::runtime_error("socket path too long: " + path);
    memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect(" + path +
                               "): " + std::string(strerror(errno)));
    timeval tv{30, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~Conn() { close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  void Send(const std::string& bytes) { Send(bytes.data(), bytes.size()); }
  void Send(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        throw std::runtime_error(
            "send failed (server closed the connection?): " +
            std::string(strerror(errno)));
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  std::string Recv(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = recv(fd_, &out[got], n - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0)
        throw std::runtime_error("server closed the connection (wanted " +
                                 std::to_string(n) + " bytes, got " +
                                 std::to_string(got) + ")");
      if (r < 0)
        throw std::runtime_error("recv: " + std::string(strerror(errno)));
      got += static_cast<size_t>(r);
    }
    return out;
  }

  // True if the server closes the connection within timeout_ms. Any bytes
  // it sends first are returned in *extra.
  bool WaitClosed(int timeout_ms, std::string* extra = nullptr) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              deadline - std::chrono::steady_clock::now())
              .count());
      if (left <= 0) return false;
      pollfd pfd{fd_, POLLIN, 0};
      int p = poll(&pfd, 1, left);
      if (p == 0) return false;
      if (p < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      char buf[4096];
      ssize_t r = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (r == 0) return true;
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return errno == ECONNRESET || errno == EPIPE;
      }
      if (extra) extra->append(buf, static_cast<size_t>(r));
    }
  }

  // --- handshake ---

  uint16_t Greeting() {
    In in(Recv(18));
    if (in.u64() != kNbdMagic) throw std::runtime_error("bad NBDMAGIC");
    if (in.u64() != kIHaveOpt)
      throw std::runtime_error("not newstyle (no IHAVEOPT)");
    return in.u16();
  }
  void ClientFlags(uint32_t flags) { Send(Out().u32(flags).s); }
  void Option(uint32_t option, const std::string& data) {
    Send(Out()
             .u64(kIHaveOpt)
             .u32(option)
             .u32(static_cast<uint32_t>(data.size()))
             .str(data)
             .s);
  }
  OptReply ReadOptReply() {
    In in(Recv(20));
    if (in.u64() != kOptReplyMagic)
      throw std::runtime_error("bad option reply magic");
    OptReply r;
    r.option = in.u32();
    r.type = in.u32();
    uint32_t len = in.u32();
    if (len > 64 * kMiB) throw std::runtime_error("absurd option reply length");
    r.data = Recv(len);
    return r;
  }
  // Sends an option and reads replies up to and including the final one
  // (ACK or an error).
  std::vector<OptReply> Ask(uint32_t option, const std::string& data) {
    Option(option, data);
    std::vector<OptReply> out;
    for (;;) {
      out.push_back(ReadOptReply());
      const OptReply& r = out.back();
      if (r.option != option)
        throw std::runtime_error("option reply names option " +
                                 std::to_string(r.option) + ", sent " +
                                 std::to_string(option));
      if (r.type == kRepAck || (r.type & 0x80000000u)) return out;
      if (out.size() > 10000) throw std::runtime_error("endless option reply");
    }
  }
  // Final reply type of an option.
  uint32_t AskType(uint32_t option, const std::string& data) {
    return Ask(option, data).back().type;
  }

  static std::string GoData(const std::string& name,
                            const std::vector<uint16_t>& infos) {
    Out o;
    o.lstr(name).u16(static_cast<uint16_t>(infos.size()));
    for (uint16_t i : infos) o.u16(i);
    return o.s;
  }
  static std::string MetaData(const std::string& name,
                              const std::vector<std::string>& queries) {
    Out o;
    o.lstr(name).u32(static_cast<uint32_t>(queries.size()));
    for (const std::string& q : queries) o.lstr(q);
    return o.s;
  }

  // INFO or GO; parses the replies. Throws on a malformed INFO reply.
  Export InfoOrGo(uint32_t option, const std::string& name,
                  const std::vector<uint16_t>& infos) {
    Export e;
    e.replies = Ask(option, GoData(name, infos));
    for (const OptReply& r : e.replies) {
      if (r.type != kRepInfo) continue;
      In in(r.data);
      uint16_t type = in.u16();
      if (e.infos.count(type))
        throw std::runtime_error("NBD_INFO " + std::to_string(type) +
                                 " sent twice");
      e.infos[type] = in.rest();
      if (type == kInfoExport) {
        if (r.data.size() != 12)
          throw std::runtime_error("NBD_INFO_EXPORT length " +
                                   std::to_string(r.data.size()) + " != 12");
        In ex(e.infos[type]);
        e.size = ex.u64();
        e.flags = ex.u16();
      }
      if (type == kInfoBlockSize && r.data.size() != 14)
        throw std::runtime_error("NBD_INFO_BLOCK_SIZE length " +
                                 std::to_string(r.data.size()) + " != 14");
    }
    return e;
  }

  // Full handshake to transmission. Returns the export; meta_id_ is set when
  // base:allocation was selected.
  Export Negotiate(bool structured, bool meta, const std::string& name = "") {
    Greeting();
    ClientFlags(kFlagFixedNewstyle | kFlagNoZeroes);
    if (structured) {
      uint32_t t = AskType(kOptStructuredReply, "");
      if (t != kRepAck)
        throw std::runtime_error("STRUCTURED_REPLY not acked: " +
                                 std::to_string(t));
    }
    if (meta) {
      auto replies = Ask(kOptSetMetaContext,
                         MetaData(name, {LIBNBD_CONTEXT_BASE_ALLOCATION}));
      if (replies.back().type != kRepAck)
        throw std::runtime_error("SET_META_CONTEXT failed");
      for (const OptReply& r : replies)
        if (r.type == kRepMetaContext) meta_id_ = In(r.data).u32();
    }
    Export e = InfoOrGo(kOptGo, name, {kInfoBlockSize});
    if (e.replies.back().type != kRepAck)
      throw std::runtime_error("GO failed: " +
                               std::to_string(e.replies.back().type));
    if (!e.infos.count(kInfoExport))
      throw std::runtime_error("GO acked without NBD_INFO_EXPORT");
    return e;
  }

  // --- transmission ---

  void Request(uint16_t flags, uint16_t type, uint64_t cookie, uint64_t offset,
               uint32_t length, const std::string& payload = "") {
    Send(Out()
             .u32(kRequestMagic)
             .u16(flags)
             .u16(type)
             .u64(cookie)
             .u64(offset)
             .u32(length)
             .str(payload)
             .s);
  }

  // Reads one reply message (a simple reply, or one structured chunk).
  // read_lengths: for simple replies to READs, cookie -> data length.
  Reply ReadReply(const std::map<uint64_t, uint32_t>& read_lengths = {}) {
    In in(Recv(4));
    uint32_t magic = in.u32();
    Reply r;
    if (magic == kSimpleReplyMagic) {
      In h(Recv(12));
      r.error = h.u32();
      r.cookie = h.u64();
      auto it = read_lengths.find(r.cookie);
      if (r.error == 0 && it != read_lengths.end())
        r.payload = Recv(it->second);
      return r;
    }
    if (magic == kStructuredReplyMagic) {
      In h(Recv(16));
      r.structured = true;
      r.flags = h.u16();
      r.type = h.u16();
      r.cookie = h.u64();
      uint32_t len = h.u32();
      if (len > kMaxPayload + 64 * kKiB)
        throw std::runtime_error("structured chunk too long: " +
                                 std::to_string(len));
      r.payload = Recv(len);
      return r;
    }
    throw std::runtime_error("bad reply magic " + std::to_string(magic));
  }

  // All chunks of one structured reply (no other request outstanding).
  std::vector<Reply> ReadStructured(uint64_t cookie) {
    std::vector<Reply> chunks;
    for (;;) {
      Reply r = ReadReply();
      if (!r.structured)
        throw std::runtime_error("simple reply where a structured one was due");
      if (r.cookie != cookie)
        throw std::runtime_error("chunk for unexpected cookie");
      chunks.push_back(r);
      if (r.flags & kReplyFlagDone) return chunks;
    }
  }

  // All messages of the reply to `cookie`: one simple reply, or structured
  // chunks up to DONE (no other request outstanding).
  std::vector<Reply> ReadStructuredOrSimple(uint64_t cookie) {
    std::vector<Reply> out;
    for (;;) {
      out.push_back(ReadReply());
      const Reply& r = out.back();
      if (r.cookie != cookie)
        throw std::runtime_error("reply for unexpected cookie");
      if (!r.structured || (r.flags & kReplyFlagDone)) return out;
    }
  }

  // Error of a non-READ request's reply (simple or structured).
  uint32_t ReadStatus(uint64_t cookie) {
    Reply r = ReadReply();
    if (r.cookie != cookie) throw std::runtime_error("reply to wrong cookie");
    if (!r.structured) return r.error;
    uint32_t err = 0;
    for (;;) {
      if (r.type & 0x8000) err = In(r.payload).u32();
      if (r.flags & kReplyFlagDone) return err;
      r = ReadReply();
    }
  }

  uint32_t meta_id() const { return meta_id_; }

 private:
  int fd_ = -1;
  uint32_t meta_id_ = 0;
};

// Error code carried by an error chunk.
uint32_t ChunkError(const Reply& r) { return In(r.payload).u32(); }

}  // namespace raw

// Fails every test early with a clear message when run outside
// conformance.sh.
class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    ASSERT_FALSE(Cfg().socket.empty())
        << "USBD_SOCKET is not set: run this through "
           "tests/integration/conformance.sh";
  }
};
[[maybe_unused]] const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new Env);

#define REQUIRE_RO_SERVER()                                            \
  do {                                                                 \
    if (Cfg().ro_socket.empty())                                       \
      GTEST_SKIP() << "USBD_RO_SOCKET not set (no --readOnly server)"; \
  } while (0)

// ===========================================================================
// Handshake through libnbd
// ===========================================================================

TEST(Handshake, NegotiatesFixedNewstyleWithStructuredReplies) {
  Handle h = Connect();
  EXPECT_STREQ("newstyle-fixed", nbd_get_protocol(h.get()));
  EXPECT_EQ(1, nbd_get_structured_replies_negotiated(h.get()));
  EXPECT_EQ(1, nbd_can_meta_context(h.get(), LIBNBD_CONTEXT_BASE_ALLOCATION));
}

TEST(Handshake, WorksWithoutStructuredReplies) {
  ConnectOptions o;
  o.structured = false;
  Handle h = Connect(o);
  EXPECT_EQ(0, nbd_get_structured_replies_negotiated(h.get()));
  EXPECT_NE(1, nbd_can_meta_context(h.get(), LIBNBD_CONTEXT_BASE_ALLOCATION));
  uint64_t off = AllocRegion(4096);
  auto data = RandomBytes(4096, 1);
  Write(h.get(), data, off);
  EXPECT_TRUE(SameBytes(data, Read(h.get(), 4096, off)));
}

TEST(Handshake, NonFixedNewstyleClientUsesExportName) {
  ConnectOptions o;
  o.handshake_flags = 0;  // no FIXED_NEWSTYLE: libnbd sends EXPORT_NAME
  Handle h = Connect(o);
  EXPECT_STREQ("newstyle", nbd_get_protocol(h.get()));
  EXPECT_EQ(0, nbd_get_structured_replies_negotiated(h.get()));
  if (Cfg().size) {
    EXPECT_EQ(int64_t(Cfg().size), nbd_get_size(h.get()));
  }
  ExpectUsable(h.get());
}

TEST(Handshake, ExportNameWithNoZeroesFlag) {
  ConnectOptions o;
  o.handshake_flags = LIBNBD_HANDSHAKE_FLAG_NO_ZEROES;
  Handle h = Connect(o);
  if (Cfg().size) {
    EXPECT_EQ(int64_t(Cfg().size), nbd_get_size(h.get()));
  }
  ExpectUsable(h.get());
}

TEST(Handshake, DefaultExportNameIsAccepted) {
  ConnectOptions o;
  o.export_name = "";
  Handle h = Connect(o);
  if (Cfg().size) {
    EXPECT_EQ(int64_t(Cfg().size), nbd_get_size(h.get()));
  }
}

TEST(Handshake, BucketExportNameIsAccepted) {
  if (Cfg().export_name.empty()) GTEST_SKIP() << "USBD_EXPORT not set";
  ConnectOptions o;
  o.export_name = Cfg().export_name;
  Handle h = Connect(o);
  if (Cfg().size) {
    EXPECT_EQ(int64_t(Cfg().size), nbd_get_size(h.get()));
  }
  ExpectUsable(h.get());
}

TEST(Handshake, UnknownExportNameFailsGoAndNegotiationContinues) {
  ConnectOptions o;
  o.opt_mode = true;
  o.export_name = "no-such-export";
  Handle h = Connect(o);
  EXPECT_EQ(-1, nbd_opt_go(h.get())) << "GO on an unknown export succeeded";
  EXPECT_EQ(1, nbd_aio_is_negotiating(h.get()))
      << "connection lost after a failed GO: " << nbd_connection_state(h.get());
  ASSERT_NBD_OK(nbd_set_export_name(h.get(), ""));
  ASSERT_NBD_OK(nbd_opt_go(h.get()));
  ExpectUsable(h.get());
}

TEST(Handshake, BlockSizeInfo) {
  Handle h = Connect();
  EXPECT_EQ(1, nbd_get_block_size(h.get(), LIBNBD_SIZE_MINIMUM));
  EXPECT_EQ(int64_t(std::min<uint32_t>(Cfg().block_size, kMaxPayload)),
            nbd_get_block_size(h.get(), LIBNBD_SIZE_PREFERRED));
  EXPECT_EQ(int64_t(kMaxPayload),
            nbd_get_block_size(h.get(), LIBNBD_SIZE_MAXIMUM));
}

TEST(Handshake, ExportSizeMatchesSizeOption) {
  if (Cfg().size == 0) GTEST_SKIP() << "USBD_SIZE not set";
  Handle h = Connect();
  EXPECT_EQ(int64_t(Cfg().size), nbd_get_size(h.get()));
}

TEST(Handshake, TransmissionFlagsAdvertised) {
  Handle h = Connect();
  nbd_handle* p = h.get();
  EXPECT_EQ(0, nbd_is_read_only(p));
  EXPECT_EQ(1, nbd_can_flush(p));
  EXPECT_EQ(1, nbd_can_fua(p));
  EXPECT_EQ(1, nbd_can_trim(p));
  EXPECT_EQ(1, nbd_can_zero(p));
  EXPECT_EQ(1, nbd_can_fast_zero(p));
  EXPECT_EQ(1, nbd_can_df(p));
  EXPECT_EQ(1, nbd_can_multi_conn(p));
  EXPECT_EQ(1, nbd_can_cache(p));
}

TEST(Handshake, ReadOnlyExportAdvertisesReadOnly) {
  REQUIRE_RO_SERVER();
  ConnectOptions o;
  o.read_only_server = true;
  Handle h = Connect(o);
  EXPECT_EQ(1, nbd_is_read_only(h.get()));
}

TEST(Handshake, UnknownMetaContextIsNotSelected) {
  Handle h = NewHandle({});
  ASSERT_NBD_OK(nbd_add_meta_context(h.get(), "x-no-such-namespace:thing"));
  ASSERT_NBD_OK(nbd_connect_unix(h.get(), Cfg().socket.c_str()));
  EXPECT_EQ(1, nbd_can_meta_context(h.get(), LIBNBD_CONTEXT_BASE_ALLOCATION));
  EXPECT_EQ(0, nbd_can_meta_context(h.get(), "x-no-such-namespace:thing"));
}

TEST(Handshake, TlsAllowedFallsBackToPlaintext) {
  Handle h = NewHandle({});
  if (nbd_supports_tls(h.get()) != 1) GTEST_SKIP() << "libnbd without TLS";
  ASSERT_NBD_OK(nbd_set_tls(h.get(), LIBNBD_TLS_ALLOW));
  ASSERT_NBD_OK(nbd_connect_unix(h.get(), Cfg().socket.c_str()));
  EXPECT_EQ(0, nbd_get_tls_negotiated(h.get()));
  ExpectUsable(h.get());
}

// ===========================================================================
// Option haggling through libnbd (opt mode)
// ===========================================================================

Handle ConnectOptMode(bool structured = true) {
  ConnectOptions o;
  o.opt_mode = true;
  o.structured = structured;
  return Connect(o);
}

TEST(Options, ListReportsExportsThatInfoAccepts) {
  Handle h = ConnectOptMode();
  std::vector<std::string> names;
  nbd_list_callback cb = {
      .callback = [](void* ud, const char* name, const char*) -> int {
        static_cast<std::vector<std::string>*>(ud)->push_back(name);
        return 0;
      },
      .user_data = &names,
      .free = nullptr};
  int n = nbd_opt_list(h.get(), cb);
  ASSERT_NE(-1, n) << NbdError();
  EXPECT_EQ(size_t(n), names.size());
  EXPECT_GE(n, 1) << "LIST advertised no export";
  for (const std::string& name : names) {
    ASSERT_NBD_OK(nbd_set_export_name(h.get(), name.c_str()));
    EXPECT_NBD_OK(nbd_opt_info(h.get()))
        << " for listed export '" << name << "'";
  }
  EXPECT_EQ(1, nbd_aio_is_negotiating(h.get()));
}

TEST(Options, InfoThenGoAgree) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_opt_info(h.get()));
  const int64_t size = nbd_get_size(h.get());
  const int ro = nbd_is_read_only(h.get()), flush = nbd_can_flush(h.get()),
            fua = nbd_can_fua(h.get()), trim = nbd_can_trim(h.get()),
            zero = nbd_can_zero(h.get()), fast = nbd_can_fast_zero(h.get()),
            df = nbd_can_df(h.get()), mc = nbd_can_multi_conn(h.get()),
            cache = nbd_can_cache(h.get());
  const int64_t bmin = nbd_get_block_size(h.get(), LIBNBD_SIZE_MINIMUM),
                bpref = nbd_get_block_size(h.get(), LIBNBD_SIZE_PREFERRED),
                bmax = nbd_get_block_size(h.get(), LIBNBD_SIZE_MAXIMUM);
  ASSERT_GT(size, 0);
  ASSERT_NBD_OK(nbd_opt_go(h.get()));
  EXPECT_EQ(size, nbd_get_size(h.get()));
  EXPECT_EQ(ro, nbd_is_read_only(h.get()));
  EXPECT_EQ(flush, nbd_can_flush(h.get()));
  EXPECT_EQ(fua, nbd_can_fua(h.get()));
  EXPECT_EQ(trim, nbd_can_trim(h.get()));
  EXPECT_EQ(zero, nbd_can_zero(h.get()));
  EXPECT_EQ(fast, nbd_can_fast_zero(h.get()));
  EXPECT_EQ(df, nbd_can_df(h.get()));
  EXPECT_EQ(mc, nbd_can_multi_conn(h.get()));
  EXPECT_EQ(cache, nbd_can_cache(h.get()));
  EXPECT_EQ(bmin, nbd_get_block_size(h.get(), LIBNBD_SIZE_MINIMUM));
  EXPECT_EQ(bpref, nbd_get_block_size(h.get(), LIBNBD_SIZE_PREFERRED));
  EXPECT_EQ(bmax, nbd_get_block_size(h.get(), LIBNBD_SIZE_MAXIMUM));
}

TEST(Options, InfoOnUnknownExportFailsAndNegotiationContinues) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_set_export_name(h.get(), "no-such-export"));
  EXPECT_EQ(-1, nbd_opt_info(h.get()));
  EXPECT_EQ(1, nbd_aio_is_negotiating(h.get()));
  ASSERT_NBD_OK(nbd_set_export_name(h.get(), ""));
  EXPECT_NBD_OK(nbd_opt_info(h.get()));
  EXPECT_NBD_OK(nbd_opt_go(h.get()));
}

std::vector<std::string> ListMetaContexts(nbd_handle* h, int* rc) {
  std::vector<std::string> names;
  nbd_context_callback cb = {
      .callback = [](void* ud, const char* name) -> int {
        static_cast<std::vector<std::string>*>(ud)->push_back(name);
        return 0;
      },
      .user_data = &names,
      .free = nullptr};
  *rc = nbd_opt_list_meta_context(h, cb);
  return names;
}

TEST(Options, ListMetaContextWithoutQueriesIncludesBaseAllocation) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_clear_meta_contexts(h.get()));
  int rc = 0;
  auto names = ListMetaContexts(h.get(), &rc);
  ASSERT_NE(-1, rc) << NbdError();
  EXPECT_EQ(size_t(rc), names.size());
  EXPECT_NE(names.end(), std::find(names.begin(), names.end(),
                                   LIBNBD_CONTEXT_BASE_ALLOCATION));
}

TEST(Options, ListMetaContextWithQueryReturnsMatch) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_clear_meta_contexts(h.get()));
  ASSERT_NBD_OK(nbd_add_meta_context(h.get(), LIBNBD_CONTEXT_BASE_ALLOCATION));
  int rc = 0;
  auto names = ListMetaContexts(h.get(), &rc);
  ASSERT_NE(-1, rc) << NbdError();
  ASSERT_EQ(1u, names.size());
  EXPECT_EQ(LIBNBD_CONTEXT_BASE_ALLOCATION, names[0]);
}

TEST(Options, ListMetaContextIgnoresUnknownNamespace) {
  Handle h = ConnectOptMode();
  ASSERT_NBD_OK(nbd_clear_meta_contexts(h.get()));
  ASSERT_NBD_OK(nbd_add_meta_context(h.get(), "x-no-such-namespace:"));
  int rc = 0;
  auto names = ListMetaContexts(h.get(), &rc);
  EXPECT_EQ(0, rc) << NbdError();
  EXPECT_TRUE(names.empty());
  EXPECT_EQ(1, nbd_aio_is_negotiating(h.get()));
}

TEST(Options, AbortEndsNegotiationGracefully) {
  Handle h = ConnectOptMode();
  EXPECT_NBD_OK(nbd_opt_abort(h.get()));
  EXPECT_EQ(1, nbd_aio_is_closed(h.get()))
      << "state after abort: " << nbd_connection_state(h.get());
}

// ===========================================================================
// Data path
// ===========================================================================

TEST(Data, WriteThenReadBack) {
  Handle h = Connect();
  uint64_t off = AllocRegion(1 * kMiB);
  auto data = RandomBytes(1 * kMiB, 2);
  Write(h.get(), data, off);
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off)));
}

TEST(Data, WriteIsVisibleOnANewConnection) {
  uint64_t off = AllocRegion(512 * kKiB);
  auto data = RandomBytes(512 * kKiB, 3);
  {
    Handle h = Connect();
    Write(h.get(), data, off);
    ASSERT_NBD_OK(nbd_shutdown(h.get(), 0));
  }
  Handle h2 = Connect();
  EXPECT_TRUE(SameBytes(data, Read(h2.get(), data.size(), off)));
}

TEST(Data, NeverWrittenRegionReadsAsZero) {
  Handle h = Connect();
  uint64_t off = AllocRegion(2 * kMiB);
  auto got = Read(h.get(), 2 * kMiB, off);
  EXPECT_TRUE(AllZero(got.data(), got.size()));
}

TEST(Data, FuaWriteThenReadBack) {
  Handle h = Connect();
  uint64_t off = AllocRegion(256 * kKiB);
  auto data = RandomBytes(256 * kKiB, 4);
  Write(h.get(), data, off, LIBNBD_CMD_FLAG_FUA);
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off)));
}

TEST(Data, FlushSucceeds) {
  Handle h = Connect();
  uint64_t off = AllocRegion(64 * kKiB);
  Write(h.get(), RandomBytes(64 * kKiB, 5), off);
  EXPECT_NBD_OK(nbd_flush(h.get(), 0));
}

TEST(Data, OverwriteReplacesData) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  Write(h.get(), RandomBytes(2 * bs, 6), off);
  auto second = RandomBytes(2 * bs, 7);
  Write(h.get(), second, off);
  EXPECT_TRUE(SameBytes(second, Read(h.get(), second.size(), off)));
}

TEST(Data, TrimmedBlocksReadAsZero) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(4 * bs);
  Write(h.get(), RandomBytes(4 * bs, 8), off);
  ASSERT_NBD_OK(nbd_trim(h.get(), 2 * bs, off + bs, 0));
  auto got = Read(h.get(), 2 * bs, off + bs);
  EXPECT_TRUE(AllZero(got.data(), got.size()))
      << "a whole-block trim left data behind";
}

TEST(Data, TrimLeavesNeighbouringBlocksIntact) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(3 * bs);
  auto data = RandomBytes(3 * bs, 9);
  Write(h.get(), data, off);
  ASSERT_NBD_OK(nbd_trim(h.get(), bs, off + bs, 0));
  auto got = Read(h.get(), 3 * bs, off);
  EXPECT_EQ(0, memcmp(data.data(), got.data(), bs));
  EXPECT_EQ(0, memcmp(data.data() + 2 * bs, got.data() + 2 * bs, bs));
}

TEST(Data, FuaTrimSucceeds) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(bs);
  Write(h.get(), RandomBytes(bs, 10), off);
  EXPECT_NBD_OK(nbd_trim(h.get(), bs, off, LIBNBD_CMD_FLAG_FUA));
}

TEST(Data, CacheSucceedsAndDoesNotChangeData) {
  Handle h = Connect();
  uint64_t off = AllocRegion(512 * kKiB);
  auto data = RandomBytes(512 * kKiB, 11);
  Write(h.get(), data, off);
  ASSERT_NBD_OK(nbd_cache(h.get(), data.size(), off, 0));
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off)));
}

TEST(Data, ZeroReadsBackAsZero) {
  Handle h = Connect();
  uint64_t off = AllocRegion(1 * kMiB);
  Write(h.get(), RandomBytes(1 * kMiB, 12), off);
  ASSERT_NBD_OK(nbd_zero(h.get(), 1 * kMiB, off, 0));
  auto got = Read(h.get(), 1 * kMiB, off);
  EXPECT_TRUE(AllZero(got.data(), got.size()));
}

TEST(Data, UnalignedZeroKeepsSurroundingBytes) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(3 * bs);
  auto model = RandomBytes(3 * bs, 13);
  Write(h.get(), model, off);
  const uint64_t zoff = bs - 1000, zlen = bs + 3000;  // spans 3 blocks
  ASSERT_NBD_OK(nbd_zero(h.get(), zlen, off + zoff, 0));
  std::fill(model.begin() + zoff, model.begin() + zoff + zlen, 0);
  EXPECT_TRUE(SameBytes(model, Read(h.get(), model.size(), off)));
}

TEST(Data, ZeroWithNoHoleReadsBackAsZero) {
  Handle h = Connect();
  uint64_t off = AllocRegion(1 * kMiB);
  Write(h.get(), RandomBytes(1 * kMiB, 14), off);
  ASSERT_NBD_OK(nbd_zero(h.get(), 1 * kMiB, off, LIBNBD_CMD_FLAG_NO_HOLE));
  auto got = Read(h.get(), 1 * kMiB, off);
  EXPECT_TRUE(AllZero(got.data(), got.size()));
}

TEST(Data, FuaZeroSucceeds) {
  Handle h = Connect();
  uint64_t off = AllocRegion(64 * kKiB);
  Write(h.get(), RandomBytes(64 * kKiB, 15), off);
  ASSERT_NBD_OK(nbd_zero(h.get(), 64 * kKiB, off, LIBNBD_CMD_FLAG_FUA));
  auto got = Read(h.get(), 64 * kKiB, off);
  EXPECT_TRUE(AllZero(got.data(), got.size()));
}

TEST(Data, FastZeroOfWholeBlocksSucceedsOrIsNotSupported) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  auto data = RandomBytes(2 * bs, 16);
  Write(h.get(), data, off);
  int rc = nbd_zero(h.get(), 2 * bs, off, LIBNBD_CMD_FLAG_FAST_ZERO);
  auto got = Read(h.get(), 2 * bs, off);
  if (rc == 0) {
    EXPECT_TRUE(AllZero(got.data(), got.size()));
  } else {
    EXPECT_EQ(ENOTSUP, nbd_get_errno()) << NbdError();
    EXPECT_TRUE(SameBytes(data, got)) << "failed fast zero changed the data";
  }
}

TEST(Data, FastZeroWithNoHoleSucceedsOrIsNotSupported) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  auto data = RandomBytes(2 * bs, 17);
  Write(h.get(), data, off);
  int rc = nbd_zero(h.get(), 2 * bs, off,
                    LIBNBD_CMD_FLAG_FAST_ZERO | LIBNBD_CMD_FLAG_NO_HOLE);
  auto got = Read(h.get(), 2 * bs, off);
  if (rc == 0) {
    EXPECT_TRUE(AllZero(got.data(), got.size()));
  } else {
    EXPECT_EQ(ENOTSUP, nbd_get_errno()) << NbdError();
    EXPECT_TRUE(SameBytes(data, got)) << "failed fast zero changed the data";
    ExpectUsable(h.get());
  }
}

TEST(Data, ZeroWithoutFastZeroNeverFailsWithEnotsup) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(3 * bs);
  Write(h.get(), RandomBytes(3 * bs, 18), off);
  // Unaligned, with NO_HOLE: the least "fast" shape there is.
  EXPECT_NBD_OK(
      nbd_zero(h.get(), 2 * bs + 10, off + 7, LIBNBD_CMD_FLAG_NO_HOLE));
}

TEST(Data, MaxPayloadWriteAndRead) {
  Handle h = Connect();
  uint64_t off = AllocRegion(kMaxPayload);
  auto data = RandomBytes(kMaxPayload, 19);
  Write(h.get(), data, off);
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off)));
}

TEST(Data, MaxPayloadReadWithSimpleReplies) {
  uint64_t off = AllocRegion(kMaxPayload);
  auto data = RandomBytes(kMaxPayload, 20);
  {
    Handle h = Connect();
    Write(h.get(), data, off);
  }
  ConnectOptions o;
  o.structured = false;
  Handle h = Connect(o);
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off)));
}

TEST(Data, MaxPayloadUnalignedWrite) {
  Handle h = Connect();
  const uint64_t skew = 1000;
  uint64_t off = AllocRegion(kMaxPayload + 2 * skew);
  auto data = RandomBytes(kMaxPayload, 21);
  Write(h.get(), data, off + skew);
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off + skew)));
  auto head = Read(h.get(), skew, off);
  EXPECT_TRUE(AllZero(head.data(), head.size()));
}

TEST(Data, ZeroAndTrimLargerThanMaxPayloadAreHandled) {
  // No payload, so the length may exceed the 32 MiB maximum payload: the
  // server SHOULD NOT disconnect; it may do it or fail with EINVAL or
  // EOVERFLOW.
  Handle h = Connect();
  const uint64_t len = 64 * kMiB;
  uint64_t off = AllocRegion(len);
  Write(h.get(), RandomBytes(kMiB, 80), off);
  Write(h.get(), RandomBytes(kMiB, 81), off + len - kMiB);
  int rc = nbd_zero(h.get(), len, off, 0);
  if (rc == -1) {
    EXPECT_TRUE(nbd_get_errno() == EINVAL || nbd_get_errno() == EOVERFLOW)
        << NbdError();
  } else {
    auto head = Read(h.get(), kMiB, off);
    auto tail = Read(h.get(), kMiB, off + len - kMiB);
    EXPECT_TRUE(AllZero(head.data(), head.size()));
    EXPECT_TRUE(AllZero(tail.data(), tail.size()));
  }
  rc = nbd_trim(h.get(), len, off, 0);
  if (rc == -1) {
    EXPECT_TRUE(nbd_get_errno() == EINVAL || nbd_get_errno() == EOVERFLOW)
        << NbdError();
  }
  ExpectUsable(h.get());
}

TEST(Data, ZeroLengthRequestsAreAnswered) {
  // The spec leaves the result of a zero-length request open (success or
  // any error) but the server SHOULD NOT disconnect: each must be answered
  // and the connection kept.
  Handle h = ConnectLoose();
  uint64_t off = AllocRegion(4096);
  uint8_t buf[1] = {0};
  nbd_pread(h.get(), buf, 0, off, 0);
  ASSERT_EQ(1, nbd_aio_is_ready(h.get())) << "zero-length read: " << NbdError();
  nbd_pwrite(h.get(), buf, 0, off, 0);
  ASSERT_EQ(1, nbd_aio_is_ready(h.get()))
      << "zero-length write: " << NbdError();
  nbd_trim(h.get(), 0, off, 0);
  ASSERT_EQ(1, nbd_aio_is_ready(h.get())) << "zero-length trim: " << NbdError();
  nbd_zero(h.get(), 0, off, 0);
  ASSERT_EQ(1, nbd_aio_is_ready(h.get()))
      << "zero-length write zeroes: " << NbdError();
  nbd_cache(h.get(), 0, off, 0);
  ASSERT_EQ(1, nbd_aio_is_ready(h.get()))
      << "zero-length cache: " << NbdError();
  ExpectUsable(h.get());
}

TEST(Data, ZeroLengthReadWithSimpleReplies) {
  Handle h = ConnectLoose(/*structured=*/false);
  uint8_t buf[1] = {0};
  nbd_pread(h.get(), buf, 0, 0, 0);
  ExpectUsable(h.get());
}

// --- unaligned I/O: the frontend's read-modify-write ---

class Unaligned : public ::testing::Test {
 protected:
  void SetUp() override {
    h_ = Connect();
    bs_ = Cfg().block_size;
    off_ = AllocRegion(4 * bs_);
    model_.assign(4 * bs_, 0);
  }
  void WriteAt(uint64_t rel, size_t len, uint64_t seed) {
    auto data = RandomBytes(len, seed);
    Write(h_.get(), data, off_ + rel);
    std::copy(data.begin(), data.end(), model_.begin() + rel);
  }
  void Verify() {
    EXPECT_TRUE(SameBytes(model_, Read(h_.get(), model_.size(), off_)));
  }
  Handle h_;
  uint64_t bs_ = 0, off_ = 0;
  std::vector<uint8_t> model_;
};

TEST_F(Unaligned, SingleByteWriteIntoHole) {
  WriteAt(bs_ + 17, 1, 30);
  Verify();
}

TEST_F(Unaligned, WriteAcrossOneBlockBoundary) {
  WriteAt(bs_ - 100, 300, 31);
  Verify();
}

TEST_F(Unaligned, WriteSpanningThreeBlocks) {
  WriteAt(bs_ - 5, bs_ + 10, 32);
  Verify();
}

TEST_F(Unaligned, WriteSpanningFourBlocksWithHeadAndTail) {
  WriteAt(3, 4 * bs_ - 6, 33);
  Verify();
}

TEST_F(Unaligned, PartialOverwriteKeepsTheRestOfTheBlock) {
  WriteAt(0, 4 * bs_, 34);
  WriteAt(bs_ / 2 + 1, 513, 35);
  WriteAt(2 * bs_ - 1, 2, 36);
  WriteAt(3 * bs_ + 4095, 1, 37);
  Verify();
}

TEST_F(Unaligned, ReadsAtOddOffsets) {
  WriteAt(0, 4 * bs_, 38);
  for (uint64_t rel : {uint64_t(1), bs_ - 1, bs_ + 511, 3 * bs_ - 3}) {
    const size_t len = std::min<uint64_t>(bs_ + 7, 4 * bs_ - rel);
    auto got = Read(h_.get(), len, off_ + rel);
    EXPECT_EQ(0, memcmp(model_.data() + rel, got.data(), len))
        << "read of " << len << " at +" << rel;
  }
}

TEST_F(Unaligned, ConcurrentSubBlockWritesToOneBlock) {
  // Many small writes into the same blocks at once: a read-modify-write
  // without per-block serialisation loses some of them.
  const size_t piece = 4096;
  const size_t n = std::min<size_t>(64, 2 * bs_ / piece);
  std::vector<std::vector<uint8_t>> bufs;
  std::atomic<int> errors{0}, done{0};
  struct Ctx {
    std::atomic<int>* errors;
    std::atomic<int>* done;
  } ctx{&errors, &done};
  nbd_completion_callback cb = {.callback = [](void* ud, int* error) -> int {
                                  auto* c = static_cast<Ctx*>(ud);
                                  if (*error) (*c->errors)++;
                                  (*c->done)++;
                                  return 1;
                                },
                                .user_data = &ctx,
                                .free = nullptr};
  for (size_t i = 0; i < n; i++) {
    bufs.push_back(RandomBytes(piece, 40 + i));
    uint64_t rel = bs_ / 2 + i * piece;  // crosses into the next block
    std::copy(bufs.back().begin(), bufs.back().end(), model_.begin() + rel);
    ASSERT_NE(-1, nbd_aio_pwrite(h_.get(), bufs.back().data(), piece,
                                 off_ + rel, cb, 0))
        << NbdError();
  }
  while (done < int(n)) ASSERT_NE(-1, nbd_poll(h_.get(), 30000)) << NbdError();
  EXPECT_EQ(0, errors.load());
  Verify();
}

// ===========================================================================
// Block status (base:allocation) and structured reads
// ===========================================================================

constexpr uint32_t kHoleZero = LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO;

TEST(BlockStatus, NeverWrittenBlocksAreHoleAndZero) {
  Handle h = Connect();
  uint64_t off = AllocRegion(4 * Cfg().block_size);
  EXPECT_TRUE(AllocationIs(h.get(), off, 4 * Cfg().block_size, kHoleZero));
}

TEST(BlockStatus, WrittenBlocksAreData) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(4 * bs);
  Write(h.get(), RandomBytes(bs, 50), off + bs);
  EXPECT_TRUE(AllocationIs(h.get(), off, bs, kHoleZero));
  EXPECT_TRUE(AllocationIs(h.get(), off + bs, bs, 0));
  EXPECT_TRUE(AllocationIs(h.get(), off + 2 * bs, 2 * bs, kHoleZero));
}

TEST(BlockStatus, PartiallyWrittenBlockIsData) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  Write(h.get(), RandomBytes(100, 51), off + bs + 7);
  EXPECT_TRUE(AllocationIs(h.get(), off + bs, bs, 0));
  EXPECT_TRUE(AllocationIs(h.get(), off, bs, kHoleZero));
}

TEST(BlockStatus, TrimmedBlocksBecomeHoles) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(3 * bs);
  Write(h.get(), RandomBytes(3 * bs, 52), off);
  ASSERT_NBD_OK(nbd_trim(h.get(), bs, off + bs, 0));
  EXPECT_TRUE(AllocationIs(h.get(), off, bs, 0));
  EXPECT_TRUE(AllocationIs(h.get(), off + bs, bs, kHoleZero));
  EXPECT_TRUE(AllocationIs(h.get(), off + 2 * bs, bs, 0));
}

TEST(BlockStatus, ZeroWithoutNoHolePunchesWholeBlocks) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  Write(h.get(), RandomBytes(2 * bs, 53), off);
  ASSERT_NBD_OK(nbd_zero(h.get(), 2 * bs, off, 0));
  EXPECT_TRUE(AllocationIs(h.get(), off, 2 * bs, kHoleZero));
}

TEST(BlockStatus, ZeroWithNoHoleReadsZeroAndStoresNothing) {
  // usbd never stores an all-zero block (design: the zero layer turns it
  // into a delete), because an object store cannot provision space ahead
  // of time anyway. So NO_HOLE zeroing reads back as zeros and the area is
  // reported truthfully as an unallocated hole; see usbd(8), NBD.
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  Write(h.get(), RandomBytes(2 * bs, 54), off);
  ASSERT_NBD_OK(nbd_zero(h.get(), 2 * bs, off, LIBNBD_CMD_FLAG_NO_HOLE));
  auto got = Read(h.get(), 2 * bs, off);
  EXPECT_TRUE(AllZero(got.data(), got.size()));
  EXPECT_TRUE(AllocationIs(h.get(), off, 2 * bs, kHoleZero));
}

TEST(BlockStatus, AllZeroWholeBlockWriteBecomesHole) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(bs);
  Write(h.get(), RandomBytes(bs, 55), off);
  Write(h.get(), std::vector<uint8_t>(bs, 0), off);
  EXPECT_TRUE(AllocationIs(h.get(), off, bs, kHoleZero));
}

TEST(BlockStatus, ReqOneReturnsExactlyOneExtentWithinRequest) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(4 * bs);
  Write(h.get(), RandomBytes(bs, 56), off + 2 * bs);
  for (uint64_t len : {uint64_t(512), bs, 4 * bs}) {
    StatusResult r = BlockStatus(h.get(), len, off, LIBNBD_CMD_FLAG_REQ_ONE);
    ASSERT_EQ(0, r.rc) << NbdError();
    EXPECT_EQ(1, r.base_allocation_chunks);
    ASSERT_EQ(1u, r.extents.size()) << "REQ_ONE with length " << len;
    EXPECT_GT(r.extents[0].length, 0u);
    EXPECT_LE(r.extents[0].length, len);
    EXPECT_EQ(kHoleZero, r.extents[0].flags);
  }
}

TEST(BlockStatus, OneChunkPerContextWithNonZeroExtents) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(8 * bs);
  Write(h.get(), RandomBytes(bs, 57), off + bs);
  Write(h.get(), RandomBytes(bs, 58), off + 5 * bs);
  StatusResult r = BlockStatus(h.get(), 8 * bs, off);
  ASSERT_EQ(0, r.rc) << NbdError();
  EXPECT_EQ(1, r.base_allocation_chunks);
  EXPECT_EQ(0, r.other_chunks);
  ASSERT_FALSE(r.extents.empty());
  uint64_t sum_before_last = 0;
  for (size_t i = 0; i < r.extents.size(); i++) {
    EXPECT_GT(r.extents[i].length, 0u) << "extent " << i;
    if (i + 1 < r.extents.size()) sum_before_last += r.extents[i].length;
  }
  EXPECT_LT(sum_before_last, 8 * bs)
      << "extents before the last one must not reach the request's end";
  const Extent& last = r.extents.back();
  if (Cfg().size) {
    EXPECT_LE(last.offset + last.length, Cfg().size);
  }
}

TEST(BlockStatus, UnalignedQueryStartsAtRequestedOffset) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  Write(h.get(), RandomBytes(bs, 59), off);
  StatusResult r = BlockStatus(h.get(), bs, off + 100);
  ASSERT_EQ(0, r.rc) << NbdError();
  ASSERT_FALSE(r.extents.empty());
  EXPECT_EQ(0u, r.extents[0].flags);
  EXPECT_EQ(bs - 100, r.extents[0].length)
      << "first extent should end at the block boundary";
}

TEST(BlockStatus, LastBlockOfExportIsReportable) {
  if (Cfg().size == 0) GTEST_SKIP() << "USBD_SIZE not set";
  Handle h = Connect();
  StatusResult r = BlockStatus(h.get(), 4096, Cfg().size - 4096);
  ASSERT_EQ(0, r.rc) << NbdError();
  ASSERT_FALSE(r.extents.empty());
  EXPECT_LE(r.extents.back().offset + r.extents.back().length, Cfg().size);
}

TEST(StructuredRead, ChunksCoverTheRequestWithoutOverlap) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(4 * bs);
  auto data = RandomBytes(bs, 60);
  Write(h.get(), data, off + bs);
  Write(h.get(), data, off + 3 * bs);
  const uint64_t roff = off + 100, rlen = 4 * bs - 200;
  std::vector<uint8_t> buf(rlen, 0xAA);
  std::vector<ChunkSeen> chunks;
  nbd_chunk_callback cb = {
      .callback = RecordChunk, .user_data = &chunks, .free = nullptr};
  ASSERT_NBD_OK(nbd_pread_structured(h.get(), buf.data(), rlen, roff, cb, 0));
  std::sort(chunks.begin(), chunks.end(),
            [](const ChunkSeen& a, const ChunkSeen& b) {
              return a.offset < b.offset;
            });
  uint64_t pos = roff;
  for (const ChunkSeen& c : chunks) {
    EXPECT_NE(unsigned(LIBNBD_READ_ERROR), c.status);
    EXPECT_GT(c.count, 0u) << "empty chunk at " << c.offset;
    EXPECT_EQ(pos, c.offset) << "gap or overlap between chunks";
    pos = c.offset + c.count;
  }
  EXPECT_EQ(roff + rlen, pos) << "chunks do not end at the request's end";
  std::vector<uint8_t> model(4 * bs, 0);
  std::copy(data.begin(), data.end(), model.begin() + bs);
  std::copy(data.begin(), data.end(), model.begin() + 3 * bs);
  EXPECT_TRUE(SameBytes(
      std::vector<uint8_t>(model.begin() + 100, model.begin() + 100 + rlen),
      buf));
}

TEST(StructuredRead, DfReadOverDataAndHoleIsOneDataChunk) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  auto data = RandomBytes(bs, 61);
  Write(h.get(), data, off);
  // 64 KiB straddling the end of a data block and the start of a hole: the
  // server must support DF up to 64 KiB and use one OFFSET_DATA chunk.
  const uint64_t roff = off + bs - 32 * kKiB, rlen = 64 * kKiB;
  std::vector<uint8_t> buf(rlen, 0xAA);
  std::vector<ChunkSeen> chunks;
  nbd_chunk_callback cb = {
      .callback = RecordChunk, .user_data = &chunks, .free = nullptr};
  ASSERT_NBD_OK(nbd_pread_structured(h.get(), buf.data(), rlen, roff, cb,
                                     LIBNBD_CMD_FLAG_DF));
  ASSERT_EQ(1u, chunks.size()) << "DF read was fragmented";
  EXPECT_EQ(unsigned(LIBNBD_READ_DATA), chunks[0].status);
  EXPECT_EQ(roff, chunks[0].offset);
  EXPECT_EQ(rlen, chunks[0].count);
  EXPECT_EQ(0, memcmp(data.data() + bs - 32 * kKiB, buf.data(), 32 * kKiB));
  EXPECT_TRUE(AllZero(buf.data() + 32 * kKiB, 32 * kKiB));
}

TEST(StructuredRead, DfReadOfLargeRangeIsOneChunkOrEoverflow) {
  Handle h = Connect();
  const uint64_t len = 4 * kMiB;
  uint64_t off = AllocRegion(len);
  auto data = RandomBytes(len / 2, 62);
  Write(h.get(), data, off);
  std::vector<uint8_t> buf(len, 0xAA);
  std::vector<ChunkSeen> chunks;
  nbd_chunk_callback cb = {
      .callback = RecordChunk, .user_data = &chunks, .free = nullptr};
  int rc = nbd_pread_structured(h.get(), buf.data(), len, off, cb,
                                LIBNBD_CMD_FLAG_DF);
  if (rc == -1) {
    EXPECT_EQ(EOVERFLOW, nbd_get_errno()) << NbdError();
    ExpectUsable(h.get());
    return;
  }
  ASSERT_EQ(1u, chunks.size()) << "DF read was fragmented";
  EXPECT_EQ(len, chunks[0].count);
  EXPECT_EQ(0, memcmp(data.data(), buf.data(), len / 2));
  EXPECT_TRUE(AllZero(buf.data() + len / 2, len / 2));
}

TEST(StructuredRead, HoleReadsAsZero) {
  Handle h = Connect();
  const uint64_t len = 2 * kMiB;
  uint64_t off = AllocRegion(len);
  std::vector<uint8_t> buf(len, 0xAA);
  std::vector<ChunkSeen> chunks;
  nbd_chunk_callback cb = {
      .callback = RecordChunk, .user_data = &chunks, .free = nullptr};
  ASSERT_NBD_OK(nbd_pread_structured(h.get(), buf.data(), len, off, cb, 0));
  EXPECT_TRUE(AllZero(buf.data(), len));
  uint64_t covered = 0;
  for (const ChunkSeen& c : chunks) covered += c.count;
  EXPECT_EQ(len, covered);
}

// ===========================================================================
// Errors: exact errno, connection kept
// ===========================================================================

class Errors : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Cfg().size == 0) GTEST_SKIP() << "USBD_SIZE not set";
    size_ = Cfg().size;
  }
  uint64_t size_ = 0;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(64 * kKiB);
};

TEST_F(Errors, ReadStraddlingTheEndIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL,
                   nbd_pread(h.get(), buf_.data(), 1024, size_ - 512, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, ReadPastTheEndIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL,
                   nbd_pread(h.get(), buf_.data(), 512, size_ + 4096, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, ReadPastTheEndWithSimpleRepliesIsEinval) {
  Handle h = ConnectLoose(/*structured=*/false);
  EXPECT_NBD_ERRNO(EINVAL,
                   nbd_pread(h.get(), buf_.data(), 4096, size_ - 512, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, ReadWithWrappingOffsetIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL,
                   nbd_pread(h.get(), buf_.data(), 4096, UINT64_MAX - 1023, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, WriteStraddlingTheEndIsEnospc) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(ENOSPC,
                   nbd_pwrite(h.get(), buf_.data(), 64 * kKiB, size_ - 512, 0));
  ExpectUsable(h.get());  // the rejected payload was drained
}

TEST_F(Errors, WritePastTheEndIsEnospc) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(
      ENOSPC, nbd_pwrite(h.get(), buf_.data(), 64 * kKiB, size_ + kMiB, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, WriteWithWrappingOffsetIsEnospc) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(
      ENOSPC, nbd_pwrite(h.get(), buf_.data(), 4096, UINT64_MAX - 1023, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, ZeroPastTheEndIsEnospc) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(ENOSPC, nbd_zero(h.get(), 1024, size_ - 512, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, TrimPastTheEndIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL, nbd_trim(h.get(), 1024, size_ - 512, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, CachePastTheEndIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL, nbd_cache(h.get(), 1024, size_ - 512, 0));
  ExpectUsable(h.get());
}

TEST_F(Errors, BlockStatusPastTheEndIsEinval) {
  Handle h = ConnectLoose();
  StatusResult r = BlockStatus(h.get(), 1024, size_ + 4096);
  EXPECT_EQ(-1, r.rc);
  EXPECT_EQ(EINVAL, r.err) << NbdError();
  ExpectUsable(h.get());
}

TEST_F(Errors, UnknownReadFlagIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL, nbd_pread(h.get(), buf_.data(), 4096, 0, 0x100));
  ExpectUsable(h.get());
}

TEST_F(Errors, UnknownReadFlagWithSimpleRepliesIsEinval) {
  Handle h = ConnectLoose(/*structured=*/false);
  EXPECT_NBD_ERRNO(EINVAL, nbd_pread(h.get(), buf_.data(), 4096, 0, 0x4000));
  ExpectUsable(h.get());
}

TEST_F(Errors, UnknownWriteFlagIsEinvalAndPayloadIsDrained) {
  Handle h = ConnectLoose();
  uint64_t off = AllocRegion(64 * kKiB);
  auto data = RandomBytes(64 * kKiB, 70);
  EXPECT_NBD_ERRNO(EINVAL,
                   nbd_pwrite(h.get(), data.data(), data.size(), off, 0x100));
  ExpectUsable(h.get());
  auto got = Read(h.get(), data.size(), off);
  EXPECT_TRUE(AllZero(got.data(), got.size()))
      << "a rejected write changed the data";
}

TEST_F(Errors, UnknownTrimFlagIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL, nbd_trim(h.get(), 4096, AllocRegion(4096), 0x200));
  ExpectUsable(h.get());
}

TEST_F(Errors, UnknownZeroFlagIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL, nbd_zero(h.get(), 4096, AllocRegion(4096), 0x400));
  ExpectUsable(h.get());
}

TEST_F(Errors, UnknownBlockStatusFlagIsEinval) {
  Handle h = ConnectLoose();
  StatusResult r = BlockStatus(h.get(), 4096, 0, 0x800);
  EXPECT_EQ(-1, r.rc);
  EXPECT_EQ(EINVAL, r.err) << NbdError();
  ExpectUsable(h.get());
}

TEST_F(Errors, UnknownCacheFlagIsEinval) {
  Handle h = ConnectLoose();
  EXPECT_NBD_ERRNO(EINVAL, nbd_cache(h.get(), 4096, 0, 0x1000));
  ExpectUsable(h.get());
}

TEST_F(Errors, OversizedWriteIsRejectedAndDrained) {
  Handle h = ConnectLoose();
  const size_t len = 40 * kMiB;
  uint64_t off = AllocRegion(len);
  auto data = RandomBytes(len, 71);
  int rc = nbd_pwrite(h.get(), data.data(), len, off, 0);
  EXPECT_EQ(-1, rc) << "a 40 MiB write (max payload 32 MiB) succeeded";
  if (rc == -1) {
    EXPECT_TRUE(nbd_get_errno() == EINVAL || nbd_get_errno() == EOVERFLOW)
        << "errno " << nbd_get_errno() << ": " << NbdError();
  }
  ExpectUsable(h.get());
}

TEST_F(Errors, ErrorsDoNotBreakPipelinedRequests) {
  // Several bad and good requests in flight at once; every good one must
  // succeed and every bad one fail with its own errno.
  Handle h = ConnectLoose();
  uint64_t off = AllocRegion(1 * kMiB);
  auto data = RandomBytes(64 * kKiB, 72);
  struct Res {
    std::atomic<int> done{0};
    int errors[8] = {0};
  } res;
  struct Ctx {
    Res* res;
    int index;
  };
  std::vector<std::unique_ptr<Ctx>> ctxs;
  auto cb = [&](int index) {
    ctxs.push_back(std::make_unique<Ctx>(Ctx{&res, index}));
    return nbd_completion_callback{.callback = [](void* ud, int* error) -> int {
                                     auto* c = static_cast<Ctx*>(ud);
                                     c->res->errors[c->index] = *error;
                                     c->res->done++;
                                     return 1;
                                   },
                                   .user_data = ctxs.back().get(),
                                   .free = nullptr};
  };
  std::vector<uint8_t> rbuf(64 * kKiB);
  ASSERT_NE(-1, nbd_aio_pwrite(h.get(), data.data(), data.size(), size_ - 1024,
                               cb(0), 0));
  ASSERT_NE(-1,
            nbd_aio_pwrite(h.get(), data.data(), data.size(), off, cb(1), 0));
  ASSERT_NE(-1, nbd_aio_pread(h.get(), rbuf.data(), 4096, size_, cb(2), 0));
  ASSERT_NE(-1, nbd_aio_pwrite(h.get(), data.data(), data.size(),
                               off + 64 * kKiB, cb(3), 0x100));
  ASSERT_NE(-1, nbd_aio_pwrite(h.get(), data.data(), data.size(),
                               off + 128 * kKiB, cb(4), 0));
  while (res.done < 5) ASSERT_NE(-1, nbd_poll(h.get(), 30000)) << NbdError();
  EXPECT_EQ(ENOSPC, res.errors[0]);
  EXPECT_EQ(0, res.errors[1]);
  EXPECT_EQ(EINVAL, res.errors[2]);
  EXPECT_EQ(EINVAL, res.errors[3]);
  EXPECT_EQ(0, res.errors[4]);
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off)));
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off + 128 * kKiB)));
  ExpectUsable(h.get());
}

// --- read-only export ---

class ReadOnly : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_RO_SERVER();
    ConnectOptions o;
    o.read_only_server = true;
    o.strict = false;
    h_ = Connect(o);
  }
  Handle h_;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(4096, 0x5A);
};

TEST_F(ReadOnly, WriteIsEperm) {
  EXPECT_NBD_ERRNO(EPERM, nbd_pwrite(h_.get(), buf_.data(), buf_.size(), 0, 0));
  ExpectUsable(h_.get(), /*can_write=*/false);
  auto got = Read(h_.get(), 4096, 0);
  EXPECT_TRUE(AllZero(got.data(), got.size()));
}

TEST_F(ReadOnly, LargeWriteIsEpermAndDrained) {
  std::vector<uint8_t> big(8 * kMiB, 0x5A);
  EXPECT_NBD_ERRNO(EPERM, nbd_pwrite(h_.get(), big.data(), big.size(), 0, 0));
  ExpectUsable(h_.get(), /*can_write=*/false);
}

TEST_F(ReadOnly, TrimIsEperm) {
  EXPECT_NBD_ERRNO(EPERM, nbd_trim(h_.get(), 4096, 0, 0));
  ExpectUsable(h_.get(), /*can_write=*/false);
}

TEST_F(ReadOnly, ZeroIsEperm) {
  EXPECT_NBD_ERRNO(EPERM, nbd_zero(h_.get(), 4096, 0, 0));
  ExpectUsable(h_.get(), /*can_write=*/false);
}

TEST_F(ReadOnly, FuaWriteIsEperm) {
  EXPECT_NBD_ERRNO(EPERM, nbd_pwrite(h_.get(), buf_.data(), buf_.size(), 0,
                                     LIBNBD_CMD_FLAG_FUA));
  ExpectUsable(h_.get(), /*can_write=*/false);
}

TEST_F(ReadOnly, ReadsWork) {
  auto got = Read(h_.get(), 64 * kKiB, 0);
  EXPECT_TRUE(AllZero(got.data(), got.size()));
}

// ===========================================================================
// Concurrency: many requests in flight, many connections
// ===========================================================================

struct AioCounter {
  std::atomic<int> done{0};
  std::atomic<int> errors{0};
  std::atomic<int> first_error{0};
};

nbd_completion_callback Counting(AioCounter* c) {
  return nbd_completion_callback{.callback = [](void* ud, int* error) -> int {
                                   auto* c = static_cast<AioCounter*>(ud);
                                   if (*error) {
                                     int zero = 0;
                                     c->first_error.compare_exchange_strong(
                                         zero, *error);
                                     c->errors++;
                                   }
                                   c->done++;
                                   return 1;  // retire the command
                                 },
                                 .user_data = c,
                                 .free = nullptr};
}

::testing::AssertionResult WaitAll(nbd_handle* h, AioCounter* c, int n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (c->done < n) {
    if (nbd_poll(h, 1000) == -1)
      return ::testing::AssertionFailure() << "nbd_poll: " << NbdError();
    if (std::chrono::steady_clock::now() > deadline)
      return ::testing::AssertionFailure()
             << c->done << " of " << n << " commands completed in 60 s";
  }
  if (c->errors)
    return ::testing::AssertionFailure()
           << c->errors << " commands failed, first errno " << c->first_error;
  return ::testing::AssertionSuccess();
}

// Writes `n` pieces of `piece` bytes at `off` with n requests in flight,
// then reads them back with n requests in flight and compares.
void AioRoundTrip(nbd_handle* h, uint64_t off, int n, size_t piece,
                  uint64_t seed) {
  std::vector<std::vector<uint8_t>> data, back(n);
  AioCounter wc;
  for (int i = 0; i < n; i++) data.push_back(RandomBytes(piece, seed + i));
  // Issue in a scrambled order so that neighbouring pieces are not sent in
  // sequence.
  for (int k = 0; k < n; k++) {
    int i = (k * 37) % n;
    ASSERT_NE(-1, nbd_aio_pwrite(h, data[i].data(), piece, off + i * piece,
                                 Counting(&wc), 0))
        << NbdError();
  }
  ASSERT_TRUE(WaitAll(h, &wc, n));
  AioCounter rc;
  for (int i = 0; i < n; i++) {
    back[i].assign(piece, 0xAA);
    ASSERT_NE(-1, nbd_aio_pread(h, back[i].data(), piece, off + i * piece,
                                Counting(&rc), 0))
        << NbdError();
  }
  ASSERT_TRUE(WaitAll(h, &rc, n));
  for (int i = 0; i < n; i++)
    ASSERT_TRUE(SameBytes(data[i], back[i])) << "piece " << i;
}

TEST(Concurrency, SixtyFourWritesAndReadsInFlightOnOneConnection) {
  Handle h = Connect();
  const int n = 64;
  const size_t piece = 64 * kKiB;
  uint64_t off = AllocRegion(n * piece);
  AioRoundTrip(h.get(), off, n, piece, 100);
}

TEST(Concurrency, SixtyFourUnalignedWritesInFlight) {
  // Pieces of 3000 bytes: most share a block with a neighbour, so the
  // server's read-modify-write must be serialised per block.
  Handle h = Connect();
  const int n = 64;
  const size_t piece = 3000;
  uint64_t off = AllocRegion(n * piece + 4096);
  AioRoundTrip(h.get(), off + 5, n, piece, 200);
}

// A whole-block request racing a sub-block write (read-modify-write) to the
// same block: the bytes only the whole-block request touched must end up
// with its data, whatever order the two run in. A read-modify-write that
// read the block before the whole-block request landed and wrote it back
// after would resurrect the old data.
void RaceWholeBlockAgainstPartialWrite(bool whole_is_zero) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  const int rounds = 100;
  uint64_t base = AllocRegion(rounds * bs);
  const size_t plen = 4096;
  const uint64_t poff = bs / 3;
  auto old_data = RandomBytes(rounds * bs, 500);
  Write(h.get(), old_data, base);
  auto whole = RandomBytes(bs, 501);
  auto partial = RandomBytes(plen, 502);
  AioCounter c;
  int issued = 0;
  for (int r = 0; r < rounds; r++) {
    const uint64_t block = base + r * bs;
    // Alternate which request is sent first.
    for (int k = 0; k < 2; k++) {
      if ((k == 0) == (r % 2 == 0)) {
        ASSERT_NE(-1, nbd_aio_pwrite(h.get(), partial.data(), plen,
                                     block + poff, Counting(&c), 0))
            << NbdError();
      } else if (whole_is_zero) {
        ASSERT_NE(-1, nbd_aio_zero(h.get(), bs, block, Counting(&c), 0))
            << NbdError();
      } else {
        ASSERT_NE(-1, nbd_aio_pwrite(h.get(), whole.data(), bs, block,
                                     Counting(&c), 0))
            << NbdError();
      }
      issued++;
    }
  }
  ASSERT_TRUE(WaitAll(h.get(), &c, issued));
  const std::vector<uint8_t> expect_whole =
      whole_is_zero ? std::vector<uint8_t>(bs, 0) : whole;
  int bad = 0, resurrected = 0;
  for (int r = 0; r < rounds; r++) {
    auto got = Read(h.get(), bs, base + r * bs);
    bool outside_ok =
        memcmp(got.data(), expect_whole.data(), poff) == 0 &&
        memcmp(got.data() + poff + plen, expect_whole.data() + poff + plen,
               bs - poff - plen) == 0;
    bool inside_ok =
        memcmp(got.data() + poff, partial.data(), plen) == 0 ||
        memcmp(got.data() + poff, expect_whole.data() + poff, plen) == 0;
    if (!outside_ok || !inside_ok) {
      bad++;
      if (memcmp(got.data(), old_data.data() + r * bs, poff) == 0)
        resurrected++;
    }
  }
  EXPECT_EQ(0, bad) << bad << " of " << rounds << " blocks lost the "
                    << (whole_is_zero ? "write-zeroes" : "whole-block write")
                    << " that raced a sub-block write (" << resurrected
                    << " show the block's previous data)";
}

TEST(Concurrency, WholeBlockWriteRacingPartialWriteIsNotLost) {
  RaceWholeBlockAgainstPartialWrite(/*whole_is_zero=*/false);
}

TEST(Concurrency, WriteZeroesRacingPartialWriteIsNotLost) {
  RaceWholeBlockAgainstPartialWrite(/*whole_is_zero=*/true);
}

TEST(Concurrency, MixedCommandsInFlight) {
  Handle h = Connect();
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(16 * bs);
  auto data = RandomBytes(16 * bs, 300);
  Write(h.get(), data, off);
  AioCounter c;
  std::vector<uint8_t> rbuf(bs);
  int n = 0;
  for (int i = 0; i < 16; i++) {
    switch (i % 4) {
      case 0:  // trim, then its block reads as zero
        ASSERT_NE(-1, nbd_aio_trim(h.get(), bs, off + i * bs, Counting(&c), 0));
        std::fill(data.begin() + i * bs, data.begin() + (i + 1) * bs, 0);
        break;
      case 1:
        ASSERT_NE(-1, nbd_aio_zero(h.get(), bs, off + i * bs, Counting(&c), 0));
        std::fill(data.begin() + i * bs, data.begin() + (i + 1) * bs, 0);
        break;
      case 2:
        ASSERT_NE(-1,
                  nbd_aio_cache(h.get(), bs, off + i * bs, Counting(&c), 0));
        break;
      case 3:
        ASSERT_NE(-1, nbd_aio_flush(h.get(), Counting(&c), 0));
        break;
    }
    n++;
  }
  ASSERT_TRUE(WaitAll(h.get(), &c, n));
  EXPECT_TRUE(SameBytes(data, Read(h.get(), data.size(), off)));
}

TEST(Concurrency, FourConnectionsAtOnceSeeEachOthersWrites) {
  const int conns = 4, n = 64;
  const size_t piece = 32 * kKiB;
  std::vector<uint64_t> regions;
  for (int c = 0; c < conns; c++) regions.push_back(AllocRegion(n * piece));
  std::vector<Handle> handles;
  for (int c = 0; c < conns; c++) handles.push_back(Connect());
  ASSERT_EQ(1, nbd_can_multi_conn(handles[0].get()));

  // Phase 1: every connection writes its region (64 in flight) and flushes.
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; c++)
    threads.emplace_back([&, c] {
      AioRoundTrip(handles[c].get(), regions[c], n, piece, 1000 * (c + 1));
      EXPECT_NBD_OK(nbd_flush(handles[c].get(), 0));
    });
  for (auto& t : threads) t.join();
  threads.clear();

  // Phase 2: every connection reads every other connection's region.
  for (int c = 0; c < conns; c++)
    threads.emplace_back([&, c] {
      for (int other = 0; other < conns; other++) {
        if (other == c) continue;
        for (int i = 0; i < n; i += 7) {
          auto got = Read(handles[c].get(), piece, regions[other] + i * piece);
          EXPECT_TRUE(
              SameBytes(RandomBytes(piece, 1000 * (other + 1) + i), got))
              << "connection " << c << " reading piece " << i
              << " written by connection " << other;
        }
      }
    });
  for (auto& t : threads) t.join();
}

TEST(Concurrency, FlushOnAnotherConnectionSucceedsAfterWrites) {
  Handle writer = Connect(), flusher = Connect(), reader = Connect();
  uint64_t off = AllocRegion(1 * kMiB);
  auto data = RandomBytes(1 * kMiB, 400);
  Write(writer.get(), data, off);
  EXPECT_NBD_OK(nbd_flush(flusher.get(), 0));
  EXPECT_TRUE(SameBytes(data, Read(reader.get(), data.size(), off)));
}

TEST(Concurrency, ManyConnectionsOpenAtOnce) {
  std::vector<Handle> handles;
  for (int i = 0; i < 32; i++) handles.push_back(Connect());
  for (auto& h : handles) ExpectUsable(h.get());
}

// ===========================================================================
// Raw protocol: what libnbd cannot be made to send
// ===========================================================================

using raw::Conn;
using raw::Export;
using raw::OptReply;
using raw::Reply;

TEST(RawHandshake, ServerOffersExactlyFixedNewstyleAndNoZeroes) {
  Conn c;
  EXPECT_EQ(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes, c.Greeting());
}

TEST(RawHandshake, UnknownClientFlagDropsConnection) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes | 0x100);
  try {
    c.Option(raw::kOptList, "");
  } catch (const std::exception&) {
    // Already closed: fine.
  }
  std::string extra;
  EXPECT_TRUE(c.WaitClosed(5000, &extra))
      << "server kept the connection after unknown client flags";
  EXPECT_EQ("", extra) << "server answered an option after bad client flags";
}

TEST(RawHandshake, UnknownOptionIsUnsupportedAndNegotiationContinues) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  auto replies = c.Ask(0x4242, "some option data");
  ASSERT_EQ(1u, replies.size());
  EXPECT_EQ(raw::kRepErrUnsup, replies[0].type);
  Export e = c.InfoOrGo(raw::kOptGo, "", {});
  EXPECT_EQ(raw::kRepAck, e.replies.back().type);
}

TEST(RawHandshake, StructuredReplyWithDataIsInvalid) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  EXPECT_EQ(raw::kRepErrInvalid, c.AskType(raw::kOptStructuredReply, "xx"));
  EXPECT_EQ(raw::kRepAck, c.AskType(raw::kOptStructuredReply, ""));
}

TEST(RawHandshake, ListWithDataIsInvalid) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  EXPECT_EQ(raw::kRepErrInvalid, c.AskType(raw::kOptList, "junk"));
  EXPECT_EQ(raw::kRepAck, c.AskType(raw::kOptList, ""));
}

TEST(RawHandshake, ListRepliesAreWellFormed) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  auto replies = c.Ask(raw::kOptList, "");
  EXPECT_EQ(raw::kRepAck, replies.back().type);
  int servers = 0;
  for (const OptReply& r : replies) {
    if (r.type != raw::kRepServer) continue;
    servers++;
    raw::In in(r.data);
    uint32_t len = in.u32();
    EXPECT_LE(len, r.data.size() - 4) << "NBD_REP_SERVER name overruns";
  }
  EXPECT_GE(servers, 1);
}

TEST(RawHandshake, SetMetaContextWithoutStructuredRepliesIsInvalid) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  auto replies = c.Ask(raw::kOptSetMetaContext,
                       Conn::MetaData("", {LIBNBD_CONTEXT_BASE_ALLOCATION}));
  EXPECT_EQ(raw::kRepErrInvalid, replies.back().type);
  for (const OptReply& r : replies) EXPECT_NE(raw::kRepMetaContext, r.type);
  EXPECT_EQ(raw::kRepAck, c.InfoOrGo(raw::kOptGo, "", {}).replies.back().type);
}

TEST(RawHandshake, ListMetaContextWithoutStructuredRepliesIsInvalid) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  EXPECT_EQ(raw::kRepErrInvalid,
            c.AskType(raw::kOptListMetaContext, Conn::MetaData("", {})));
}

TEST(RawHandshake, MetaContextWithTruncatedQueryIsInvalid) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  ASSERT_EQ(raw::kRepAck, c.AskType(raw::kOptStructuredReply, ""));
  // One query whose length runs past the option's end.
  std::string data = raw::Out().lstr("").u32(1).u32(100).str("base:").s;
  EXPECT_EQ(raw::kRepErrInvalid, c.AskType(raw::kOptSetMetaContext, data));
  EXPECT_EQ(raw::kRepErrInvalid, c.AskType(raw::kOptListMetaContext, data));
  EXPECT_EQ(raw::kRepAck, c.InfoOrGo(raw::kOptGo, "", {}).replies.back().type);
}

TEST(RawHandshake, StartTlsIsRefusedAndNegotiationContinues) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  uint32_t t = c.AskType(raw::kOptStartTls, "");
  EXPECT_TRUE(t == raw::kRepErrUnsup || t == raw::kRepErrPolicy ||
              t == raw::kRepErrPlatform)
      << "STARTTLS without TLS configured answered " << std::hex << t;
  EXPECT_EQ(raw::kRepAck, c.InfoOrGo(raw::kOptGo, "", {}).replies.back().type);
}

TEST(RawHandshake, AbortIsAcked) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  c.Option(raw::kOptAbort, "");
  OptReply r = c.ReadOptReply();
  EXPECT_EQ(raw::kOptAbort, r.option);
  EXPECT_EQ(raw::kRepAck, r.type);
  EXPECT_TRUE(c.WaitClosed(5000)) << "server kept the connection after ABORT";
}

TEST(RawHandshake, GoSendsExportInfoAndRequestedBlockSize) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  Export e = c.InfoOrGo(raw::kOptGo, "", {raw::kInfoBlockSize});
  ASSERT_EQ(raw::kRepAck, e.replies.back().type);
  for (size_t i = 0; i + 1 < e.replies.size(); i++)
    EXPECT_EQ(raw::kRepInfo, e.replies[i].type);
  ASSERT_TRUE(e.infos.count(raw::kInfoExport));
  if (Cfg().size) {
    EXPECT_EQ(Cfg().size, e.size);
  }
  EXPECT_TRUE(e.flags & raw::kTfHasFlags);
  ASSERT_TRUE(e.infos.count(raw::kInfoBlockSize))
      << "NBD_INFO_BLOCK_SIZE requested but not sent";
  raw::In bs(e.infos[raw::kInfoBlockSize]);
  EXPECT_EQ(1u, bs.u32());
  EXPECT_EQ(std::min<uint32_t>(Cfg().block_size, kMaxPayload), bs.u32());
  EXPECT_EQ(kMaxPayload, bs.u32());
}

TEST(RawHandshake, InfoNameAndDescriptionAreSentWhenAsked) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  Export e =
      c.InfoOrGo(raw::kOptInfo, "", {raw::kInfoName, raw::kInfoDescription});
  ASSERT_EQ(raw::kRepAck, e.replies.back().type);
  EXPECT_TRUE(e.infos.count(raw::kInfoName))
      << "NBD_INFO_NAME asked for the default export but not sent";
  EXPECT_TRUE(e.infos.count(raw::kInfoDescription))
      << "NBD_INFO_DESCRIPTION asked for but not sent";
  if (e.infos.count(raw::kInfoName)) {
    // The canonical name must itself be accepted.
    Export e2 = c.InfoOrGo(raw::kOptInfo, e.infos[raw::kInfoName], {});
    EXPECT_EQ(raw::kRepAck, e2.replies.back().type)
        << "canonical name '" << e.infos[raw::kInfoName] << "' rejected";
  }
}

TEST(RawHandshake, InfoThenGoSendTheSameInformation) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  ASSERT_EQ(raw::kRepAck, c.AskType(raw::kOptStructuredReply, ""));
  std::vector<uint16_t> want = {raw::kInfoBlockSize, raw::kInfoName};
  Export info = c.InfoOrGo(raw::kOptInfo, "", want);
  Export go = c.InfoOrGo(raw::kOptGo, "", want);
  ASSERT_EQ(raw::kRepAck, info.replies.back().type);
  ASSERT_EQ(raw::kRepAck, go.replies.back().type);
  EXPECT_EQ(info.infos, go.infos);
}

TEST(RawHandshake, InfoOnUnknownExportIsErrUnknownWithoutInfo) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  Export e = c.InfoOrGo(raw::kOptInfo, "no-such-export", {});
  EXPECT_EQ(raw::kRepErrUnknown, e.replies.back().type);
  EXPECT_TRUE(e.infos.empty()) << "INFO replies sent for an unknown export";
  Export g = c.InfoOrGo(raw::kOptGo, "no-such-export", {});
  EXPECT_EQ(raw::kRepErrUnknown, g.replies.back().type);
  EXPECT_EQ(raw::kRepAck, c.InfoOrGo(raw::kOptGo, "", {}).replies.back().type);
}

TEST(RawHandshake, BucketNameIsAcceptedByGo) {
  if (Cfg().export_name.empty()) GTEST_SKIP() << "USBD_EXPORT not set";
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  EXPECT_EQ(raw::kRepAck,
            c.InfoOrGo(raw::kOptGo, Cfg().export_name, {}).replies.back().type);
}

TEST(RawHandshake, GoWithMalformedNameLengthIsInvalid) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  // Name length larger than the option data.
  std::string data = raw::Out().u32(1000).str("ab").u16(0).s;
  EXPECT_EQ(raw::kRepErrInvalid, c.AskType(raw::kOptGo, data));
  EXPECT_EQ(raw::kRepAck, c.InfoOrGo(raw::kOptGo, "", {}).replies.back().type);
}

TEST(RawHandshake, ExportNameSendsPaddingWithoutNoZeroes) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle);
  c.Option(raw::kOptExportName, "");
  raw::In in(c.Recv(10));
  uint64_t size = in.u64();
  uint16_t flags = in.u16();
  if (Cfg().size) {
    EXPECT_EQ(Cfg().size, size);
  }
  EXPECT_TRUE(flags & raw::kTfHasFlags);
  std::string pad = c.Recv(124);
  EXPECT_EQ(std::string(124, '\0'), pad);
  c.Request(0, raw::kCmdRead, 7, 0, 512);
  Reply r = c.ReadReply({{7, 512}});
  EXPECT_FALSE(r.structured);
  EXPECT_EQ(0u, r.error);
  EXPECT_EQ(512u, r.payload.size());
}

TEST(RawHandshake, ExportNameOmitsPaddingWithNoZeroes) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  c.Option(raw::kOptExportName, "");
  c.Recv(10);
  // The next bytes must be the reply to this request, not padding.
  c.Request(0, raw::kCmdFlush, 8, 0, 0);
  Reply r = c.ReadReply();
  EXPECT_EQ(8u, r.cookie);
  EXPECT_EQ(0u, r.error);
}

TEST(RawHandshake, ExportNameWithBucketName) {
  if (Cfg().export_name.empty()) GTEST_SKIP() << "USBD_EXPORT not set";
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  c.Option(raw::kOptExportName, Cfg().export_name);
  raw::In in(c.Recv(10));
  if (Cfg().size) {
    EXPECT_EQ(Cfg().size, in.u64());
  }
}

TEST(RawHandshake, ExportNameOfUnknownExportClosesConnection) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  c.Option(raw::kOptExportName, "no-such-export");
  std::string extra;
  EXPECT_TRUE(c.WaitClosed(5000, &extra));
  EXPECT_EQ("", extra) << "server sent data for an unknown EXPORT_NAME";
}

TEST(RawHandshake, NoPaddingAfterGo) {
  Conn c;
  c.Negotiate(/*structured=*/false, /*meta=*/false);
  c.Request(0, raw::kCmdFlush, 9, 0, 0);
  Reply r = c.ReadReply();
  EXPECT_EQ(9u, r.cookie);
  EXPECT_EQ(0u, r.error);
}

TEST(RawHandshake, SendDfOnlyWithStructuredReplies) {
  {
    Conn c;
    Export e = c.Negotiate(/*structured=*/false, /*meta=*/false);
    EXPECT_EQ(0, e.flags & raw::kTfSendDf)
        << "SEND_DF advertised without structured replies";
  }
  {
    Conn c;
    Export e = c.Negotiate(/*structured=*/true, /*meta=*/false);
    EXPECT_NE(0, e.flags & raw::kTfSendDf);
  }
}

TEST(RawHandshake, TransmissionFlagsAreExactlyTheSupportedSet) {
  Conn c;
  Export e = c.Negotiate(/*structured=*/true, /*meta=*/false);
  const uint16_t want = raw::kTfHasFlags | raw::kTfSendFlush | raw::kTfSendFua |
                        raw::kTfSendTrim | raw::kTfSendWriteZeroes |
                        raw::kTfSendDf | raw::kTfCanMultiConn |
                        raw::kTfSendCache | raw::kTfSendFastZero;
  EXPECT_EQ(want, e.flags) << std::hex << "got 0x" << e.flags << ", want 0x"
                           << want;
}

TEST(RawHandshake, ReadOnlyFlagOnReadOnlyExport) {
  REQUIRE_RO_SERVER();
  Conn c(Cfg().ro_socket);
  Export e = c.Negotiate(/*structured=*/true, /*meta=*/false);
  EXPECT_TRUE(e.flags & raw::kTfReadOnly);
}

TEST(RawHandshake, SetMetaContextReturnsIdUsedByBlockStatus) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/true);
  c.Request(0, raw::kCmdBlockStatus, 11, 0, 4096);
  auto chunks = c.ReadStructured(11);
  int status_chunks = 0;
  for (const Reply& r : chunks) {
    if (r.type != raw::kReplyBlockStatus) {
      EXPECT_EQ(raw::kReplyNone, r.type) << "unexpected chunk type " << r.type;
      continue;
    }
    status_chunks++;
    raw::In in(r.payload);
    EXPECT_EQ(c.meta_id(), in.u32());
    EXPECT_EQ(0u, in.left() % 8);
    EXPECT_GE(in.left(), 8u);
    while (in.left() >= 8) {
      EXPECT_NE(0u, in.u32()) << "zero-length extent";
      in.u32();
    }
  }
  EXPECT_EQ(1, status_chunks);
}

TEST(RawHandshake, SetMetaContextUnknownNamespaceSelectsNothing) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  ASSERT_EQ(raw::kRepAck, c.AskType(raw::kOptStructuredReply, ""));
  auto replies = c.Ask(raw::kOptSetMetaContext,
                       Conn::MetaData("", {"x-no-such-namespace:foo"}));
  ASSERT_EQ(1u, replies.size());
  EXPECT_EQ(raw::kRepAck, replies[0].type);
}

TEST(RawHandshake, FailedSetMetaContextStillClearsEarlierContexts) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  ASSERT_EQ(raw::kRepAck, c.AskType(raw::kOptStructuredReply, ""));
  auto ok = c.Ask(raw::kOptSetMetaContext,
                  Conn::MetaData("", {LIBNBD_CONTEXT_BASE_ALLOCATION}));
  ASSERT_EQ(raw::kRepAck, ok.back().type);
  ASSERT_EQ(2u, ok.size());
  // A syntactically invalid SET (its query overruns the option): the server
  // must fail it, and that failure still replaces the earlier selection.
  std::string bad =
      raw::Out().lstr("").u32(1).u32(100).str(LIBNBD_CONTEXT_BASE_ALLOCATION).s;
  EXPECT_EQ(raw::kRepErrInvalid, c.AskType(raw::kOptSetMetaContext, bad));
  ASSERT_EQ(raw::kRepAck, c.InfoOrGo(raw::kOptGo, "", {}).replies.back().type);
  // No context is selected any more: BLOCK_STATUS must not report one.
  c.Request(0, raw::kCmdBlockStatus, 12, 0, 4096);
  auto chunks = c.ReadStructuredOrSimple(12);
  for (const Reply& r : chunks)
    EXPECT_NE(raw::kReplyBlockStatus, r.type)
        << "block status answered with a context that the failed "
           "SET_META_CONTEXT should have cleared";
}

// --- raw transmission ---

TEST(RawTransmission, BadRequestMagicDisconnects) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  std::string bad = raw::Out()
                        .u32(0xdeadbeef)
                        .u16(0)
                        .u16(raw::kCmdRead)
                        .u64(1)
                        .u64(0)
                        .u32(512)
                        .s;
  c.Send(bad);
  EXPECT_TRUE(c.WaitClosed(5000)) << "server kept a connection that sent a "
                                     "request with a bad magic";
}

TEST(RawTransmission, UnknownCommandIsEinvalAndConnectionStaysUsable) {
  Conn c;
  c.Negotiate(/*structured=*/false, /*meta=*/false);
  c.Request(0, 0x42, 21, 0, 512);
  Reply r = c.ReadReply();
  EXPECT_EQ(21u, r.cookie);
  EXPECT_EQ(uint32_t(EINVAL), r.error);
  c.Request(0, raw::kCmdRead, 22, 0, 512);
  Reply ok = c.ReadReply({{22, 512}});
  EXPECT_EQ(22u, ok.cookie);
  EXPECT_EQ(0u, ok.error);
  EXPECT_EQ(512u, ok.payload.size());
}

TEST(RawTransmission, UnknownCommandWithStructuredRepliesIsEinval) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  c.Request(0, 0x42, 23, 0, 512);
  EXPECT_EQ(uint32_t(EINVAL), c.ReadStatus(23));
  c.Request(0, raw::kCmdFlush, 24, 0, 0);
  EXPECT_EQ(0u, c.ReadStatus(24));
}

TEST(RawTransmission, SimpleErrorReplyCarriesNoData) {
  if (Cfg().size == 0) GTEST_SKIP() << "USBD_SIZE not set";
  Conn c;
  c.Negotiate(/*structured=*/false, /*meta=*/false);
  // A failing READ followed by a good one, pipelined: if the error reply
  // carried data, the second reply would be misparsed.
  c.Request(0, raw::kCmdRead, 31, Cfg().size, 4096);
  c.Request(0, raw::kCmdRead, 32, 0, 4096);
  std::map<uint64_t, uint32_t> lens = {{31, 4096}, {32, 4096}};
  std::map<uint64_t, Reply> got;
  for (int i = 0; i < 2; i++) {
    Reply r = c.ReadReply(lens);
    EXPECT_FALSE(r.structured);
    got[r.cookie] = r;
  }
  ASSERT_EQ(2u, got.size());
  EXPECT_EQ(uint32_t(EINVAL), got[31].error);
  EXPECT_EQ("", got[31].payload);
  EXPECT_EQ(0u, got[32].error);
  EXPECT_EQ(4096u, got[32].payload.size());
}

TEST(RawTransmission, ReadErrorWithStructuredRepliesIsAStructuredReply) {
  if (Cfg().size == 0) GTEST_SKIP() << "USBD_SIZE not set";
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  c.Request(0, raw::kCmdRead, 33, Cfg().size - 512, 4096);
  auto chunks = c.ReadStructured(33);  // throws on a simple reply
  bool error_chunk = false;
  for (const Reply& r : chunks) {
    if (r.type & 0x8000) {
      error_chunk = true;
      EXPECT_EQ(uint32_t(EINVAL), raw::ChunkError(r));
    } else {
      EXPECT_EQ(raw::kReplyNone, r.type) << "content chunk for a bad read";
    }
  }
  EXPECT_TRUE(error_chunk);
  EXPECT_TRUE(chunks.back().flags & raw::kReplyFlagDone);
}

TEST(RawTransmission, BadFlagOnReadWithStructuredRepliesIsStructured) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  c.Request(0x100, raw::kCmdRead, 34, 0, 512);
  auto chunks = c.ReadStructured(34);
  ASSERT_FALSE(chunks.empty());
  bool error_chunk = false;
  for (const Reply& r : chunks)
    if (r.type & 0x8000) {
      error_chunk = true;
      EXPECT_EQ(uint32_t(EINVAL), raw::ChunkError(r));
    }
  EXPECT_TRUE(error_chunk);
}

TEST(RawTransmission, StructuredReadChunksAreWithinRequestAndDone) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(3 * bs);
  std::string data(bs, 'x');
  c.Request(0, raw::kCmdWrite, 41, off + bs, static_cast<uint32_t>(bs), data);
  ASSERT_EQ(0u, c.ReadStatus(41));
  const uint64_t roff = off + 10, rlen = 3 * bs - 20;
  c.Request(0, raw::kCmdRead, 42, roff, static_cast<uint32_t>(rlen));
  auto chunks = c.ReadStructured(42);
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (size_t i = 0; i < chunks.size(); i++) {
    const Reply& r = chunks[i];
    EXPECT_EQ(i + 1 == chunks.size(), bool(r.flags & raw::kReplyFlagDone))
        << "DONE must be on the last chunk only";
    raw::In in(r.payload);
    if (r.type == raw::kReplyOffsetData) {
      uint64_t o = in.u64();
      ASSERT_GE(r.payload.size(), 9u);
      spans.push_back({o, r.payload.size() - 8});
      std::string body = in.rest();
      for (size_t k = 0; k < body.size(); k++) {
        uint64_t abs = o + k;
        char want = (abs >= off + bs && abs < off + 2 * bs) ? 'x' : '\0';
        ASSERT_EQ(want, body[k]) << "wrong data at " << abs;
      }
    } else if (r.type == raw::kReplyOffsetHole) {
      ASSERT_EQ(12u, r.payload.size());
      uint64_t o = in.u64();
      uint32_t n = in.u32();
      EXPECT_NE(0u, n);
      spans.push_back({o, n});
      EXPECT_FALSE(o < off + 2 * bs && o + n > off + bs)
          << "hole chunk over written data";
    } else {
      EXPECT_EQ(raw::kReplyNone, r.type) << "unexpected chunk " << r.type;
    }
  }
  std::sort(spans.begin(), spans.end());
  uint64_t pos = roff;
  for (auto& [o, n] : spans) {
    EXPECT_EQ(pos, o) << "gap or overlap";
    pos = o + n;
  }
  EXPECT_EQ(roff + rlen, pos);
}

TEST(RawTransmission, DfReadIsOneContentChunk) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(2 * bs);
  c.Request(0, raw::kCmdWrite, 43, off, 4096, std::string(4096, 'y'));
  ASSERT_EQ(0u, c.ReadStatus(43));
  c.Request(raw::kCmdFlagDf, raw::kCmdRead, 44, off, 64 * kKiB);
  auto chunks = c.ReadStructured(44);
  int content = 0;
  for (const Reply& r : chunks) {
    if (r.type == raw::kReplyOffsetData) {
      content++;
      raw::In in(r.payload);
      EXPECT_EQ(off, in.u64());
      EXPECT_EQ(64 * kKiB, in.left());
    } else {
      EXPECT_EQ(raw::kReplyNone, r.type)
          << "DF read over data and hole must use one OFFSET_DATA chunk";
    }
  }
  EXPECT_EQ(1, content);
}

TEST(RawTransmission, BlockStatusReqOneHasOneDescriptor) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/true);
  const uint64_t bs = Cfg().block_size;
  uint64_t off = AllocRegion(4 * bs);
  c.Request(raw::kCmdFlagReqOne, raw::kCmdBlockStatus, 45, off, 1000);
  auto chunks = c.ReadStructured(45);
  int status = 0;
  for (const Reply& r : chunks) {
    if (r.type != raw::kReplyBlockStatus) continue;
    status++;
    ASSERT_EQ(12u, r.payload.size())
        << "REQ_ONE reply has " << (r.payload.size() - 4) / 8 << " descriptors";
    raw::In in(r.payload);
    in.u32();
    uint32_t len = in.u32();
    EXPECT_GT(len, 0u);
    EXPECT_LE(len, 1000u);
  }
  EXPECT_EQ(1, status);
}

TEST(RawTransmission, BlockStatusWithoutMetaContextIsRejected) {
  Conn c;
  c.Negotiate(/*structured=*/false, /*meta=*/false);
  c.Request(0, raw::kCmdBlockStatus, 46, 0, 4096);
  Reply r = c.ReadReply();
  EXPECT_FALSE(r.structured) << "structured reply without negotiation";
  EXPECT_EQ(46u, r.cookie);
  EXPECT_EQ(uint32_t(EINVAL), r.error);
  c.Request(0, raw::kCmdFlush, 47, 0, 0);
  EXPECT_EQ(0u, c.ReadStatus(47));
}

TEST(RawTransmission, RejectedWritePayloadIsDrained) {
  if (Cfg().size == 0) GTEST_SKIP() << "USBD_SIZE not set";
  Conn c;
  c.Negotiate(/*structured=*/false, /*meta=*/false);
  // The payload is itself a valid-looking request: a server that does not
  // drain it would execute it and send an extra reply.
  std::string payload = raw::Out()
                            .u32(raw::kRequestMagic)
                            .u16(0)
                            .u16(raw::kCmdFlush)
                            .u64(999)
                            .u64(0)
                            .u32(0)
                            .s;
  payload.resize(4096, 'z');
  c.Request(0, raw::kCmdWrite, 51, Cfg().size, 4096, payload);
  c.Request(0, raw::kCmdFlush, 52, 0, 0);
  Reply r1 = c.ReadReply();
  Reply r2 = c.ReadReply();
  std::set<uint64_t> cookies = {r1.cookie, r2.cookie};
  EXPECT_EQ((std::set<uint64_t>{51, 52}), cookies);
  EXPECT_EQ(uint32_t(ENOSPC), r1.cookie == 51 ? r1.error : r2.error);
  std::string extra;
  EXPECT_FALSE(c.WaitClosed(300, &extra));
  EXPECT_EQ("", extra) << "server executed the rejected write's payload";
}

TEST(RawTransmission, OversizedWriteIsDrainedAndRejected) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  const uint32_t len = 40 * kMiB;
  uint64_t off = AllocRegion(len);
  std::string payload(len, 'q');
  c.Request(0, raw::kCmdWrite, 61, off, len, payload);
  uint32_t err = c.ReadStatus(61);
  EXPECT_TRUE(err == uint32_t(EINVAL) || err == uint32_t(EOVERFLOW))
      << "40 MiB write answered with error " << err;
  // Still in sync, and the oversized write did not land.
  c.Request(0, raw::kCmdRead, 62, off, 4096);
  auto chunks = c.ReadStructured(62);
  for (const Reply& r : chunks) {
    EXPECT_FALSE(r.type & 0x8000) << "read after oversized write failed";
    if (r.type == raw::kReplyOffsetData) {
      std::string body = r.payload.substr(8);
      EXPECT_EQ(std::string::npos, body.find('q'))
          << "the rejected oversized write was applied";
    }
  }
}

TEST(RawTransmission, RepliesMatchCookiesWhenPipelined) {
  Conn c;
  c.Negotiate(/*structured=*/false, /*meta=*/false);
  uint64_t off = AllocRegion(8 * kMiB);
  std::map<uint64_t, uint32_t> read_lens;
  // A big write, a big read and small requests interleaved: replies may come
  // in any order, but each exactly once and matching its cookie.
  c.Request(0, raw::kCmdWrite, 100, off, 4 * kMiB, std::string(4 * kMiB, 'a'));
  for (uint64_t i = 0; i < 16; i++) {
    c.Request(0, raw::kCmdWrite, 200 + i, off + 4 * kMiB + i * 4096, 4096,
              std::string(4096, char('b' + i)));
    c.Request(0, raw::kCmdRead, 300 + i, off + 4 * kMiB + i * 4096, 4096);
    read_lens[300 + i] = 4096;
  }
  c.Request(0, raw::kCmdFlush, 400, 0, 0);
  std::map<uint64_t, Reply> got;
  for (int i = 0; i < 34; i++) {
    Reply r = c.ReadReply(read_lens);
    EXPECT_FALSE(got.count(r.cookie)) << "two replies for cookie " << r.cookie;
    got[r.cookie] = r;
  }
  EXPECT_EQ(34u, got.size());
  for (auto& [cookie, r] : got) EXPECT_EQ(0u, r.error) << "cookie " << cookie;
  for (uint64_t i = 0; i < 16; i++) {
    // Reads issued after a write to the same place on the same connection
    // with no reply yet may legitimately see either value.
    const std::string& p = got[300 + i].payload;
    EXPECT_TRUE(p == std::string(4096, char('b' + i)) ||
                p == std::string(4096, '\0'))
        << "read " << i << " returned neither old nor new data";
  }
}

TEST(RawTransmission, DiscFinishesOutstandingRequestsThenCloses) {
  uint64_t off = AllocRegion(1 * kMiB);
  {
    Conn c;
    c.Negotiate(/*structured=*/false, /*meta=*/false);
    for (uint64_t i = 0; i < 8; i++)
      c.Request(0, raw::kCmdWrite, 500 + i, off + i * 128 * kKiB, 128 * kKiB,
                std::string(128 * kKiB, char('A' + i)));
    c.Request(0, raw::kCmdDisc, 600, 0, 0);
    std::set<uint64_t> cookies;
    for (int i = 0; i < 8; i++) {
      Reply r = c.ReadReply();
      EXPECT_EQ(0u, r.error);
      cookies.insert(r.cookie);
    }
    EXPECT_EQ(8u, cookies.size());
    std::string extra;
    EXPECT_TRUE(c.WaitClosed(5000, &extra))
        << "server did not close after DISC";
    EXPECT_EQ("", extra) << "server replied to DISC";
  }
  Handle h = Connect();
  for (uint64_t i = 0; i < 8; i++) {
    auto got = Read(h.get(), 128 * kKiB, off + i * 128 * kKiB);
    EXPECT_EQ(std::vector<uint8_t>(128 * kKiB, uint8_t('A' + i)), got)
        << "write " << i << " before DISC was lost";
  }
}

TEST(RawTransmission, DiscClosesTheConnectionPromptly) {
  // Every client (nbdinfo, nbdcopy, qemu-img) waits for the server to close
  // after NBD_CMD_DISC; a slow close makes each of them slow.
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/false);
  c.Request(0, raw::kCmdDisc, 650, 0, 0);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.WaitClosed(5000)) << "server did not close after DISC";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  EXPECT_LT(ms, 300) << "server took " << ms << " ms to close after DISC";
}

TEST(RawHandshake, AbortClosesTheConnectionPromptly) {
  Conn c;
  c.Greeting();
  c.ClientFlags(raw::kFlagFixedNewstyle | raw::kFlagNoZeroes);
  c.Option(raw::kOptAbort, "");
  auto start = std::chrono::steady_clock::now();
  std::string ack;
  EXPECT_TRUE(c.WaitClosed(5000, &ack)) << "server did not close after ABORT";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  EXPECT_LT(ms, 300) << "server took " << ms << " ms to close after ABORT";
}

TEST(RawTransmission, ZeroLengthRequestsAreAnsweredWithSimpleReplies) {
  Conn c;
  c.Negotiate(/*structured=*/false, /*meta=*/false);
  uint64_t off = AllocRegion(4096);
  const uint16_t cmds[] = {raw::kCmdRead, raw::kCmdWrite, raw::kCmdTrim,
                           raw::kCmdWriteZeroes, raw::kCmdCache};
  uint64_t cookie = 700;
  for (uint16_t cmd : cmds) {
    c.Request(0, cmd, cookie, off, 0);
    Reply r = c.ReadReply({{cookie, 0}});  // any error is allowed
    EXPECT_EQ(cookie, r.cookie) << "command " << cmd;
    cookie++;
  }
  c.Request(0, raw::kCmdFlush, cookie, 0, 0);
  EXPECT_EQ(0u, c.ReadStatus(cookie));
}

}  // namespace
