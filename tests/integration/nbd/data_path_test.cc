// NBD conformance: data path.
#include "harness.h"

namespace nbdtest {
namespace {

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

}  // namespace
}  // namespace nbdtest
