// What the encryption layer refuses: every stored object that is not
// exactly what this volume's key sealed for that block is EIO naming the
// block, never data, and nothing else is affected.
#include "crypto/encrypt_store.h"

#include <gtest/gtest.h>

#include <tuple>

#include "codec/codec_store.h"
#include "nbd/frontend.h"
#include "store/memory_store.h"
#include "testing/test_stack.h"

namespace usbd {
namespace {

using testing::Backend;
using testing::BackendFactory;
using testing::Mode;

constexpr uint32_t kBlockSize = 4096;
constexpr uint64_t kBlocks = 8;
const std::string kUuid = "5f0c5f0c5f0c5f0c5f0c5f0c5f0c5f0c";

std::vector<uint8_t> Content(uint64_t b) {
  return testing::MixedBlock(kBlockSize, static_cast<uint8_t>(b + 1));
}

class EncryptStoreTest
    : public ::testing::TestWithParam<std::tuple<Mode, Backend>> {
 protected:
  void SetUp() override {
    bottom_ = factory_.New();
    ASSERT_TRUE(bottom_->Start().ok());
    volume_ = testing::NewTestVolume(mode_, kUuid);
    store_ = testing::NewTestStack(mode_, bottom_.get(), volume_);
    ASSERT_NE(store_, nullptr);
    for (uint64_t b = 0; b < kBlocks; ++b) {
      ASSERT_TRUE(store_->Write(b, 0, Content(b)).ok());
    }
  }

  std::vector<uint8_t> Stored(uint64_t block) {
    std::vector<uint8_t> object;
    EXPECT_TRUE(bottom_->ReadObject(block, &object).ok());
    return object;
  }
  void Store(uint64_t block, const std::vector<uint8_t>& object) {
    ASSERT_TRUE(bottom_->WriteObject(block, object).ok());
  }

  // The block reads as EIO naming it, through the store and through the
  // NBD frontend (what the client gets); every other block reads intact.
  void ExpectRefusedAlone(uint64_t block, const std::string& what) {
    SCOPED_TRACE(what);
    std::vector<uint8_t> out(kBlockSize);
    Status status = store_->Read(block, 0, out);
    // Corrupt (retryable: a retry layer above reads it again) or EIO.
    EXPECT_TRUE(status.corrupt() || status.code() == EIO) << status.ToString();
    std::string name = "block " + std::to_string(block) + " (0x";
    EXPECT_NE(status.message().find(name), std::string::npos)
        << status.message();
    EXPECT_NE(status.message().find("not served as data"), std::string::npos)
        << status.message();
    nbd::Frontend frontend(store_.get());
    std::vector<uint8_t> range(100);
    EXPECT_FALSE(frontend.Read(block * kBlockSize + 10, range).ok());
    // A partial write must not read-modify-write over a refused block.
    EXPECT_FALSE(frontend.Write(block * kBlockSize + 10, range, false).ok());
    for (uint64_t b = 0; b < kBlocks; ++b) {
      if (b == block) continue;
      ASSERT_TRUE(store_->Read(b, 0, out).ok()) << b;
      EXPECT_EQ(out, Content(b)) << b;
    }
  }

  const Mode mode_ = std::get<0>(GetParam());
  BackendFactory factory_{std::get<1>(GetParam()), {kBlockSize, kBlocks}};
  std::unique_ptr<BlockStore> bottom_;
  testing::TestVolume volume_;
  std::unique_ptr<BlockStore> store_;
};

TEST_P(EncryptStoreTest, TamperingWithAnyByteIsRefused) {
  const std::vector<uint8_t> original = Stored(3);
  const size_t n = original.size();
  // Header fields, nonce, first, middle and last ciphertext byte, tag.
  for (size_t i :
       {size_t{0}, size_t{4}, size_t{5}, size_t{6}, size_t{8}, size_t{12},
        size_t{16}, size_t{27}, size_t{28}, n / 2, n - 17, n - 16, n - 1}) {
    auto tampered = original;
    tampered[i] ^= 0x01;
    Store(3, tampered);
    ExpectRefusedAlone(3, "byte " + std::to_string(i));
  }
  // Writing the block again heals it.
  ASSERT_TRUE(store_->Write(3, 0, Content(9)).ok());
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE(store_->Read(3, 0, out).ok());
  EXPECT_EQ(out, Content(9));
}

TEST_P(EncryptStoreTest, TruncatedObjectsAreRefused) {
  const std::vector<uint8_t> original = Stored(2);
  for (size_t keep : {original.size() - 1, original.size() - 16,
                      size_t{16 + 12}, size_t{16}, size_t{5}, size_t{1}}) {
    Store(2, std::vector<uint8_t>(original.begin(), original.begin() + keep));
    ExpectRefusedAlone(2, "kept " + std::to_string(keep));
  }
  auto extended = original;
  extended.push_back(0);
  Store(2, extended);
  ExpectRefusedAlone(2, "extended");
}

TEST_P(EncryptStoreTest, SwappedObjectsAreRefused) {
  auto one = Stored(1), two = Stored(2);
  Store(1, two);
  Store(2, one);
  std::vector<uint8_t> out(kBlockSize);
  for (uint64_t b : {1, 2}) {
    Status status = store_->Read(b, 0, out);
    EXPECT_TRUE(status.corrupt()) << status.ToString();
    EXPECT_NE(status.message().find("block " + std::to_string(b)),
              std::string::npos);
  }
  for (uint64_t b : {0, 3, 4, 5, 6, 7}) {
    ASSERT_TRUE(store_->Read(b, 0, out).ok());
    EXPECT_EQ(out, Content(b));
  }
}

TEST_P(EncryptStoreTest, AnObjectFromAnotherVolumeIsRefused) {
  // Another volume, same password: its own salt, so its own key.
  auto other_bottom = factory_.New("other/");
  ASSERT_TRUE(other_bottom->Start().ok());
  auto other = testing::NewTestVolume(mode_, "ffffffffffffffffffffffffffffffff",
                                      volume_.password);
  auto other_store = testing::NewTestStack(mode_, other_bottom.get(), other);
  ASSERT_TRUE(other_store->Write(4, 0, Content(4)).ok());
  std::vector<uint8_t> object;
  ASSERT_TRUE(other_bottom->ReadObject(4, &object).ok());
  Store(4, object);
  ExpectRefusedAlone(4, "other salt");
  ASSERT_TRUE(store_->Write(4, 0, Content(4)).ok());

  // A clone of this volume's metadata under a new UUID: the same key, so
  // only the UUID in the AAD tells the objects apart.
  auto clone = volume_;
  clone.uuid = "00000000000000000000000000000001";
  auto clone_store = testing::NewTestStack(mode_, other_bottom.get(), clone);
  ASSERT_TRUE(clone_store->Write(5, 0, Content(5)).ok());
  ASSERT_TRUE(other_bottom->ReadObject(5, &object).ok());
  Store(5, object);
  ExpectRefusedAlone(5, "same key, other UUID");
}

TEST_P(EncryptStoreTest, UnencryptedObjectsAreRefused) {
  // Anyone with write access to the bucket could have put these there.
  Store(6, Content(6));  // a raw block
  ExpectRefusedAlone(6, "raw block");
  std::vector<uint8_t> compressed;
  ASSERT_TRUE(CompressBlock(Content(6), 1, kNewestObjectFormat, &compressed));
  Store(6, compressed);  // a compressed, unencrypted object
  ExpectRefusedAlone(6, "compressed only");
}

TEST_P(EncryptStoreTest, AKeyFromAnotherPasswordOpensNothing) {
  auto wrong = volume_;
  wrong.password = "not the password";
  // Bypass the key check (it would refuse at start) to prove the objects
  // themselves refuse a wrong key.
  ASSERT_TRUE(CreateVolumeKey(wrong.password, &wrong.settings).ok());
  auto store = testing::NewTestStack(mode_, bottom_.get(), wrong);
  std::vector<uint8_t> out(kBlockSize);
  for (uint64_t b = 0; b < kBlocks; ++b) {
    EXPECT_TRUE(store->Read(b, 0, out).corrupt()) << b;
  }
}

std::string Name(const ::testing::TestParamInfo<std::tuple<Mode, Backend>>& i) {
  return std::string(testing::ModeName(std::get<0>(i.param))) + "Over" +
         testing::BackendName(std::get<1>(i.param));
}

INSTANTIATE_TEST_SUITE_P(
    Combinations, EncryptStoreTest,
    ::testing::Combine(::testing::Values(Mode::kEncrypt, Mode::kBoth),
                       ::testing::Values(Backend::kMemory, Backend::kDir,
                                         Backend::kObject)),
    Name);

TEST(EncryptStoreStartTest, NeedsAKeyAUuidAndAStoreWithObjects) {
  auto no_key = NewEncryptStore({nullptr, kUuid}, NewMemoryStore({{4096, 4}}));
  EXPECT_EQ(no_key->Start().code(), EINVAL);
  auto key = SecretKey::New();
  ASSERT_TRUE(key.ok());
  auto no_uuid =
      NewEncryptStore({std::move(*key), ""}, NewMemoryStore({{4096, 4}}));
  EXPECT_EQ(no_uuid->Start().code(), EINVAL);
  key = SecretKey::New();
  ASSERT_TRUE(key.ok());
  auto no_objects = NewEncryptStore(
      {std::move(*key), kUuid}, NewCodecStore({}, NewMemoryStore({{4096, 4}})));
  EXPECT_EQ(no_objects->Start().code(), EINVAL);
}

TEST(EncryptStoreStartTest, AdvertisesObjectsAndWholeBlockWrites) {
  auto key = SecretKey::New();
  ASSERT_TRUE(key.ok());
  auto store =
      NewEncryptStore({std::move(*key), kUuid}, NewMemoryStore({{4096, 4}}));
  EXPECT_TRUE(store->capabilities().objects);
  EXPECT_FALSE(store->capabilities().partial_write);
}

}  // namespace
}  // namespace usbd
