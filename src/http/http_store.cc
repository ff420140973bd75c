#include "http/http_store.h"

#include "http/sigv4.h"
#include "util/strings.h"

namespace usbd {
namespace {

class HttpObjectStore : public ObjectStore {
 public:
  explicit HttpObjectStore(HttpStoreOptions options)
      : options_(std::move(options)), client_(options_.http) {}

  std::string Describe() const override {
    return "HTTP store at " + options_.base_url;
  }

  Result<std::optional<std::vector<uint8_t>>> Get(const std::string& key,
                                                  size_t size_hint) override {
    auto response = Send("GET", key, {}, size_hint);
    if (!response.ok()) return response.status();
    if (response->status == 404) return std::optional<std::vector<uint8_t>>();
    if (response->status / 100 != 2) return Fail("GET", key, *response);
    return std::optional<std::vector<uint8_t>>(std::move(response->body));
  }

  Status Put(const std::string& key, std::span<const uint8_t> data) override {
    auto response = Send("PUT", key, data, 0, Md5Base64(data));
    if (!response.ok()) return response.status();
    if (response->status / 100 != 2) return Fail("PUT", key, *response);
    return Status::Ok();
  }

  Status Delete(const std::string& key) override {
    auto response = Send("DELETE", key, {}, 0);
    if (!response.ok()) return response.status();
    if (response->status == 404) return Status::Ok();
    if (response->status / 100 != 2) return Fail("DELETE", key, *response);
    return Status::Ok();
  }

  Result<std::optional<uint64_t>> Head(const std::string& key) override {
    auto response = Send("HEAD", key, {}, 0);
    if (!response.ok()) return response.status();
    if (response->status == 404) return std::optional<uint64_t>();
    if (response->status / 100 != 2) return Fail("HEAD", key, *response);
    try {
      return std::optional<uint64_t>(
          std::stoull(response->Header("content-length")));
    } catch (...) {
      return Status::IoError("HEAD " + options_.base_url + key +
                             ": no valid Content-Length in the response");
    }
  }

  Status List(const std::string&, const ListCallback&) override {
    return Status::Error(ENOTSUP,
                         "the plain HTTP store at " + options_.base_url +
                             " cannot list objects (--listBlocks needs S3)");
  }

  bool CanList() const override { return false; }
  void CollectStats(std::vector<StatEntry>* out) const override {
    client_.CollectStats(out);
  }

 private:
  Result<HttpResponse> Send(const std::string& method, const std::string& key,
                            std::span<const uint8_t> body, size_t expected_size,
                            const std::string& content_md5 = "") {
    HttpRequest request;
    request.method = method;
    request.url = options_.base_url + UriEncode(key, true);
    if (!options_.header.empty()) request.secret_header = &options_.header;
    if (!content_md5.empty()) {
      request.headers.emplace_back("Content-MD5", content_md5);
    }
    request.body = body;
    request.expected_body_size = expected_size;
    return client_.Perform(request);
  }

  Status Fail(const std::string& method, const std::string& key,
              const HttpResponse& response) const {
    // Servers answer errors with HTML pages; keep only a short excerpt.
    std::string detail;
    if (response.Header("content-type").starts_with("text/plain")) {
      detail = response.BodyText().substr(0, 200);
    }
    return HttpStatusError(method + " " + options_.base_url + key,
                           response.status, detail);
  }

  const HttpStoreOptions options_;
  CurlClient client_;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> NewHttpObjectStore(
    HttpStoreOptions options) {
  const std::string& url = options.base_url;
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return Status::Invalid("HTTP store URL '" + url +
                           "' must start with http:// or https://");
  }
  if (url.find_first_of("?#") != std::string::npos) {
    return Status::Invalid("HTTP store URL '" + url +
                           "' must not have a query or fragment");
  }
  if (!options.header.empty()) {
    std::string_view header = options.header.view();
    size_t colon = header.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        header.find_first_of("\r\n") != std::string_view::npos) {
      return Status::Invalid("HTTP store header must be 'Name: value'");
    }
  }
  if (url.back() != '/') options.base_url.push_back('/');
  return std::unique_ptr<ObjectStore>(
      std::make_unique<HttpObjectStore>(std::move(options)));
}

}  // namespace usbd
