// The object-store contract over the local object stores; S3 (moto) and
// plain HTTP (nginx) run it in tests/integration/http_store_test.cc.
#include "testing/object_store_contract.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "object/dir_object_store.h"
#include "object/memory_object_store.h"

namespace usbd {
namespace {

TEST(ObjectStoreContractTest, Memory) {
  auto store = NewMemoryObjectStore();
  testing::CheckObjectStoreContract(*store, "vol.");
}

TEST(ObjectStoreContractTest, MemoryWithSmallListingPages) {
  auto store = NewMemoryObjectStore({.list_page_size = 1});
  testing::CheckObjectStoreContract(*store, "vol.");
}

TEST(ObjectStoreContractTest, Directory) {
  std::string dir =
      std::filesystem::temp_directory_path() / "usbd-objcontract-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  auto store = NewDirObjectStore(dir);
  testing::CheckObjectStoreContract(*store, "vol.");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace usbd
