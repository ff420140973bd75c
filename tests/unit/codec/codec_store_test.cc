#include "codec/codec_store.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "codec/block_codec.h"
#include "codec/object_format.h"
#include "store/memory_store.h"
#include "testing/store_contract.h"
#include "testing/test_backends.h"

namespace usbd {
namespace {

using testing::Backend;
using testing::BackendFactory;
using testing::Bytes;
using testing::MixedBlock;
using testing::RandomBlock;

constexpr uint32_t kBlockSize = 4096;

class CodecStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    bottom_ = factory_.New();
    ASSERT_TRUE(bottom_->Start().ok());
    store_ = Compressed(kDefaultCompressLevel);
  }

  // A codec layer over the shared bottom store: one "run".
  std::unique_ptr<BlockStore> Compressed(int level) {
    auto store = NewCodecStore({level}, Borrow(bottom_.get()));
    EXPECT_TRUE(store->Start().ok());
    return store;
  }

  std::vector<uint8_t> Stored(uint64_t block) {
    std::vector<uint8_t> object;
    EXPECT_TRUE(bottom_->ReadObject(block, &object).ok());
    return object;
  }

  BackendFactory factory_{GetParam()};
  std::unique_ptr<BlockStore> bottom_;
  std::unique_ptr<BlockStore> store_;
};

TEST_P(CodecStoreTest, MeetsTheStoreContract) {
  testing::CheckStoreContract(*store_);
}

TEST_P(CodecStoreTest, CompressibleBlocksAreStoredCompressed) {
  auto block = MixedBlock(kBlockSize, 1);
  ASSERT_TRUE(store_->Write(2, 0, block).ok());
  auto object = Stored(2);
  EXPECT_LT(object.size(), kBlockSize / 2);
  EXPECT_TRUE(HasObjectMagic(object));
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store_->Read(2, 0, out).ok());
  EXPECT_EQ(out, block);
}

TEST_P(CodecStoreTest, IncompressibleBlocksAreStoredWithAChecksum) {
  auto block = RandomBlock(kBlockSize, 2);
  ASSERT_TRUE(store_->Write(3, 0, block).ok());
  auto stored = Stored(3);
  ASSERT_EQ(stored.size(), kBlockSize + 24);  // header | block | checksum
  EXPECT_TRUE(std::equal(block.begin(), block.end(), stored.begin() + 16));
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store_->Read(3, 0, out).ok());
  EXPECT_EQ(out, block);
}

TEST_P(CodecStoreTest, CompressionCanBeTurnedOnAndOffBetweenRuns) {
  auto before = MixedBlock(kBlockSize, 3);
  ASSERT_TRUE(bottom_->WriteObject(1, before).ok());  // a raw block
  auto during = MixedBlock(kBlockSize, 4);
  ASSERT_TRUE(store_->Write(2, 0, during).ok());
  auto other_level = Compressed(kMaxCompressLevel);
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(other_level->Read(1, 0, out).ok());
  EXPECT_EQ(out, before);
  ASSERT_TRUE(other_level->Read(2, 0, out).ok());
  EXPECT_EQ(out, during);
  // Without the layer, a compressed object is refused, not served.
  if (bottom_->capabilities().partial_write) {
    EXPECT_TRUE(bottom_->Read(2, 0, out).not_a_block());
  }
}

TEST_P(CodecStoreTest, PartialReadsDecodeTheWholeBlock) {
  auto block = MixedBlock(kBlockSize, 5);
  ASSERT_TRUE(store_->Write(4, 0, block).ok());
  std::vector<uint8_t> part(100);
  ASSERT_TRUE(store_->Read(4, 2000, part).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), block.begin() + 2000));
  EXPECT_FALSE(store_->capabilities().partial_write);
  EXPECT_EQ(store_->Write(4, 1, Bytes(10, 1)).code(), EINVAL);
}

TEST_P(CodecStoreTest, ACorruptObjectIsEioNamingItsBlockOnly) {
  for (uint64_t b = 0; b < 4; ++b) {
    ASSERT_TRUE(store_->Write(b, 0, MixedBlock(kBlockSize, b)).ok());
  }
  auto object = Stored(2);
  object[object.size() / 2] ^= 1;
  ASSERT_TRUE(bottom_->WriteObject(2, object).ok());
  std::vector<uint8_t> out(kBlockSize);
  Status status = store_->Read(2, 0, out);
  EXPECT_TRUE(status.corrupt()) << status.ToString();
  EXPECT_TRUE(status.retryable());
  EXPECT_NE(status.message().find("block 2 (0x2)"), std::string::npos)
      << status.message();
  for (uint64_t b : {0, 1, 3}) {
    ASSERT_TRUE(store_->Read(b, 0, out).ok());
    EXPECT_EQ(out, MixedBlock(kBlockSize, b));
  }
}

TEST_P(CodecStoreTest, CountsWhatItStores) {
  ASSERT_TRUE(store_->Write(0, 0, MixedBlock(kBlockSize, 1)).ok());
  ASSERT_TRUE(store_->Write(1, 0, RandomBlock(kBlockSize, 1)).ok());
  std::vector<StatEntry> stats;
  store_->CollectStats(&stats);
  auto value = [&](const std::string& name) {
    for (const auto& e : stats) {
      if (e.name == name) return e.value;
    }
    return ~uint64_t{0};
  };
  EXPECT_EQ(value("codec.compressed"), 1u);
  EXPECT_EQ(value("codec.stored_raw"), 1u);
  EXPECT_EQ(value("codec.bytes_in"), 2u * kBlockSize);
  EXPECT_LT(value("codec.bytes_stored"), 2u * kBlockSize);
}

INSTANTIATE_TEST_SUITE_P(Stores, CodecStoreTest,
                         ::testing::Values(Backend::kMemory, Backend::kDir,
                                           Backend::kObject),
                         [](const auto& info) {
                           return testing::BackendName(info.param);
                         });

TEST(CodecStoreStartTest, RefusesALevelOutsideZeroToNineteen) {
  for (int level : {20, -1}) {
    auto store = NewCodecStore({level}, NewMemoryStore({{4096, 4}}));
    Status status = store->Start();
    EXPECT_EQ(status.code(), EINVAL);
    EXPECT_NE(status.message().find("--compress"), std::string::npos);
  }
  auto raw = NewCodecStore({0}, NewMemoryStore({{4096, 4}}));
  EXPECT_TRUE(raw->Start().ok());
}

TEST(CodecStoreStartTest, RefusesAStoreWithoutObjects) {
  // The codec layer keeps no objects, so one cannot sit on another.
  auto store =
      NewCodecStore({}, NewCodecStore({}, NewMemoryStore({{4096, 4}})));
  EXPECT_EQ(store->Start().code(), EINVAL);
  EXPECT_FALSE(store->capabilities().objects);
}

// Without compression over a store that writes raw blocks in place.
class RawInPlaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inner = NewMemoryStore({{kBlockSize, 16}, false});
    raw_ = inner.get();
    CodecOptions options;
    options.namer = [](uint64_t block) {
      return "object vol/" + std::to_string(block);
    };
    store_ = NewCodecStore(std::move(options), std::move(inner));
    ASSERT_TRUE(store_->Start().ok());
  }

  // What a run with --compress left in block `block`.
  std::vector<uint8_t> StoreCompressed(uint64_t block, uint8_t fill) {
    std::vector<uint8_t> data(kBlockSize, fill);
    std::vector<uint8_t> object;
    EXPECT_TRUE(CompressBlock(data, kDefaultCompressLevel, kNewestObjectFormat,
                              &object));
    EXPECT_TRUE(raw_->WriteObject(block, object).ok());
    return data;
  }

  uint64_t Counter(const std::string& name) {
    std::vector<StatEntry> stats;
    store_->CollectStats(&stats);
    for (const auto& e : stats) {
      if (e.name == name) return e.value;
    }
    return ~uint64_t{0};
  }

  BlockStore* raw_ = nullptr;
  std::unique_ptr<BlockStore> store_;
};

TEST_F(RawInPlaceTest, KeepsTheBlockStoreContract) {
  testing::CheckStoreContract(*store_);
  EXPECT_FALSE(store_->capabilities().objects);
  // Partial writes go straight to the store below, which writes in place.
  EXPECT_TRUE(store_->capabilities().partial_write);
}

TEST_F(RawInPlaceTest, WholeBlocksAreStoredRawInPlace) {
  auto block = MixedBlock(kBlockSize, 9);
  ASSERT_TRUE(store_->Write(1, 0, block).ok());
  std::vector<uint8_t> object;
  ASSERT_TRUE(raw_->ReadObject(1, &object).ok());
  EXPECT_EQ(object, block);
}

TEST_F(RawInPlaceTest, PartialWriteToACompressedBlockRewritesItRaw) {
  auto block = StoreCompressed(2, 'a');
  std::vector<uint8_t> patch(100, 'b');
  ASSERT_TRUE(store_->Write(2, 1000, patch).ok());
  std::copy(patch.begin(), patch.end(), block.begin() + 1000);
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store_->Read(2, 0, out).ok());
  EXPECT_EQ(out, block);
  std::vector<uint8_t> object;
  ASSERT_TRUE(raw_->ReadObject(2, &object).ok());
  EXPECT_EQ(object, block);  // stored raw now
  EXPECT_EQ(Counter("codec.partial_rewrites"), 1u);
  // A partial write of a raw block goes in place.
  ASSERT_TRUE(store_->Write(2, 0, patch).ok());
  ASSERT_TRUE(store_->Read(2, 0, out).ok());
  EXPECT_TRUE(std::equal(patch.begin(), patch.end(), out.begin()));
  EXPECT_EQ(Counter("codec.partial_rewrites"), 1u);
}

TEST_F(RawInPlaceTest, PartialReadOfACompressedBlockDecodesIt) {
  auto block = StoreCompressed(3, 'c');
  std::vector<uint8_t> part(10);
  ASSERT_TRUE(store_->Read(3, 4000, part).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), block.begin() + 4000));
}

TEST_F(RawInPlaceTest, GarbageObjectIsCorruptNamingTheBlockAndObject) {
  std::vector<uint8_t> garbage(100, 0x55);
  ASSERT_TRUE(raw_->WriteObject(7, garbage).ok());
  std::vector<uint8_t> out(kBlockSize);
  Status status = store_->Read(7, 0, out);
  EXPECT_TRUE(status.corrupt()) << status.ToString();
  EXPECT_NE(status.message().find("block 7 (0x7): object is corrupt: "
                                  "checksum mismatch"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("(object vol/7, 100 bytes)"),
            std::string::npos)
      << status.message();
  // A header that does not check out: named too.
  garbage = {'U', 'S', 'B', 'D', 9};
  garbage.resize(100);
  ASSERT_TRUE(raw_->WriteObject(8, garbage).ok());
  status = store_->Read(8, 0, out);
  EXPECT_TRUE(status.corrupt()) << status.ToString();
  EXPECT_NE(status.message().find("(object vol/8, 100 bytes)"),
            std::string::npos)
      << status.message();
  // A partial write over garbage is refused and rewrites nothing.
  EXPECT_TRUE(store_->Write(7, 10, Bytes(10, 1)).corrupt());
  ASSERT_TRUE(raw_->ReadObject(7, &garbage).ok());
  EXPECT_EQ(garbage, std::vector<uint8_t>(100, 0x55));
}

// A store whose disk fails every partial write with a real EIO.
class FailingPartialWrites : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (offset != 0 || data.size() != geometry().block_size) {
      ++partial_writes;
      return Status::Error(EIO, "the disk failed");
    }
    ++whole_writes;
    return ForwardingStore::Write(block, offset, data);
  }
  int partial_writes = 0;
  int whole_writes = 0;
};

TEST(CodecStoreErrorTest, ARealEioUnderAPartialWriteIsReturnedNotRewritten) {
  auto failing = std::make_unique<FailingPartialWrites>(
      NewMemoryStore({{kBlockSize, 4}, false}));
  FailingPartialWrites* disk = failing.get();
  auto store = NewCodecStore({}, std::move(failing));
  ASSERT_TRUE(store->Start().ok());
  ASSERT_TRUE(store->Write(1, 0, MixedBlock(kBlockSize, 1)).ok());
  ASSERT_EQ(disk->whole_writes, 1);
  Status status = store->Write(1, 100, Bytes(10, 7));
  EXPECT_EQ(status.code(), EIO) << status.ToString();
  EXPECT_FALSE(status.not_a_block());
  EXPECT_EQ(disk->partial_writes, 1);
  EXPECT_EQ(disk->whole_writes, 1);  // no whole-block rewrite behind it
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store->Read(1, 0, out).ok());
  EXPECT_EQ(out, MixedBlock(kBlockSize, 1));
}

TEST(CodecStoreErrorTest, NotABlockIsItsOwnKind) {
  Status status = Status::NotABlock("block 3 holds an encoded object");
  EXPECT_TRUE(status.not_a_block());
  EXPECT_NE(status.code(), EIO);
  EXPECT_FALSE(status.corrupt());
  EXPECT_FALSE(Status::Error(EIO, "disk").not_a_block());
}

}  // namespace
}  // namespace usbd
