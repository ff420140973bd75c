// The --test directory as an ObjectStore: the volume metadata of --test
// volumes, and the block files seen as objects.
#include "object/dir_object_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "volume/metadata.h"

namespace usbd {
namespace {

class TempDirectory {
 public:
  TempDirectory() {
    std::string pattern =
        std::filesystem::temp_directory_path() / "usbd-dirobj-XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDirectory() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::span<const uint8_t> Bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(DirObjectStoreTest, PutGetHeadDelete) {
  TempDirectory dir;
  auto store = NewDirObjectStore(dir.path());
  EXPECT_NE(store->Describe().find(dir.path()), std::string::npos);
  auto missing = store->Get("usbd-volume");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  ASSERT_TRUE(store->Put("usbd-volume", Bytes("hello")).ok());
  auto got = store->Get("usbd-volume");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(std::string((*got)->begin(), (*got)->end()), "hello");
  auto head = store->Head("usbd-volume");
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(**head, 5u);
  struct stat st;
  ASSERT_EQ(::stat((dir.path() + "/usbd-volume").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ASSERT_TRUE(store->Put("usbd-volume", Bytes("replaced")).ok());
  EXPECT_EQ((*store->Get("usbd-volume"))->size(), 8u);
  ASSERT_TRUE(store->Delete("usbd-volume").ok());
  EXPECT_FALSE(store->Head("usbd-volume")->has_value());
  EXPECT_TRUE(store->Delete("usbd-volume").ok()) << "missing is fine";
  // No temporary file is left behind.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(DirObjectStoreTest, MissingDirectoryIsEmptyAndCreatedByPut) {
  TempDirectory dir;
  const std::string sub = dir.path() + "/store";
  auto store = NewDirObjectStore(sub);
  EXPECT_FALSE(store->Get("k")->has_value());
  EXPECT_FALSE(store->Head("k")->has_value());
  int listed = 0;
  ASSERT_TRUE(
      store->List("", [&](const ObjectInfo&) { return ++listed; }).ok());
  EXPECT_EQ(listed, 0);
  ASSERT_TRUE(store->Put("k", Bytes("v")).ok());
  EXPECT_TRUE(std::filesystem::is_directory(sub));
}

TEST(DirObjectStoreTest, ListsSortedByPrefixSkippingHiddenFiles) {
  TempDirectory dir;
  auto store = NewDirObjectStore(dir.path());
  for (const char* key : {"b-00000001", "a-00000002", "b-00000000", "b-x"}) {
    ASSERT_TRUE(store->Put(key, Bytes(key)).ok());
  }
  std::ofstream(dir.path() + "/.usbd-tmp-b-00000003-1") << "temp";
  std::filesystem::create_directory(dir.path() + "/b-dir");
  std::vector<std::string> keys;
  ASSERT_TRUE(store
                  ->List("b-",
                         [&](const ObjectInfo& info) {
                           keys.push_back(info.key);
                           EXPECT_EQ(info.size, info.key.size());
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"b-00000000", "b-00000001", "b-x"}));
  keys.clear();
  ASSERT_TRUE(store
                  ->List("",
                         [&](const ObjectInfo& info) {
                           keys.push_back(info.key);
                           return keys.size() < 2;
                         })
                  .ok());
  EXPECT_EQ(keys.size(), 2u) << "stops when told";
}

TEST(DirObjectStoreTest, KeysMustBePlainFileNames) {
  TempDirectory dir;
  auto store = NewDirObjectStore(dir.path());
  for (const char* key : {"", ".hidden", "a/b", "..", "../escape"}) {
    EXPECT_EQ(store->Put(key, Bytes("x")).code(), EINVAL) << key;
    EXPECT_EQ(store->Get(key).status().code(), EINVAL) << key;
  }
}

TEST(DirObjectStoreTest, HoldsTheVolumeMetadataOfATestDirectory) {
  TempDirectory dir;
  auto store = NewDirObjectStore(dir.path());
  VolumeRequest request;
  request.size = 1 << 20;
  request.block_size = 4096;
  request.name = "dir";
  auto created = OpenOrCreateVolume(*store, "", request, RetryOptions());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/usbd-volume"));

  VolumeRequest detect;
  detect.name = "dir";
  auto reopened = OpenOrCreateVolume(*store, "", detect, RetryOptions());
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(reopened->metadata.size, uint64_t{1} << 20);
  EXPECT_EQ(reopened->metadata.block_size, 4096u);
}

TEST(DirObjectStoreTest, BlockFilesWithoutMetadataAreFound) {
  TempDirectory dir;
  std::ofstream(dir.path() + "/00000007") << std::string(4096, 'x');
  auto store = NewDirObjectStore(dir.path());
  auto block = FindBlockObject(*store, "", RetryOptions());
  ASSERT_TRUE(block.ok());
  ASSERT_TRUE(block->has_value());
  EXPECT_EQ((*block)->key, "00000007");
  EXPECT_EQ((*block)->naming, BlockNaming::kPlain);
  VolumeRequest request;
  request.size = 1 << 20;
  request.name = "dir";
  auto opened = OpenOrCreateVolume(*store, "", request, RetryOptions());
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), EEXIST);
}

}  // namespace
}  // namespace usbd
