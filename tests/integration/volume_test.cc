// Volume metadata, mount token and erase against real servers: moto_server
// (S3, SigV4 verified; listing) and nginx dav (plain HTTP; no listing, so
// erase goes by block number). Part of tests/http_store_tests, started by
// tests/integration/http_store.sh (see http_store_test.cc for the
// environment). Prefixes use unreserved characters only (moto, see there).
#include <gtest/gtest.h>

#include <cstdlib>

#include "http/http_store.h"
#include "http/s3_store.h"
#include "object/object_block_store.h"
#include "volume/erase.h"
#include "volume/metadata.h"
#include "volume/mount_token.h"

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::string VolumePrefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name() + "-";
}

RetryOptions FastRetry() {
  RetryOptions retry;
  retry.initial_pause = std::chrono::milliseconds(50);
  retry.max_pause_total = std::chrono::seconds(5);
  return retry;
}

std::vector<std::string> Keys(ObjectStore& store, const std::string& prefix) {
  std::vector<std::string> keys;
  EXPECT_TRUE(store
                  .List(prefix,
                        [&](const ObjectInfo& info) {
                          keys.push_back(info.key);
                          return true;
                        })
                  .ok());
  return keys;
}

void PutBlocks(ObjectStore& store, const std::string& prefix, uint64_t count) {
  std::vector<uint8_t> data(kBlockSize, 0x5a);
  for (uint64_t b = 0; b < count; ++b) {
    ASSERT_TRUE(
        store.Put(BlockObjectKey(prefix, BlockNaming::kPlain, b), data).ok());
  }
}

VolumeRequest Request(uint64_t size, uint32_t block_size = 0) {
  VolumeRequest request;
  request.size = size;
  request.block_size = block_size;
  return request;
}

MountTokenOptions TokenOptions(const std::string& host) {
  MountTokenOptions options;
  MountIdentity self = CurrentMountIdentity("");
  self.host = host;
  self.machine = "machine-" + host;
  options.identity = self;
  options.name = "usbd-test/vol";
  options.retry = FastRetry();
  return options;
}

class VolumeS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("USBD_S3_ENDPOINT").empty()) {
      GTEST_SKIP() << "USBD_S3_ENDPOINT not set (run via http_store.sh)";
    }
    S3StoreOptions options;
    options.base_url = Env("USBD_S3_ENDPOINT");
    options.bucket = Env("USBD_S3_BUCKET");
    options.region = Env("USBD_S3_REGION");
    options.virtual_host = !Env("USBD_S3_VHOST").empty();
    options.credentials = {Env("USBD_S3_ACCESS_KEY_ID"),
                           Env("USBD_S3_SECRET_ACCESS_KEY"), ""};
    options.list_page_size = 50;  // erase crosses pages
    auto store = NewS3ObjectStore(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::unique_ptr<ObjectStore> store_;
};

TEST_F(VolumeS3Test, CreateDetectRefuseResize) {
  const std::string prefix = VolumePrefix();
  auto created =
      OpenOrCreateVolume(*store_, prefix, Request(1 << 20, 4096), FastRetry());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(Keys(*store_, prefix),
            std::vector<std::string>{prefix + "usbd-volume"});

  auto detected = OpenOrCreateVolume(*store_, prefix, Request(0), FastRetry());
  ASSERT_TRUE(detected.ok()) << detected.status().ToString();
  EXPECT_EQ(detected->metadata.block_size, 4096u);
  EXPECT_EQ(detected->metadata.size, 1u << 20);
  EXPECT_EQ(detected->metadata.uuid, created->metadata.uuid);

  auto refused =
      OpenOrCreateVolume(*store_, prefix, Request(0, 8192), FastRetry());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("8k but the volume has 4k"),
            std::string::npos)
      << refused.status().message();

  PutBlocks(*store_, prefix, 256);
  VolumeRequest shrink = Request(1 << 19);
  shrink.force = true;
  auto shrunk = OpenOrCreateVolume(*store_, prefix, shrink, FastRetry());
  ASSERT_TRUE(shrunk.ok()) << shrunk.status().ToString();
  EXPECT_EQ(Keys(*store_, prefix).size(), 128u + 1) << "blocks past the end";
  ASSERT_TRUE(EraseVolume(*store_, prefix, EraseOptions()).ok());
}

TEST_F(VolumeS3Test, MountTokenRefusesASecondMount) {
  const std::string prefix = VolumePrefix();
  auto first = AcquireMountToken(*store_, prefix, TokenOptions("host-a"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = AcquireMountToken(*store_, prefix, TokenOptions("host-b"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), EBUSY);
  EXPECT_NE(second.status().message().find("host host-a pid"),
            std::string::npos)
      << second.status().message();
  std::cerr << "the operator sees: " << second.status().message() << "\n";
  ASSERT_TRUE(ReleaseMountToken(*store_, prefix, *first, FastRetry()).ok());
  EXPECT_TRUE(Keys(*store_, prefix).empty());
  auto third = AcquireMountToken(*store_, prefix, TokenOptions("host-b"));
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  auto reset = ResetMountToken(*store_, prefix, FastRetry());
  ASSERT_TRUE(reset.ok() && *reset);
}

TEST_F(VolumeS3Test, EraseDeletesEverythingAcrossListingPages) {
  const std::string prefix = VolumePrefix();
  ASSERT_TRUE(
      OpenOrCreateVolume(*store_, prefix, Request(1 << 20, 4096), FastRetry())
          .ok());
  PutBlocks(*store_, prefix, 130);
  auto token = AcquireMountToken(*store_, prefix, TokenOptions("host-a"));
  ASSERT_TRUE(token.ok());

  auto refused = EraseVolume(*store_, prefix, EraseOptions());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), EBUSY);
  EXPECT_EQ(Keys(*store_, prefix).size(), 133u)
      << "130 blocks, metadata, token and s3backer's flag";

  EraseOptions force;
  force.force = true;
  force.threads = 8;
  EraseProgress last;
  force.progress = [&](const EraseProgress& p) { last = p; };
  auto erased = EraseVolume(*store_, prefix, force);
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  EXPECT_EQ(erased->deleted, 133u);
  EXPECT_EQ(last.deleted, 133u);
  EXPECT_EQ(last.found, 133u);
  EXPECT_TRUE(Keys(*store_, prefix).empty());
}

class VolumeHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("USBD_HTTP_BASE_URL").empty()) {
      GTEST_SKIP() << "USBD_HTTP_BASE_URL not set (run via http_store.sh)";
    }
    HttpStoreOptions options;
    options.base_url = Env("USBD_HTTP_BASE_URL");
    auto store = NewHttpObjectStore(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::unique_ptr<ObjectStore> store_;
};

// nginx cannot list: legacy blocks are found by HEAD of block 0, erase
// deletes by block number from the recorded geometry.
TEST_F(VolumeHttpTest, MetadataTokenAndEraseWithoutListing) {
  const std::string prefix = VolumePrefix() + "/";
  PutBlocks(*store_, prefix, 1);
  auto legacy =
      OpenOrCreateVolume(*store_, prefix, Request(1 << 18, 4096), FastRetry());
  ASSERT_FALSE(legacy.ok());
  EXPECT_EQ(legacy.status().code(), EEXIST);
  VolumeRequest adopt = Request(1 << 18, 4096);
  adopt.force = true;
  ASSERT_TRUE(OpenOrCreateVolume(*store_, prefix, adopt, FastRetry()).ok());
  auto detected = OpenOrCreateVolume(*store_, prefix, Request(0), FastRetry());
  ASSERT_TRUE(detected.ok()) << detected.status().ToString();
  EXPECT_EQ(detected->metadata.geometry().block_count, 64u);

  PutBlocks(*store_, prefix, 64);
  auto token = AcquireMountToken(*store_, prefix, TokenOptions("host-a"));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_FALSE(AcquireMountToken(*store_, prefix, TokenOptions("b")).ok());
  ASSERT_TRUE(ReleaseMountToken(*store_, prefix, *token, FastRetry()).ok());

  auto erased = EraseVolume(*store_, prefix, EraseOptions());
  ASSERT_TRUE(erased.ok()) << erased.status().ToString();
  for (uint64_t b : {0, 31, 63}) {
    auto head = store_->Head(BlockObjectKey(prefix, BlockNaming::kPlain, b));
    ASSERT_TRUE(head.ok());
    EXPECT_FALSE(head->has_value()) << "block " << b;
  }
  auto head = store_->Head(VolumeMetadataKey(prefix));
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
}

}  // namespace
}  // namespace usbd
