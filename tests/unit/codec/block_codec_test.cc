#include "codec/block_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;

std::vector<uint8_t> Text(size_t size) {
  const std::string words = "the quick brown fox jumps over the lazy dog ";
  std::vector<uint8_t> data(size);
  for (size_t i = 0; i < size; ++i) data[i] = words[i % words.size()];
  return data;
}

std::vector<uint8_t> Random(size_t size, unsigned seed) {
  std::mt19937 engine(seed);
  std::vector<uint8_t> data(size);
  for (auto& b : data) b = static_cast<uint8_t>(engine());
  return data;
}

constexpr uint8_t kVersions[] = {kObjectFormatV1, kObjectFormatV2};

TEST(BlockCodecTest, CompressibleBlocksShrinkAndRoundTrip) {
  for (uint8_t version : kVersions) {
    for (int level : {kMinCompressLevel, 3, kMaxCompressLevel}) {
      auto block = Text(kBlockSize);
      std::vector<uint8_t> object;
      ASSERT_TRUE(CompressBlock(block, level, version, &object));
      EXPECT_LT(object.size(), kBlockSize);
      EXPECT_EQ(object[4], version);
      std::vector<uint8_t> out(kBlockSize);
      ASSERT_TRUE(DecodeObject(7, object, out).ok());
      EXPECT_EQ(out, block);
    }
  }
}

TEST(BlockCodecTest, IncompressibleBlocksAreLeftUncompressed) {
  for (uint8_t version : kVersions) {
    std::vector<uint8_t> object;
    EXPECT_FALSE(CompressBlock(Random(kBlockSize, 1), 3, version, &object));
    // Barely compressible: a saving smaller than the header is no saving.
    auto block = Random(kBlockSize, 2);
    std::fill(block.begin(), block.begin() + 8, 0);
    EXPECT_FALSE(CompressBlock(block, 3, version, &object));
  }
}

TEST(BlockCodecTest, UncompressedObjectsAreRawInV1AndChecksummedInV2) {
  auto block = Random(kBlockSize, 5);
  std::vector<uint8_t> scratch;
  auto v1 = UncompressedObject(block, kObjectFormatV1, &scratch);
  EXPECT_EQ(v1.data(), block.data());
  auto v2 = UncompressedObject(block, kObjectFormatV2, &scratch);
  ASSERT_EQ(v2.size(), kBlockSize + 24);
  EXPECT_TRUE(std::equal(block.begin(), block.end(), v2.begin() + 16));
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(DecodeObject(1, v2, out).ok());
  EXPECT_EQ(out, block);
}

TEST(BlockCodecTest, ARawBlockDecodesAsItself) {
  auto block = Random(kBlockSize, 3);
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(DecodeObject(1, block, out).ok());
  EXPECT_EQ(out, block);
}

TEST(BlockCodecTest, ATruncatedRawBlockIsCorrupt) {
  auto block = Random(kBlockSize, 4);
  std::vector<uint8_t> out(kBlockSize);
  Status status = DecodeObject(9, std::span(block).first(kBlockSize - 1), out);
  EXPECT_TRUE(status.corrupt()) << status.ToString();
  EXPECT_TRUE(status.retryable());
  EXPECT_NE(status.message().find("block 9"), std::string::npos);
}

// Every single bit flipped anywhere in a version 2 object is caught, for
// each kind of object; a version 1 zstd object relies on zstd's checksum.
TEST(BlockCodecTest, EveryFlippedBitOfAV2ObjectIsCaught) {
  auto text = Text(kBlockSize);
  auto random = Random(kBlockSize, 6);
  std::vector<uint8_t> zstd, scratch;
  ASSERT_TRUE(CompressBlock(text, 1, kObjectFormatV2, &zstd));
  auto none = UncompressedObject(random, kObjectFormatV2, &scratch);
  std::vector<uint8_t> plain(none.begin(), none.end());
  std::vector<uint8_t> out(kBlockSize);
  for (const auto* object : {&zstd, &plain}) {
    for (size_t i = 0; i < object->size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        auto bad = *object;
        bad[i] ^= static_cast<uint8_t>(1 << bit);
        Status status = DecodeObject(12, bad, out);
        ASSERT_FALSE(status.ok()) << "byte " << i << " bit " << bit;
        ASSERT_TRUE(status.corrupt()) << status.ToString();
        ASSERT_TRUE(status.retryable());
        ASSERT_NE(status.message().find("block 12 (0xc)"), std::string::npos);
      }
    }
  }
}

TEST(BlockCodecTest, ACorruptV1ZstdFrameNeverDecodesToWrongData) {
  auto block = Text(kBlockSize);
  std::vector<uint8_t> object;
  ASSERT_TRUE(CompressBlock(block, 1, kObjectFormatV1, &object));
  std::vector<uint8_t> out(kBlockSize);
  int refused = 0;
  for (size_t i = kObjectHeaderSize; i < object.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = object;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      Status status = DecodeObject(12, bad, out);
      if (status.ok()) {
        // A bit zstd ignores; the frame checksum vouches for the rest.
        EXPECT_EQ(out, block) << "byte " << i << " bit " << bit;
        continue;
      }
      ++refused;
      EXPECT_TRUE(status.corrupt()) << status.ToString();
      EXPECT_NE(status.message().find("block 12 (0xc)"), std::string::npos);
    }
  }
  EXPECT_GT(refused, 8 * static_cast<int>(object.size() - 16) * 9 / 10);
}

TEST(BlockCodecTest, AFrameDecodingToTheWrongLengthIsRefused) {
  std::vector<uint8_t> object;
  ASSERT_TRUE(CompressBlock(Text(2048), 1, kObjectFormatV1, &object));
  // Relabel a 2048-byte frame as a 4096-byte block's payload.
  ObjectHeader header;
  header.version = kObjectFormatV1;
  header.codec = Codec::kZstd;
  header.plain_length = kBlockSize;
  header.payload_length = static_cast<uint32_t>(object.size() - 16);
  EncodeObjectHeader(header, object);
  std::vector<uint8_t> out(kBlockSize);
  EXPECT_EQ(DecodeObject(3, object, out).code(), EBADMSG);
}

TEST(BlockCodecTest, AnEncryptedObjectNeedsTheEncryptionLayer) {
  ObjectHeader header;
  header.codec = Codec::kNone;
  header.cipher = Cipher::kAes256Gcm;
  header.plain_length = header.payload_length = kBlockSize;
  std::vector<uint8_t> object(header.object_size() - kObjectChecksumSize);
  EncodeObjectHeader(header, object);
  SealObjectChecksum(header, &object);
  std::vector<uint8_t> out(kBlockSize);
  Status status = DecodeObject(5, object, out);
  EXPECT_EQ(status.code(), EIO);
  EXPECT_NE(status.message().find("encrypted"), std::string::npos);
}

}  // namespace
}  // namespace usbd
