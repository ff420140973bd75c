// The S3 store against a canned loopback server: what it sends and how it
// classifies what comes back. Signatures are verified for real by moto in
// tests/integration/http_store_test.cc.
#include "http/s3_store.h"

#include <gtest/gtest.h>

#include "http/sigv4.h"
#include "testing/test_http_server.h"

namespace usbd {
namespace {

using testing::ReceivedRequest;
using testing::Respond;
using testing::TestHttpServer;

constexpr char kKeyId[] = "AKIATESTKEYID";
constexpr char kSecret[] = "very/secret+key";

S3StoreOptions Options(const std::string& url) {
  S3StoreOptions options;
  options.base_url = url;
  options.bucket = "bucket";
  options.credentials = {kKeyId, kSecret, ""};
  options.http.timeout = std::chrono::milliseconds(2000);
  return options;
}

std::unique_ptr<ObjectStore> MustCreate(S3StoreOptions options) {
  auto store = NewS3ObjectStore(std::move(options));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

std::string ErrorBody(const std::string& code) {
  return "<?xml version=\"1.0\"?><Error><Code>" + code +
         "</Code><Message>details</Message></Error>";
}

TEST(S3StoreTest, PutSendsSignedPayloadHashAndContentMd5) {
  TestHttpServer server([](const ReceivedRequest&) { return Respond(200); });
  S3StoreOptions options = Options(server.url());
  options.storage_class = "STANDARD_IA";
  options.sse = "AES256";
  auto store = MustCreate(options);
  std::vector<uint8_t> data = {'h', 'e', 'l', 'l', 'o'};
  ASSERT_TRUE(store->Put("vol/0000000a", data).ok());
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  auto& r = requests[0];
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.target, "/bucket/vol/0000000a");
  EXPECT_EQ(r.headers["content-md5"], "XUFAKrxLKna5cZ2REBfFkg==");
  EXPECT_EQ(r.headers["x-amz-content-sha256"], Sha256Hex(data));
  EXPECT_EQ(r.headers["x-amz-storage-class"], "STANDARD_IA");
  EXPECT_EQ(r.headers["x-amz-server-side-encryption"], "AES256");
  EXPECT_EQ(r.headers["x-amz-acl"], "private");
  EXPECT_EQ(r.headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  const std::string& auth = r.headers["authorization"];
  EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIATESTKEYID/", 0), 0u);
  EXPECT_NE(auth.find("/us-east-1/s3/aws4_request"), std::string::npos);
  EXPECT_NE(auth.find("content-md5;host;x-amz-acl;x-amz-content-sha256;"),
            std::string::npos);
  EXPECT_EQ(r.body, "hello");
}

TEST(S3StoreTest, VirtualHostPutsBucketInHostName) {
  TestHttpServer server([](const ReceivedRequest&) { return Respond(200); });
  S3StoreOptions options =
      Options("http://localhost:" + std::to_string(server.port()));
  options.virtual_host = true;
  auto store = MustCreate(options);
  ASSERT_TRUE(store->Delete("a b").ok());
  auto r = server.requests().at(0);
  EXPECT_EQ(r.target, "/a%20b");
  EXPECT_EQ(r.headers["host"],
            "bucket.localhost:" + std::to_string(server.port()));
}

TEST(S3StoreTest, MissingObjectIsNulloptButMissingBucketIsAnError) {
  bool bucket_missing = false;
  TestHttpServer server([&](const ReceivedRequest&) {
    return Respond(404,
                   ErrorBody(bucket_missing ? "NoSuchBucket" : "NoSuchKey"));
  });
  auto store = MustCreate(Options(server.url()));
  auto got = store->Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_TRUE(store->Delete("k").ok());
  bucket_missing = true;
  got = store->Get("k");
  ASSERT_FALSE(got.ok());
  EXPECT_FALSE(got.status().retryable());
  EXPECT_NE(got.status().message().find("bucket 'bucket' does not exist"),
            std::string::npos);
}

TEST(S3StoreTest, SignatureMismatchIsOneClearNonRetryableError) {
  TestHttpServer server([](const ReceivedRequest&) {
    return Respond(403, ErrorBody("SignatureDoesNotMatch"));
  });
  auto store = MustCreate(Options(server.url()));
  auto got = store->Get("vol/00000000");
  ASSERT_FALSE(got.ok());
  const Status& s = got.status();
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(s.code(), EACCES);
  EXPECT_NE(s.message().find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_NE(s.message().find(kKeyId), std::string::npos);
  EXPECT_NE(s.message().find("bucket 'bucket'"), std::string::npos);
  EXPECT_EQ(s.message().find(kSecret), std::string::npos);
}

TEST(S3StoreTest, ServerSideTroubleIsRetryable) {
  int status = 503;
  std::string code = "SlowDown";
  TestHttpServer server(
      [&](const ReceivedRequest&) { return Respond(status, ErrorBody(code)); });
  auto store = MustCreate(Options(server.url()));
  for (auto [s, c] : {std::pair{503, "SlowDown"},
                      {500, "InternalError"},
                      {400, "RequestTimeout"},
                      {429, ""}}) {
    status = s;
    code = c;
    Status put = store->Put("k", std::vector<uint8_t>(3, 1));
    EXPECT_FALSE(put.ok());
    EXPECT_TRUE(put.retryable()) << put.message();
    EXPECT_NE(put.message().find(code), std::string::npos);
  }
  status = 400;
  code = "InvalidArgument";
  EXPECT_FALSE(store->Put("k", std::vector<uint8_t>(3, 1)).retryable());
}

// An upload that arrived damaged (radosgw and AWS check the body against
// its Content-MD5 and its signed SHA-256): sending it again may get it
// there whole. (tests/integration/s3_nbd.sh damages real uploads.)
TEST(S3StoreTest, UploadDamagedOnTheWayIsRetryable) {
  std::string code;
  TestHttpServer server(
      [&](const ReceivedRequest&) { return Respond(400, ErrorBody(code)); });
  auto store = MustCreate(Options(server.url()));
  for (const char* c :
       {"BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody"}) {
    code = c;
    Status put = store->Put("vol/00000001", std::vector<uint8_t>(3, 1));
    EXPECT_FALSE(put.ok());
    EXPECT_TRUE(put.retryable()) << put.message();
    EXPECT_NE(put.message().find(code), std::string::npos) << put.message();
  }
  // A digest that is malformed, not wrong, is usbd's own fault.
  code = "InvalidDigest";
  EXPECT_FALSE(store->Put("k", std::vector<uint8_t>(3, 1)).retryable());
}

// "hello": MD5 5d41402abc4b2a76b9719d911017c592.
TEST(S3StoreTest, GetChecksTheBodyAgainstAnMd5ETag) {
  TestHttpServer server([](const ReceivedRequest& r) {
    if (r.target.ends_with("/good")) {
      return Respond(200, "hello",
                     "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n");
    }
    if (r.target.ends_with("/multipart")) {
      return Respond(200, "hello",
                     "ETag: \"5d41402abc4b2a76b9719d911017c592-2\"\r\n");
    }
    if (r.target.ends_with("/kms")) {
      return Respond(200, "hellO",
                     "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n"
                     "x-amz-server-side-encryption: aws:kms\r\n");
    }
    return Respond(200, "hellO",
                   "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n");
  });
  auto store = MustCreate(Options(server.url()));
  EXPECT_TRUE(store->Get("good").ok());
  EXPECT_TRUE(store->Get("multipart").ok()) << "not an MD5: not checked";
  EXPECT_TRUE(store->Get("kms").ok()) << "not an MD5 under SSE-KMS";
  auto got = store->Get("vol/flipped");
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().corrupt());
  EXPECT_TRUE(got.status().retryable());
  EXPECT_NE(got.status().message().find("s3://bucket/vol/flipped"),
            std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("does not match its ETag"),
            std::string::npos);
}

TEST(S3StoreTest, HeadReportsSize) {
  TestHttpServer server([](const ReceivedRequest& r) {
    if (r.target.ends_with("/absent")) return Respond(404);
    return Respond(200, "", "Content-Length: 4096\r\n");
  });
  auto store = MustCreate(Options(server.url()));
  auto head = store->Head("present");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->value_or(0), 4096u);
  head = store->Head("absent");
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
}

TEST(S3StoreTest, ListFollowsContinuationTokens) {
  TestHttpServer server([](const ReceivedRequest& r) {
    std::string body = "<ListBucketResult>";
    if (r.target.find("continuation-token=t%2F2") != std::string::npos) {
      body +=
          "<Contents><Key>p/3</Key><Size>1</Size></Contents>"
          "<IsTruncated>false</IsTruncated>";
    } else {
      body +=
          "<Contents><Key>p/1</Key><Size>1</Size></Contents>"
          "<Contents><Key>p/2</Key><Size>2</Size></Contents>"
          "<IsTruncated>true</IsTruncated>"
          "<NextContinuationToken>t/2</NextContinuationToken>";
    }
    return Respond(200, body + "</ListBucketResult>");
  });
  S3StoreOptions options = Options(server.url());
  options.list_page_size = 2;
  auto store = MustCreate(options);
  std::vector<std::string> keys;
  ASSERT_TRUE(store
                  ->List("p/",
                         [&](const ObjectInfo& info) {
                           keys.push_back(info.key);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"p/1", "p/2", "p/3"}));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(
      requests[0].target.rfind("/bucket?list-type=2&prefix=p%2F&max-keys=2", 0),
      0u);
}

TEST(S3StoreTest, ListStopsWhenCallbackSaysSo) {
  TestHttpServer server([](const ReceivedRequest&) {
    return Respond(200,
                   "<ListBucketResult><Contents><Key>a</Key></Contents>"
                   "<Contents><Key>b</Key></Contents><IsTruncated>true"
                   "</IsTruncated><NextContinuationToken>x"
                   "</NextContinuationToken></ListBucketResult>");
  });
  auto store = MustCreate(Options(server.url()));
  int calls = 0;
  ASSERT_TRUE(store
                  ->List("",
                         [&](const ObjectInfo&) {
                           ++calls;
                           return false;
                         })
                  .ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(S3StoreTest, RejectsUnusableOptions) {
  S3StoreOptions options = Options("ftp://x/");
  EXPECT_EQ(NewS3ObjectStore(options).status().code(), EINVAL);
  options = Options("http://x/");
  options.bucket = "";
  EXPECT_FALSE(NewS3ObjectStore(options).ok());
  options = Options("http://x/");
  options.credentials.secret_access_key = "";
  EXPECT_FALSE(NewS3ObjectStore(options).ok());
}

TEST(S3StoreTest, DescribeNamesBucketAndEndpointNotSecrets) {
  auto store = MustCreate(Options("https://s3.example.com:443/"));
  std::string d = store->Describe();
  EXPECT_NE(d.find("s3://bucket at https://s3.example.com/"),
            std::string::npos);
  EXPECT_EQ(d.find(kSecret), std::string::npos);
}

}  // namespace
}  // namespace usbd
