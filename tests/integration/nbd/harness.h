// Shared by the NBD conformance tests (tests/integration/nbd/*_test.cc):
// the server configuration from the environment, libnbd helpers and a raw
// protocol client for what libnbd refuses to send. Each test checks one rule
// of doc/proto.md (NBD repository) / ../shared/reference/nbd-checklist.md.
//
// The server is started by tests/integration/conformance.sh, which passes:
//   USBD_SOCKET      unix socket of a read-write volume (required)
//   USBD_RO_SOCKET   unix socket of a --readOnly volume (optional)
//   USBD_EXPORT      the BUCKET string (also a valid export name)
//   USBD_SIZE        export size in bytes
//   USBD_BLOCK_SIZE  --blockSize in bytes
// Tests take disjoint regions of the read-write volume (AllocRegion), so the
// order they run in does not matter and every region starts never written.
#ifndef USBD_TESTS_INTEGRATION_NBD_HARNESS_H_
#define USBD_TESTS_INTEGRATION_NBD_HARNESS_H_

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

namespace nbdtest {

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

inline const Config& Cfg() {
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
inline uint64_t AllocRegion(uint64_t bytes) {
  static std::atomic<uint64_t> next{0};
  const uint64_t align = std::max<uint64_t>(Cfg().block_size, kMiB);
  bytes = (bytes + align - 1) / align * align;
  const uint64_t offset = next.fetch_add(bytes + align);
  if (Cfg().size != 0 && offset + bytes + 4 * kMiB > Cfg().size)
    throw std::runtime_error("test volume too small: raise USBD_SIZE");
  return offset;
}

inline std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
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

inline bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Index of the first differing byte, or -1.
inline int64_t FirstDiff(const uint8_t* a, const uint8_t* b, size_t n) {
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

inline std::string NbdError() {
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

inline Handle NewHandle(const ConnectOptions& o) {
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
inline Handle Connect(const ConnectOptions& o = {}) {
  const std::string& path = o.read_only_server ? Cfg().ro_socket : Cfg().socket;
  Handle h = NewHandle(o);
  if (nbd_connect_unix(h.get(), path.c_str()) == -1)
    throw std::runtime_error("nbd_connect_unix(" + path + "): " + NbdError());
  return h;
}

inline Handle ConnectLoose(bool structured = true) {
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
inline uint64_t ScratchOffset() {
  static const uint64_t offset = AllocRegion(64 * kKiB);
  return offset;
}

inline void ExpectUsable(nbd_handle* h, bool can_write = true) {
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

inline void Write(nbd_handle* h, const std::vector<uint8_t>& data,
                  uint64_t offset, uint32_t flags = 0) {
  ASSERT_NBD_OK(nbd_pwrite(h, data.data(), data.size(), offset, flags));
}

inline std::vector<uint8_t> Read(nbd_handle* h, size_t count, uint64_t offset) {
  std::vector<uint8_t> buf(count, 0xAA);
  if (nbd_pread(h, buf.data(), count, offset, 0) == -1)
    throw std::runtime_error("nbd_pread(" + std::to_string(count) + "@" +
                             std::to_string(offset) + "): " + NbdError());
  return buf;
}

inline ::testing::AssertionResult SameBytes(
    const std::vector<uint8_t>& expected, const std::vector<uint8_t>& got) {
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

inline StatusResult BlockStatus(nbd_handle* h, uint64_t count, uint64_t offset,
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
inline std::vector<Extent> Map(nbd_handle* h, uint64_t offset,
                               uint64_t length) {
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
inline ::testing::AssertionResult AllocationIs(nbd_handle* h, uint64_t offset,
                                               uint64_t length,
                                               uint32_t expected) {
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

inline int RecordChunk(void* ud, const void*, size_t count, uint64_t offset,
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
inline uint32_t ChunkError(const Reply& r) { return In(r.payload).u32(); }

}  // namespace raw

#define REQUIRE_RO_SERVER()                                            \
  do {                                                                 \
    if (Cfg().ro_socket.empty())                                       \
      GTEST_SKIP() << "USBD_RO_SOCKET not set (no --readOnly server)"; \
  } while (0)

}  // namespace nbdtest

#endif  // USBD_TESTS_INTEGRATION_NBD_HARNESS_H_
