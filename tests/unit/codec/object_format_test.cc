#include "codec/object_format.h"

#include <gtest/gtest.h>

#include <vector>

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;

std::vector<uint8_t> Object(const ObjectHeader& header) {
  std::vector<uint8_t> object(header.object_size(), 0xee);
  EncodeObjectHeader(header, object);
  return object;
}

ObjectHeader Zstd(uint32_t payload) {
  ObjectHeader header;
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
  bad[4] = 2;
  ExpectRefused(bad, "format version 2 is newer");
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
  raw.plain_length = kBlockSize;
  raw.payload_length = 100;
  ExpectRefused(Object(raw), "impossible");
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
