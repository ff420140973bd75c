#include "util/hex.h"

#include <sys/random.h>

#include <cerrno>
#include <random>
#include <vector>

namespace usbd {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

}  // namespace

std::string HexBytes(std::span<const uint8_t> bytes) {
  std::string text;
  text.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    text.push_back(kDigits[b >> 4]);
    text.push_back(kDigits[b & 15]);
  }
  return text;
}

std::string HexNumber(uint64_t value, int digits) {
  std::string text;
  do {
    text.push_back(kDigits[value & 15]);
    value >>= 4;
  } while (value != 0);
  if (static_cast<int>(text.size()) < digits) {
    text.append(static_cast<size_t>(digits) - text.size(), '0');
  }
  return std::string(text.rbegin(), text.rend());
}

std::string RandomHex(size_t bytes) {
  std::vector<uint8_t> random(bytes);
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(random.data() + got, bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got < bytes) {  // no getrandom (old kernel, seccomp): still unique
    std::random_device device;
    for (size_t i = got; i < bytes; ++i) {
      random[i] = static_cast<uint8_t>(device());
    }
  }
  return HexBytes(random);
}

bool IsLowerHex(std::string_view text, size_t digits) {
  if (text.size() != digits) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace usbd
