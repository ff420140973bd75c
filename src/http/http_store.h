// The plain HTTP object store: GET, PUT, DELETE and HEAD of
// base_url + key, for a WebDAV-style server such as nginx with
// `dav_methods PUT DELETE; create_full_put_path on;`.
//
// No signing; optionally one static header on every request (for example
// "Authorization: Bearer ..."), whose value is never logged. Listing is not
// possible over plain HTTP: List returns ENOTSUP, so `--listBlocks` cannot
// be used with this store. Keys are percent-encoded, '/' kept. Status codes
// are classified as for S3 (curl_client.h: HttpStatusError); 404 on GET and
// HEAD is a missing object, on DELETE success. Every PUT carries
// Content-MD5 (RFC 1864), for servers and proxies that check it; nothing is
// verified on GET here (plain servers send no content hash): the objects
// carry their own checksum (codec/object_format.h).
//
// Thread safety and the rest of the contract: see object_store.h.
#ifndef USBD_HTTP_HTTP_STORE_H_
#define USBD_HTTP_HTTP_STORE_H_

#include <memory>
#include <string>

#include "crypto/secure_memory.h"
#include "http/curl_client.h"
#include "object/object_store.h"
#include "util/status.h"

namespace usbd {

struct HttpStoreOptions {
  // http[s]://host[:port]/[path/]; objects live at base_url + key. A
  // missing final '/' is added.
  std::string base_url;
  // One extra request header, "Name: value", or "" for none. It may hold
  // a secret (a bearer token): it stays in secure memory, also inside
  // libcurl (crypto/secure_memory.h), and is sent as given.
  SecretString header;
  CurlOptions http;
};

// EINVAL when the base URL or header is unusable. Does no I/O.
Result<std::unique_ptr<ObjectStore>> NewHttpObjectStore(
    HttpStoreOptions options);

}  // namespace usbd

#endif  // USBD_HTTP_HTTP_STORE_H_
