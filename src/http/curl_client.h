// CurlClient: blocking HTTP requests over libcurl, for the object stores.
//
// A pool of CURL easy handles is reused across requests, so connections stay
// open (keep-alive) and TLS sessions and DNS lookups are cached per handle.
// Each request borrows one handle for its duration; the pool grows to the
// number of concurrent callers and keeps up to `max_idle_handles`.
//
// Perform() returns a response for every status code the server sends (the
// caller decides what a 404 or a 503 means; see HttpStatusError below) and an
// error Status only when no complete response arrived: connection refused or
// reset, DNS failure, TLS failure, timeout, truncated body. Those transport
// errors are classified retryable or not here, once, for every store.
//
// Thread safety: Perform() may be called concurrently from any thread.
// Lifecycle: the constructor does no I/O; curl_global_init runs once per
// process, on the first construction (in usbd, InstallSecureAllocators has
// already initialised libcurl with the secure allocator: it only counts).
#ifndef USBD_HTTP_CURL_CLIENT_H_
#define USBD_HTTP_CURL_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "crypto/secure_memory.h"
#include "store/stat_entry.h"
#include "util/status.h"

namespace usbd {

struct CurlOptions {
  // Whole-attempt limit (connect + send + receive): --timeout.
  std::chrono::milliseconds timeout{30000};
  // Limit on establishing the TCP (and TLS) connection alone.
  std::chrono::milliseconds connect_timeout{5000};
  // Per-transfer bandwidth caps in bytes per second (0: none):
  // --maxUploadSpeed / --maxDownloadSpeed, converted from bits by the caller.
  uint64_t max_upload_bytes_per_sec = 0;
  uint64_t max_download_bytes_per_sec = 0;
  std::string ca_file;    // --cacert: PEM bundle for TLS peers; empty: system
  bool insecure = false;  // --insecure: do not verify TLS peer or host name
  bool http11 = false;    // --http11: never negotiate HTTP/2
  bool debug = false;     // --debug-http: one log line per request
  size_t max_idle_handles = 64;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;             // GET, PUT, DELETE or HEAD
  std::string url;                // fully encoded
  HttpHeaders headers;            // sent as given; "Expect:" is suppressed
  std::span<const uint8_t> body;  // PUT only
  size_t expected_body_size = 0;  // pre-sizes the response buffer
  // One more header line "Name: value" that may be a secret: libcurl copies
  // it only into its own (secure, once InstallSecureAllocators has run)
  // memory, never into a std::string. Not owned; null for none.
  const SecretString* secret_header = nullptr;
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;  // names in lower case, values trimmed
  std::vector<uint8_t> body;

  // The first header named `name` (lower case), or "".
  std::string Header(const std::string& name) const;
  std::string BodyText() const { return std::string(body.begin(), body.end()); }
};

class CurlClient {
 public:
  explicit CurlClient(CurlOptions options);
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  // Sends one request and waits for the whole response (one attempt).
  Result<HttpResponse> Perform(const HttpRequest& request);

  const CurlOptions& options() const { return options_; }

  // Appends http.responses_1xx ... http.responses_5xx (the responses by
  // status class) and http.transport_errors (attempts that got no
  // response: refused, reset, timed out). Safe to call concurrently.
  void CollectStats(std::vector<StatEntry>* out) const;

 private:
  void* AcquireHandle();
  void ReleaseHandle(void* handle);

  const CurlOptions options_;
  std::mutex mu_;
  std::vector<void*> idle_;               // CURL*, guarded by mu_
  std::atomic<uint64_t> responses_[5]{};  // by status / 100 - 1
  std::atomic<uint64_t> transport_errors_{0};
};

// The Status for a non-2xx HTTP status: retryable for 5xx, 408 and 429,
// not for the rest. `what` names the request ("GET bucket/key"), `detail`
// adds what the body said. Codes: EACCES for 401/403, EIO otherwise.
Status HttpStatusError(const std::string& what, long status,
                       const std::string& detail);

// Standard base64 of `data`.
std::string Base64(std::span<const uint8_t> data);

}  // namespace usbd

#endif  // USBD_HTTP_CURL_CLIENT_H_
