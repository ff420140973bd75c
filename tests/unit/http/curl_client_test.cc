#include "http/curl_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "testing/test_http_server.h"

namespace usbd {
namespace {

using testing::CannedResponse;
using testing::ReceivedRequest;
using testing::Respond;
using testing::TestHttpServer;

CurlOptions FastOptions() {
  CurlOptions options;
  options.timeout = std::chrono::milliseconds(1500);
  options.connect_timeout = std::chrono::milliseconds(500);
  return options;
}

Result<HttpResponse> Get(CurlClient& client, const std::string& url) {
  return client.Perform({"GET", url, {}, {}, 0});
}

TEST(CurlClientTest, GetReturnsStatusHeadersAndBody) {
  TestHttpServer server([](const ReceivedRequest&) {
    return Respond(200, "hello", "ETag: \"x\"\r\n");
  });
  CurlClient client(FastOptions());
  auto response = Get(client, server.url() + "k");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->BodyText(), "hello");
  EXPECT_EQ(response->Header("etag"), "\"x\"");
}

TEST(CurlClientTest, PutSendsBodyAndHeadersWithoutExpect) {
  TestHttpServer server([](const ReceivedRequest&) { return Respond(201); });
  CurlClient client(FastOptions());
  std::vector<uint8_t> body(100000, 7);
  auto response =
      client.Perform({"PUT", server.url() + "obj", {{"X-Test", "1"}}, body, 0});
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 201);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].target, "/obj");
  EXPECT_EQ(requests[0].body, std::string(100000, 7));
  EXPECT_EQ(requests[0].headers["x-test"], "1");
  EXPECT_EQ(requests[0].headers.count("expect"), 0u);
}

TEST(CurlClientTest, DeleteAndHeadUseTheirMethods) {
  TestHttpServer server([](const ReceivedRequest& r) {
    return r.method == "HEAD" ? Respond(200, "", "Content-Length: 42\r\n")
                              : Respond(204);
  });
  CurlClient client(FastOptions());
  ASSERT_TRUE(client.Perform({"DELETE", server.url() + "a", {}, {}, 0}).ok());
  auto head = client.Perform({"HEAD", server.url() + "a", {}, {}, 0});
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->Header("content-length"), "42");
  auto requests = server.requests();
  EXPECT_EQ(requests[0].method, "DELETE");
  EXPECT_EQ(requests[1].method, "HEAD");
}

TEST(CurlClientTest, ConnectionsAreReused) {
  TestHttpServer server(
      [](const ReceivedRequest&) { return Respond(200, "x"); });
  CurlClient client(FastOptions());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Get(client, server.url()).ok());
  EXPECT_EQ(server.connections(), 1);
}

TEST(CurlClientTest, ServerErrorsAreResponsesNotTransportErrors) {
  TestHttpServer server([](const ReceivedRequest&) { return Respond(503); });
  CurlClient client(FastOptions());
  auto response = Get(client, server.url());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 503);
}

TEST(CurlClientTest, ConnectionRefusedIsRetryableAndQuick) {
  int port;
  {
    TestHttpServer server([](const ReceivedRequest&) { return Respond(200); });
    port = server.port();
  }  // closed: nothing listens there any more
  CurlClient client(FastOptions());
  auto start = std::chrono::steady_clock::now();
  auto response =
      Get(client, "http://127.0.0.1:" + std::to_string(port) + "/k");
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(response.status().retryable());
  EXPECT_EQ(response.status().code(), EIO);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(CurlClientTest, StalledServerTimesOutRetryable) {
  TestHttpServer server([](const ReceivedRequest&) {
    CannedResponse r;
    r.hang = true;
    return r;
  });
  CurlOptions options = FastOptions();
  options.timeout = std::chrono::milliseconds(300);
  CurlClient client(options);
  auto start = std::chrono::steady_clock::now();
  auto response = Get(client, server.url());
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(response.status().retryable());
  EXPECT_NE(response.status().message().find("imeout"), std::string::npos)
      << response.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(CurlClientTest, TruncatedBodyIsRetryable) {
  TestHttpServer server([](const ReceivedRequest&) {
    CannedResponse r;
    r.raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b";
    r.close = true;
    return r;
  });
  CurlClient client(FastOptions());
  auto response = Get(client, server.url());
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(response.status().retryable());
}

TEST(CurlClientTest, ResetBeforeResponseIsRetryable) {
  TestHttpServer server([](const ReceivedRequest&) {
    CannedResponse r;
    r.close = true;  // close without answering
    return r;
  });
  CurlClient client(FastOptions());
  auto response = Get(client, server.url());
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(response.status().retryable());
}

TEST(CurlClientTest, MalformedUrlIsNotRetryable) {
  CurlClient client(FastOptions());
  auto response = Get(client, "nope://x");
  ASSERT_FALSE(response.ok());
  EXPECT_FALSE(response.status().retryable());
}

TEST(CurlClientTest, DownloadSpeedCapSlowsTransfers) {
  // curl reads up to ~1.6 MB before it first throttles: send more.
  std::string body(4 << 20, 'x');
  TestHttpServer server(
      [&](const ReceivedRequest&) { return Respond(200, body); });
  CurlOptions options = FastOptions();
  options.timeout = std::chrono::seconds(10);
  options.max_download_bytes_per_sec = 2 << 20;
  CurlClient client(options);
  auto start = std::chrono::steady_clock::now();
  auto response = Get(client, server.url());
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->body.size(), body.size());
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(500));
}

TEST(HttpStatusErrorTest, ClassifiesStatusCodes) {
  EXPECT_TRUE(HttpStatusError("GET k", 500, "").retryable());
  EXPECT_TRUE(HttpStatusError("GET k", 503, "SlowDown").retryable());
  EXPECT_TRUE(HttpStatusError("GET k", 429, "").retryable());
  EXPECT_TRUE(HttpStatusError("GET k", 408, "").retryable());
  EXPECT_FALSE(HttpStatusError("GET k", 400, "").retryable());
  Status denied = HttpStatusError("GET k", 403, "AccessDenied");
  EXPECT_FALSE(denied.retryable());
  EXPECT_EQ(denied.code(), EACCES);
  EXPECT_EQ(denied.message(), "GET k: HTTP 403: AccessDenied");
}

TEST(CurlClientTest, CountsResponsesByStatusClassAndTransportErrors) {
  TestHttpServer server([](const ReceivedRequest& r) {
    if (r.target == "/missing") return Respond(404);
    if (r.target == "/busy") return Respond(503);
    if (r.target == "/moved") return Respond(301, "", "Location: /k\r\n");
    return Respond(200);
  });
  int closed_port;
  {
    TestHttpServer gone([](const ReceivedRequest&) { return Respond(200); });
    closed_port = gone.port();
  }
  CurlClient client(FastOptions());
  for (const char* path : {"k", "k", "missing", "busy", "moved"}) {
    ASSERT_TRUE(Get(client, server.url() + path).ok()) << path;
  }
  EXPECT_FALSE(
      Get(client, "http://127.0.0.1:" + std::to_string(closed_port) + "/k")
          .ok());
  std::vector<StatEntry> stats;
  client.CollectStats(&stats);
  std::map<std::string, uint64_t> by_name;
  for (const StatEntry& entry : stats) {
    by_name[entry.name] = entry.value;
    EXPECT_NE(std::string(entry.help), "") << entry.name;
  }
  EXPECT_EQ(by_name,
            (std::map<std::string, uint64_t>{{"http.responses_1xx", 0},
                                             {"http.responses_2xx", 2},
                                             {"http.responses_3xx", 1},
                                             {"http.responses_4xx", 1},
                                             {"http.responses_5xx", 1},
                                             {"http.transport_errors", 1}}));
}

TEST(Base64Test, PadsCorrectly) {
  auto b64 = [](std::string s) {
    return Base64({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace usbd
