#include "config/option_checks.h"

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "config/option_table.h"
#include "config/options.h"
#include "util/strings.h"

namespace usbd::options_internal {
namespace {

bool AllOf(const std::string& text, const char* extra) {
  return std::all_of(text.begin(), text.end(), [extra](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::strchr(extra, c) != nullptr;
  });
}

bool OneOf(const std::string& text, std::initializer_list<const char*> list) {
  return std::any_of(list.begin(), list.end(),
                     [&](const char* s) { return text == s; });
}

}  // namespace

Result<bool> ParseBool(const std::string& text) {
  std::string t;
  for (unsigned char c : text) t += static_cast<char>(std::tolower(c));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return Status::Invalid(Quote(text) + " is not a boolean (use true or false)");
}

Status CheckListen(const std::string& text) {
  const Status bad =
      Status::Invalid(Quote(text) + " is not unix:PATH or tcp:HOST:PORT");
  if (text.rfind("unix:", 0) == 0) {
    std::string path = text.substr(5);
    if (path.empty()) return bad;
    // sockaddr_un.sun_path is 108 bytes including the terminating NUL.
    if (path.size() > 107) {
      return Status::Invalid(Quote(text) +
                             ": socket path longer than 107 bytes");
    }
    return Status::Ok();
  }
  if (text.rfind("tcp:", 0) == 0) {
    std::string rest = text.substr(4);
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0) return bad;
    std::string host = rest.substr(0, colon);
    if (host.front() == '[' && (host.size() < 3 || host.back() != ']')) {
      return bad;
    }
    std::optional<uint64_t> port = ParseDecimal(rest.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) {
      return Status::Invalid(Quote(text) + ": port must be 1 to 65535");
    }
    return Status::Ok();
  }
  return bad;
}

Status CheckBaseUrl(const std::string& text) {
  size_t host = 0;
  if (text.rfind("http://", 0) == 0) host = 7;
  if (text.rfind("https://", 0) == 0) host = 8;
  size_t end = text.find('/', host);
  std::string authority = text.substr(host, end - host);
  bool printable = std::all_of(text.begin(), text.end(), [](char c) {
    return c > ' ' && c < 0x7f && c != '?' && c != '#';
  });
  if (host == 0 || authority.empty() || !printable ||
      authority.find('@') != std::string::npos) {
    return Status::Invalid(Quote(text) +
                           " is not an http:// or https:// URL (scheme, "
                           "host[:port], optional /path/)");
  }
  return Status::Ok();
}

Status CheckRegion(const std::string& text) {
  if (text.empty() || !AllOf(text, "-_")) {
    return Status::Invalid(Quote(text) +
                           " is not a region name (e.g. eu-west-1)");
  }
  return Status::Ok();
}

Status CheckStorageClass(const std::string& text) {
  if (!AllOf(text, "_-")) {
    return Status::Invalid(Quote(text) +
                           " is not a storage class (e.g. STANDARD_IA)");
  }
  return Status::Ok();
}

Status CheckSse(const std::string& text) {
  if (!OneOf(text, {"", "AES256", "aws:kms", "aws:kms:dsse"})) {
    return Status::Invalid(Quote(text) +
                           " is not supported (use AES256 or aws:kms)");
  }
  return Status::Ok();
}

Status CheckAccessType(const std::string& text) {
  if (!OneOf(text, {"", "private", "public-read", "public-read-write",
                    "authenticated-read", "aws-exec-read", "bucket-owner-read",
                    "bucket-owner-full-control"})) {
    return Status::Invalid(
        Quote(text) +
        " is not a canned ACL (private, public-read, public-read-write, "
        "authenticated-read, aws-exec-read, bucket-owner-read, "
        "bucket-owner-full-control)");
  }
  return Status::Ok();
}

Status CheckAuthVersion(const std::string& text) {
  if (text != "aws4") {
    return Status::Invalid(Quote(text) +
                           " is not supported (only aws4, AWS Signature "
                           "Version 4)");
  }
  return Status::Ok();
}

Status CheckEnvName(const std::string& text) {
  if (!text.empty() && (!AllOf(text, "_") || std::isdigit(text[0]))) {
    return Status::Invalid(Quote(text) +
                           " is not an environment variable name");
  }
  return Status::Ok();
}

// The value may be a secret: the message never repeats it.
Status CheckHttpHeader(std::string_view text) {
  if (text.empty()) return Status::Ok();
  size_t colon = text.find(':');
  bool ok = colon != std::string_view::npos && colon > 0 &&
            AllOf(std::string(text.substr(0, colon)), "!#$%&'*+-.^_`|~");
  for (size_t i = colon + 1; ok && i < text.size(); ++i) {
    unsigned char c = text[i];
    ok = c == '\t' || (c >= ' ' && c != 0x7f);
  }
  if (!ok) {
    return Status::Invalid(
        "expected 'Name: value' (a header name, a colon, then the value on "
        "one line)");
  }
  return Status::Ok();
}

Status CheckCaFile(const std::string& text) {
  if (!text.empty() && access(text.c_str(), R_OK) != 0) {
    return Status::Error(
        errno, "cannot read " + Quote(text) + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// --nbdBlockSize: 0 (automatic) or a kernel sector size.
Status CheckSectorSize(const std::string& text) {
  Result<uint64_t> size = ParseSize(text);
  if (!size.ok()) return size.status();
  uint64_t n = *size;
  if (n != 0 && (n < 512 || n > 4096 || (n & (n - 1)) != 0)) {
    return Status::Invalid(Quote(text) +
                           " is not 0 or a power of two from 512 to 4096");
  }
  return Status::Ok();
}

}  // namespace usbd::options_internal
