#include "crypto/kdf.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usbd {
namespace {

// Cheap parameters: the tests check behaviour, not cost.
KdfParams FastScrypt() {
  KdfParams params;
  params.scrypt_n = 1024;
  return params;
}

KdfParams FastPbkdf2() {
  KdfParams params;
  params.algorithm = KdfAlgorithm::kPbkdf2Sha256;
  params.pbkdf2_iterations = 1000;
  return params;
}

const std::vector<uint8_t> kSalt(16, 0x5a);

std::vector<uint8_t> KeyBytes(const SecretKey& key) {
  return {key.bytes().begin(), key.bytes().end()};
}

TEST(KdfTest, ParametersRoundTripThroughTheirText) {
  EXPECT_EQ(FormatKdfParams(KdfParams()), "scrypt:n=65536,r=8,p=1");
  EXPECT_EQ(FormatKdfParams(FastPbkdf2()), "pbkdf2-sha256:iterations=1000");
  for (const KdfParams& params : {KdfParams(), FastScrypt(), FastPbkdf2()}) {
    auto parsed = ParseKdfParams(FormatKdfParams(params));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(FormatKdfParams(*parsed), FormatKdfParams(params));
  }
  auto reordered = ParseKdfParams("scrypt:p=2,r=4,n=2048");
  ASSERT_TRUE(reordered.ok());
  EXPECT_EQ(reordered->scrypt_n, 2048u);
  EXPECT_EQ(reordered->scrypt_r, 4u);
  EXPECT_EQ(reordered->scrypt_p, 2u);
}

TEST(KdfTest, MalformedOrAbusiveParametersAreRefused) {
  for (const char* text :
       {"", "scrypt", "scrypt:", "argon2:t=3", "scrypt:n=65536,r=8",
        "scrypt:n=65536,r=8,p=1,x=1", "scrypt:n=65536,n=65536,r=8,p=1",
        "scrypt:n=65535,r=8,p=1", "scrypt:n=512,r=8,p=1",
        "scrypt:n=4194304,r=32,p=1", "scrypt:n=065536,r=8,p=1",
        "scrypt:n=65536,r=8,p=1,", "scrypt:n=-1,r=8,p=1",
        "pbkdf2-sha256:iterations=10", "pbkdf2-sha256:iterations=99999999999",
        "pbkdf2-sha256:rounds=600000"}) {
    auto parsed = ParseKdfParams(text);
    EXPECT_FALSE(parsed.ok()) << text;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), EINVAL) << text;
    }
  }
}

TEST(KdfTest, TheSameInputsGiveTheSameKey) {
  for (const KdfParams& params : {FastScrypt(), FastPbkdf2()}) {
    auto a = DeriveKey("correct horse", kSalt, params);
    auto b = DeriveKey("correct horse", kSalt, params);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(KeyBytes(**a), KeyBytes(**b));
    EXPECT_NE(KeyBytes(**a), std::vector<uint8_t>(32, 0));
  }
}

TEST(KdfTest, PasswordSaltAndParametersEachChangeTheKey) {
  auto base = DeriveKey("correct horse", kSalt, FastScrypt());
  auto other_password = DeriveKey("correct horsf", kSalt, FastScrypt());
  auto other_salt =
      DeriveKey("correct horse", std::vector<uint8_t>(16, 0x5b), FastScrypt());
  KdfParams other = FastScrypt();
  other.scrypt_n = 2048;
  auto other_params = DeriveKey("correct horse", kSalt, other);
  auto pbkdf2 = DeriveKey("correct horse", kSalt, FastPbkdf2());
  ASSERT_TRUE(base.ok() && other_password.ok() && other_salt.ok() &&
              other_params.ok() && pbkdf2.ok());
  for (const auto* key :
       {&other_password, &other_salt, &other_params, &pbkdf2}) {
    EXPECT_NE(KeyBytes(***key), KeyBytes(**base));
  }
}

TEST(KdfTest, ScryptMatchesRfc7914) {
  // RFC 7914 section 12, second vector, first 32 bytes of the output.
  const std::string salt = "NaCl";
  KdfParams params;
  params.scrypt_n = 1024;
  params.scrypt_r = 8;
  params.scrypt_p = 16;
  auto key = DeriveKey(
      "password", {reinterpret_cast<const uint8_t*>(salt.data()), salt.size()},
      params);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  const std::vector<uint8_t> expected = {
      0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00, 0x78, 0x56, 0xe7,
      0x19, 0x0d, 0x01, 0xe9, 0xfe, 0x7c, 0x6a, 0xd7, 0xcb, 0xc8, 0x23,
      0x78, 0x30, 0xe7, 0x73, 0x76, 0x63, 0x4b, 0x37, 0x31, 0x62};
  EXPECT_EQ(KeyBytes(**key), expected);
}

TEST(KdfTest, EmptyPasswordOrSaltIsRefused) {
  EXPECT_EQ(DeriveKey("", kSalt, FastScrypt()).status().code(), EINVAL);
  EXPECT_EQ(DeriveKey("pw", {}, FastScrypt()).status().code(), EINVAL);
}

TEST(KdfTest, KeyCheckTellsARightKeyFromAWrongOne) {
  auto key = DeriveKey("right", kSalt, FastScrypt());
  auto wrong = DeriveKey("wrong", kSalt, FastScrypt());
  ASSERT_TRUE(key.ok() && wrong.ok());
  std::string check = KeyCheckValue(**key);
  EXPECT_EQ(check.size(), kKeyCheckHexDigits);
  EXPECT_EQ(check.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(VerifyKeyCheck(**key, check).ok());
  Status status = VerifyKeyCheck(**wrong, check);
  EXPECT_EQ(status.code(), EACCES);
  EXPECT_NE(status.message().find("wrong password"), std::string::npos);
  EXPECT_EQ(VerifyKeyCheck(**key, check.substr(1)).code(), EACCES);
}

TEST(KdfTest, SaltsAreFreshAndRandom) {
  auto a = NewKdfSalt();
  auto b = NewKdfSalt();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), kKdfSaltSize);
  EXPECT_NE(*a, *b);
}

TEST(SecretKeyTest, StartsZeroedAndIsWritable) {
  auto key = SecretKey::New();
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(KeyBytes(**key), std::vector<uint8_t>(32, 0));
  (*key)->mutable_bytes()[0] = 1;
  EXPECT_EQ((*key)->bytes()[0], 1);
}

TEST(SecretKeyTest, CleanseStringEmptiesIt) {
  std::string password = "hunter2";
  CleanseString(&password);
  EXPECT_TRUE(password.empty());
}

}  // namespace
}  // namespace usbd
