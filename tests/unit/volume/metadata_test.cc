#include "volume/metadata.h"

#include <gtest/gtest.h>

#include <random>

#include "object/object_block_store.h"
#include "testing/test_store.h"
#include "volume/mount_token.h"
#include "volume/volume_text.h"

namespace usbd {
namespace {

using testing::TestObjectStore;

constexpr uint64_t kMiB = 1024 * 1024;
const std::string kPrefix = "vol1/";
const std::string kKey = "vol1/usbd-volume";

VolumeRequest Request(uint64_t size, uint32_t block_size = 0) {
  VolumeRequest request;
  request.size = size;
  request.block_size = block_size;
  request.name = "bucket/vol1";
  return request;
}

Result<OpenedVolume> Open(ObjectStore& store, const VolumeRequest& request) {
  return OpenOrCreateVolume(store, kPrefix, request, RetryOptions());
}

void PutBlocks(TestObjectStore& store, uint64_t first, uint64_t end,
               BlockNaming naming = BlockNaming::kPlain) {
  for (uint64_t b = first; b < end; ++b) {
    store.PutText(BlockObjectKey(kPrefix, naming, b), "x");
  }
}

bool HasMessage(const Status& status, const std::string& part) {
  return status.message().find(part) != std::string::npos;
}

TEST(VolumeMetadataTest, KeysCanNeverBeBlockKeys) {
  for (const std::string& prefix : {std::string(), kPrefix}) {
    for (const std::string& key :
         {VolumeMetadataKey(prefix), MountTokenKey(prefix)}) {
      uint64_t block;
      EXPECT_FALSE(
          ParseBlockObjectKey(prefix, BlockNaming::kPlain, key, &block))
          << key;
      EXPECT_FALSE(
          ParseBlockObjectKey(prefix, BlockNaming::kS3backerHash, key, &block))
          << key;
    }
  }
  EXPECT_EQ(VolumeMetadataKey(kPrefix), kKey);
}

TEST(VolumeMetadataTest, CreateThenReopenDetectsGeometry) {
  TestObjectStore store;
  auto created = Open(store, Request(4 * kMiB, 4096));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->metadata.geometry().block_size, 4096u);
  EXPECT_EQ(created->metadata.geometry().block_count, 1024u);
  auto text = store.GetText(kKey);
  ASSERT_TRUE(text);
  EXPECT_TRUE(text->starts_with("usbd-volume 1\nsize=4194304\n")) << *text;

  auto reopened = Open(store, Request(0, 0));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_FALSE(reopened->created);
  EXPECT_FALSE(reopened->rewritten);
  EXPECT_EQ(reopened->metadata.size, 4 * kMiB);
  EXPECT_EQ(reopened->metadata.block_size, 4096u);
  EXPECT_EQ(reopened->metadata.uuid, created->metadata.uuid);
  EXPECT_EQ(reopened->metadata.created, created->metadata.created);

  auto same = Open(store, Request(4 * kMiB, 4096));
  ASSERT_TRUE(same.ok()) << "repeating the creation values is no conflict";
  EXPECT_EQ(store.puts, 1) << "only the creation wrote";
}

TEST(VolumeMetadataTest, CreationDefaultsAndUniqueIds) {
  TestObjectStore a, b;
  auto va = Open(a, Request(kMiB * 1024));
  auto vb = Open(b, Request(kMiB * 1024));
  ASSERT_TRUE(va.ok() && vb.ok());
  EXPECT_EQ(va->metadata.block_size, kDefaultVolumeBlockSize);
  EXPECT_EQ(va->metadata.naming, BlockNaming::kPlain);
  EXPECT_EQ(va->metadata.codec, "none");
  EXPECT_EQ(va->metadata.cipher, "none");
  EXPECT_EQ(va->metadata.uuid.size(), 32u);
  EXPECT_NE(va->metadata.uuid, vb->metadata.uuid);
}

TEST(VolumeMetadataTest, CreationRequiresSize) {
  TestObjectStore store;
  auto opened = Open(store, Request(0));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EINVAL);
  EXPECT_TRUE(
      HasMessage(opened.status(), "--size is required to create a new volume"))
      << opened.status().message();
  EXPECT_EQ(store.puts, 0);
}

TEST(VolumeMetadataTest, RefusesBadRequests) {
  TestObjectStore store;
  auto not_multiple = Open(store, Request(10000, 4096));
  ASSERT_FALSE(not_multiple.ok());
  EXPECT_EQ(not_multiple.status().code(), EINVAL);
  auto not_power = Open(store, Request(3 * 4096, 3000));
  ASSERT_FALSE(not_power.ok());
  EXPECT_EQ(not_power.status().code(), EINVAL);
  EXPECT_EQ(store.puts, 0);
}

TEST(VolumeMetadataTest, ConflictingSizeRefusedNamingBothValues) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Request(kMiB, 4096)).ok());
  auto opened = Open(store, Request(2 * kMiB));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EINVAL);
  const Status s = opened.status();
  EXPECT_TRUE(HasMessage(s, "--size 2M but the volume has 1M")) << s.message();
  EXPECT_TRUE(HasMessage(s, kKey)) << s.message();
  EXPECT_TRUE(HasMessage(s, "bucket/vol1")) << s.message();
  EXPECT_TRUE(HasMessage(s, "--force")) << s.message();
  EXPECT_EQ(store.puts, 1);
}

TEST(VolumeMetadataTest, ConflictingLayoutRefusedNamingBothValues) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Request(kMiB, 4096)).ok());
  auto opened = Open(store, Request(0, 8192));
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(
      HasMessage(opened.status(), "--blockSize 8k but the volume has 4k"))
      << opened.status().message();
  VolumeRequest hashed = Request(0);
  hashed.block_hash_prefix = true;
  EXPECT_FALSE(Open(store, hashed).ok());
  VolumeRequest zstd = Request(0);
  zstd.codec = "zstd";
  auto codec = Open(store, zstd);
  ASSERT_FALSE(codec.ok());
  EXPECT_TRUE(HasMessage(codec.status(), "zstd but the volume has none"));
  zstd.codec = "";  // detect
  auto detected = Open(store, zstd);
  ASSERT_TRUE(detected.ok());
  EXPECT_EQ(detected->metadata.codec, "none");
}

TEST(VolumeMetadataTest, ForceGrowRewritesAndKeepsIdentity) {
  TestObjectStore store;
  auto created = Open(store, Request(kMiB, 4096));
  ASSERT_TRUE(created.ok());
  VolumeRequest grow = Request(3 * kMiB);
  grow.force = true;
  auto grown = Open(store, grow);
  ASSERT_TRUE(grown.ok()) << grown.status().ToString();
  EXPECT_TRUE(grown->rewritten);
  EXPECT_EQ(grown->metadata.geometry().block_count, 768u);
  auto reopened = Open(store, Request(0));
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened->metadata.size, 3 * kMiB);
  EXPECT_EQ(reopened->metadata.uuid, created->metadata.uuid);
  EXPECT_EQ(reopened->metadata.created, created->metadata.created);
}

// Shrinking deletes the blocks past the new end first, listing or (on a
// store that cannot list) by block number, so growing again reads zeros.
TEST(VolumeMetadataTest, ForceShrinkDeletesBlocksPastTheNewEnd) {
  for (bool can_list : {true, false}) {
    TestObjectStore store;
    store.can_list = can_list;
    ASSERT_TRUE(Open(store, Request(kMiB, 4096)).ok());  // 256 blocks
    PutBlocks(store, 0, 256);
    store.PutText(kPrefix + "foreign", "keep me");
    VolumeRequest shrink = Request(kMiB / 2);
    shrink.force = true;
    auto shrunk = Open(store, shrink);
    ASSERT_TRUE(shrunk.ok()) << shrunk.status().ToString();
    EXPECT_EQ(shrunk->metadata.geometry().block_count, 128u);
    for (uint64_t b : {0, 127, 128, 255}) {
      EXPECT_EQ(store.GetText(BlockObjectKey(kPrefix, BlockNaming::kPlain, b))
                    .has_value(),
                b < 128)
          << "block " << b << " can_list " << can_list;
    }
    EXPECT_TRUE(store.GetText(kPrefix + "foreign"));
  }
}

TEST(VolumeMetadataTest, ForceLayoutChangeOnlyOnAnEmptyVolume) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Request(kMiB, 4096)).ok());
  PutBlocks(store, 5, 6);
  VolumeRequest bigger = Request(0, 8192);
  bigger.force = true;
  auto refused = Open(store, bigger);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), EINVAL);
  EXPECT_TRUE(HasMessage(refused.status(), "vol1/00000005"))
      << refused.status().message();
  EXPECT_TRUE(HasMessage(refused.status(), "--erase"));

  ASSERT_TRUE(
      store.Delete(BlockObjectKey(kPrefix, BlockNaming::kPlain, 5)).ok());
  auto changed = Open(store, bigger);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->metadata.block_size, 8192u);
  EXPECT_EQ(changed->metadata.size, kMiB);

  store.can_list = false;  // cannot prove emptiness: refused
  bigger.block_size = 16384;
  EXPECT_FALSE(Open(store, bigger).ok());
}

TEST(VolumeMetadataTest, ReadOnlyNeverWrites) {
  TestObjectStore store;
  VolumeRequest read_only = Request(kMiB, 4096);
  read_only.read_only = true;
  auto missing = Open(store, read_only);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
  EXPECT_TRUE(HasMessage(missing.status(), kKey));

  read_only.force = true;  // use the request's geometry, still no write
  auto forced = Open(store, read_only);
  ASSERT_TRUE(forced.ok()) << forced.status().ToString();
  EXPECT_FALSE(forced->created);
  EXPECT_EQ(forced->metadata.size, kMiB);
  EXPECT_EQ(store.puts, 0);
  EXPECT_FALSE(store.GetText(kKey));

  ASSERT_TRUE(Open(store, Request(kMiB, 4096)).ok());
  const int puts = store.puts;
  read_only.force = false;
  read_only.size = 0;
  ASSERT_TRUE(Open(store, read_only).ok());
  read_only.size = 2 * kMiB;
  read_only.force = true;
  auto resize = Open(store, read_only);
  ASSERT_FALSE(resize.ok());
  EXPECT_EQ(resize.status().code(), EPERM);
  EXPECT_EQ(store.puts, puts);
  EXPECT_EQ(store.deletes, 0);
}

TEST(VolumeMetadataTest, BlocksWithoutMetadataRefusedUnlessForced) {
  for (bool can_list : {true, false}) {
    for (BlockNaming naming : kAllBlockNamings) {
      SCOPED_TRACE(BlockNamingName(naming));
      TestObjectStore store;
      store.can_list = can_list;
      // Listing finds any block; without it only block 0 is looked for.
      PutBlocks(store, can_list ? 5 : 0, can_list ? 8 : 1, naming);
      auto refused = Open(store, Request(kMiB, 4096));
      ASSERT_FALSE(refused.ok());
      EXPECT_EQ(refused.status().code(), EEXIST);
      EXPECT_TRUE(HasMessage(refused.status(), "no metadata object"))
          << refused.status().message();
      EXPECT_EQ(store.puts, 0);
      VolumeRequest adopt = Request(kMiB, 4096);
      adopt.force = true;
      // The naming is taken from the blocks found, and a contradicting
      // --blockHashPrefix is refused.
      adopt.block_hash_prefix = naming == BlockNaming::kPlain;
      auto contradicted = Open(store, adopt);
      ASSERT_FALSE(contradicted.ok());
      EXPECT_TRUE(HasMessage(contradicted.status(), "--blockHashPrefix"))
          << contradicted.status().message();
      adopt.block_hash_prefix.reset();
      auto adopted = Open(store, adopt);
      ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
      EXPECT_TRUE(adopted->created);
      EXPECT_EQ(adopted->metadata.naming, naming);
    }
  }
}

// s3backer records its geometry on every block (x-amz-meta-s3backer-*):
// such a volume is adopted without --force and without --size.
TEST(VolumeMetadataTest, S3backersVolumeIsAdoptedFromItsHeaders) {
  for (BlockNaming naming : {BlockNaming::kPlain, BlockNaming::kS3backerHash}) {
    TestObjectStore store;
    // As s3backer does: the geometry is on block 0 only (with the hash
    // naming the listing finds block 3 first).
    PutBlocks(store, 0, 1, naming);
    PutBlocks(store, 3, 4, naming);
    const std::string key = BlockObjectKey(kPrefix, naming, 0);
    store.SetHeaders(key, {{"x-amz-meta-s3backer-filesize", "1048576"},
                           {"x-amz-meta-s3backer-blocksize", "4096"}});
    VolumeRequest wrong = Request(0, 8192);
    auto refused = Open(store, wrong);
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(HasMessage(refused.status(), "record size 1M, block size 4k"))
        << refused.status().message();
    EXPECT_EQ(store.puts, 0);
    auto adopted = Open(store, Request(0));
    ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
    EXPECT_TRUE(adopted->created);
    EXPECT_EQ(adopted->metadata.size, kMiB);
    EXPECT_EQ(adopted->metadata.block_size, 4096u);
    EXPECT_EQ(adopted->metadata.naming, naming);
    EXPECT_NE(store.GetText(VolumeMetadataKey(kPrefix))
                  ->find("x-adopted-from=s3backer\n"),
              std::string::npos);
  }
}

// s3backer's compressed and encrypted blocks are adopted in s3backer's
// block format (usbd's layers pass raw blocks; s3backer/ keeps the
// encoding), and the run's encryption must be the blocks'.
TEST(VolumeMetadataTest, S3backersEncodedBlocksKeepS3backersFormat) {
  for (const char* encoding : {"", "deflate", "deflate, encrypt-AES-128-CBC"}) {
    const bool encrypted =
        std::string(encoding).find("encrypt") != std::string::npos;
    TestObjectStore store;
    PutBlocks(store, 0, 1);
    ObjectHeaders headers = {{"x-amz-meta-s3backer-filesize", "1048576"},
                             {"x-amz-meta-s3backer-blocksize", "4096"}};
    if (*encoding != 0) headers.emplace_back("content-encoding", encoding);
    store.SetHeaders(BlockObjectKey(kPrefix, BlockNaming::kPlain, 0), headers);
    VolumeRequest mismatched = Request(0);
    mismatched.cipher = encrypted ? "none" : "aes-256-gcm";
    mismatched.password = "pw";
    auto refused = Open(store, mismatched);
    ASSERT_FALSE(refused.ok()) << encoding;
    EXPECT_EQ(refused.status().code(), EINVAL);
    EXPECT_TRUE(HasMessage(refused.status(),
                           encrypted ? "give --encrypt" : "drop --encrypt"))
        << refused.status().message();
    EXPECT_EQ(store.puts, 0);

    VolumeRequest request = Request(0);
    request.codec = "zstd";
    request.cipher = encrypted ? "aes-256-gcm" : "none";
    request.password = "pw";
    auto adopted = Open(store, request);
    ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
    EXPECT_TRUE(adopted->metadata.s3backer_blocks);
    EXPECT_EQ(adopted->metadata.codec, "none");
    EXPECT_EQ(adopted->metadata.cipher, "none");
    EXPECT_EQ(adopted->metadata.object_format, 1u);
    EXPECT_EQ(adopted->key, nullptr) << "no key of usbd's";
    const std::string text = *store.GetText(VolumeMetadataKey(kPrefix));
    EXPECT_NE(text.find("block_format=s3backer\n"), std::string::npos) << text;
    // Later runs choose s3backer's encoding by their options, as s3backer:
    // nothing to compare with the recorded none.
    request.codec = "none";
    auto again = Open(store, request);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE(again->created);
    EXPECT_TRUE(again->metadata.s3backer_blocks);
  }
}

TEST(VolumeMetadataTest, EncodedBlocksWithoutS3backersGeometryAreRefused) {
  TestObjectStore store;
  PutBlocks(store, 0, 1);
  store.SetHeaders(BlockObjectKey(kPrefix, BlockNaming::kPlain, 0),
                   {{"content-encoding", "deflate"}});
  VolumeRequest forced = Request(kMiB, 4096);
  forced.force = true;
  auto refused = Open(store, forced);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ENOTSUP);
  EXPECT_TRUE(HasMessage(refused.status(), "deflate"));
  EXPECT_EQ(store.puts, 0);
}

TEST(VolumeMetadataTest, ForeignObjectsAreNotBlocks) {
  TestObjectStore store;
  store.PutText(kPrefix + "README", "not a block");
  store.PutText(kPrefix + "0000000g", "not hex");
  store.PutText("vol10/00000000", "another volume's prefix");
  EXPECT_TRUE(Open(store, Request(kMiB, 4096)).ok());
}

TEST(VolumeMetadataTest, NewerFormatRefused) {
  TestObjectStore store;
  store.PutText(kKey, "usbd-volume 2\nanything: goes\n");
  auto opened = Open(store, Request(0));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EIO);
  EXPECT_TRUE(
      HasMessage(opened.status(),
                 "volume metadata format 2 is newer than this usbd supports"))
      << opened.status().message();
  EXPECT_TRUE(HasMessage(opened.status(), kKey));
  EXPECT_EQ(store.puts, 0) << "never overwritten";
}

std::string ValidText() {
  VolumeMetadata m;
  m.size = kMiB;
  m.block_size = 4096;
  m.uuid = std::string(32, 'a');
  m.created = "2026-01-02T03:04:05Z";
  // As a usbd before checksums wrote it, so that tests may edit it.
  return testing::WithoutChecksum(FormatVolumeMetadata(m));
}

Result<VolumeMetadata> Parse(const std::string& text) {
  return ParseVolumeMetadata(
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
      kKey);
}

void ExpectInvalid(const std::string& text, const std::string& why = "") {
  auto parsed = Parse(text);
  ASSERT_FALSE(parsed.ok()) << "accepted: " << text;
  // EIO, or corrupt (retryable) for an object cut short.
  EXPECT_TRUE(parsed.status().code() == EIO || parsed.status().corrupt());
  EXPECT_TRUE(HasMessage(parsed.status(), kKey)) << parsed.status().message();
  if (!why.empty()) {
    EXPECT_TRUE(HasMessage(parsed.status(), why)) << parsed.status().message();
  }
}

std::string Replace(std::string text, const std::string& from,
                    const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

TEST(VolumeMetadataTest, ParseRoundTripKeepsReservedAndExtraKeys) {
  VolumeMetadata m;
  m.size = 8 * kMiB;
  m.block_size = 65536;
  m.naming = BlockNaming::kS3backerHash;
  m.uuid = "0123456789abcdef0123456789abcdef";
  m.created = "2026-01-02T03:04:05Z";
  m.kdf = "pbkdf2-sha256:600000";
  m.kdf_salt = "00ff";
  m.key_check = "a=b";
  m.extra = {{"x-label", "my disk"}};
  auto parsed = Parse(FormatVolumeMetadata(m));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(FormatVolumeMetadata(*parsed), FormatVolumeMetadata(m));
  EXPECT_EQ(parsed->kdf, m.kdf);
  EXPECT_EQ(parsed->key_check, "a=b");
  ASSERT_EQ(parsed->extra.size(), 1u);
  EXPECT_EQ(parsed->extra[0].second, "my disk");
  ASSERT_TRUE(Parse(ValidText()).ok());
}

TEST(VolumeMetadataTest, ExtraKeysSurviveAForcedRewrite) {
  TestObjectStore store;
  store.PutText(kKey, ValidText() + "x-label=my disk\n");
  VolumeRequest grow = Request(2 * kMiB);
  grow.force = true;
  ASSERT_TRUE(Open(store, grow).ok());
  EXPECT_NE(store.GetText(kKey)->find("x-label=my disk\n"), std::string::npos);
  EXPECT_NE(store.GetText(kKey)->find("\nchecksum=xxh64:"), std::string::npos)
      << "a rewrite adds the checksum";
}

TEST(VolumeMetadataTest, GarbageIsAClearErrorNamingTheKey) {
  const std::string valid = ValidText();
  ExpectInvalid("", "does not start with 'usbd-volume VERSION'");
  ExpectInvalid("garbage\n", "does not start with");
  ExpectInvalid(std::string("\0\0\0\0", 4), "does not start with");
  ExpectInvalid("usbd-volume x\n", "bad format version");
  ExpectInvalid("usbd-volume 0\n", "bad format version");
  ExpectInvalid("usbd-volume 99999999999999999999999\n", "format");
  ExpectInvalid(valid + "bogus=1\n", "unknown key 'bogus'");
  ExpectInvalid(valid + "size=1\n", "repeated");
  ExpectInvalid(valid + "no equals sign\n", "expected key=value");
  ExpectInvalid(valid + "=value\n", "expected key=value");
  ExpectInvalid(valid + "Bad Key=1\n", "bad key");
  ExpectInvalid(valid + "x-a=\x01\n", "unprintable");
  ExpectInvalid(Replace(valid, "\n", "\r\n"));
  ExpectInvalid(Replace(valid, "size=1048576", "size=-1"), "size=");
  ExpectInvalid(Replace(valid, "size=1048576", "size=0"), "size=");
  ExpectInvalid(Replace(valid, "size=1048576", "size=1048577"), "multiple");
  ExpectInvalid(Replace(valid, "size=1048576", "size=1e6"), "size=");
  ExpectInvalid(Replace(valid, "block_size=4096", "block_size=3000"),
                "block_size=");
  ExpectInvalid(Replace(valid, "block_size=4096", "block_size=256"),
                "block_size=");
  ExpectInvalid(Replace(valid, "block_hash_prefix=0", "block_hash_prefix=3"));
  ExpectInvalid(Replace(valid, std::string(32, 'a'), "AAAA"), "uuid=");
  ExpectInvalid(Replace(valid, "codec=none", "codec=No ne"), "codec=");
  ExpectInvalid(Replace(valid, "2026-01-02T03:04:05Z", "yesterday"),
                "created=");
  ExpectInvalid(Replace(valid, "cipher=none\n", ""), "'cipher' is missing");
  ExpectInvalid(std::string(kMaxVolumeTextSize + 1, 'x'), "bytes");
}

// Every cut of a valid object is an error: a missing required key or a
// last line with no end of line. None crashes.
TEST(VolumeMetadataTest, EveryTruncationIsAnError) {
  const std::string valid = ValidText();
  for (size_t length = 0; length < valid.size(); ++length) {
    ExpectInvalid(valid.substr(0, length));
  }
}

TEST(VolumeMetadataTest, RandomBytesNeverCrash) {
  std::mt19937 random(42);
  const std::string valid = ValidText();
  for (int i = 0; i < 3000; ++i) {
    std::string text = valid;
    int flips = 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < flips; ++f) {
      text[random() % text.size()] = static_cast<char>(random());
    }
    if (random() % 4 == 0) text.resize(random() % text.size());
    auto parsed = Parse(text);
    if (!parsed.ok()) {
      EXPECT_TRUE(parsed.status().code() == EIO || parsed.status().corrupt());
    }
  }
}

TEST(VolumeMetadataTest, CorruptObjectInTheStoreIsEioAndLeftAlone) {
  TestObjectStore store;
  store.PutText(kKey, "usbd-volume 1\nsize=10");
  VolumeRequest forced = Request(kMiB, 4096);
  forced.force = true;
  auto opened = Open(store, forced);
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(opened.status().code() == EIO || opened.status().corrupt());
  EXPECT_TRUE(HasMessage(opened.status(), kKey));
  EXPECT_EQ(store.puts, 0) << "even --force does not overwrite it";
}

}  // namespace
}  // namespace usbd
