// AWS Signature V4: the published examples of AWS's sigv4 test suite and of
// the S3 developer guide, whose expected signatures were also recomputed
// independently (Python hmac/hashlib) before being written down here.
#include "http/sigv4.h"

#include <gtest/gtest.h>

namespace usbd {
namespace {

const AwsCredentials kSuiteCredentials = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const AwsCredentials kS3GuideCredentials = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const SigV4Scope kSuiteScope = {"us-east-1", "service"};
const SigV4Scope kS3Scope = {"us-east-1", "s3"};
constexpr char kEmptySha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

SigV4Request SuiteRequest() {
  SigV4Request r;
  r.method = "GET";
  r.path = "/";
  r.headers = {{"Host", "example.amazonaws.com"},
               {"X-Amz-Date", "20150830T123600Z"}};
  r.payload_sha256_hex = kEmptySha256;
  return r;
}

TEST(SigV4Test, GetVanillaMatchesTestSuite) {
  SigV4Signature sig = SignV4(SuiteRequest(), kSuiteCredentials, kSuiteScope,
                              "20150830T123600Z");
  EXPECT_EQ(sig.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
                std::string(kEmptySha256));
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n"
            "20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(sig.signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
            "service/aws4_request, SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1"
            "d763fbf31");
}

TEST(SigV4Test, QueryParametersAreSortedByName) {
  SigV4Request r = SuiteRequest();
  r.query = {{"Param2", "value2"}, {"Param1", "value1"}};
  SigV4Signature sig =
      SignV4(r, kSuiteCredentials, kSuiteScope, "20150830T123600Z");
  EXPECT_NE(sig.canonical_request.find("\nParam1=value1&Param2=value2\n"),
            std::string::npos);
  EXPECT_EQ(sig.signature,
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Test, UnreservedCharactersAreNotEncoded) {
  SigV4Request r = SuiteRequest();
  r.path =
      "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  SigV4Signature sig =
      SignV4(r, kSuiteCredentials, kSuiteScope, "20150830T123600Z");
  EXPECT_EQ(sig.signature,
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndSpacesFolded) {
  SigV4Request r = SuiteRequest();
  r.headers.push_back({"My-Header1", " value1"});
  r.headers.push_back({"My-Header2", " \"a   b   c\""});
  SigV4Signature sig =
      SignV4(r, kSuiteCredentials, kSuiteScope, "20150830T123600Z");
  EXPECT_NE(sig.canonical_request.find("my-header2:\"a b c\"\n"),
            std::string::npos);
  EXPECT_EQ(sig.signature,
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

TEST(SigV4Test, S3GuideGetObjectWithRange) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/test.txt";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", kEmptySha256},
               {"x-amz-date", "20130524T000000Z"}};
  r.payload_sha256_hex = kEmptySha256;
  SigV4Signature sig =
      SignV4(r, kS3GuideCredentials, kS3Scope, "20130524T000000Z");
  EXPECT_EQ(sig.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, S3GuidePutObjectEncodesKeyAndSignsPayload) {
  std::string body = "Welcome to Amazon S3.";
  std::string hash =
      Sha256Hex({reinterpret_cast<const uint8_t*>(body.data()), body.size()});
  EXPECT_EQ(hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SigV4Request r;
  r.method = "PUT";
  r.path = "/test$file.text";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-date", "20130524T000000Z"},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
               {"x-amz-content-sha256", hash}};
  r.payload_sha256_hex = hash;
  SigV4Signature sig =
      SignV4(r, kS3GuideCredentials, kS3Scope, "20130524T000000Z");
  EXPECT_NE(sig.canonical_request.find("PUT\n/test%24file.text\n"),
            std::string::npos);
  EXPECT_EQ(sig.signature,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, S3GuideListObjects) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/";
  r.query = {{"prefix", "J"}, {"max-keys", "2"}};
  r.payload_sha256_hex = kEmptySha256;
  auto headers = SignS3Request(&r, "examplebucket.s3.amazonaws.com",
                               kS3GuideCredentials, kS3Scope,
                               1369353600);  // 2013-05-24T00:00:00Z
  ASSERT_EQ(headers.back().first, "authorization");
  EXPECT_EQ(headers.back().second,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
            "us-east-1/s3/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711"
            "ef69dc6f7");
}

TEST(SigV4Test, SessionTokenIsSentAndSigned) {
  SigV4Request r;
  r.method = "GET";
  r.path = "/bucket/key";
  r.payload_sha256_hex = kEmptySha256;
  AwsCredentials creds = kS3GuideCredentials;
  creds.session_token = "TOKEN";
  auto headers =
      SignS3Request(&r, "localhost:9000", creds, kS3Scope, 1369353600);
  bool sent = false;
  for (const auto& [name, value] : headers) {
    if (name == "x-amz-security-token") sent = value == "TOKEN";
  }
  EXPECT_TRUE(sent);
  EXPECT_NE(headers.back().second.find(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
                "x-amz-security-token,"),
            std::string::npos);
}

TEST(SigV4Test, SecretNeverAppearsInOutput) {
  SigV4Signature sig = SignV4(SuiteRequest(), kSuiteCredentials, kSuiteScope,
                              "20150830T123600Z");
  std::string_view secret = kSuiteCredentials.secret_access_key.view();
  EXPECT_EQ(sig.canonical_request.find(secret), std::string::npos);
  EXPECT_EQ(sig.string_to_sign.find(secret), std::string::npos);
  EXPECT_EQ(sig.authorization.find(secret), std::string::npos);
}

TEST(SigV4Test, AmzDateIsUtc) {
  EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z");
}

TEST(SigV4Test, ContentMd5IsBase64OfDigest) {
  std::string body = "hello";
  EXPECT_EQ(
      Md5Base64({reinterpret_cast<const uint8_t*>(body.data()), body.size()}),
      "XUFAKrxLKna5cZ2REBfFkg==");
}

}  // namespace
}  // namespace usbd
