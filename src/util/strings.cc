#include "util/strings.h"

namespace usbd {

std::optional<uint64_t> ParseDecimal(std::string_view text, bool* too_large) {
  if (too_large != nullptr) *too_large = false;
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  bool overflow = false;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const unsigned digit = static_cast<unsigned>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) overflow = true;
    value = value * 10 + digit;
  }
  if (overflow) {
    if (too_large != nullptr) *too_large = true;
    return std::nullopt;
  }
  return value;
}

std::string FormatSize(uint64_t bytes) {
  static const char kUnits[] = "kMGTPE";
  if (bytes == 0) return "0";
  int unit = -1;
  while (unit < 5 && (bytes & 1023) == 0) {
    bytes >>= 10;
    ++unit;
  }
  std::string text = std::to_string(bytes);
  if (unit >= 0) text += kUnits[unit];
  return text;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

}  // namespace usbd
