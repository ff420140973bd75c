// main()'s path from options to a running stack, without the NBD server:
// VolumeSession::Open (metadata, key) then BuildStack, for --test and
// --memory volumes, with every combination of --compress and --encrypt,
// across successive runs of one directory.
#include "stack/volume_session.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "stack/build_stack.h"
#include "store/memory_store.h"

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;
constexpr uint64_t kSize = 16 * kBlockSize;
const std::string kLine = "KNOWN-PLAINTEXT-PATTERN-usbd-0123456789;";

enum Mode { kNone = 0, kCompress = 1, kEncrypt = 2, kBoth = 3 };

class VolumeSessionTest : public ::testing::TestWithParam<int> {
 protected:
  VolumeSessionTest() {
    std::string pattern =
        std::filesystem::temp_directory_path() / "usbd-session-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    password_file_ = dir_ + "/password";
    std::ofstream(password_file_) << "the password\nignored\n";
  }
  ~VolumeSessionTest() override { std::filesystem::remove_all(dir_); }

  std::string store_dir() const { return dir_ + "/store"; }

  Options TestOptions(int mode, bool with_size = true) const {
    Options options;
    options.test = true;
    options.bucket = store_dir();
    options.export_name = "store";
    options.size = with_size ? kSize : 0;
    options.block_size = kBlockSize;
    options.block_size_given = with_size;
    options.compress = (mode & kCompress) ? 3 : 0;
    options.encrypt = (mode & kEncrypt) != 0;
    if (options.encrypt) options.password_file = password_file_;
    return options;
  }

  // One run: opens the volume and starts its stack.
  Result<std::unique_ptr<BlockStore>> Run(Options* options) {
    auto session = VolumeSession::Open(options);
    if (!session.ok()) return session.status();
    auto spec = StackSpecFor(*options, (*session)->metadata(),
                             (*session)->TakeEncryption());
    if (!spec.ok()) return spec.status();
    auto stack = BuildStack(*options, std::move(spec).value());
    if (!stack.ok()) return stack.status();
    USBD_RETURN_IF_ERROR((*stack)->Start());
    return std::move(stack).value();
  }

  std::vector<uint8_t> BlockFile(uint64_t block) const {
    char name[16];
    std::snprintf(name, sizeof name, "/%08llx",
                  static_cast<unsigned long long>(block));
    std::ifstream in(store_dir() + name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  std::string dir_, password_file_;
};

std::vector<uint8_t> Known() {
  std::vector<uint8_t> block(kBlockSize);
  for (size_t i = 0; i < block.size(); ++i) block[i] = kLine[i % kLine.size()];
  return block;
}

std::vector<uint8_t> Noise(uint8_t seed) {
  std::vector<uint8_t> block(kBlockSize);
  uint32_t x = 2463534242u + seed;
  for (uint8_t& b : block) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return block;
}

bool Contains(const std::vector<uint8_t>& haystack, const std::string& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(),
                     needle.end()) != haystack.end();
}

TEST_P(VolumeSessionTest, RoundTripAcrossRunsDetectingTheGeometry) {
  const int mode = GetParam();
  {
    Options options = TestOptions(mode);
    auto store = Run(&options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Write(1, 0, Known()).ok());
    ASSERT_TRUE((*store)->Write(2, 0, Noise(2)).ok());
    ASSERT_TRUE((*store)->Shutdown().ok());
    EXPECT_TRUE(options.password.empty());
  }
  EXPECT_TRUE(std::filesystem::exists(store_dir() + "/usbd-volume"));
  const std::vector<uint8_t> stored = BlockFile(1);
  ASSERT_FALSE(stored.empty());
  if (mode == kNone) {
    EXPECT_TRUE(Contains(stored, kLine));
    EXPECT_EQ(stored.size(), kBlockSize);
  }
  if (mode & kCompress) {
    EXPECT_LT(stored.size(), kBlockSize / 4);
  }
  if (mode & kEncrypt) {
    EXPECT_FALSE(Contains(stored, "KNOWN"));
  }

  Options again = TestOptions(mode, /*with_size=*/false);
  auto store = Run(&again);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  // Detected from the metadata, reaching the stack through its StackSpec.
  EXPECT_EQ((*store)->geometry().size_bytes(), kSize);
  EXPECT_EQ((*store)->geometry().block_size, kBlockSize);
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE((*store)->Read(1, 0, out).ok());
  EXPECT_EQ(out, Known());
  ASSERT_TRUE((*store)->Read(2, 0, out).ok());
  EXPECT_EQ(out, Noise(2));
  ASSERT_TRUE((*store)->Read(5, 0, out).ok());
  EXPECT_EQ(out, std::vector<uint8_t>(kBlockSize, 0));
  std::vector<uint8_t> part(100);
  ASSERT_TRUE((*store)->Read(1, 1000, part).ok());
  EXPECT_TRUE(std::equal(part.begin(), part.end(), Known().begin() + 1000));
  ASSERT_TRUE((*store)->Shutdown().ok());
}

TEST_P(VolumeSessionTest, OtherSettingsAreRefusedSayingWhich) {
  const int mode = GetParam();
  Options options = TestOptions(mode);
  ASSERT_TRUE(VolumeSession::Open(&options).ok());
  for (int other : {kNone, kCompress, kEncrypt, kBoth}) {
    if (other == mode) continue;
    Options run = TestOptions(other, false);
    auto session = VolumeSession::Open(&run);
    ASSERT_FALSE(session.ok()) << mode << " then " << other;
    EXPECT_EQ(session.status().code(), EINVAL);
    const std::string message = session.status().message();
    if ((other ^ mode) & kEncrypt) {
      EXPECT_NE(message.find("encryption "), std::string::npos) << message;
    }
    if ((other ^ mode) & kCompress) {
      EXPECT_NE(message.find("compression "), std::string::npos) << message;
    }
  }
}

std::string ModeName(const ::testing::TestParamInfo<int>& info) {
  static const char* const kNames[] = {"None", "Compress", "Encrypt", "Both"};
  return kNames[info.param];
}

INSTANTIATE_TEST_SUITE_P(Modes, VolumeSessionTest,
                         ::testing::Values(kNone, kCompress, kEncrypt, kBoth),
                         ModeName);

using VolumeSessionPlainTest = VolumeSessionTest;

TEST_F(VolumeSessionPlainTest, WrongPasswordFailsAtOpen) {
  Options options = TestOptions(kEncrypt);
  ASSERT_TRUE(VolumeSession::Open(&options).ok());
  std::ofstream(password_file_) << "another password\n";
  Options wrong = TestOptions(kEncrypt, false);
  auto session = VolumeSession::Open(&wrong);
  ASSERT_FALSE(session.ok());
  EXPECT_EQ(session.status().code(), EACCES);
  EXPECT_NE(session.status().message().find("wrong password"),
            std::string::npos);
  EXPECT_EQ(session.status().message().find("password\n"), std::string::npos);
  EXPECT_EQ(session.status().message().find("another"), std::string::npos);
}

TEST_F(VolumeSessionPlainTest, CompressionSwitchedOffKeepsCompressedBlocks) {
  {
    Options options = TestOptions(kCompress);
    auto store = Run(&options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Write(3, 0, Known()).ok());
    ASSERT_TRUE((*store)->Shutdown().ok());
  }
  ASSERT_LT(BlockFile(3).size(), kBlockSize);
  Options off = TestOptions(kNone, false);
  ASSERT_FALSE(VolumeSession::Open(&off).ok()) << "refused without --force";
  off.force = true;
  auto store = Run(&off);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE((*store)->Read(3, 0, out).ok());
  EXPECT_EQ(out, Known());
  ASSERT_TRUE((*store)->Write(4, 0, Known()).ok());
  ASSERT_TRUE((*store)->Shutdown().ok());
  EXPECT_EQ(BlockFile(4).size(), kBlockSize) << "stored raw from now on";
  Options plain = TestOptions(kNone, false);
  EXPECT_TRUE(VolumeSession::Open(&plain).ok()) << "the switch was recorded";
}

TEST_F(VolumeSessionPlainTest, TamperedAndSwappedBlocksAreEioNamingTheBlock) {
  {
    Options options = TestOptions(kBoth);
    auto store = Run(&options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    for (uint64_t b : {1, 2, 3, 4}) {
      ASSERT_TRUE((*store)->Write(b, 0, Noise(static_cast<uint8_t>(b))).ok());
    }
    ASSERT_TRUE((*store)->Shutdown().ok());
  }
  // Tamper with one byte of block 1; swap blocks 2 and 3.
  const std::string one = store_dir() + "/00000001";
  {
    std::fstream file(one, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(100);
    char c;
    file.get(c);
    file.seekp(100);
    file.put(static_cast<char>(c ^ 1));
  }
  std::filesystem::rename(store_dir() + "/00000002", store_dir() + "/tmp");
  std::filesystem::rename(store_dir() + "/00000003", store_dir() + "/00000002");
  std::filesystem::rename(store_dir() + "/tmp", store_dir() + "/00000003");

  Options options = TestOptions(kBoth, false);
  auto store = Run(&options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::vector<uint8_t> out(kBlockSize);
  for (uint64_t b : {1, 2, 3}) {
    Status status = (*store)->Read(b, 0, out);
    EXPECT_TRUE(status.corrupt()) << b << ": " << status.ToString();
    EXPECT_NE(status.message().find("block " + std::to_string(b)),
              std::string::npos)
        << status.message();
  }
  ASSERT_TRUE((*store)->Read(4, 0, out).ok());
  EXPECT_EQ(out, Noise(4)) << "the others are not affected";
  ASSERT_TRUE((*store)->Shutdown().ok());
}

TEST(VolumeSessionMemoryTest, FreshIdentityAndKeyEveryRun) {
  Options options;
  options.memory = true;
  options.bucket = options.export_name = "m";
  options.size = kSize;
  options.block_size = kBlockSize;
  options.encrypt = true;
  options.compress = 1;
  options.password = "memory password";
  auto first = VolumeSession::Open(&options);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(options.password.empty()) << "wiped once read";
  options.password = "memory password";
  auto second = VolumeSession::Open(&options);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*first)->metadata().uuid.size(), 32u);
  EXPECT_NE((*first)->metadata().uuid, (*second)->metadata().uuid);
  EXPECT_TRUE((*first)->AcquireMountToken().ok()) << "none for --memory";

  auto spec =
      StackSpecFor(options, (*first)->metadata(), (*first)->TakeEncryption());
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto stack = BuildStack(options, std::move(spec).value());
  ASSERT_TRUE(stack.ok()) << stack.status().ToString();
  ASSERT_TRUE((*stack)->Start().ok());
  std::vector<uint8_t> out(kBlockSize);
  ASSERT_TRUE((*stack)->Write(0, 0, Known()).ok());
  ASSERT_TRUE((*stack)->Read(0, 0, out).ok());
  EXPECT_EQ(out, Known());
  ASSERT_TRUE((*stack)->Shutdown().ok());
}

TEST(BuildStackTest, EncryptWithoutAKeyIsRefused) {
  Options options;
  options.memory = true;
  options.size = kSize;
  options.block_size = kBlockSize;
  options.encrypt = true;
  VolumeMetadata volume;
  volume.size = kSize;
  volume.block_size = kBlockSize;
  auto spec = StackSpecFor(options, volume);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), EINVAL);
}

}  // namespace
}  // namespace usbd
