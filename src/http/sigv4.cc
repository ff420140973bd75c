#include "http/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>

#include "http/curl_client.h"
#include "util/hex.h"
#include "util/strings.h"

namespace usbd {
namespace {

using Bytes = std::vector<uint8_t>;

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Bytes Digest(const EVP_MD* md, std::span<const uint8_t> data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  out.resize(len);
  return out;
}

constexpr size_t kSha256Size = 32;

// HMAC-SHA256 into `out`. The caller wipes `out` when it is a key.
void HmacSha256(std::span<const uint8_t> key, std::string_view message,
                uint8_t (&out)[kSha256Size]) {
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       out, &len);
}

std::string ToLower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<uint8_t>(c)));
  return s;
}

// Trims and folds inner runs of spaces to one, as SigV4 canonical headers
// require.
std::string CanonicalHeaderValue(const std::string& value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string CanonicalQuery(
    const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name + "=" + value;
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::span<const uint8_t> data) {
  return HexBytes(Digest(EVP_sha256(), data));
}

std::string Md5Base64(std::span<const uint8_t> data) {
  return Base64(Digest(EVP_md5(), data));
}

std::string Md5Hex(std::span<const uint8_t> data) {
  return HexBytes(Digest(EVP_md5(), data));
}

std::string AmzDate(std::time_t t) {
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Signature SignV4(const SigV4Request& request,
                      const AwsCredentials& credentials,
                      const SigV4Scope& scope, const std::string& amz_date) {
  // Headers sorted by lower-case name; repeated names join with ','.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : request.headers) {
    headers.emplace_back(ToLower(name), CanonicalHeaderValue(value));
  }
  std::stable_sort(
      headers.begin(), headers.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.back() = ',';
      canonical_headers += headers[i].second + "\n";
      continue;
    }
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += headers[i].first;
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
  }

  SigV4Signature sig;
  std::string path = request.path.empty() ? "/" : request.path;
  sig.canonical_request = request.method + "\n" + UriEncode(path, true) + "\n" +
                          CanonicalQuery(request.query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" +
                          request.payload_sha256_hex;

  std::string date = amz_date.substr(0, 8);
  std::string credential_scope =
      date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  sig.string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" +
                       credential_scope + "\n" +
                       Sha256Hex(AsBytes(sig.canonical_request));

  // The secret and the keys derived from it stay in secure memory (see
  // crypto/secure_memory.h) and on this stack frame, wiped before return.
  uint8_t key[kSha256Size], next[kSha256Size], signature[kSha256Size];
  {
    SecretString secret("AWS4");
    secret.Append(credentials.secret_access_key.view());
    std::string_view text = secret.view();
    HmacSha256({reinterpret_cast<const uint8_t*>(text.data()), text.size()},
               date, key);
  }
  HmacSha256(key, scope.region, next);
  HmacSha256(next, scope.service, key);
  HmacSha256(key, "aws4_request", next);
  HmacSha256(next, sig.string_to_sign, signature);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(next, sizeof next);
  sig.signature = HexBytes(signature);
  sig.authorization =
      "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" +
      credential_scope + ", SignedHeaders=" + signed_headers +
      ", Signature=" + sig.signature;
  return sig;
}

std::vector<std::pair<std::string, std::string>> SignS3Request(
    SigV4Request* request, const std::string& host,
    const AwsCredentials& credentials, const SigV4Scope& scope,
    std::time_t now) {
  std::string amz_date = AmzDate(now);
  auto& headers = request->headers;
  headers.emplace_back("host", host);
  headers.emplace_back("x-amz-date", amz_date);
  headers.emplace_back("x-amz-content-sha256", request->payload_sha256_hex);
  if (!credentials.session_token.empty()) {
    headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  SigV4Signature sig = SignV4(*request, credentials, scope, amz_date);
  std::vector<std::pair<std::string, std::string>> out = headers;
  out.emplace_back("authorization", sig.authorization);
  return out;
}

}  // namespace usbd
