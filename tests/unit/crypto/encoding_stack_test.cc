// Round trips through every combination of the encoding layers (none,
// compress, encrypt, both) over every store that keeps objects.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <tuple>

#include "nbd/frontend.h"
#include "testing/store_contract.h"
#include "testing/test_stack.h"

namespace usbd {
namespace {

using testing::Backend;
using testing::BackendFactory;
using testing::Mode;

constexpr uint32_t kBlockSize = 4096;
constexpr uint64_t kBlocks = 16;

// Block b's content: text, mixed, random and zeros in turn.
std::vector<uint8_t> Content(uint64_t b) {
  switch (b % 4) {
    case 0:
      return testing::MixedBlock(kBlockSize, static_cast<uint8_t>(b));
    case 1:
      return testing::RandomBlock(kBlockSize, static_cast<uint8_t>(b));
    case 2:
      return std::vector<uint8_t>(kBlockSize, 0);
    default:
      return std::vector<uint8_t>(kBlockSize, static_cast<uint8_t>(b));
  }
}

// A block of repeated plaintext that no encoding may leave readable.
std::vector<uint8_t> Secret() {
  const std::string line = "TOP-SECRET-PLAINTEXT-PATTERN-0123456789;";
  std::vector<uint8_t> block(kBlockSize);
  for (size_t i = 0; i < block.size(); ++i) block[i] = line[i % line.size()];
  return block;
}

bool Contains(const std::vector<uint8_t>& haystack, const std::string& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(),
                     needle.end()) != haystack.end();
}

class EncodingStackTest
    : public ::testing::TestWithParam<std::tuple<Mode, Backend>> {
 protected:
  void SetUp() override {
    bottom_ = factory_.New();
    ASSERT_TRUE(bottom_->Start().ok());
    volume_ = testing::NewTestVolume(mode_, "0123456789abcdef0123456789abcdef");
    store_ = Run();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    if (store_) {
      EXPECT_TRUE(store_->Shutdown().ok());
    }
    EXPECT_TRUE(bottom_->Shutdown().ok());
  }

  std::unique_ptr<BlockStore> Run() {
    return testing::NewTestStack(mode_, bottom_.get(), volume_);
  }

  const Mode mode_ = std::get<0>(GetParam());
  BackendFactory factory_{std::get<1>(GetParam()), {kBlockSize, kBlocks}};
  std::unique_ptr<BlockStore> bottom_;
  testing::TestVolume volume_;
  std::unique_ptr<BlockStore> store_;
};

TEST_P(EncodingStackTest, MeetsTheStoreContract) {
  testing::CheckStoreContract(*store_);
}

TEST_P(EncodingStackTest, RealisticContentRoundTripsAcrossRuns) {
  for (uint64_t b = 0; b < kBlocks; ++b) {
    ASSERT_TRUE(store_->Write(b, 0, Content(b)).ok()) << b;
  }
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(store_->Shutdown().ok());
  store_ = Run();
  std::vector<uint8_t> out(kBlockSize);
  for (uint64_t b = 0; b < kBlocks; ++b) {
    ASSERT_TRUE(store_->Read(b, 0, out).ok()) << b;
    EXPECT_EQ(out, Content(b)) << b;
  }
}

TEST_P(EncodingStackTest, ByteRangesRoundTripThroughTheFrontend) {
  nbd::Frontend frontend(store_.get());
  std::vector<uint8_t> data = testing::MixedBlock(3 * kBlockSize, 7);
  ASSERT_TRUE(frontend.Write(1000, data, /*fua=*/false).ok());
  std::vector<uint8_t> out(data.size());
  ASSERT_TRUE(frontend.Read(1000, out).ok());
  EXPECT_EQ(out, data);
  std::vector<uint8_t> head(1000, 0xff);
  ASSERT_TRUE(frontend.Read(0, head).ok());
  EXPECT_EQ(head, std::vector<uint8_t>(1000, 0));
}

TEST_P(EncodingStackTest, StoredObjectsDoNotContainThePlaintext) {
  if (!testing::Encrypts(mode_)) GTEST_SKIP() << "plaintext by design";
  for (uint64_t b = 0; b < kBlocks; ++b) {
    ASSERT_TRUE(store_->Write(b, 0, Secret()).ok());
  }
  ASSERT_TRUE(store_->Flush().ok());
  const std::string needle = "PLAINTEXT-PATTERN";
  for (uint64_t b = 0; b < kBlocks; ++b) {
    std::vector<uint8_t> object;
    ASSERT_TRUE(bottom_->ReadObject(b, &object).ok());
    ASSERT_FALSE(object.empty());
    EXPECT_FALSE(Contains(object, needle)) << "block " << b;
  }
  if (!factory_.directory().empty()) {  // and the files on disk
    int files = 0;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(factory_.directory())) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
      EXPECT_FALSE(Contains(bytes, needle)) << entry.path();
      ++files;
    }
    EXPECT_EQ(files, static_cast<int>(kBlocks));
  }
}

TEST_P(EncodingStackTest, RewritingABlockNeverRepeatsItsObject) {
  if (!testing::Encrypts(mode_)) GTEST_SKIP() << "deterministic by design";
  std::vector<uint8_t> first, second;
  ASSERT_TRUE(store_->Write(1, 0, Secret()).ok());
  ASSERT_TRUE(bottom_->ReadObject(1, &first).ok());
  ASSERT_TRUE(store_->Write(1, 0, Secret()).ok());
  ASSERT_TRUE(bottom_->ReadObject(1, &second).ok());
  EXPECT_NE(first, second);  // a fresh nonce each time
}

TEST_P(EncodingStackTest, CompressedVolumesStoreLessThanTheyHold) {
  if (!testing::Compresses(mode_)) GTEST_SKIP();
  ASSERT_TRUE(store_->Write(0, 0, Secret()).ok());
  std::vector<uint8_t> object;
  ASSERT_TRUE(bottom_->ReadObject(0, &object).ok());
  EXPECT_LT(object.size(), kBlockSize / 4);
}

std::string Name(const ::testing::TestParamInfo<std::tuple<Mode, Backend>>& i) {
  return std::string(testing::ModeName(std::get<0>(i.param))) + "Over" +
         testing::BackendName(std::get<1>(i.param));
}

INSTANTIATE_TEST_SUITE_P(
    Combinations, EncodingStackTest,
    ::testing::Combine(::testing::Values(Mode::kNone, Mode::kCompress,
                                         Mode::kEncrypt, Mode::kBoth),
                       ::testing::Values(Backend::kMemory, Backend::kDir,
                                         Backend::kObject)),
    Name);

}  // namespace
}  // namespace usbd
