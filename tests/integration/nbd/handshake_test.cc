// NBD conformance: handshake through libnbd.
#include "harness.h"

namespace nbdtest {
namespace {

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

}  // namespace
}  // namespace nbdtest
