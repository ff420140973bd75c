// NBD conformance: errors: exact errno, connection kept.
#include "harness.h"

namespace nbdtest {
namespace {

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

}  // namespace
}  // namespace nbdtest
