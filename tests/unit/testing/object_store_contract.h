// Checks every ObjectStore must pass (object/object_store.h), run over the
// memory and directory stores (tests/unit/object/object_store_test.cc) and
// over S3 on moto and plain HTTP on nginx (tests/integration/
// http_store_test.cc), so a store that breaks the contract fails by name.
#ifndef USBD_TESTS_UNIT_TESTING_OBJECT_STORE_CONTRACT_H_
#define USBD_TESTS_UNIT_TESTING_OBJECT_STORE_CONTRACT_H_

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "object/object_store.h"
#include "testing/store_contract.h"

namespace usbd::testing {

// How many objects List reports under `prefix`; with `stop`, the callback
// asks to stop at the first.
inline int CountListed(ObjectStore& store, const std::string& prefix,
                       bool stop = false) {
  int calls = 0;
  Status status = store.List(prefix, [&](const ObjectInfo&) {
    ++calls;
    return !stop;
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return calls;
}

// `prefix` keeps the objects of one run apart (no '/': the directory store
// takes plain file names). Leaves nothing under it behind.
inline void CheckObjectStoreContract(ObjectStore& store,
                                     const std::string& prefix) {
  SCOPED_TRACE(store.Describe());
  EXPECT_EQ(store.Describe().find("secret"), std::string::npos);
  const std::string a = prefix + "a", b = prefix + "b", c = prefix + "c";

  // Missing: not an error.
  auto got = store.Get(a);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->has_value());
  auto head = store.Head(a);
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_FALSE(head->has_value());
  EXPECT_TRUE(store.Delete(a).ok()) << "deleting a missing object is OK";

  // Put, then Get and Head see it whole; the size hint changes nothing.
  for (size_t size : {size_t{1}, size_t{4096}, size_t{65536 + 17}}) {
    SCOPED_TRACE(size);
    ASSERT_TRUE(store.Put(a, Pattern(size, 1)).ok());
    for (size_t hint : {size_t{0}, size_t{4096}}) {
      got = store.Get(a, hint);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_TRUE(got->has_value());
      EXPECT_EQ(**got, Pattern(size, 1));
    }
    head = store.Head(a);
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(head->value_or(0), size);
  }
  // A shorter object replaces a longer one entirely.
  ASSERT_TRUE(store.Put(a, Pattern(10, 2)).ok());
  got = store.Get(a);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, Pattern(10, 2));

  // Listing: sorted, only under the prefix, sizes right, stops early.
  ASSERT_TRUE(store.Put(c, Pattern(3, 3)).ok());
  ASSERT_TRUE(store.Put(b, Pattern(7, 4)).ok());
  if (store.CanList()) {
    std::vector<ObjectInfo> listed;
    ASSERT_TRUE(store
                    .List(prefix,
                          [&](const ObjectInfo& info) {
                            listed.push_back(info);
                            return true;
                          })
                    .ok());
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].key, a);
    EXPECT_EQ(listed[0].size, 10u);
    EXPECT_EQ(listed[1].key, b);
    EXPECT_EQ(listed[1].size, 7u);
    EXPECT_EQ(listed[2].key, c);
    EXPECT_EQ(CountListed(store, prefix, /*stop=*/true), 1);
    EXPECT_EQ(CountListed(store, prefix + "zz"), 0);
  } else {
    Status listed = store.List(prefix, [](const ObjectInfo&) { return true; });
    EXPECT_EQ(listed.code(), ENOTSUP);
    EXPECT_FALSE(listed.retryable());
  }

  // Concurrent Puts and Gets of distinct keys run and stay distinct.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string key = prefix + "t" + std::to_string(t);
      auto data = Pattern(1000 + t, static_cast<uint8_t>(t));
      if (!store.Put(key, data).ok()) ++failures;
      auto back = store.Get(key);
      if (!back.ok() || !back->has_value() || **back != data) ++failures;
      if (!store.Delete(key).ok()) ++failures;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  // Delete: gone for Get and Head (and the listing).
  for (const auto& key : {a, b, c}) ASSERT_TRUE(store.Delete(key).ok());
  got = store.Get(b);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  head = store.Head(c);
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
  if (store.CanList()) {
    EXPECT_EQ(CountListed(store, prefix), 0);
  }
}

}  // namespace usbd::testing

#endif  // USBD_TESTS_UNIT_TESTING_OBJECT_STORE_CONTRACT_H_
