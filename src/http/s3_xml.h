// The few S3 XML documents usbd reads: ListObjectsV2 results and error
// bodies. A minimal scanner, not a general XML parser: it finds elements by
// name, ignores attributes, namespaces and everything else, and decodes the
// five predefined entities and numeric character references. It treats its
// input as untrusted: it never reads out of bounds and fails cleanly on
// anything malformed (libFuzzer target: tests/fuzz/fuzz_s3_xml.cc).
#ifndef USBD_HTTP_S3_XML_H_
#define USBD_HTTP_S3_XML_H_

#include <string>
#include <string_view>
#include <vector>

#include "object/object_store.h"
#include "util/status.h"

namespace usbd {

struct ListPage {
  std::vector<ObjectInfo> objects;  // the <Contents> entries, in order
  bool truncated = false;           // <IsTruncated>true</IsTruncated>
  std::string next_token;           // <NextContinuationToken>
};

// Parses a ListObjectsV2 response body. EIO (retryable: the body was most
// likely cut short) when it is not a ListBucketResult, or when it says it is
// truncated without a continuation token.
Result<ListPage> ParseListObjectsV2(std::string_view xml);

struct S3Error {
  std::string code;     // <Code>, e.g. "SignatureDoesNotMatch"; "" if none
  std::string message;  // <Message>
  std::string region;   // <Region>, in redirects
};

// Parses an <Error> body; fields absent from the body are left empty.
S3Error ParseS3Error(std::string_view xml);

// The decoded text of the first element `name` in `xml` (elements of the
// same name must not nest); "" with *found = false when there is none.
std::string XmlElementText(std::string_view xml, std::string_view name,
                           bool* found);

// Decodes &amp; &lt; &gt; &quot; &apos; and &#N; / &#xN; references.
// Invalid references are kept verbatim.
std::string XmlUnescape(std::string_view text);

}  // namespace usbd

#endif  // USBD_HTTP_S3_XML_H_
