// NBD conformance: raw protocol: what libnbd cannot be made to send.
#include "harness.h"

namespace nbdtest {
namespace {

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

// FUA is advertised, so the server must accept it on every command, even
// where it means nothing (NBD spec: "the server MUST accept" it); each gets
// its normal answer. The write commands carry the data the next reads see.
TEST(RawTransmission, FuaIsAcceptedOnEveryCommand) {
  Conn c;
  c.Negotiate(/*structured=*/true, /*meta=*/true);
  const uint64_t bs = Cfg().block_size;
  const uint64_t off = AllocRegion(2 * bs);
  const uint16_t fua = raw::kCmdFlagFua;
  c.Request(fua, raw::kCmdWrite, 80, off, 4096, std::string(4096, 'f'));
  EXPECT_EQ(0u, c.ReadStatus(80)) << "WRITE";
  c.Request(fua, raw::kCmdRead, 81, off, 4096);
  std::string data;
  for (const Reply& r : c.ReadStructured(81)) {
    EXPECT_FALSE(r.type & 0x8000) << "READ with FUA: error chunk";
    if (r.type == raw::kReplyOffsetData) data += r.payload.substr(8);
  }
  EXPECT_EQ(std::string(4096, 'f'), data) << "READ";
  c.Request(fua, raw::kCmdFlush, 82, 0, 0);
  EXPECT_EQ(0u, c.ReadStatus(82)) << "FLUSH";
  c.Request(fua, raw::kCmdCache, 83, off, 4096);
  EXPECT_EQ(0u, c.ReadStatus(83)) << "CACHE";
  c.Request(fua, raw::kCmdBlockStatus, 84, off, 4096);
  EXPECT_EQ(0u, c.ReadStatus(84)) << "BLOCK_STATUS";
  c.Request(fua, raw::kCmdTrim, 85, off + bs, bs);
  EXPECT_EQ(0u, c.ReadStatus(85)) << "TRIM";
  c.Request(fua, raw::kCmdWriteZeroes, 86, off, 4096);
  EXPECT_EQ(0u, c.ReadStatus(86)) << "WRITE_ZEROES";
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
}  // namespace nbdtest
