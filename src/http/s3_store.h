// The S3 object store: ListObjectsV2, GET, PUT, DELETE and HEAD over
// libcurl, signed with AWS Signature V4 (payload hash signed, never
// UNSIGNED-PAYLOAD).
//
// Addressing: path style by default (base_url + "bucket/key"); with
// `virtual_host`, the bucket becomes the first label of the host name
// (scheme://bucket.host/key). Keys are percent-encoded once, '/' kept.
//
// Every PUT carries Content-MD5 (the server rejects a corrupted upload) and
// the configured x-amz-storage-class, x-amz-server-side-encryption and
// x-amz-acl headers. Every GET whose ETag is a plain MD5 (32 hex digits in
// quotes: not a multipart "-N" one, and not under SSE-KMS or SSE-C, whose
// ETags are not the MD5 of the content) checks the body against it; a
// mismatch is Status::Corrupt (retryable) naming the object. That is the
// only check of the raw blocks of volumes written by earlier usbd. A GET 404 is
// "no such object" unless the body says NoSuchBucket, which is an error. Errors
// carry S3's <Code> and <Message>; credential errors (SignatureDoesNotMatch,
// InvalidAccessKeyId, AccessDenied, ExpiredToken, RequestTimeTooSkewed...) are
// not retryable and say which access key id and which bucket, never the secret.
//
// Thread safety and the rest of the contract: see object_store.h.
#ifndef USBD_HTTP_S3_STORE_H_
#define USBD_HTTP_S3_STORE_H_

#include <memory>
#include <string>

#include "http/curl_client.h"
#include "http/sigv4.h"
#include "object/object_store.h"
#include "util/status.h"

namespace usbd {

struct S3StoreOptions {
  // --baseURL: scheme://host[:port]/[path/]; http or https.
  std::string base_url = "https://s3.amazonaws.com/";
  std::string bucket;                // required
  std::string region = "us-east-1";  // --region
  bool virtual_host = false;         // --vhost
  AwsCredentials credentials;        // required; the caller reads them
  std::string storage_class;         // --storageClass -> x-amz-storage-class
  std::string sse;                   // --sse -> x-amz-server-side-encryption
  // --sse-key-id -> x-amz-server-side-encryption-aws-kms-key-id (with
  // sse "aws:kms"; empty: the bucket's default KMS key).
  std::string sse_key_id;
  std::string access_type = "private";  // --accessType -> x-amz-acl; "": none
  // max-keys per ListObjectsV2 page (1..1000); small values only for tests.
  int list_page_size = 1000;
  CurlOptions http;
};

// EINVAL when the base URL, bucket or credentials are unusable. Does no I/O.
Result<std::unique_ptr<ObjectStore>> NewS3ObjectStore(S3StoreOptions options);

}  // namespace usbd

#endif  // USBD_HTTP_S3_STORE_H_
