// The checksum line of the volume objects (volume_text.h): written by
// every FormatVolumeText, verified before parsing, a mismatch retried by
// GetWithRetry and reported naming the object; old objects without it
// still parse.
#include "volume/volume_text.h"

#include <gtest/gtest.h>

#include "testing/test_store.h"
#include "volume/metadata.h"

namespace usbd {
namespace {

using testing::TestObjectStore;

const std::string kKey = "vol1/usbd-volume";

std::span<const uint8_t> Bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string Text() {
  return FormatVolumeText("usbd-test", 1, {{"a", "1"}, {"bee", "x=y"}});
}

RetryOptions FastRetry() {
  RetryOptions retry;
  retry.initial_pause = std::chrono::milliseconds(1);
  retry.max_pause_total = std::chrono::milliseconds(200);
  return retry;
}

TEST(VolumeTextTest, TheChecksumIsTheLastLineAndNotAnEntry) {
  std::string text = Text();
  EXPECT_TRUE(text.starts_with("usbd-test 1\na=1\nbee=x=y\nchecksum=xxh64:"))
      << text;
  EXPECT_EQ(text.size(), std::string("usbd-test 1\na=1\nbee=x=y\n").size() +
                             std::string("checksum=xxh64:").size() + 17);
  auto entries = ParseVolumeText(Bytes(text), "usbd-test", 1, "test", kKey);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(*entries, (TextEntries{{"a", "1"}, {"bee", "x=y"}}));
}

TEST(VolumeTextTest, ObjectsWithoutAChecksumStillParse) {
  auto entries = ParseVolumeText(Bytes("usbd-test 1\na=1\n"), "usbd-test", 1,
                                 "test", kKey);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(entries->size(), 1u);
}

TEST(VolumeTextTest, EveryFlippedByteIsACorruptObjectNamingIt) {
  const std::string text = Text();
  for (size_t i = 0; i < text.size(); ++i) {
    for (uint8_t flip : {0x01, 0x20, 0xff}) {
      std::string bad = text;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      auto entries = ParseVolumeText(Bytes(bad), "usbd-test", 1, "test", kKey);
      ASSERT_FALSE(entries.ok()) << i << " " << int{flip} << ": " << bad;
      const Status& status = entries.status();
      EXPECT_TRUE(status.corrupt()) << status.ToString();
      EXPECT_TRUE(status.retryable());
      EXPECT_NE(status.message().find("object '" + kKey +
                                      "' is corrupt: checksum mismatch"),
                std::string::npos)
          << status.message();
    }
  }
  // Cut short anywhere in the checksum line: corrupt too (cut just before
  // it, it is an object of an earlier usbd: the length of a transfer is
  // checked by HTTP).
  const size_t line = text.find("checksum=");
  for (size_t n = line + 1; n < text.size(); ++n) {
    EXPECT_TRUE(
        ParseVolumeText(Bytes(text.substr(0, n)), "usbd-test", 1, "test", kKey)
            .status()
            .corrupt())
        << n;
  }
}

TEST(VolumeTextTest, GetWithRetryReadsACorruptObjectAgain) {
  TestObjectStore store;
  store.PutText(kKey, Text());
  int flips = 2;
  store.on_get = [&](const std::string&, std::vector<uint8_t>* object) {
    if (flips-- > 0) (*object)[5] ^= 0x04;
  };
  auto got = GetWithRetry(store, kKey, FastRetry(), "reading test");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(std::string((*got)->begin(), (*got)->end()), Text());
  EXPECT_EQ(store.gets, 3);
}

TEST(VolumeTextTest, APersistentMismatchIsEioNamingTheObject) {
  TestObjectStore store;
  std::string text = Text();
  text[3] ^= 0x01;
  store.PutText(kKey, text);
  auto got = GetWithRetry(store, kKey, FastRetry(), "reading test");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), EIO);
  EXPECT_NE(got.status().message().find("object '" + kKey +
                                        "' is corrupt: checksum mismatch"),
            std::string::npos)
      << got.status().message();
  EXPECT_GT(store.gets, 1) << "retried";
}

// The metadata object: a flipped byte is a clear error at start, not a
// misleading "unknown key".
TEST(VolumeTextTest, ACorruptMetadataObjectIsNamedAtOpen) {
  TestObjectStore store;
  VolumeRequest request;
  request.size = 1 << 20;
  ASSERT_TRUE(OpenOrCreateVolume(store, "vol1/", request, FastRetry()).ok());
  std::string text = *store.GetText(kKey);
  text[text.find("size=")] = 'S';  // "Size=": an unknown key, unchecked
  store.PutText(kKey, text);
  request.size = 0;
  auto opened = OpenOrCreateVolume(store, "vol1/", request, FastRetry());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EIO);
  EXPECT_NE(opened.status().message().find("object '" + kKey +
                                           "' is corrupt: checksum mismatch"),
            std::string::npos)
      << opened.status().message();
  EXPECT_EQ(opened.status().message().find("unknown key"), std::string::npos);
}

}  // namespace
}  // namespace usbd
