#include "volume/volume_text.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <random>
#include <set>

#include "util/hex.h"
#include "util/strings.h"
#include "util/xxh64.h"

namespace usbd {
namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool IsPrintable(char c) { return c >= 0x20 && c <= 0x7e; }

// A short, printable rendering of untrusted bytes for an error message.
std::string Quote(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, 40)) {
    if (IsPrintable(c)) {
      out += c;
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  if (text.size() > 40) out += "...";
  return out + "'";
}

constexpr std::string_view kChecksumPrefix = "checksum=xxh64:";
constexpr size_t kChecksumDigits = 16;

uint64_t TextHash(std::string_view text) {
  return Xxh64(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace

std::string FormatVolumeText(std::string_view magic, uint32_t version,
                             const TextEntries& entries) {
  std::string text(magic);
  text += ' ' + std::to_string(version) + '\n';
  for (const auto& [key, value] : entries) text += key + '=' + value + '\n';
  text += std::string(kChecksumPrefix) + HexNumber(TextHash(text), 16) + '\n';
  return text;
}

Status VerifyVolumeText(std::span<const uint8_t> bytes, const std::string& key,
                        size_t* covered) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()),
                        bytes.size());
  if (covered != nullptr) *covered = text.size();
  if (text.find("checksum=") == std::string_view::npos &&
      text.find("xxh64:") == std::string_view::npos) {
    return Status::Ok();  // written by an earlier usbd
  }
  auto corrupt = [&](const std::string& detail) {
    return Status::Corrupt("object '" + key +
                           "' is corrupt: checksum mismatch (" + detail +
                           "); not used");
  };
  if (!text.ends_with('\n')) return corrupt("no end of line after it");
  size_t start = text.rfind('\n', text.size() - 2);
  start = start == std::string_view::npos ? 0 : start + 1;
  std::string_view line = text.substr(start, text.size() - 1 - start);
  std::string_view digits =
      line.substr(std::min(line.size(), kChecksumPrefix.size()));
  if (!line.starts_with(kChecksumPrefix) ||
      !IsLowerHex(digits, kChecksumDigits)) {
    return corrupt("the last line is not a checksum line: " + Quote(line));
  }
  const std::string computed = HexNumber(TextHash(text.substr(0, start)), 16);
  if (digits != computed) {
    return corrupt("stored " + std::string(digits) + ", computed " + computed);
  }
  if (covered != nullptr) *covered = start;
  return Status::Ok();
}

Result<TextEntries> ParseVolumeText(std::span<const uint8_t> bytes,
                                    std::string_view magic, uint32_t version,
                                    const std::string& what,
                                    const std::string& key) {
  auto fail = [&](const std::string& detail) {
    return Status::IoError(what + " object '" + key +
                           "' is invalid: " + detail);
  };
  if (bytes.size() > kMaxVolumeTextSize) {
    return fail(std::to_string(bytes.size()) + " bytes, more than " +
                std::to_string(kMaxVolumeTextSize));
  }
  size_t covered;
  Status verified = VerifyVolumeText(bytes, key, &covered);
  if (!verified.ok()) {
    return Status::Corrupt(what + " " + verified.message());
  }
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), covered);
  size_t eol = text.find('\n');
  std::string_view first = text.substr(0, eol);
  // The version first: a newer format may change everything after it.
  std::string expected = std::string(magic) + ' ';
  if (!first.starts_with(expected)) {
    return fail("it does not start with '" + std::string(magic) +
                " VERSION' (found " + Quote(first) + ")");
  }
  std::optional<uint64_t> found = ParseDecimal(first.substr(expected.size()));
  if (!found || *found == 0) {
    return fail("bad format version " + Quote(first.substr(expected.size())));
  }
  if (*found > version) {
    return Status::IoError(what + " format " + std::to_string(*found) +
                           " is newer than this usbd supports (format " +
                           std::to_string(version) + ") in object '" + key +
                           "'; use a newer usbd");
  }
  if (*found != version) {
    return fail("format " + std::to_string(*found) + " is not supported");
  }
  // Cut short: more likely a transfer than the object; worth reading again.
  auto cut = [&](const std::string& detail) {
    return Status::Corrupt(what + " object '" + key +
                           "' is invalid: " + detail);
  };
  if (eol == std::string_view::npos) return cut("cut short in line 1");

  TextEntries entries;
  std::set<std::string, std::less<>> seen;
  size_t pos = eol + 1;
  for (int line = 2; pos < text.size(); ++line) {
    std::string where = "line " + std::to_string(line) + ": ";
    eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      return cut(where + "cut short (no end of line)");
    }
    std::string_view entry = text.substr(pos, eol - pos);
    pos = eol + 1;
    for (char c : entry) {
      if (!IsPrintable(c))
        return fail(where + "unprintable byte in " + Quote(entry));
    }
    size_t equals = entry.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      return fail(where + "expected key=value, found " + Quote(entry));
    }
    std::string_view name = entry.substr(0, equals);
    for (char c : name) {
      if (!IsKeyChar(c)) return fail(where + "bad key " + Quote(name));
    }
    if (!seen.emplace(name).second) {
      return fail(where + "key '" + std::string(name) + "' repeated");
    }
    entries.emplace_back(std::string(name),
                         std::string(entry.substr(equals + 1)));
  }
  return entries;
}

std::string UtcTimestamp(std::chrono::system_clock::time_point when) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

bool IsUtcTimestamp(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SSZ
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  if (text.size() != kShape.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool ok = kShape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9')
                               : text[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

std::string VolumeDisplayName(const ObjectStore& store,
                              const std::string& prefix,
                              const std::string& name) {
  if (!name.empty()) return name;
  if (prefix.empty()) return store.Describe();
  return store.Describe() + " prefix '" + prefix + "'";
}

namespace {

// Names `what` once: a give-up message of the retry policy already does.
Status InContext(Status status, const std::string& what) {
  if (status.ok() || status.message().starts_with(what)) return status;
  return status.WithContext(what);
}

}  // namespace

Result<std::optional<std::vector<uint8_t>>> GetWithRetry(
    ObjectStore& store, const std::string& key, const RetryOptions& retry,
    const std::string& what) {
  std::optional<std::vector<uint8_t>> object;
  Status status = RetryWithBackoff(retry, what, [&] {
    auto got = store.Get(key);
    if (!got.ok()) return got.status();
    if (got->has_value()) USBD_RETURN_IF_ERROR(VerifyVolumeText(**got, key));
    object = std::move(got).value();
    return Status::Ok();
  });
  if (!status.ok()) return InContext(status, what);
  return object;
}

Status PutWithRetry(ObjectStore& store, const std::string& key,
                    std::string_view content, const RetryOptions& retry,
                    const std::string& what) {
  std::span<const uint8_t> bytes(
      reinterpret_cast<const uint8_t*>(content.data()), content.size());
  return InContext(
      RetryWithBackoff(retry, what, [&] { return store.Put(key, bytes); }),
      what);
}

Status DeleteWithRetry(ObjectStore& store, const std::string& key,
                       const RetryOptions& retry, const std::string& what) {
  return InContext(
      RetryWithBackoff(retry, what, [&] { return store.Delete(key); }), what);
}

}  // namespace usbd
