// The encoding settings in the volume metadata (issue 5): what a new volume
// records, the key derived at creation and checked at every later start,
// and the rules for a run whose --compress or --encrypt differ from the
// volume's.
#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/encoding_settings.h"
#include "testing/test_store.h"
#include "volume/metadata.h"

namespace usbd {
namespace {

using testing::TestObjectStore;

constexpr uint64_t kMiB = 1024 * 1024;
const std::string kPrefix = "vol1/";
const std::string kKey = "vol1/usbd-volume";
const std::string kPassword = "correct horse battery staple";

VolumeRequest Request(uint64_t size, const std::string& codec = "none",
                      const std::string& cipher = "none",
                      std::string_view password = "") {
  VolumeRequest request;
  request.size = size;
  request.block_size = size == 0 ? 0 : 4096;
  request.codec = codec;
  request.cipher = cipher;
  request.password = password;
  request.kdf.scrypt_n = 1024;  // cheap for the tests
  request.name = "bucket/vol1";
  return request;
}

// Passwords are string_views (VolumeRequest keeps a view): pass literals or
// strings that outlive the request, never temporaries.
VolumeRequest Encrypted(uint64_t size, std::string_view password = kPassword,
                        const std::string& codec = "none") {
  return Request(size, codec, "aes-256-gcm", password);
}

Result<OpenedVolume> Open(ObjectStore& store, const VolumeRequest& request) {
  return OpenOrCreateVolume(store, kPrefix, request, RetryOptions());
}

bool HasMessage(const Status& status, const std::string& part) {
  return status.message().find(part) != std::string::npos;
}

std::string Entry(TestObjectStore& store, const std::string& name) {
  auto text = store.GetText(kKey);
  if (!text) return "<no metadata>";
  size_t at = text->find("\n" + name + "=");
  if (at == std::string::npos) return "<absent>";
  at += name.size() + 2;
  return text->substr(at, text->find('\n', at) - at);
}

TEST(EncodingMetadataTest, PlainVolumeRecordsNoKeyMaterial) {
  TestObjectStore store;
  auto created = Open(store, Request(kMiB));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->key, nullptr);
  EXPECT_EQ(Entry(store, "codec"), "none");
  EXPECT_EQ(Entry(store, "cipher"), "none");
  EXPECT_EQ(Entry(store, "kdf"), "<absent>");
  EXPECT_EQ(Entry(store, "kdf_salt"), "<absent>");
  EXPECT_EQ(Entry(store, "key_check"), "<absent>");
  EXPECT_EQ(Entry(store, "x-codec-level"), "<absent>");
}

TEST(EncodingMetadataTest, CompressedVolumeRecordsCodecAndLevel) {
  TestObjectStore store;
  VolumeRequest request = Request(kMiB, "zstd");
  request.codec_level = 7;
  auto created = Open(store, request);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->metadata.codec, "zstd");
  EXPECT_EQ(Entry(store, "codec"), "zstd");
  EXPECT_EQ(Entry(store, "x-codec-level"), "7");
  EXPECT_EQ(created->key, nullptr);

  // Another level is no conflict: the level does not affect decoding.
  VolumeRequest other = Request(0, "zstd");
  other.codec_level = 19;
  auto reopened = Open(store, other);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(store.puts, 1);
}

TEST(EncodingMetadataTest, EncryptedVolumeDerivesTheKeyFirstAndRecordsIt) {
  TestObjectStore store;
  auto created = Open(store, Encrypted(kMiB));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_NE(created->key, nullptr);
  EXPECT_EQ(Entry(store, "cipher"), "aes-256-gcm");
  EXPECT_EQ(Entry(store, "kdf"), "scrypt:n=1024,r=8,p=1");
  EXPECT_EQ(Entry(store, "kdf_salt").size(), 32u);
  EXPECT_EQ(Entry(store, "key_check"), KeyCheckValue(*created->key));
  auto text = store.GetText(kKey);
  EXPECT_EQ(text->find(kPassword), std::string::npos);

  // The same password gives the same key on a later run, detecting the
  // geometry; nothing is written.
  auto reopened = Open(store, Encrypted(0));
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  ASSERT_NE(reopened->key, nullptr);
  EXPECT_TRUE(std::equal(reopened->key->bytes().begin(),
                         reopened->key->bytes().end(),
                         created->key->bytes().begin()));
  EXPECT_EQ(reopened->metadata.size, kMiB);
  EXPECT_EQ(store.puts, 1);
}

TEST(EncodingMetadataTest, TwoVolumesWithOnePasswordHaveTwoKeys) {
  TestObjectStore a, b;
  auto va = Open(a, Encrypted(kMiB));
  auto vb = Open(b, Encrypted(kMiB));
  ASSERT_TRUE(va.ok() && vb.ok());
  EXPECT_NE(Entry(a, "kdf_salt"), Entry(b, "kdf_salt"));
  EXPECT_FALSE(std::equal(va->key->bytes().begin(), va->key->bytes().end(),
                          vb->key->bytes().begin()));
}

TEST(EncodingMetadataTest, WrongPasswordIsEaccesAndNeverRepeated) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Encrypted(kMiB)).ok());
  const std::string wrong = "Tr0ub4dor&3-wrong";
  auto opened = Open(store, Encrypted(0, wrong));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
  EXPECT_TRUE(HasMessage(opened.status(), "wrong password"))
      << opened.status().message();
  EXPECT_TRUE(HasMessage(opened.status(), "bucket/vol1"));
  EXPECT_TRUE(HasMessage(opened.status(), kKey));
  EXPECT_FALSE(HasMessage(opened.status(), wrong));
  EXPECT_FALSE(HasMessage(opened.status(), kPassword));
  EXPECT_EQ(store.puts, 1);
}

TEST(EncodingMetadataTest, WrongPasswordIsCheckedBeforeAForcedResize) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Encrypted(kMiB)).ok());
  store.PutText(kPrefix + "000000ff", "x");  // a block past a smaller end
  VolumeRequest shrink = Encrypted(kMiB / 2, "wrong");
  shrink.force = true;
  auto opened = Open(store, shrink);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
  EXPECT_EQ(store.deletes, 0) << "nothing deleted with a wrong password";
  EXPECT_EQ(Entry(store, "size"), std::to_string(kMiB));
}

TEST(EncodingMetadataTest, EncryptionNeedsAPassword) {
  TestObjectStore store;
  auto create = Open(store, Encrypted(kMiB, ""));
  ASSERT_FALSE(create.ok());
  EXPECT_EQ(create.status().code(), EINVAL);
  EXPECT_EQ(store.puts, 0);

  ASSERT_TRUE(Open(store, Encrypted(kMiB)).ok());
  VolumeRequest detect = Request(0, "", "");  // detect both, no password
  auto opened = Open(store, detect);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EINVAL);
  EXPECT_TRUE(HasMessage(opened.status(), "is encrypted (aes-256-gcm)"))
      << opened.status().message();
  detect.password = kPassword;
  auto detected = Open(store, detect);
  ASSERT_TRUE(detected.ok()) << detected.status().ToString();
  EXPECT_EQ(detected->metadata.cipher, "aes-256-gcm");
  EXPECT_NE(detected->key, nullptr);
}

TEST(EncodingMetadataTest, CipherMismatchRefusedEvenWithForce) {
  for (bool encrypted_volume : {false, true}) {
    for (bool force : {false, true}) {
      TestObjectStore store;
      ASSERT_TRUE(
          Open(store, encrypted_volume ? Encrypted(kMiB) : Request(kMiB)).ok());
      VolumeRequest other = encrypted_volume ? Request(0) : Encrypted(0);
      other.force = force;
      auto opened = Open(store, other);
      ASSERT_FALSE(opened.ok());
      EXPECT_EQ(opened.status().code(), EINVAL);
      const std::string want =
          encrypted_volume ? "encryption none but the volume has aes-256-gcm"
                           : "encryption aes-256-gcm but the volume has none";
      EXPECT_TRUE(HasMessage(opened.status(), want))
          << opened.status().message();
      EXPECT_TRUE(HasMessage(opened.status(), "--erase"));
      EXPECT_TRUE(HasMessage(opened.status(), kKey));
      EXPECT_EQ(store.puts, 1);
    }
  }
}

TEST(EncodingMetadataTest, CodecMismatchRefusedWithoutForce) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Request(kMiB, "zstd")).ok());
  auto opened = Open(store, Request(0, "none"));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EINVAL);
  EXPECT_TRUE(
      HasMessage(opened.status(), "compression none but the volume has zstd"))
      << opened.status().message();
  EXPECT_TRUE(HasMessage(opened.status(), "--force"));
  EXPECT_EQ(store.puts, 1);
}

TEST(EncodingMetadataTest, ForceSwitchesCompressionOnAVolumeWithBlocks) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Encrypted(kMiB)).ok());
  store.PutText(kPrefix + "00000003", "a block");

  VolumeRequest on = Encrypted(0, kPassword, "zstd");
  on.codec_level = 5;
  on.force = true;
  auto switched = Open(store, on);
  ASSERT_TRUE(switched.ok()) << switched.status().ToString();
  EXPECT_TRUE(switched->rewritten);
  EXPECT_NE(switched->key, nullptr);
  EXPECT_EQ(Entry(store, "codec"), "zstd");
  EXPECT_EQ(Entry(store, "x-codec-level"), "5");
  EXPECT_EQ(Entry(store, "cipher"), "aes-256-gcm") << "key material kept";
  EXPECT_NE(Entry(store, "key_check"), "<absent>");
  ASSERT_TRUE(Open(store, Encrypted(0, kPassword, "zstd")).ok());

  VolumeRequest off = Encrypted(0);
  off.force = true;
  ASSERT_TRUE(Open(store, off).ok());
  EXPECT_EQ(Entry(store, "codec"), "none");
  EXPECT_EQ(Entry(store, "x-codec-level"), "<absent>");
  EXPECT_TRUE(store.GetText(kPrefix + "00000003")) << "blocks untouched";
}

TEST(EncodingMetadataTest, ReadOnlyForceAllowsACodecChangeWithoutWriting) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Request(kMiB, "zstd")).ok());
  VolumeRequest read_only = Request(0, "none");
  read_only.read_only = true;
  EXPECT_FALSE(Open(store, read_only).ok());
  read_only.force = true;
  auto opened = Open(store, read_only);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_FALSE(opened->rewritten);
  EXPECT_EQ(store.puts, 1);
  EXPECT_EQ(Entry(store, "codec"), "zstd");
}

TEST(EncodingMetadataTest, UnknownRequestNamesAreInvalid) {
  TestObjectStore store;
  EXPECT_EQ(Open(store, Request(kMiB, "lz4")).status().code(), EINVAL);
  EXPECT_EQ(Open(store, Request(kMiB, "none", "rot13")).status().code(),
            EINVAL);
  EXPECT_EQ(store.puts, 0);
}

TEST(EncodingMetadataTest, BadRecordedEncodingIsEioNamingTheObject) {
  const std::string base =
      "usbd-volume 1\nsize=1048576\nblock_size=4096\nblock_hash_prefix=0\n"
      "uuid=0123456789abcdef0123456789abcdef\ncreated=2026-01-02T03:04:05Z\n";
  for (const std::string& tail :
       {std::string("codec=lz4\ncipher=none\n"),
        std::string("codec=none\ncipher=aes-256-gcm\n"),
        std::string("codec=none\ncipher=none\nkdf=scrypt:n=1024,r=8,p=1\n"),
        std::string("codec=none\ncipher=aes-256-gcm\nkdf=scrypt:n=3,r=8,p=1\n"
                    "kdf_salt=00112233445566778899aabbccddeeff\n"
                    "key_check=00112233445566778899aabbccddeeff\n"),
        std::string("codec=zstd\ncipher=none\nx-codec-level=99\n")}) {
    TestObjectStore store;
    store.PutText(kKey, base + tail);
    VolumeRequest request = Request(0, "", "", kPassword);
    request.force = true;
    auto opened = Open(store, request);
    ASSERT_FALSE(opened.ok()) << tail;
    EXPECT_EQ(opened.status().code(), EIO) << opened.status().message();
    EXPECT_TRUE(HasMessage(opened.status(), kKey)) << opened.status().message();
    EXPECT_EQ(store.puts, 0) << "never overwritten";
  }
}

TEST(EncodingMetadataTest, ExtraKeysSurviveACodecSwitch) {
  TestObjectStore store;
  ASSERT_TRUE(Open(store, Request(kMiB)).ok());
  std::string text =
      testing::WithoutChecksum(*store.GetText(kKey)) + "x-label=my disk\n";
  store.PutText(kKey, text);
  VolumeRequest on = Request(0, "zstd");
  on.codec_level = 2;
  on.force = true;
  ASSERT_TRUE(Open(store, on).ok());
  text = *store.GetText(kKey);
  EXPECT_NE(text.find("x-label=my disk\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x-codec-level=2\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace usbd
