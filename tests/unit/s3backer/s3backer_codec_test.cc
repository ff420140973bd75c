// s3backer's block format (src/s3backer/s3backer_codec.h): every encoding
// round-trips, and every way a block can be wrong is refused, never served.
// That the bytes are s3backer's own is checked against the real s3backer in
// tests/integration/s3backer_compat.sh.
#include "s3backer/s3backer_codec.h"

#include <gtest/gtest.h>

#include <numeric>

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;

std::vector<uint8_t> SomeBlock(uint8_t seed) {
  std::vector<uint8_t> block(kBlockSize);
  for (size_t i = 0; i < block.size(); ++i) {
    block[i] = static_cast<uint8_t>((i / 64) * seed + (i % 7));
  }
  return block;
}

std::shared_ptr<const S3backerCipher> Cipher(
    std::string_view password, std::string_view name = kS3backerDefaultCipher) {
  auto cipher = S3backerCipher::New(name, password, 0, "bucket", "vol/");
  EXPECT_TRUE(cipher.ok()) << cipher.status().ToString();
  return std::move(cipher).value();
}

const std::string* Header(const ObjectHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

StoredObject Encode(uint64_t block, const std::vector<uint8_t>& raw,
                    const S3backerEncoding& encoding) {
  StoredObject object;
  Status status =
      EncodeS3backerBlock(block, raw, encoding, &object.data, &object.headers);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return object;
}

Status Decode(uint64_t block, const StoredObject& object,
              const S3backerCipher* cipher, std::vector<uint8_t>* raw) {
  return DecodeS3backerBlock(block, object, kBlockSize, cipher, raw);
}

TEST(S3backerCodecTest, RawBlocksAreStoredAsTheyAre) {
  const auto raw = SomeBlock(3);
  StoredObject object = Encode(5, raw, {});
  EXPECT_EQ(object.data, raw);
  EXPECT_TRUE(object.headers.empty());
  std::vector<uint8_t> back;
  ASSERT_TRUE(Decode(5, object, nullptr, &back).ok());
  EXPECT_EQ(back, raw);
}

TEST(S3backerCodecTest, DeflateRoundTripsAndShrinks) {
  const auto raw = SomeBlock(1);
  StoredObject object = Encode(2, raw, {.deflate_level = 6});
  ASSERT_NE(Header(object.headers, "content-encoding"), nullptr);
  EXPECT_EQ(*Header(object.headers, "content-encoding"), "deflate");
  EXPECT_LT(object.data.size(), raw.size());
  std::vector<uint8_t> back;
  ASSERT_TRUE(Decode(2, object, nullptr, &back).ok());
  EXPECT_EQ(back, raw);
}

TEST(S3backerCodecTest, EncryptionImpliesDeflateAndRoundTrips) {
  auto cipher = Cipher("secret");
  const auto raw = SomeBlock(7);
  StoredObject object = Encode(9, raw, {.cipher = cipher});
  EXPECT_EQ(*Header(object.headers, "content-encoding"),
            "deflate, encrypt-AES-128-CBC");
  const std::string* hmac = Header(object.headers, "x-amz-meta-s3backer-hmac");
  ASSERT_NE(hmac, nullptr);
  EXPECT_EQ(hmac->size(), 42u);  // 40 hex digits in double quotes
  std::vector<uint8_t> back;
  Status status = Decode(9, object, cipher.get(), &back);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(back, raw);
}

TEST(S3backerCodecTest, TheIvDependsOnTheBlock) {
  auto cipher = Cipher("secret");
  const auto raw = SomeBlock(7);
  StoredObject a = Encode(1, raw, {.cipher = cipher});
  StoredObject b = Encode(2, raw, {.cipher = cipher});
  EXPECT_NE(a.data, b.data);
  // Moved to another block, its signature no longer holds.
  std::vector<uint8_t> back;
  EXPECT_TRUE(Decode(2, a, cipher.get(), &back).corrupt());
}

TEST(S3backerCodecTest, WrongPasswordAndTamperingAreCorruptNotData) {
  auto cipher = Cipher("secret");
  StoredObject object = Encode(4, SomeBlock(2), {.cipher = cipher});
  std::vector<uint8_t> back;
  Status wrong = Decode(4, object, Cipher("other").get(), &back);
  EXPECT_TRUE(wrong.corrupt()) << wrong.ToString();
  EXPECT_NE(wrong.message().find("wrong password"), std::string::npos);
  StoredObject flipped = object;
  flipped.data[10] ^= 1;
  EXPECT_TRUE(Decode(4, flipped, cipher.get(), &back).corrupt());
  StoredObject truncated = object;
  truncated.data.resize(truncated.data.size() - 16);
  EXPECT_TRUE(Decode(4, truncated, cipher.get(), &back).corrupt());
  EXPECT_TRUE(back.empty());
}

TEST(S3backerCodecTest, EncryptionMustMatchTheRun) {
  auto cipher = Cipher("secret");
  std::vector<uint8_t> back;
  StoredObject encrypted = Encode(1, SomeBlock(2), {.cipher = cipher});
  Status no_key = Decode(1, encrypted, nullptr, &back);
  EXPECT_EQ(no_key.code(), EIO) << no_key.ToString();
  EXPECT_NE(no_key.message().find("--encrypt was not given"),
            std::string::npos);
  StoredObject plain = Encode(1, SomeBlock(2), {});
  Status unencrypted = Decode(1, plain, cipher.get(), &back);
  EXPECT_EQ(unencrypted.code(), EIO) << unencrypted.ToString();
  StoredObject other =
      Encode(1, SomeBlock(2), {.cipher = Cipher("secret", "aes-256-cbc")});
  Status mismatch = Decode(1, other, cipher.get(), &back);
  EXPECT_EQ(mismatch.code(), EIO);
  EXPECT_NE(mismatch.message().find("AES-256-CBC"), std::string::npos);
  StoredObject unsigned_block = encrypted;
  unsigned_block.headers.erase(unsigned_block.headers.begin());
  EXPECT_EQ(Decode(1, unsigned_block, cipher.get(), &back).code(), EIO);
}

TEST(S3backerCodecTest, MalformedObjectsAreRefused) {
  std::vector<uint8_t> back;
  StoredObject short_raw{std::vector<uint8_t>(100, 1), {}};
  EXPECT_TRUE(Decode(0, short_raw, nullptr, &back).corrupt());
  StoredObject garbage{std::vector<uint8_t>(100, 1),
                       {{"content-encoding", "deflate"}}};
  EXPECT_TRUE(Decode(0, garbage, nullptr, &back).corrupt());
  // Deflate of half a block is not a block.
  StoredObject half = Encode(0, SomeBlock(1), {.deflate_level = 1});
  std::vector<uint8_t> small(kBlockSize / 2, 0);
  ASSERT_TRUE(EncodeS3backerBlock(0, small, {.deflate_level = 1}, &half.data,
                                  &half.headers)
                  .ok());
  EXPECT_TRUE(Decode(0, half, nullptr, &back).corrupt());
  StoredObject unknown{SomeBlock(1), {{"content-encoding", "gzip"}}};
  Status status = Decode(0, unknown, nullptr, &back);
  EXPECT_EQ(status.code(), EIO);
  EXPECT_NE(status.message().find("gzip"), std::string::npos);
}

TEST(S3backerCodecTest, CipherChecksItsParameters) {
  EXPECT_FALSE(S3backerCipher::New("no-such-cipher", "pw", 0, "b", "").ok());
  EXPECT_FALSE(S3backerCipher::New("AES-128-GCM", "pw", 0, "b", "").ok());
  EXPECT_FALSE(S3backerCipher::New("AES-256-CBC", "pw", 16, "b", "").ok());
  EXPECT_FALSE(S3backerCipher::New("AES-128-CBC", "pw", 65, "b", "").ok());
  EXPECT_FALSE(S3backerCipher::New("AES-128-CBC", "", 0, "b", "").ok());
  auto longer = S3backerCipher::New("aes-128-cbc", "pw", 32, "b", "");
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ((*longer)->name(), "AES-128-CBC");
}

}  // namespace
}  // namespace usbd
