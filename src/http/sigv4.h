// AWS Signature Version 4, header form, over OpenSSL (HMAC-SHA256, SHA-256).
//
// SignV4() signs exactly the headers it is given: the caller adds "host",
// "x-amz-date", "x-amz-content-sha256" (the hex SHA-256 of the payload:
// usbd signs payloads, it never sends UNSIGNED-PAYLOAD) and, with temporary
// credentials, "x-amz-security-token" before signing, then sends those same
// headers plus the returned Authorization value. AddS3SigningHeaders() does
// that for the S3 store.
//
// The canonical URI is the request path percent-encoded once per RFC 3986
// with '/' kept, and never normalised: S3's rules (other AWS services encode
// twice and normalise "." and ".." segments; usbd talks only to S3).
//
// All functions are pure and thread-safe. Secrets appear only in the
// derived key, never in any string returned; the secret key and the keys
// derived from it live only in secure memory (crypto/secure_memory.h) and
// wiped stack arrays.
#ifndef USBD_HTTP_SIGV4_H_
#define USBD_HTTP_SIGV4_H_

#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "crypto/secure_memory.h"

namespace usbd {

struct AwsCredentials {
  std::string access_key_id;
  SecretString secret_access_key;  // in secure memory, never in a dump
  // Empty unless temporary credentials. Sent as a header, so it is copied
  // into ordinary memory with each request (it is useless without the
  // secret key).
  std::string session_token;
};

struct SigV4Request {
  std::string method;  // "GET", "PUT"...
  std::string path;    // decoded path, e.g. "/bucket/a b"; "" means "/"
  // Decoded query parameters, in any order; a flag without value has "".
  std::vector<std::pair<std::string, std::string>> query;
  // Every header to sign, any case, in any order; values are trimmed and
  // inner runs of spaces folded as SigV4 requires.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256_hex;
};

struct SigV4Scope {
  std::string region;   // "us-east-1"
  std::string service;  // "s3"
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // lower-case hex
  std::string authorization;  // the Authorization header's value
};

// `amz_date` is the request time as in x-amz-date: "20150830T123600Z".
SigV4Signature SignV4(const SigV4Request& request,
                      const AwsCredentials& credentials,
                      const SigV4Scope& scope, const std::string& amz_date);

// "YYYYMMDDTHHMMSSZ" for `t` in UTC.
std::string AmzDate(std::time_t t);

// Adds host, x-amz-date, x-amz-content-sha256 (and x-amz-security-token
// when credentials have a session token) to request->headers, signs at time
// `now`, and returns request->headers followed by Authorization: exactly
// the headers to send. request->payload_sha256_hex must be set.
std::vector<std::pair<std::string, std::string>> SignS3Request(
    SigV4Request* request, const std::string& host,
    const AwsCredentials& credentials, const SigV4Scope& scope,
    std::time_t now);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::span<const uint8_t> data);
// Base64 of the MD5 of `data` (the Content-MD5 header).
std::string Md5Base64(std::span<const uint8_t> data);
// Lower-case hex of the MD5 of `data` (an S3 ETag of a simple upload).
std::string Md5Hex(std::span<const uint8_t> data);

}  // namespace usbd

#endif  // USBD_HTTP_SIGV4_H_
