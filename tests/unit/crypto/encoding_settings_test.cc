#include "crypto/encoding_settings.h"

#include <gtest/gtest.h>

namespace usbd {
namespace {

EncodingSettings Encrypted() {
  EncodingSettings settings;
  settings.codec = Codec::kZstd;
  settings.codec_level = 3;
  settings.cipher = Cipher::kAes256Gcm;
  settings.kdf.scrypt_n = 1024;
  return settings;
}

TEST(EncodingSettingsTest, DefaultsAreNoneAndNone) {
  auto entries = EncodingSettingsToEntries(EncodingSettings());
  EXPECT_EQ(entries, (EncodingEntries{{"codec", "none"}, {"cipher", "none"}}));
  auto parsed = EncodingSettingsFromEntries({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->codec, Codec::kNone);
  EXPECT_EQ(parsed->cipher, Cipher::kNone);
}

TEST(EncodingSettingsTest, EncryptedSettingsRoundTripWithOtherKeysAround) {
  EncodingSettings settings = Encrypted();
  auto key = CreateVolumeKey("pw", &settings);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EncodingEntries entries = {{"size", "1048576"}, {"uuid", "abc"}};
  for (auto& entry : EncodingSettingsToEntries(settings)) {
    entries.push_back(entry);
  }
  auto parsed = EncodingSettingsFromEntries(entries);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->codec, Codec::kZstd);
  EXPECT_EQ(parsed->codec_level, 3);
  EXPECT_EQ(parsed->cipher, Cipher::kAes256Gcm);
  EXPECT_EQ(FormatKdfParams(parsed->kdf), "scrypt:n=1024,r=8,p=1");
  EXPECT_EQ(parsed->kdf_salt, settings.kdf_salt);
  EXPECT_EQ(parsed->key_check, settings.key_check);
  EXPECT_EQ(EncodingSettingsToEntries(*parsed),
            EncodingSettingsToEntries(settings));
}

TEST(EncodingSettingsTest, BadEntriesAreRefusedSayingWhich) {
  EncodingSettings settings = Encrypted();
  ASSERT_TRUE(CreateVolumeKey("pw", &settings).ok());
  auto good = EncodingSettingsToEntries(settings);
  auto with = [&](const std::string& key, const std::string& value) {
    auto entries = good;
    for (auto& entry : entries) {
      if (entry.first == key) entry.second = value;
    }
    return EncodingSettingsFromEntries(entries);
  };
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"codec", "lz4"},
           {"cipher", "rot13"},
           {"kdf", "scrypt:n=3,r=8,p=1"},
           {"kdf_salt", "00"},
           {"kdf_salt", std::string(32, 'G')},
           {"key_check", "ABCDEF0123456789ABCDEF0123456789"},
           {"x-codec-level", "20"},
           {"x-codec-level", ""}}) {
    auto parsed = with(key, value);
    ASSERT_FALSE(parsed.ok()) << key << "=" << value;
    EXPECT_EQ(parsed.status().code(), EINVAL);
    EXPECT_NE(parsed.status().message().find(key.substr(0, 3)),
              std::string::npos)
        << parsed.status().message();
  }
}

TEST(EncodingSettingsTest, ACipherNeedsItsKeyEntriesAndNoneHasNone) {
  auto missing = EncodingSettingsFromEntries(
      {{"codec", "none"}, {"cipher", "aes-256-gcm"}});
  EXPECT_EQ(missing.status().code(), EINVAL);
  auto stray = EncodingSettingsFromEntries(
      {{"cipher", "none"}, {"kdf", "scrypt:n=1024,r=8,p=1"}});
  EXPECT_EQ(stray.status().code(), EINVAL);
}

TEST(EncodingSettingsTest, TheRightPasswordOpensTheVolumeKey) {
  EncodingSettings settings = Encrypted();
  auto created = CreateVolumeKey("secret", &settings);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(settings.kdf_salt.size(), kKdfSaltSize);
  auto opened = OpenVolumeKey("secret", settings);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(std::equal((*created)->bytes().begin(), (*created)->bytes().end(),
                         (*opened)->bytes().begin()));
}

TEST(EncodingSettingsTest, AWrongPasswordIsAClearErrorAtStart) {
  EncodingSettings settings = Encrypted();
  ASSERT_TRUE(CreateVolumeKey("secret", &settings).ok());
  auto opened = OpenVolumeKey("Secret", settings);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EACCES);
  EXPECT_NE(opened.status().message().find("wrong password"),
            std::string::npos);
  EXPECT_EQ(opened.status().message().find("Secret"), std::string::npos);
}

TEST(EncodingSettingsTest, EachVolumeGetsItsOwnSalt) {
  EncodingSettings a = Encrypted(), b = Encrypted();
  ASSERT_TRUE(CreateVolumeKey("same", &a).ok());
  ASSERT_TRUE(CreateVolumeKey("same", &b).ok());
  EXPECT_NE(a.kdf_salt, b.kdf_salt);
  EXPECT_NE(a.key_check, b.key_check);
}

TEST(EncodingSettingsTest, AnUnencryptedVolumeHasNoKey) {
  EncodingSettings settings;
  EXPECT_EQ(CreateVolumeKey("pw", &settings).status().code(), EINVAL);
  EXPECT_EQ(OpenVolumeKey("pw", settings).status().code(), EINVAL);
}

}  // namespace
}  // namespace usbd
