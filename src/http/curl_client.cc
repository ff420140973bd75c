#include "http/curl_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include "util/attempt_deadline.h"
#include "util/log.h"

namespace usbd {
namespace {

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// What a transfer reads from and writes to, through curl's callbacks.
struct Transfer {
  std::span<const uint8_t> upload;
  size_t uploaded = 0;
  HttpResponse* response = nullptr;
};

size_t ReadCallback(char* buffer, size_t size, size_t nitems, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = std::min(size * nitems, t->upload.size() - t->uploaded);
  std::memcpy(buffer, t->upload.data() + t->uploaded, n);
  t->uploaded += n;
  return n;
}

// curl rewinds when it must resend the body (a redirect, a reused
// connection that turned out closed).
int SeekCallback(void* userp, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(userp);
  if (origin != SEEK_SET || offset < 0 ||
      static_cast<uint64_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->uploaded = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = size * nmemb;
  // As uint8_t: inserting char* into a vector<uint8_t> converts byte by
  // byte (it was a third of a cold read's CPU); same-type pointers are one
  // memmove, with no zero-filling first.
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  t->response->body.insert(t->response->body.end(), bytes, bytes + n);
  return n;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<uint8_t>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<uint8_t>(s.back()))) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

size_t HeaderCallback(char* data, size_t size, size_t nitems, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = size * nitems;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    // A new response (after a 100 Continue or a redirect): forget the last.
    t->response->headers.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<uint8_t>(c)));
  }
  t->response->headers.emplace_back(std::move(name),
                                    Trim(line.substr(colon + 1)));
  return n;
}

// Transport failures: which a later attempt may cure.
Status TransportError(const std::string& what, CURLcode code,
                      const char* detail) {
  bool retryable;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_SEND_FAIL_REWIND:
      retryable = true;
      break;
    default:
      retryable = false;
  }
  int err = EIO;
  if (code == CURLE_OUT_OF_MEMORY) err = ENOMEM;
  if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL) {
    err = EINVAL;
  }
  std::string message = what + ": " + curl_easy_strerror(code);
  if (detail != nullptr && detail[0] != '\0') message += ": " + Trim(detail);
  return Status::Error(err, message, retryable);
}

}  // namespace

std::string HttpResponse::Header(const std::string& name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

CurlClient::CurlClient(CurlOptions options) : options_(std::move(options)) {
  GlobalInitOnce();
}

CurlClient::~CurlClient() {
  for (void* handle : idle_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

void* CurlClient::AcquireHandle() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      void* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void CurlClient::ReleaseHandle(void* handle) {
  // curl_easy_reset clears options but keeps the handle's open connections,
  // TLS session and DNS caches: that is the point of the pool.
  curl_easy_reset(static_cast<CURL*>(handle));
  {
    std::lock_guard lock(mu_);
    if (idle_.size() < options_.max_idle_handles) {
      idle_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

Result<HttpResponse> CurlClient::Perform(const HttpRequest& request) {
  const std::string what = request.method + " " + request.url;
  CURL* curl = static_cast<CURL*>(AcquireHandle());
  if (curl == nullptr) {
    return Status::Error(ENOMEM, what + ": curl_easy_init failed", true);
  }
  HttpResponse response;
  response.body.reserve(request.expected_body_size);
  Transfer transfer{request.body, 0, &response};
  char error_buffer[CURL_ERROR_SIZE] = "";

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // Within what the retry layer has left of its budget, if it set a limit.
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(AttemptTimeout(options_.timeout).count()));
  curl_easy_setopt(
      curl, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(AttemptTimeout(options_.connect_timeout).count()));
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  if (options_.max_upload_bytes_per_sec > 0) {
    curl_easy_setopt(
        curl, CURLOPT_MAX_SEND_SPEED_LARGE,
        static_cast<curl_off_t>(options_.max_upload_bytes_per_sec));
  }
  if (options_.max_download_bytes_per_sec > 0) {
    curl_easy_setopt(
        curl, CURLOPT_MAX_RECV_SPEED_LARGE,
        static_cast<curl_off_t>(options_.max_download_bytes_per_sec));
  }
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  if (options_.insecure) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (options_.http11) {
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  }

  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadCallback);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekCallback);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);

  struct curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  if (request.secret_header != nullptr) {
    headers = curl_slist_append(headers, request.secret_header->c_str());
  }
  // No "Expect: 100-continue" round trip before each PUT body.
  headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  auto start = std::chrono::steady_clock::now();
  CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    if (response.status >= 100 && response.status < 600) {
      responses_[response.status / 100 - 1].fetch_add(
          1, std::memory_order_relaxed);
    }
  } else {
    transport_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  ReleaseHandle(curl);

  if (options_.debug) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    LogInfo("http: " + what + " -> " +
            (code == CURLE_OK ? std::to_string(response.status)
                              : std::string(curl_easy_strerror(code))) +
            " (" + std::to_string(request.body.size()) + " up, " +
            std::to_string(response.body.size()) + " down, " +
            std::to_string(ms) + " ms)");
  }
  if (code != CURLE_OK) return TransportError(what, code, error_buffer);
  return response;
}

void CurlClient::CollectStats(std::vector<StatEntry>* out) const {
  static constexpr const char* kHelp[] = {
      "HTTP responses 1xx (informational)", "HTTP responses 2xx (success)",
      "HTTP responses 3xx (redirection)",
      "HTTP responses 4xx (client error: denied, missing, ...)",
      "HTTP responses 5xx (server error: retried)"};
  for (int i = 0; i < 5; ++i) {
    out->push_back({"http.responses_" + std::to_string(i + 1) + "xx",
                    responses_[i].load(), kHelp[i]});
  }
  out->push_back({"http.transport_errors", transport_errors_.load(),
                  "HTTP attempts that got no response (refused, reset, "
                  "timed out)"});
}

Status HttpStatusError(const std::string& what, long status,
                       const std::string& detail) {
  bool retryable = status >= 500 || status == 408 || status == 429;
  int err = (status == 401 || status == 403) ? EACCES : EIO;
  std::string message = what + ": HTTP " + std::to_string(status);
  if (!detail.empty()) message += ": " + detail;
  return Status::Error(err, message, retryable);
}

std::string Base64(std::span<const uint8_t> data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < data.size()) {
    uint32_t v = data[i] << 16;
    if (i + 1 < data.size()) v |= data[i + 1] << 8;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace usbd
