#include "store/dir_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store_contract.h"

namespace usbd {
namespace {

namespace fs = std::filesystem;

class DirStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/usbd-dirstore-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/store";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<BlockStore> Open(bool read_only = false,
                                   std::string prefix = "") {
    auto store = NewDirStore({dir_, prefix, {4096, 16}, read_only});
    Status status = store->Start();
    EXPECT_TRUE(status.ok()) << status.ToString();
    return store;
  }

  std::string root_, dir_;
};

TEST_F(DirStoreTest, MeetsTheStoreContract) {
  auto store = Open();
  testing::CheckStoreContract(*store);
}

TEST_F(DirStoreTest, NamesBlockFilesLikeObjectKeys) {
  auto store = Open(false, "vol1/");
  std::vector<uint8_t> data(4096, 7);
  ASSERT_TRUE(store->Write(0x0a, 0, data).ok());
  EXPECT_TRUE(fs::exists(dir_ + "/vol1/0000000a"));
}

TEST_F(DirStoreTest, DataSurvivesReopening) {
  auto data = testing::Pattern(4096, 9);
  {
    auto store = Open();
    ASSERT_TRUE(store->Write(5, 0, data).ok());
    ASSERT_TRUE(store->Shutdown().ok());
  }
  auto store = Open();
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Read(5, 0, out).ok());
  EXPECT_EQ(out, data);
}

TEST_F(DirStoreTest, TruncatedBlockFileIsAnErrorNotData) {
  auto store = Open();
  std::ofstream(dir_ + "/00000002") << "short";
  std::vector<uint8_t> out(4096);
  Status status = store->Read(2, 0, out);
  EXPECT_EQ(status.code(), EIO);
  EXPECT_NE(status.message().find("00000002"), std::string::npos);
}

TEST_F(DirStoreTest, WholeBlocksOnly) {
  auto store = Open();
  EXPECT_FALSE(store->capabilities().partial_write);
  std::vector<uint8_t> half(2048, 1);
  EXPECT_EQ(store->Write(0, 0, half).code(), EINVAL);
}

TEST_F(DirStoreTest, StaleTempFilesAreRemovedAtStart) {
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/.usbd-tmp-00000001-3") << "partial";
  auto store = Open();
  EXPECT_FALSE(fs::exists(dir_ + "/.usbd-tmp-00000001-3"));
}

TEST_F(DirStoreTest, ReadOnlyRefusesWrites) {
  { Open(); }  // creates the directory
  auto store = Open(true);
  std::vector<uint8_t> data(4096, 1);
  EXPECT_EQ(store->Write(0, 0, data).code(), EPERM);
  EXPECT_EQ(store->Trim(0).code(), EPERM);
}

TEST_F(DirStoreTest, MissingParentDirectoryIsAClearError) {
  auto store = NewDirStore({root_ + "/no/such/dir", "", {4096, 16}, false});
  Status status = store->Start();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("no/such/dir"), std::string::npos);
}

}  // namespace
}  // namespace usbd
