#include "volume/erase.h"

#include <gtest/gtest.h>

#include <mutex>
#include <sstream>

#include "object/object_block_store.h"
#include "testing/test_store.h"
#include "volume/metadata.h"
#include "volume/mount_token.h"

namespace usbd {
namespace {

using testing::TestObjectStore;

const std::string kPrefix = "vol1/";

// A volume of `blocks` 4k blocks with every block stored.
void MakeVolume(TestObjectStore& store, uint64_t blocks, bool hash = false) {
  VolumeRequest request;
  request.size = blocks * 4096;
  request.block_size = 4096;
  request.block_hash_prefix = hash;
  auto opened = OpenOrCreateVolume(store, kPrefix, request, RetryOptions());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  for (uint64_t b = 0; b < blocks; ++b) {
    store.PutText(
        BlockObjectKey(kPrefix,
                       hash ? BlockNaming::kS3backerHash : BlockNaming::kPlain,
                       b),
        "data");
  }
}

void TakeToken(TestObjectStore& store, const std::string& host) {
  MountTokenOptions options;
  MountIdentity self = CurrentMountIdentity("");
  self.host = host;
  self.pid = 42;
  options.identity = self;
  options.settle = std::chrono::milliseconds(0);
  ASSERT_TRUE(AcquireMountToken(store, kPrefix, options).ok());
}

// Records every progress report; checks they never go backwards.
struct ProgressLog {
  std::mutex mu;
  std::vector<EraseProgress> reports;

  EraseProgressCallback Callback() {
    return [this](const EraseProgress& p) {
      std::lock_guard lock(mu);
      if (!reports.empty()) {
        EXPECT_GE(p.deleted, reports.back().deleted);
        EXPECT_GE(p.found, reports.back().found);
      }
      EXPECT_LE(p.deleted, p.found);
      reports.push_back(p);
    };
  }
};

TEST(EraseTest, DeletesEveryObjectOfTheVolumeWithProgress) {
  TestObjectStore store({.list_page_size = 7});
  MakeVolume(store, 300);
  store.PutText(kPrefix + "notes.txt", "foreign");
  store.PutText("vol2/00000000", "another volume");
  ProgressLog log;
  EraseOptions options;
  options.threads = 8;
  options.progress = log.Callback();
  auto summary = EraseVolume(store, kPrefix, options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->deleted, 301u) << "300 blocks and the metadata";
  EXPECT_EQ(summary->foreign, 1u);
  EXPECT_EQ(store.Keys(),
            (std::set<std::string>{kPrefix + "notes.txt", "vol2/00000000"}));
  ASSERT_FALSE(log.reports.empty());
  EXPECT_EQ(log.reports.back().deleted, 301u);
  EXPECT_EQ(log.reports.back().found, 301u);
  EXPECT_TRUE(log.reports.back().listing_done);
  EXPECT_GE(log.reports.size(), 301u) << "a report per deletion";
}

TEST(EraseTest, BothNamingsAndAVolumeWithoutMetadata) {
  TestObjectStore store;
  store.PutText(BlockObjectKey(kPrefix, BlockNaming::kPlain, 1), "x");
  store.PutText(BlockObjectKey(kPrefix, BlockNaming::kS3backerHash, 2), "x");
  auto summary = EraseVolume(store, kPrefix, EraseOptions());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->deleted, 2u);
  EXPECT_TRUE(store.Keys().empty());
}

TEST(EraseTest, AnEmptyVolumeIsNothingToDo) {
  TestObjectStore store;
  auto summary = EraseVolume(store, kPrefix, EraseOptions());
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->deleted, 0u);
}

TEST(EraseTest, RefusedWhileMountedUnlessForced) {
  TestObjectStore store;
  MakeVolume(store, 10);
  TakeToken(store, "holder-host");
  EraseOptions options;
  options.name = "mybucket/vol1";
  auto refused = EraseVolume(store, kPrefix, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), EBUSY);
  const std::string m = refused.status().message();
  EXPECT_NE(m.find("volume mybucket/vol1 is mounted by host holder-host pid "
                   "42"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("--reset-mounted-flag mybucket/vol1"), std::string::npos);
  EXPECT_EQ(store.deletes, 0);
  EXPECT_EQ(store.Keys().size(), 13u) << "10 blocks, metadata, token, flag";

  options.force = true;
  auto summary = EraseVolume(store, kPrefix, options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->deleted, 13u)
      << "blocks, metadata, token and s3backer's flag";
  EXPECT_TRUE(store.Keys().empty());
}

TEST(EraseTest, MetadataGoesFirstAndTheTokenLast) {
  TestObjectStore store;
  MakeVolume(store, 20);
  TakeToken(store, "h");
  // Fail the deletion of one block: what was deleted before it shows.
  store.FailDelete(BlockObjectKey(kPrefix, BlockNaming::kPlain, 19));
  EraseOptions options;
  options.force = true;
  options.threads = 1;
  auto failed = EraseVolume(store, kPrefix, options);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("injected DELETE failure"),
            std::string::npos)
      << failed.status().message();
  auto keys = store.Keys();
  EXPECT_FALSE(keys.contains(VolumeMetadataKey(kPrefix)));
  EXPECT_TRUE(keys.contains(MountTokenKey(kPrefix)))
      << "an interrupted erase leaves the volume marked mounted";
  EXPECT_TRUE(keys.contains(BlockObjectKey(kPrefix, BlockNaming::kPlain, 19)));
}

TEST(EraseTest, AStoreThatCannotListErasesByBlockNumber) {
  TestObjectStore store;
  MakeVolume(store, 50, /*hash=*/true);
  store.can_list = false;
  ProgressLog log;
  EraseOptions options;
  options.progress = log.Callback();
  auto summary = EraseVolume(store, kPrefix, options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->deleted, 51u);
  EXPECT_TRUE(store.Keys().empty());
  EXPECT_TRUE(log.reports.front().listing_done) << "the total is known";
  EXPECT_EQ(log.reports.back().found, 51u);
}

TEST(EraseTest, AStoreThatCannotListNeedsTheMetadata) {
  TestObjectStore store;
  store.can_list = false;
  store.PutText(BlockObjectKey(kPrefix, BlockNaming::kPlain, 0), "x");
  auto summary = EraseVolume(store, kPrefix, EraseOptions());
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), ENOTSUP);
  EXPECT_EQ(store.deletes, 0);
}

TEST(EraseTest, DeleteObjectsInParallelStopsAtTheFirstFailure) {
  TestObjectStore store;
  for (int i = 0; i < 5000; ++i) store.PutText("k" + std::to_string(i), "x");
  store.FailDelete("k100");
  uint64_t emitted = 0, deleted = 0;
  Status status = DeleteObjectsInParallel(
      store,
      [&](const std::function<bool(std::string)>& emit) {
        for (int i = 0; i < 5000; ++i) {
          if (!emit("k" + std::to_string(i))) break;
          ++emitted;
        }
        return Status::Ok();
      },
      4, RetryOptions(), std::nullopt, {}, &deleted);
  ASSERT_FALSE(status.ok());
  EXPECT_LT(emitted, 5000u) << "the source was told to stop";
  EXPECT_LT(deleted, emitted);
}

TEST(EraseTest, ConfirmOnTerminal) {
  auto ask = [](const std::string& answer) {
    std::istringstream in(answer);
    std::ostringstream out;
    bool yes = ConfirmOnTerminal("Erase vol1?", in, out);
    EXPECT_EQ(out.str().substr(0, 18), "Erase vol1? [y/N] ");
    return yes;
  };
  EXPECT_TRUE(ask("y\n"));
  EXPECT_TRUE(ask("  YES \n"));
  EXPECT_TRUE(ask("Yes"));
  EXPECT_FALSE(ask("\n"));
  EXPECT_FALSE(ask("n\n"));
  EXPECT_FALSE(ask("yes please\n"));
  EXPECT_FALSE(ask(""));
}

TEST(EraseTest, TerminalProgressEndsWithTheTotal) {
  std::ostringstream out;
  auto progress = TerminalEraseProgress(out);
  progress({0, 10, false});
  progress({5, 10, false});  // within 100 ms: not printed
  progress({10, 10, true});
  progress({10, 10, true});  // after the end: nothing
  EXPECT_EQ(out.str(),
            "\rerased 0 of at least 10 objects\rerased 10 of 10 objects\n");
}

}  // namespace
}  // namespace usbd
