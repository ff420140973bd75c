#include "http/s3_store.h"

#include <strings.h>

#include <cctype>
#include <ctime>

#include "http/s3_xml.h"
#include "util/strings.h"

namespace usbd {
namespace {

struct ParsedUrl {
  std::string scheme;     // "http" or "https"
  std::string authority;  // host[:port], default port dropped
  std::string path;       // starts and ends with '/'
};

Result<ParsedUrl> ParseBaseUrl(const std::string& url) {
  ParsedUrl out;
  size_t sep = url.find("://");
  if (sep == std::string::npos) {
    return Status::Invalid("base URL '" + url + "' has no scheme");
  }
  out.scheme = url.substr(0, sep);
  if (out.scheme != "http" && out.scheme != "https") {
    return Status::Invalid("base URL '" + url +
                           "': scheme must be http or https");
  }
  size_t slash = url.find('/', sep + 3);
  out.authority =
      url.substr(sep + 3, slash == std::string::npos ? std::string::npos
                                                     : slash - sep - 3);
  out.path = slash == std::string::npos ? "/" : url.substr(slash);
  if (out.authority.empty() || out.authority.find('@') != std::string::npos ||
      out.path.find_first_of("?#") != std::string::npos) {
    return Status::Invalid("base URL '" + url +
                           "' must be scheme://host[:port]/[path/]");
  }
  if (out.path.back() != '/') out.path.push_back('/');
  std::string default_port = out.scheme == "https" ? ":443" : ":80";
  if (out.authority.ends_with(default_port)) {
    out.authority.resize(out.authority.size() - default_port.size());
  }
  return out;
}

bool IsCredentialError(const std::string& code) {
  return code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" ||
         code == "AccessDenied" || code == "ExpiredToken" ||
         code == "InvalidToken" || code == "TokenRefreshRequired" ||
         code == "RequestTimeTooSkewed" ||
         code == "AuthorizationHeaderMalformed" || code == "InvalidSecurity" ||
         code == "AllAccessDisabled" || code == "AccountProblem";
}

// Retryable 4xx codes (S3 sends 400 RequestTimeout when a body was slow).
// BadDigest, XAmzContentSHA256Mismatch and IncompleteBody say the body that
// arrived is not the one sent (its Content-MD5, its signed SHA-256, its
// length): it was damaged or cut on the way, and sending it again may get
// it there whole.
bool IsRetryableCode(const std::string& code) {
  return code == "RequestTimeout" || code == "SlowDown" ||
         code == "InternalError" || code == "ServiceUnavailable" ||
         code == "OperationAborted" || code == "BadDigest" ||
         code == "XAmzContentSHA256Mismatch" || code == "IncompleteBody";
}

class S3ObjectStore : public ObjectStore {
 public:
  S3ObjectStore(S3StoreOptions options, ParsedUrl url)
      : options_(std::move(options)),
        url_(std::move(url)),
        client_(options_.http),
        empty_sha256_(Sha256Hex({})) {
    if (options_.virtual_host) {
      host_ = options_.bucket + "." + url_.authority;
      bucket_path_ = url_.path;
    } else {
      host_ = url_.authority;
      bucket_path_ = url_.path + options_.bucket + "/";
    }
  }

  std::string Describe() const override {
    return "s3://" + options_.bucket + " at " + url_.scheme + "://" + host_ +
           url_.path + " (region " + options_.region + ", " +
           (options_.virtual_host ? "virtual-host" : "path") + " style)";
  }

  Result<std::optional<std::vector<uint8_t>>> Get(const std::string& key,
                                                  size_t size_hint) override {
    auto got = GetWithHeaders(key, size_hint);
    if (!got.ok()) return got.status();
    if (!got->has_value()) return std::optional<std::vector<uint8_t>>();
    return std::optional<std::vector<uint8_t>>(std::move((*got)->data));
  }

  Result<std::optional<StoredObject>> GetWithHeaders(
      const std::string& key, size_t size_hint) override {
    auto response = Send("GET", key, {}, {}, {}, size_hint);
    if (!response.ok()) return response.status();
    if (response->status == 404) {
      S3Error error = ParseS3Error(response->BodyText());
      if (error.code == "NoSuchBucket") return Fail("GET", key, *response);
      return std::optional<StoredObject>();
    }
    if (response->status / 100 != 2) return Fail("GET", key, *response);
    USBD_RETURN_IF_ERROR(CheckETag(key, *response));
    return std::optional<StoredObject>(
        StoredObject{std::move(response->body), KeptHeaders(*response)});
  }

  Status Put(const std::string& key, std::span<const uint8_t> data) override {
    return PutWithHeaders(key, data, {});
  }

  Status PutWithHeaders(const std::string& key, std::span<const uint8_t> data,
                        const ObjectHeaders& kept) override {
    HttpHeaders headers(kept.begin(), kept.end());
    headers.emplace_back("content-md5", Md5Base64(data));
    if (!options_.storage_class.empty()) {
      headers.emplace_back("x-amz-storage-class", options_.storage_class);
    }
    if (!options_.sse.empty()) {
      headers.emplace_back("x-amz-server-side-encryption", options_.sse);
    }
    if (!options_.sse_key_id.empty()) {
      headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id",
                           options_.sse_key_id);
    }
    if (!options_.access_type.empty()) {
      headers.emplace_back("x-amz-acl", options_.access_type);
    }
    auto response = Send("PUT", key, {}, data, std::move(headers), 0);
    if (!response.ok()) return response.status();
    if (response->status / 100 != 2) return Fail("PUT", key, *response);
    return Status::Ok();
  }

  Status Delete(const std::string& key) override {
    auto response = Send("DELETE", key, {}, {}, {}, 0);
    if (!response.ok()) return response.status();
    if (response->status == 404) {
      S3Error error = ParseS3Error(response->BodyText());
      if (error.code != "NoSuchBucket") return Status::Ok();
    }
    if (response->status / 100 != 2) return Fail("DELETE", key, *response);
    return Status::Ok();
  }

  Result<std::optional<uint64_t>> Head(const std::string& key) override {
    auto response = Send("HEAD", key, {}, {}, {}, 0);
    if (!response.ok()) return response.status();
    if (response->status == 404) return std::optional<uint64_t>();
    if (response->status / 100 != 2) return Fail("HEAD", key, *response);
    std::string length = response->Header("content-length");
    uint64_t size = 0;
    try {
      size = std::stoull(length);
    } catch (...) {
      return Status::IoError("HEAD " + Name(key) +
                             ": no valid Content-Length in the response");
    }
    return std::optional<uint64_t>(size);
  }

  Result<std::optional<ObjectHeaders>> HeadHeaders(
      const std::string& key) override {
    auto response = Send("HEAD", key, {}, {}, {}, 0);
    if (!response.ok()) return response.status();
    if (response->status == 404) return std::optional<ObjectHeaders>();
    if (response->status / 100 != 2) return Fail("HEAD", key, *response);
    return std::optional<ObjectHeaders>(KeptHeaders(*response));
  }

  Status List(const std::string& prefix,
              const ListCallback& callback) override {
    std::string token;
    while (true) {
      std::vector<std::pair<std::string, std::string>> query = {
          {"list-type", "2"},
          {"prefix", prefix},
          {"max-keys", std::to_string(options_.list_page_size)}};
      if (!token.empty()) query.emplace_back("continuation-token", token);
      auto response = Send("GET", "", std::move(query), {}, {}, 0);
      if (!response.ok()) return response.status();
      if (response->status / 100 != 2) {
        return Fail("LIST", prefix + "*", *response);
      }
      auto page = ParseListObjectsV2(response->BodyText());
      if (!page.ok()) return page.status().WithContext("LIST " + Name(prefix));
      for (const ObjectInfo& info : page->objects) {
        if (!callback(info)) return Status::Ok();
      }
      if (!page->truncated) return Status::Ok();
      token = std::move(page->next_token);
    }
  }

  bool CanList() const override { return true; }
  void CollectStats(std::vector<StatEntry>* out) const override {
    client_.CollectStats(out);
  }

 private:
  // The headers S3 keeps with an object (ObjectHeaders).
  static ObjectHeaders KeptHeaders(const HttpResponse& response) {
    ObjectHeaders headers;
    for (const auto& [name, value] : response.headers) {
      if (name.starts_with("x-amz-meta-") || name == "content-encoding") {
        headers.emplace_back(name, value);
      }
    }
    return headers;
  }

  std::string Name(const std::string& key) const {
    return "s3://" + options_.bucket + "/" + key;
  }

  // One signed request for `key` ("" with a query: the bucket itself).
  Result<HttpResponse> Send(
      const std::string& method, const std::string& key,
      std::vector<std::pair<std::string, std::string>> query,
      std::span<const uint8_t> body, HttpHeaders headers,
      size_t expected_size) {
    SigV4Request sig;
    sig.method = method;
    sig.path = bucket_path_ + key;
    if (key.empty() && !options_.virtual_host) sig.path.pop_back();
    sig.query = std::move(query);
    sig.headers = std::move(headers);
    sig.payload_sha256_hex = body.empty() ? empty_sha256_ : Sha256Hex(body);

    HttpRequest request;
    request.method = method;
    request.url = url_.scheme + "://" + host_ + UriEncode(sig.path, true);
    for (size_t i = 0; i < sig.query.size(); ++i) {
      request.url += (i == 0 ? "?" : "&") +
                     UriEncode(sig.query[i].first, false) + "=" +
                     UriEncode(sig.query[i].second, false);
    }
    request.headers =
        SignS3Request(&sig, host_, options_.credentials,
                      {options_.region, "s3"}, std::time(nullptr));
    request.body = body;
    request.expected_body_size = expected_size;
    auto response = client_.Perform(request);
    if (!response.ok()) {
      return response.status().WithContext("S3 " + method + " " + Name(key));
    }
    return response;
  }

  // A body that does not match its ETag, where the ETag is the MD5 of the
  // content (see s3_store.h), is corrupt.
  Status CheckETag(const std::string& key, const HttpResponse& response) {
    const std::string etag = response.Header("etag");
    if (etag.size() != 34 || etag.front() != '"' || etag.back() != '"') {
      return Status::Ok();
    }
    const std::string md5 = etag.substr(1, 32);
    for (char c : md5) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) return Status::Ok();
    }
    std::string sse = response.Header("x-amz-server-side-encryption");
    if (sse.starts_with("aws:kms") ||
        !response.Header("x-amz-server-side-encryption-customer-algorithm")
             .empty()) {
      return Status::Ok();
    }
    std::string body_md5 = Md5Hex(response.body);
    if (strcasecmp(body_md5.c_str(), md5.c_str()) == 0) return Status::Ok();
    return Status::Corrupt("S3 GET " + Name(key) + ": the body (" +
                           std::to_string(response.body.size()) +
                           " bytes, MD5 " + body_md5 +
                           ") does not match its ETag " + etag +
                           ": corrupt in transit or at rest");
  }

  // The one clear error for a failed S3 request.
  Status Fail(const std::string& method, const std::string& key,
              const HttpResponse& response) const {
    S3Error error = ParseS3Error(response.BodyText());
    std::string what = "S3 " + method + " " + Name(key);
    std::string detail = error.code;
    if (!error.message.empty()) detail += " (" + error.message + ")";
    long status = response.status;

    if (IsCredentialError(error.code) || status == 401 || status == 403) {
      std::string hint;
      if (error.code == "SignatureDoesNotMatch") {
        hint = "the secret access key is wrong for access key id '";
      } else if (error.code == "InvalidAccessKeyId") {
        hint = "the server does not know access key id '";
      } else if (error.code == "RequestTimeTooSkewed") {
        hint = "this host's clock is wrong; signing as access key id '";
      } else if (error.code == "AuthorizationHeaderMalformed") {
        hint = "check --region (now '" + options_.region +
               "') for access key id '";
      } else {
        hint = "permission denied for access key id '";
      }
      return Status::Error(EACCES,
                           what + ": HTTP " + std::to_string(status) +
                               (detail.empty() ? "" : " " + detail) + ": " +
                               hint + options_.credentials.access_key_id +
                               "' on bucket '" + options_.bucket + "'",
                           false);
    }
    if (status == 301 || status == 307 || status == 308 ||
        error.code == "PermanentRedirect") {
      std::string region = response.Header("x-amz-bucket-region");
      if (region.empty()) region = error.region;
      return Status::IoError(
          what + ": HTTP " + std::to_string(status) + " " + detail +
          ": bucket '" + options_.bucket + "' is elsewhere" +
          (region.empty() ? "" : " (region " + region + ")") +
          "; check --region, --baseURL and --vhost");
    }
    if (error.code == "NoSuchBucket") {
      return Status::IoError(what + ": bucket '" + options_.bucket +
                             "' does not exist at " + url_.scheme + "://" +
                             host_ + url_.path);
    }
    Status s = HttpStatusError(what, status, detail);
    if (!s.retryable() && IsRetryableCode(error.code)) {
      return Status::Error(s.code(), s.message(), true);
    }
    return s;
  }

  const S3StoreOptions options_;
  const ParsedUrl url_;
  CurlClient client_;
  const std::string empty_sha256_;
  std::string host_;         // the Host header: [bucket.]host[:port]
  std::string bucket_path_;  // decoded path of the bucket, ends with '/'
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> NewS3ObjectStore(S3StoreOptions options) {
  auto url = ParseBaseUrl(options.base_url);
  if (!url.ok()) return url.status();
  if (options.bucket.empty() || options.bucket.find('/') != std::string::npos) {
    return Status::Invalid("S3 bucket name '" + options.bucket +
                           "' is empty or contains '/'");
  }
  if (options.credentials.access_key_id.empty() ||
      options.credentials.secret_access_key.empty()) {
    return Status::Invalid("S3 store for bucket '" + options.bucket +
                           "' has no access key id or secret access key");
  }
  if (options.list_page_size < 1 || options.list_page_size > 1000) {
    return Status::Invalid("S3 list page size must be 1..1000");
  }
  if (options.region.empty()) return Status::Invalid("S3 region is empty");
  return std::unique_ptr<ObjectStore>(
      std::make_unique<S3ObjectStore>(std::move(options), *std::move(url)));
}

}  // namespace usbd
