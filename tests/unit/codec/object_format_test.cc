#include "codec/object_format.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "util/xxh64.h"

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;

std::vector<uint8_t> Object(const ObjectHeader& header) {
  std::vector<uint8_t> object(header.object_size(), 0xee);
  EncodeObjectHeader(header, object);
  return object;
}

// Version 1 objects: the format of the tests below but the last ones.
ObjectHeader Zstd(uint32_t payload) {
  ObjectHeader header;
  header.version = kObjectFormatV1;
  header.codec = Codec::kZstd;
  header.plain_length = kBlockSize;
  header.payload_length = payload;
  return header;
}

void ExpectRefused(std::span<const uint8_t> object, const std::string& why) {
  auto parsed = ParseObjectHeader(object, kBlockSize, 42);
  ASSERT_FALSE(parsed.ok()) << why;
  EXPECT_EQ(parsed.status().code(), EIO);
  EXPECT_FALSE(parsed.status().retryable());
  EXPECT_NE(parsed.status().message().find("block 42 (0x2a)"),
            std::string::npos)
      << parsed.status().message();
  EXPECT_NE(parsed.status().message().find(why), std::string::npos)
      << parsed.status().message();
}

TEST(ObjectFormatTest, LayoutIsTheDocumentedOne) {
  ObjectHeader header = Zstd(0x0102);
  header.cipher = Cipher::kAes256Gcm;
  auto object = Object(header);
  ASSERT_EQ(object.size(), 16u + 12u + 0x0102u + 16u);
  const uint8_t expected[16] = {'U', 'S',  'B', 'D', 1, 1, 1, 0,
                                0,   0x10, 0,   0,   2, 1, 0, 0};
  EXPECT_TRUE(std::equal(expected, expected + 16, object.begin()));
}

TEST(ObjectFormatTest, HeadersRoundTrip) {
  for (Cipher cipher : {Cipher::kNone, Cipher::kAes256Gcm}) {
    for (ObjectHeader header : {Zstd(1), Zstd(kBlockSize - 17)}) {
      header.cipher = cipher;
      auto parsed = ParseObjectHeader(Object(header), kBlockSize, 1);
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      EXPECT_EQ(parsed->codec, Codec::kZstd);
      EXPECT_EQ(parsed->cipher, cipher);
      EXPECT_EQ(parsed->payload_length, header.payload_length);
      EXPECT_EQ(parsed->plain_length, kBlockSize);
    }
  }
  ObjectHeader raw;
  raw.version = kObjectFormatV1;
  raw.plain_length = raw.payload_length = kBlockSize;
  EXPECT_TRUE(ParseObjectHeader(Object(raw), kBlockSize, 1).ok());
}

TEST(ObjectFormatTest, TruncatedAndExtendedObjectsAreRefused) {
  auto object = Object(Zstd(100));
  ExpectRefused(std::span(object).first(10), "too short");
  ExpectRefused(std::span(object).first(object.size() - 1), "truncated");
  object.push_back(0);
  ExpectRefused(object, "extended");
}

TEST(ObjectFormatTest, ForeignOrNewerObjectsAreRefused) {
  auto object = Object(Zstd(100));
  auto bad = object;
  bad[0] = 'X';
  ExpectRefused(bad, "no usbd header");
  bad = object;
  bad[4] = 3;
  ExpectRefused(bad, "format version 3 is newer");
  bad = object;
  bad[5] = 9;
  ExpectRefused(bad, "unknown codec");
  bad = object;
  bad[6] = 9;
  ExpectRefused(bad, "unknown cipher");
  bad = object;
  bad[7] = 1;
  ExpectRefused(bad, "reserved");
  auto parsed = ParseObjectHeader(object, 8192, 42);
  EXPECT_EQ(parsed.status().code(), EIO);
  EXPECT_NE(parsed.status().message().find("another volume"),
            std::string::npos);
}

TEST(ObjectFormatTest, ImpossiblePayloadLengthsAreRefused) {
  // A zstd payload never leaves the object block-sized or longer.
  ExpectRefused(Object(Zstd(kBlockSize - 16)), "impossible");
  ExpectRefused(Object(Zstd(0)), "impossible");
  ObjectHeader raw;
  raw.version = kObjectFormatV1;
  raw.plain_length = kBlockSize;
  raw.payload_length = 100;
  ExpectRefused(Object(raw), "impossible");
}

// --- Format version 2 --------------------------------------------------------

std::vector<uint8_t> V2(Codec codec, uint32_t payload, Cipher cipher) {
  ObjectHeader header;
  header.version = kObjectFormatV2;
  header.codec = codec;
  header.cipher = cipher;
  header.plain_length = kBlockSize;
  header.payload_length = payload;
  std::vector<uint8_t> body(header.body_size());
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> object;
  BuildObject(header, body, &object);
  return object;
}

TEST(ObjectFormatV2Test, LayoutIsTheDocumentedOne) {
  auto object = V2(Codec::kZstd, 3, Cipher::kNone);
  ASSERT_EQ(object.size(), 16u + 3u + 8u);
  const uint8_t expected[19] = {'U', 'S', 'B', 'D', 2, 1, 0, 0, 0, 0x10,
                                0,   0,   3,   0,   0, 0, 0, 1, 2};
  EXPECT_TRUE(std::equal(expected, expected + 19, object.begin()));
  // The checksum: XXH64 of the 19 bytes before it, little-endian.
  uint64_t stored = 0;
  for (int i = 0; i < 8; ++i) stored |= uint64_t{object[19 + i]} << (8 * i);
  EXPECT_EQ(stored, Xxh64(std::span(object).first(19)));
  EXPECT_EQ(V2(Codec::kNone, kBlockSize, Cipher::kNone).size(),
            kBlockSize + 24u);
  EXPECT_EQ(V2(Codec::kNone, kBlockSize, Cipher::kAes256Gcm).size(),
            kBlockSize + 16u + 12u + 16u + 8u);
}

TEST(ObjectFormatV2Test, EveryKindChecksOut) {
  for (Cipher cipher : {Cipher::kNone, Cipher::kAes256Gcm}) {
    for (auto [codec, payload] :
         {std::pair{Codec::kNone, kBlockSize}, std::pair{Codec::kZstd, 1u},
          std::pair{Codec::kZstd, kBlockSize - 25}}) {
      auto object = V2(codec, payload, cipher);
      auto header = CheckStoredObject(object, kBlockSize, 1);
      ASSERT_TRUE(header.ok()) << header.status().ToString();
      EXPECT_EQ(header->version, kObjectFormatV2);
      EXPECT_EQ(header->codec, codec);
      EXPECT_EQ(header->cipher, cipher);
      EXPECT_EQ(ObjectBody(object, *header).size(), header->body_size());
    }
  }
}

TEST(ObjectFormatV2Test, NoV2ObjectIsBlockSized) {
  // A zstd payload that would make the object a block long is impossible.
  auto object = V2(Codec::kZstd, kBlockSize - 24, Cipher::kNone);
  ASSERT_EQ(object.size(), kBlockSize);
  auto header = CheckStoredObject(object, kBlockSize, 5);
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.status().message().find("impossible"), std::string::npos);
}

TEST(ObjectFormatV2Test, EveryFlippedBitIsARetryableChecksumMismatch) {
  auto object = V2(Codec::kZstd, 40, Cipher::kAes256Gcm);
  for (size_t i = 0; i < object.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = object;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      auto header = CheckStoredObject(bad, kBlockSize, 42);
      ASSERT_FALSE(header.ok()) << i << "/" << bit;
      const Status& status = header.status();
      ASSERT_TRUE(status.corrupt()) << status.ToString();
      ASSERT_TRUE(status.retryable());
      ASSERT_NE(status.message().find("block 42 (0x2a)"), std::string::npos);
      // Flipping the version byte to 1 makes a version 1 object of the
      // wrong length; every other flip breaks the checksum.
      if (!(i == 4 && bad[4] == kObjectFormatV1)) {
        ASSERT_NE(status.message().find("checksum mismatch"), std::string::npos)
            << status.message();
      }
    }
  }
}

TEST(ObjectFormatV2Test, TruncatedOrExtendedObjectsAreCorrupt) {
  auto object = V2(Codec::kZstd, 40, Cipher::kNone);
  for (size_t n : {size_t{0}, size_t{10}, size_t{23}, object.size() - 1}) {
    auto header = CheckStoredObject(std::span(object).first(n), kBlockSize, 3);
    ASSERT_FALSE(header.ok()) << n;
    EXPECT_TRUE(header.status().corrupt()) << n;
  }
  object.push_back(0);
  EXPECT_TRUE(CheckStoredObject(object, kBlockSize, 3).status().corrupt());
}

TEST(ObjectFormatV2Test, AnImpossibleObjectWithAGoodChecksumIsNotRetried) {
  // Written like that (another volume's block size): retrying cannot help.
  auto object = V2(Codec::kZstd, 40, Cipher::kNone);
  auto header = CheckStoredObject(object, 2 * kBlockSize, 3);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().code(), EIO);
  EXPECT_FALSE(header.status().retryable());
  EXPECT_NE(header.status().message().find("another volume"),
            std::string::npos);
}

TEST(ObjectFormatV2Test, AV1ObjectThatDoesNotParseIsRetried) {
  // No checksum to tell a damaged version 1 object from a bad one.
  auto object = Object(Zstd(100));
  object.pop_back();
  auto header = CheckStoredObject(object, kBlockSize, 3);
  ASSERT_FALSE(header.ok());
  EXPECT_TRUE(header.status().corrupt());
  EXPECT_NE(header.status().message().find("truncated"), std::string::npos);
  EXPECT_TRUE(CheckStoredObject(Object(Zstd(100)), kBlockSize, 3).ok());
}

TEST(ObjectFormatTest, NamesAreThoseOfTheMetadata) {
  Codec codec;
  Cipher cipher;
  ASSERT_TRUE(ParseCodecName("zstd", &codec));
  EXPECT_EQ(codec, Codec::kZstd);
  ASSERT_TRUE(ParseCipherName("aes-256-gcm", &cipher));
  EXPECT_EQ(cipher, Cipher::kAes256Gcm);
  EXPECT_FALSE(ParseCodecName("lz4", &codec));
  EXPECT_FALSE(ParseCipherName("AES", &cipher));
  EXPECT_EQ(CodecName(Codec::kNone), "none");
  EXPECT_EQ(CipherName(Cipher::kNone), "none");
}

}  // namespace
}  // namespace usbd
