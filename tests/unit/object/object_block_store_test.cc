#include "object/object_block_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "object/memory_object_store.h"

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;

struct Fixture {
  ObjectStore* objects = nullptr;  // owned by `store`
  std::unique_ptr<BlockStore> store;
};

Fixture Make(ObjectBlockStoreOptions options,
             std::unique_ptr<ObjectStore> objects = nullptr) {
  if (!objects) objects = NewMemoryObjectStore({.list_page_size = 7});
  Fixture f;
  f.objects = objects.get();
  if (options.geometry.block_size == 0) options.geometry = {kBlockSize, 1000};
  f.store = NewObjectBlockStore(options, std::move(objects));
  return f;
}

std::vector<uint8_t> Pattern(uint8_t seed) {
  std::vector<uint8_t> data(kBlockSize);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(seed + i * 7);
  return data;
}

// The object block `block` holds (empty: none).
std::vector<uint8_t> Stored(BlockStore& store, uint64_t block) {
  std::vector<uint8_t> object{1};
  EXPECT_TRUE(store.ReadObject(block, &object).ok());
  return object;
}

bool Exists(ObjectStore* objects, const std::string& key) {
  auto head = objects->Head(key);
  return head.ok() && head->has_value();
}

TEST(ObjectBlockStoreTest, ObjectsRoundTripUnderTheirKeys) {
  Fixture f = Make({.prefix = "vol/"});
  ASSERT_TRUE(f.store->Start().ok());
  auto data = Pattern(3);
  ASSERT_TRUE(f.store->WriteObject(5, data).ok());
  EXPECT_TRUE(Exists(f.objects, "vol/00000005"));
  EXPECT_EQ(Stored(*f.store, 5), data);
  std::vector<uint8_t> small(10, 4);
  ASSERT_TRUE(f.store->WriteObject(5, small).ok());
  EXPECT_EQ(Stored(*f.store, 5), small);
}

TEST(ObjectBlockStoreTest, NeverWrittenIsNoObject) {
  Fixture f = Make({});
  ASSERT_TRUE(f.store->Start().ok());
  EXPECT_TRUE(Stored(*f.store, 9).empty());
}

TEST(ObjectBlockStoreTest, TrimDeletesTheObject) {
  Fixture f = Make({.prefix = "p"});
  ASSERT_TRUE(f.store->Start().ok());
  ASSERT_TRUE(f.store->WriteObject(2, Pattern(2)).ok());
  ASSERT_TRUE(f.store->Trim(2).ok());
  EXPECT_FALSE(Exists(f.objects, "p00000002"));
  EXPECT_TRUE(Stored(*f.store, 2).empty());
}

TEST(ObjectBlockStoreTest, ObjectsOutsideTheSizeBoundsAreRefused) {
  auto objects = NewMemoryObjectStore();
  ASSERT_TRUE(objects
                  ->Put("vol/00000003",
                        std::vector<uint8_t>(MaxObjectSize(kBlockSize) + 1, 1))
                  .ok());
  Fixture f = Make({.prefix = "vol/"}, std::move(objects));
  ASSERT_TRUE(f.store->Start().ok());
  std::vector<uint8_t> object;
  Status s = f.store->ReadObject(3, &object);
  EXPECT_EQ(s.code(), EIO) << s.ToString();
  EXPECT_FALSE(s.retryable());
  EXPECT_NE(s.message().find("vol/00000003"), std::string::npos);
  EXPECT_EQ(f.store->WriteObject(3, {}).code(), EINVAL);
  EXPECT_EQ(
      f.store
          ->WriteObject(3, std::vector<uint8_t>(MaxObjectSize(kBlockSize) + 1))
          .code(),
      EINVAL);
}

TEST(ObjectBlockStoreTest, KeepsObjectsOnlyAndChecksTheRange) {
  Fixture f = Make({});
  ASSERT_TRUE(f.store->Start().ok());
  EXPECT_FALSE(f.store->capabilities().partial_write);
  EXPECT_TRUE(f.store->capabilities().objects);
  std::vector<uint8_t> out(kBlockSize);
  EXPECT_EQ(f.store->Read(0, 0, out).code(), ENOTSUP);
  EXPECT_EQ(f.store->Write(0, 0, Pattern(1)).code(), ENOTSUP);
  EXPECT_EQ(f.store->WriteObject(1000, Pattern(1)).code(), EINVAL);
  EXPECT_EQ(f.store->Trim(1000).code(), EINVAL);
}

TEST(ObjectBlockStoreTest, ReadOnlyRefusesChanges) {
  Fixture f = Make({.read_only = true});
  ASSERT_TRUE(f.store->Start().ok());
  EXPECT_TRUE(f.store->capabilities().read_only);
  EXPECT_EQ(f.store->WriteObject(0, Pattern(1)).code(), EPERM);
  EXPECT_EQ(f.store->Trim(0).code(), EPERM);
}

TEST(ObjectBlockStoreTest, HashPrefixNamesAreStableAndParse) {
  EXPECT_EQ(BlockObjectKey("v/", BlockNaming::kPlain, 255), "v/000000ff");
  std::string key = BlockObjectKey("v/", BlockNaming::kS3backerHash, 255);
  EXPECT_EQ(key, "v/" + BlockHashPrefix(BlockNaming::kS3backerHash, 255) +
                     "-000000ff");
  EXPECT_NE(BlockHashPrefix(BlockNaming::kS3backerHash, 0),
            BlockHashPrefix(BlockNaming::kS3backerHash, 1));
  EXPECT_NE(BlockHashPrefix(BlockNaming::kS3backerHash, 255),
            BlockHashPrefix(BlockNaming::kUsbdHash, 255));
  EXPECT_EQ(BlockHashPrefix(BlockNaming::kPlain, 255), "");
  uint64_t block = 0;
  EXPECT_TRUE(
      ParseBlockObjectKey("v/", BlockNaming::kS3backerHash, key, &block));
  EXPECT_EQ(block, 255u);
  EXPECT_TRUE(
      ParseBlockObjectKey("v/", BlockNaming::kPlain, "v/123456789", &block));
  EXPECT_EQ(block, 0x123456789u);
  EXPECT_FALSE(
      ParseBlockObjectKey("v/", BlockNaming::kPlain, "v/0000000ff", &block));
  EXPECT_FALSE(
      ParseBlockObjectKey("v/", BlockNaming::kPlain, "v/metadata", &block));
  EXPECT_FALSE(ParseBlockObjectKey("v/", BlockNaming::kS3backerHash,
                                   "v/00000000-000000ff", &block));
  EXPECT_FALSE(
      ParseBlockObjectKey("v/", BlockNaming::kPlain, "w/000000ff", &block));
}

TEST(ObjectBlockStoreTest, HashPrefixRoundTrips) {
  Fixture f = Make({.prefix = "h/", .naming = BlockNaming::kS3backerHash});
  ASSERT_TRUE(f.store->Start().ok());
  ASSERT_TRUE(f.store->WriteObject(7, Pattern(7)).ok());
  EXPECT_TRUE(
      Exists(f.objects, BlockObjectKey("h/", BlockNaming::kS3backerHash, 7)));
  EXPECT_EQ(Stored(*f.store, 7), Pattern(7));
}

TEST(ObjectBlockStoreTest, WithoutListBlocksEverythingMayBeAllocated) {
  Fixture f = Make({});
  ASSERT_TRUE(f.store->Start().ok());
  EXPECT_FALSE(f.store->capabilities().allocation);
  std::vector<bool> allocated;
  ASSERT_TRUE(f.store->QueryAllocation(0, 10, &allocated).ok());
  EXPECT_EQ(allocated, std::vector<bool>(10, true));
}

// The survey must find every block whatever the naming and parallelism,
// across pages, and ignore objects that are not blocks of this volume.
class SurveyTest : public ::testing::TestWithParam<std::tuple<bool, unsigned>> {
};

TEST_P(SurveyTest, FindsExactlyTheStoredBlocks) {
  auto [hash, threads] = GetParam();
  const BlockNaming naming =
      hash ? BlockNaming::kS3backerHash : BlockNaming::kPlain;
  const uint64_t kBlocks = 5000;
  auto objects = NewMemoryObjectStore({.list_page_size = 13});
  std::vector<bool> expected(kBlocks, false);
  for (uint64_t b = 0; b < kBlocks; b += 17) {
    expected[b] = true;
    ASSERT_TRUE(
        objects->Put(BlockObjectKey("vol/", naming, b), Pattern(uint8_t(b)))
            .ok());
  }
  ASSERT_TRUE(objects->Put("vol/usbd-metadata", std::vector<uint8_t>(1)).ok());
  ASSERT_TRUE(objects->Put("other/00000001", Pattern(1)).ok());
  ASSERT_TRUE(
      objects->Put(BlockObjectKey("vol/", naming, kBlocks + 3), Pattern(1))
          .ok());
  Fixture f = Make({.geometry = {kBlockSize, kBlocks},
                    .prefix = "vol/",
                    .naming = naming,
                    .list_blocks = true,
                    .list_threads = threads},
                   std::move(objects));
  ASSERT_TRUE(f.store->Start().ok());
  EXPECT_TRUE(f.store->capabilities().allocation);
  std::vector<bool> allocated;
  ASSERT_TRUE(f.store->QueryAllocation(0, kBlocks, &allocated).ok());
  EXPECT_EQ(allocated, expected);
}

INSTANTIATE_TEST_SUITE_P(NamingAndThreads, SurveyTest,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values(1u, 3u, 16u)));

TEST(ObjectBlockStoreTest, SurveyedAbsentBlocksNeedNoRequest) {
  Fixture f = Make({.list_blocks = true});
  ASSERT_TRUE(f.store->Start().ok());
  EXPECT_TRUE(Stored(*f.store, 4).empty());
  ASSERT_TRUE(f.store->WriteObject(4, Pattern(4)).ok());
  EXPECT_EQ(Stored(*f.store, 4), Pattern(4));
  ASSERT_TRUE(f.store->Trim(4).ok());
  std::vector<StatEntry> stats;
  f.store->CollectStats(&stats);
  uint64_t gets = 0, zero_reads = 0;
  for (const auto& s : stats) {
    if (s.name == "object.gets") gets = s.value;
    if (s.name == "object.zero_reads") zero_reads = s.value;
  }
  EXPECT_EQ(gets, 1u);
  EXPECT_EQ(zero_reads, 1u);
  std::vector<bool> allocated;
  ASSERT_TRUE(f.store->QueryAllocation(3, 3, &allocated).ok());
  EXPECT_EQ(allocated, std::vector<bool>(3, false));
}

TEST(ObjectBlockStoreTest, ConcurrentWritersKeepTheBitmapConservative) {
  Fixture f = Make({.geometry = {kBlockSize, 8}, .list_blocks = true});
  ASSERT_TRUE(f.store->Start().ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        uint64_t block = (t + i) % 8;
        Status s = (i + t) % 2
                       ? f.store->WriteObject(block, Pattern(uint8_t(t)))
                       : f.store->Trim(block);
        ASSERT_TRUE(s.ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  // Whatever won, a block whose object exists must be marked allocated.
  std::vector<bool> allocated;
  ASSERT_TRUE(f.store->QueryAllocation(0, 8, &allocated).ok());
  for (uint64_t b = 0; b < 8; ++b) {
    if (Exists(f.objects, BlockObjectName("", b))) {
      EXPECT_TRUE(allocated[b]) << "block " << b;
    }
  }
}

TEST(ObjectBlockStoreTest, FlushIsANoOp) {
  Fixture f = Make({});
  ASSERT_TRUE(f.store->Start().ok());
  EXPECT_FALSE(f.store->capabilities().flush);
  EXPECT_TRUE(f.store->Flush().ok());
  EXPECT_TRUE(f.store->Shutdown().ok());
}

}  // namespace
}  // namespace usbd
