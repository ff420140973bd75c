#include "object/dir_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "testing/store_contract.h"

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
                                   std::string prefix = "",
                                   uint64_t block_count = 16) {
    auto store = NewDirStore({dir_, prefix, {4096, block_count}, read_only});
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
  EXPECT_TRUE(status.not_a_block()) << status.ToString();
  EXPECT_NE(status.message().find("00000002"), std::string::npos);
}

std::vector<uint8_t> ZerosWith(size_t offset,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> block(4096, 0);
  std::copy(data.begin(), data.end(), block.begin() + offset);
  return block;
}

ino_t InodeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

TEST_F(DirStoreTest, PartialWriteToAnAbsentBlockReadsZerosAroundIt) {
  auto store = Open();
  EXPECT_TRUE(store->capabilities().partial_write);
  auto data = testing::Pattern(1000, 4);
  ASSERT_TRUE(store->Write(6, 1500, data).ok());
  EXPECT_EQ(fs::file_size(dir_ + "/00000006"), 4096u);
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Read(6, 0, out).ok());
  EXPECT_EQ(out, ZerosWith(1500, data));
}

TEST_F(DirStoreTest, PartialWriteGoesInPlace) {
  auto store = Open();
  auto block = testing::Pattern(4096, 1);
  ASSERT_TRUE(store->Write(2, 0, block).ok());
  ino_t inode = InodeOf(dir_ + "/00000002");
  auto data = testing::Pattern(512, 2);
  ASSERT_TRUE(store->Write(2, 4096 - 512, data).ok());
  EXPECT_EQ(InodeOf(dir_ + "/00000002"), inode);
  std::copy(data.begin(), data.end(), block.end() - 512);
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Read(2, 0, out).ok());
  EXPECT_EQ(out, block);
}

TEST_F(DirStoreTest, PartialZerosOnAnAbsentBlockCreateNoFile) {
  auto store = Open();
  ASSERT_TRUE(store->Write(3, 100, std::vector<uint8_t>(200, 0)).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/00000003"));
}

TEST_F(DirStoreTest, WritePastTheEndOfTheBlockIsInvalid) {
  auto store = Open();
  EXPECT_EQ(store->Write(1, 4000, std::vector<uint8_t>(200, 1)).code(), EINVAL);
}

TEST_F(DirStoreTest, ConcurrentPartialWritesToAnAbsentBlockAllSurvive) {
  auto store = Open();
  // Eight writers race to create each block, each with its own 512 bytes.
  constexpr int kWriters = 8;
  for (uint64_t block = 0; block < 16; ++block) {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriters; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) {
        }
        auto data = testing::Pattern(512, static_cast<uint8_t>(t + 1));
        EXPECT_TRUE(store->Write(block, t * 512, data).ok());
      });
    }
    go = true;
    for (auto& thread : threads) thread.join();
    std::vector<uint8_t> out(4096);
    ASSERT_TRUE(store->Read(block, 0, out).ok());
    for (int t = 0; t < kWriters; ++t) {
      auto data = testing::Pattern(512, static_cast<uint8_t>(t + 1));
      EXPECT_TRUE(std::equal(data.begin(), data.end(), out.begin() + t * 512))
          << "block " << block << ", writer " << t << " lost";
    }
  }
  // No temporary file is left behind.
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".usbd-tmp-"),
              std::string::npos);
  }
}

TEST_F(DirStoreTest, WholeWriteAfterPartialWriteReplacesTheBlock) {
  auto store = Open();
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Write(4, 10, testing::Pattern(100, 1)).ok());
  ASSERT_TRUE(store->Read(4, 0, out).ok());  // its file is open now
  auto block = testing::Pattern(4096, 2);
  ASSERT_TRUE(store->Write(4, 0, block).ok());
  ASSERT_TRUE(store->Read(4, 0, out).ok());
  EXPECT_EQ(out, block);
  // And a partial write lands in the new file, not the replaced one.
  auto data = testing::Pattern(100, 3);
  ASSERT_TRUE(store->Write(4, 10, data).ok());
  std::copy(data.begin(), data.end(), block.begin() + 10);
  ASSERT_TRUE(store->Read(4, 0, out).ok());
  EXPECT_EQ(out, block);
}

TEST_F(DirStoreTest, TrimAfterPartialWriteReadsZeros) {
  auto store = Open();
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Write(7, 0, testing::Pattern(100, 1)).ok());
  ASSERT_TRUE(store->Read(7, 0, out).ok());
  ASSERT_TRUE(store->Trim(7).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/00000007"));
  ASSERT_TRUE(store->Read(7, 0, out).ok());
  EXPECT_EQ(out, std::vector<uint8_t>(4096, 0));
  // A partial write after the trim makes a new block of zeros around it.
  auto data = testing::Pattern(100, 2);
  ASSERT_TRUE(store->Write(7, 200, data).ok());
  ASSERT_TRUE(store->Read(7, 0, out).ok());
  EXPECT_EQ(out, ZerosWith(200, data));
}

// A read or partial write that starts after a replace or trim returned
// never sees the block's previous file, even with readers keeping its
// descriptor cached all along.
TEST_F(DirStoreTest, NothingStartedAfterAReplaceSeesTheOldFile) {
  auto store = Open();
  constexpr int kRounds = 250;
  std::atomic<int> published{0};  // the last round whose write returned
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      std::vector<uint8_t> out(4096);
      while (!done.load()) {
        int before = published.load();
        ASSERT_TRUE(store->Read(1, 0, out).ok());
        // Past the first 16 bytes, a block holds the round that wrote it
        // (0 just after a trim).
        int round = out[100];
        EXPECT_TRUE(std::all_of(out.begin() + 16, out.end(),
                                [&](uint8_t b) { return b == round; }));
        if (round != 0) {
          EXPECT_GE(round, before) << "read an earlier round";
        }
      }
    });
  }
  // The writer runs in a function of its own, so that a failed assertion
  // still stops and joins the readers.
  auto write_rounds = [&] {
    std::vector<uint8_t> out(4096);
    for (int round = 1; round <= kRounds; ++round) {
      uint8_t value = static_cast<uint8_t>(round);
      if (round % 10 == 0) {
        ASSERT_TRUE(store->Trim(1).ok());
        ASSERT_TRUE(store->Read(1, 0, out).ok());
        ASSERT_EQ(out, std::vector<uint8_t>(4096, 0)) << "round " << round;
      }
      ASSERT_TRUE(store->Write(1, 0, std::vector<uint8_t>(4096, value)).ok());
      std::vector<uint8_t> marker(16, static_cast<uint8_t>(255 - round));
      ASSERT_TRUE(store->Write(1, 0, marker).ok());
      ASSERT_TRUE(store->Read(1, 0, out).ok());
      ASSERT_TRUE(std::equal(marker.begin(), marker.end(), out.begin()))
          << "round " << round << ": the partial write went to an old file";
      ASSERT_EQ(out[100], value) << "round " << round;
      published = round;
    }
  };
  write_rounds();
  done = true;
  for (auto& reader : readers) reader.join();
}

TEST_F(DirStoreTest, FlushedPartialWriteIsSeenByANewStore) {
  auto store = Open();
  auto data = testing::Pattern(300, 5);
  ASSERT_TRUE(store->Write(9, 1000, data).ok());
  auto block = testing::Pattern(4096, 6);
  ASSERT_TRUE(store->Write(10, 0, block).ok());
  ASSERT_TRUE(store->Write(10, 0, data).ok());
  ASSERT_TRUE(store->Flush().ok());
  auto second = Open();
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(second->Read(9, 0, out).ok());
  EXPECT_EQ(out, ZerosWith(1000, data));
  ASSERT_TRUE(second->Read(10, 0, out).ok());
  std::copy(data.begin(), data.end(), block.begin());
  EXPECT_EQ(out, block);
}

TEST_F(DirStoreTest, WrongSizeFileIsNotABlockForReadAndPartialWrite) {
  auto store = Open();
  std::ofstream(dir_ + "/00000002") << "short";
  std::vector<uint8_t> out(4096);
  EXPECT_TRUE(store->Read(2, 0, out).not_a_block());
  Status status = store->Write(2, 0, std::vector<uint8_t>(10, 1));
  EXPECT_TRUE(status.not_a_block()) << status.ToString();
  EXPECT_NE(status.message().find("00000002"), std::string::npos);
  EXPECT_EQ(fs::file_size(dir_ + "/00000002"), 5u);  // left alone
  // A whole-block write replaces it.
  ASSERT_TRUE(store->Write(2, 0, std::vector<uint8_t>(4096, 2)).ok());
  ASSERT_TRUE(store->Read(2, 0, out).ok());
}

TEST_F(DirStoreTest, ObjectOfAnotherLengthIsNotABlockEvenWithTheBlockFileOpen) {
  auto store = Open();
  std::vector<uint8_t> out(4096);
  ASSERT_TRUE(store->Write(3, 0, testing::Pattern(4096, 1)).ok());
  ASSERT_TRUE(store->Read(3, 0, out).ok());  // its file is open now
  ASSERT_TRUE(store->WriteObject(3, testing::Pattern(100, 2)).ok());
  EXPECT_TRUE(store->Read(3, 0, out).not_a_block());
  EXPECT_TRUE(store->Write(3, 0, std::vector<uint8_t>(10, 1)).not_a_block());
  std::vector<uint8_t> object;
  ASSERT_TRUE(store->ReadObject(3, &object).ok());
  EXPECT_EQ(object, testing::Pattern(100, 2));
}

TEST_F(DirStoreTest, ManyMoreBlocksThanOpenFiles) {
  constexpr uint64_t kBlocks = 3000;  // more than the descriptor cache holds
  auto store = Open(false, "", kBlocks);
  for (uint64_t block = 0; block < kBlocks; ++block) {
    uint8_t v = static_cast<uint8_t>(block % 251 + 1);
    ASSERT_TRUE(store->Write(block, 8, std::vector<uint8_t>(8, v)).ok());
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (uint64_t block = 0; block < kBlocks; ++block) {
      uint8_t v = static_cast<uint8_t>(block % 251 + 1);
      std::vector<uint8_t> out(24);
      ASSERT_TRUE(store->Read(block, 0, out).ok());
      std::vector<uint8_t> expected(24, 0);
      std::fill(expected.begin() + 8, expected.begin() + 16, v);
      ASSERT_EQ(out, expected) << "block " << block;
    }
  }
  ASSERT_TRUE(store->Shutdown().ok());
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
