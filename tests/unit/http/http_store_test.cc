#include "http/http_store.h"

#include <gtest/gtest.h>

#include "testing/test_http_server.h"

namespace usbd {
namespace {

using testing::ReceivedRequest;
using testing::Respond;
using testing::TestHttpServer;

std::unique_ptr<ObjectStore> MustCreate(const std::string& url,
                                        const std::string& header = "") {
  HttpStoreOptions options;
  options.base_url = url;
  options.header = header;
  options.http.timeout = std::chrono::milliseconds(2000);
  auto store = NewHttpObjectStore(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

TEST(HttpStoreTest, RequestsGoUnderTheBaseUrlWithTheStaticHeader) {
  TestHttpServer server([](const ReceivedRequest& r) {
    if (r.method == "GET") return Respond(200, "data");
    return Respond(201);
  });
  auto store = MustCreate(server.url() + "vol", "Authorization: Bearer t0k");
  ASSERT_TRUE(store->Put("a/00000001", std::vector<uint8_t>(4, 1)).ok());
  auto got = store->Get("a/00000001");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(std::string((*got)->begin(), (*got)->end()), "data");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target, "/vol/a/00000001");
  EXPECT_EQ(requests[0].headers["authorization"], "Bearer t0k");
  EXPECT_EQ(requests[0].headers["content-md5"], "O1uYUlZ+92GKrH9fLXTvdA==");
  EXPECT_EQ(requests[1].headers["authorization"], "Bearer t0k");
}

TEST(HttpStoreTest, NotFoundMeansAbsent) {
  TestHttpServer server([](const ReceivedRequest&) { return Respond(404); });
  auto store = MustCreate(server.url());
  auto got = store->Get("x");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  auto head = store->Head("x");
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
  EXPECT_TRUE(store->Delete("x").ok());
}

TEST(HttpStoreTest, ClassifiesErrors) {
  int status = 502;
  TestHttpServer server(
      [&](const ReceivedRequest&) { return Respond(status); });
  auto store = MustCreate(server.url());
  Status s = store->Put("x", std::vector<uint8_t>(1, 1));
  EXPECT_TRUE(s.retryable()) << s.message();
  status = 403;
  s = store->Put("x", std::vector<uint8_t>(1, 1));
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_NE(s.message().find(server.url() + "x"), std::string::npos);
}

TEST(HttpStoreTest, CannotList) {
  auto store = MustCreate("http://127.0.0.1:1/");
  EXPECT_FALSE(store->CanList());
  Status s = store->List("", [](const ObjectInfo&) { return true; });
  EXPECT_EQ(s.code(), ENOTSUP);
  EXPECT_FALSE(s.retryable());
}

TEST(HttpStoreTest, RejectsBadOptions) {
  HttpStoreOptions options;
  options.base_url = "s3://x";
  EXPECT_EQ(NewHttpObjectStore(options).status().code(), EINVAL);
  options.base_url = "http://x/";
  options.header = "no colon";
  EXPECT_FALSE(NewHttpObjectStore(options).ok());
  options.header = "X: a\r\nY: b";
  EXPECT_FALSE(NewHttpObjectStore(options).ok());
}

}  // namespace
}  // namespace usbd
