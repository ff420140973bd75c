// NBD conformance: block status (base:allocation) and structured reads.
#include "harness.h"

namespace nbdtest {
namespace {

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

}  // namespace
}  // namespace nbdtest
