// NBD conformance: concurrency: many requests in flight, many connections.
#include "harness.h"

namespace nbdtest {
namespace {

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

}  // namespace
}  // namespace nbdtest
