#include "http/s3_xml.h"

#include <charconv>
#include <cstdint>

#include "util/strings.h"

namespace usbd {
namespace {

// Finds the next element `name` at or after `pos`. On success sets the
// range of its content and returns true; `pos` moves past its end tag.
// Matches "<name>" and "<name attr...>" but not "<nameOther>".
bool NextElement(std::string_view xml, std::string_view name, size_t* pos,
                 std::string_view* content) {
  std::string open = "<" + std::string(name);
  std::string close = "</" + std::string(name) + ">";
  size_t at = *pos;
  while (true) {
    at = xml.find(open, at);
    if (at == std::string_view::npos) return false;
    size_t after = at + open.size();
    if (after >= xml.size()) return false;
    char c = xml[after];
    if (c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
        c == '/') {
      size_t gt = xml.find('>', after);
      if (gt == std::string_view::npos) return false;
      if (xml[gt - 1] == '/') {  // <name/>: empty element
        *content = std::string_view();
        *pos = gt + 1;
        return true;
      }
      size_t end = xml.find(close, gt + 1);
      if (end == std::string_view::npos) return false;
      *content = xml.substr(gt + 1, end - gt - 1);
      *pos = end + close.size();
      return true;
    }
    at = after;
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string XmlUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '&') {
      out.push_back(text[i++]);
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) {
      out.push_back(text[i++]);
      continue;
    }
    std::string_view ref = text.substr(i + 1, semi - i - 1);
    bool ok = true;
    if (ref == "amp") {
      out.push_back('&');
    } else if (ref == "lt") {
      out.push_back('<');
    } else if (ref == "gt") {
      out.push_back('>');
    } else if (ref == "quot") {
      out.push_back('"');
    } else if (ref == "apos") {
      out.push_back('\'');
    } else if (ref.size() > 1 && ref[0] == '#') {
      uint32_t cp = 0;
      bool hex = ref[1] == 'x' || ref[1] == 'X';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      auto [end, ec] = std::from_chars(
          digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      ok = !digits.empty() && ec == std::errc() &&
           end == digits.data() + digits.size() && cp <= 0x10FFFF;
      if (ok) AppendUtf8(cp, &out);
    } else {
      ok = false;
    }
    if (!ok) {
      out.append(text.substr(i, semi - i + 1));
    }
    i = semi + 1;
  }
  return out;
}

std::string XmlElementText(std::string_view xml, std::string_view name,
                           bool* found) {
  size_t pos = 0;
  std::string_view content;
  *found = NextElement(xml, name, &pos, &content);
  return *found ? XmlUnescape(content) : std::string();
}

Result<ListPage> ParseListObjectsV2(std::string_view xml) {
  // A body cut short would otherwise read as a shorter, final page.
  if (xml.find("<ListBucketResult") == std::string_view::npos ||
      xml.find("</ListBucketResult>") == std::string_view::npos) {
    return Status::IoError(
        "ListObjectsV2: response is not a complete ListBucketResult", true);
  }
  ListPage page;
  size_t pos = 0;
  std::string_view contents;
  while (NextElement(xml, "Contents", &pos, &contents)) {
    bool found = false;
    ObjectInfo info;
    info.key = XmlElementText(contents, "Key", &found);
    if (!found) {
      return Status::IoError("ListObjectsV2: <Contents> without <Key>", true);
    }
    bool has_size = false;
    std::string size = XmlElementText(contents, "Size", &has_size);
    if (has_size) {
      std::optional<uint64_t> bytes = ParseDecimal(size);
      if (!bytes) {
        return Status::IoError("ListObjectsV2: bad <Size> for " + info.key);
      }
      info.size = *bytes;
    }
    page.objects.push_back(std::move(info));
  }
  // <IsTruncated> and the token follow the last <Contents> in S3's output,
  // but look everywhere outside <Contents> to be safe: keys cannot contain
  // a literal '<', so searching the whole body cannot hit a key.
  bool found = false;
  page.truncated = XmlElementText(xml, "IsTruncated", &found) == "true";
  page.next_token = XmlElementText(xml, "NextContinuationToken", &found);
  if (page.truncated && page.next_token.empty()) {
    return Status::IoError(
        "ListObjectsV2: truncated listing without a NextContinuationToken");
  }
  return page;
}

S3Error ParseS3Error(std::string_view xml) {
  S3Error error;
  bool found = false;
  error.code = XmlElementText(xml, "Code", &found);
  error.message = XmlElementText(xml, "Message", &found);
  error.region = XmlElementText(xml, "Region", &found);
  return error;
}

}  // namespace usbd
