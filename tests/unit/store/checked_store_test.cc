#include "store/checked_store.h"

#include <gtest/gtest.h>

#include "stack/build_stack.h"
#include "store/memory_store.h"
#include "testing/store_contract.h"
#include "testing/test_backends.h"

namespace usbd {
namespace {

constexpr uint32_t kBlockSize = 4096;

std::unique_ptr<BlockStore> Checked(std::unique_ptr<BlockStore> inner,
                                    bool fatal = false) {
  return NewCheckedStore({"test -> memory", fatal}, std::move(inner));
}

void ExpectViolation(const Status& status, int code, const std::string& what) {
  EXPECT_EQ(status.code(), code) << status.ToString();
  EXPECT_NE(
      status.message().find("contract violation at test -> memory: " + what),
      std::string::npos)
      << status.message();
}

TEST(CheckedStoreTest, PassesTheStoreContract) {
  auto store = Checked(NewMemoryStore({{kBlockSize, 16}, false}));
  ASSERT_TRUE(store->Start().ok());
  testing::CheckStoreContract(*store);
}

TEST(CheckedStoreTest, RefusesCallsBeforeStartAndAfterShutdown) {
  auto store = Checked(NewMemoryStore({{kBlockSize, 4}, false}));
  std::vector<uint8_t> out(kBlockSize);
  ExpectViolation(store->Read(0, 0, out), EINVAL, "Read before Start");
  ASSERT_TRUE(store->Start().ok());
  ASSERT_TRUE(store->Read(0, 0, out).ok());
  ASSERT_TRUE(store->Shutdown().ok());
  ExpectViolation(store->Flush(), EINVAL, "Flush after Shutdown");
}

TEST(CheckedStoreTest, RefusesWhatTheStoreBelowDoesNotOffer) {
  auto store = Checked(std::make_unique<testing::WholeBlockStore>(
      NewMemoryStore({{kBlockSize, 4}})));
  ASSERT_TRUE(store->Start().ok());
  std::vector<uint8_t> data(kBlockSize, 1);
  ExpectViolation(store->Read(4, 0, data), EINVAL, "Read of 4096 bytes");
  ExpectViolation(store->Write(1, 1, std::span(data).subspan(1)), EINVAL,
                  "partial Write of block 1 (0x1)");
  ExpectViolation(store->WriteObject(1, {}), EINVAL, "WriteObject of 0 bytes");
  std::vector<bool> allocated;
  ExpectViolation(store->QueryAllocation(3, 2, &allocated), EINVAL,
                  "QueryAllocation of blocks 3+2");
  EXPECT_TRUE(store->Write(1, 0, data).ok());

  auto read_only = Checked(NewMemoryStore({{kBlockSize, 4}, true}));
  ASSERT_TRUE(read_only->Start().ok());
  ExpectViolation(read_only->Write(0, 0, data), EPERM,
                  "Write to a read-only store");
  ExpectViolation(read_only->Trim(0), EPERM, "Trim to a read-only store");
}

TEST(CheckedStoreDeathTest, UnderALayerAViolationStopsNamingTheSeam) {
  auto store = Checked(NewMemoryStore({{kBlockSize, 4}, false}), true);
  ASSERT_TRUE(store->Start().ok());
  std::vector<uint8_t> out(kBlockSize);
  EXPECT_DEATH((void)store->Read(9, 0, out),
               "contract violation at test -> memory: Read");
}

TEST(CheckedStoreTest, TheStackHasASeamAboveAndUnderEveryLayer) {
  StackSpec spec;
  spec.geometry = {kBlockSize, 8};
  spec.compress_level = 1;
  spec.check_seams = true;
  auto stack = BuildLayers(std::move(spec), NewMemoryStore({{kBlockSize, 8}}));
  ASSERT_TRUE(stack.ok());
  std::vector<uint8_t> out(kBlockSize);
  Status status = (*stack)->Read(0, 0, out);
  EXPECT_NE(status.message().find("contract violation at top -> zero: Read "
                                  "before Start"),
            std::string::npos)
      << status.ToString();
  ASSERT_TRUE((*stack)->Start().ok());
  testing::CheckStoreContract(**stack);
  ASSERT_TRUE((*stack)->Shutdown().ok());
}

}  // namespace
}  // namespace usbd
