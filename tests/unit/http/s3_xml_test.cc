#include "http/s3_xml.h"

#include <gtest/gtest.h>

namespace usbd {
namespace {

constexpr char kPage[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>vol/</Prefix><KeyCount>2</KeyCount>
  <MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
  <Contents><Key>vol/00000000</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>4096</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>vol/a&amp;b &lt;c&gt; &#233;&#x41;</Key><Size>7</Size></Contents>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(S3XmlTest, ParsesKeysSizesAndContinuation) {
  auto page = ParseListObjectsV2(kPage);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "vol/00000000");
  EXPECT_EQ(page->objects[0].size, 4096u);
  EXPECT_EQ(page->objects[1].key,
            "vol/a&b <c> \xc3\xa9"
            "A");
  EXPECT_EQ(page->objects[1].size, 7u);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3XmlTest, LastPageHasNoToken) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_FALSE(page->truncated);
}

TEST(S3XmlTest, TruncatedWithoutTokenIsAnError) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>");
  EXPECT_FALSE(page.ok());
}

TEST(S3XmlTest, CutShortBodyIsRetryable) {
  std::string cut(kPage, 60);
  auto page = ParseListObjectsV2(cut);
  ASSERT_FALSE(page.ok());
  EXPECT_TRUE(page.status().retryable());
}

TEST(S3XmlTest, ContentsWithoutKeyIsAnError) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><Contents><Size>1</Size></Contents>"
      "</ListBucketResult>");
  EXPECT_FALSE(page.ok());
}

TEST(S3XmlTest, ElementNamesMatchExactly) {
  bool found = false;
  EXPECT_EQ(XmlElementText("<KeyCount>3</KeyCount><Key>k</Key>", "Key", &found),
            "k");
  EXPECT_TRUE(found);
  XmlElementText("<KeyCount>3</KeyCount>", "Key", &found);
  EXPECT_FALSE(found);
  EXPECT_EQ(XmlElementText("<Prefix/>", "Prefix", &found), "");
  EXPECT_TRUE(found);
}

TEST(S3XmlTest, ParsesErrorBody) {
  S3Error error = ParseS3Error(
      "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>The request signature we calculated does not match the "
      "signature you provided.</Message><RequestId>1</RequestId></Error>");
  EXPECT_EQ(error.code, "SignatureDoesNotMatch");
  EXPECT_EQ(error.message.substr(0, 15), "The request sig");
  EXPECT_TRUE(ParseS3Error("").code.empty());
}

TEST(S3XmlTest, UnescapeKeepsInvalidReferences) {
  EXPECT_EQ(XmlUnescape("a&b;c&#xZZ;&#99999999;&"), "a&b;c&#xZZ;&#99999999;&");
  EXPECT_EQ(XmlUnescape("&#x1F600;"), "\xf0\x9f\x98\x80");
}

TEST(S3XmlTest, MalformedInputsDoNotCrash) {
  const char* inputs[] = {"<",
                          "<Key",
                          "<Key>",
                          "<Key/",
                          "</Key>",
                          "<ListBucketResult><Contents><Key>",
                          "<ListBucketResult><Contents><Key>x</Key>"};
  for (const char* input : inputs) {
    (void)ParseListObjectsV2(input);
    (void)ParseS3Error(input);
  }
}

}  // namespace
}  // namespace usbd
