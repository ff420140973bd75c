#include "object/block_key.h"

#include <string_view>

#include "util/hex.h"

namespace usbd {

std::string BlockObjectName(const std::string& prefix, uint64_t block) {
  return prefix + HexNumber(block, 8);
}

std::string BlockHashPrefix(uint64_t block) {
  uint64_t z = block + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return HexNumber(z & 0xffffffffULL, 8);
}

std::string BlockObjectKey(const std::string& prefix, bool hash_prefix,
                           uint64_t block) {
  if (!hash_prefix) return BlockObjectName(prefix, block);
  return BlockObjectName(prefix + BlockHashPrefix(block) + "-", block);
}

bool ParseBlockObjectKey(const std::string& prefix, bool hash_prefix,
                         const std::string& key, uint64_t* block) {
  if (!key.starts_with(prefix)) return false;
  std::string_view rest(key);
  rest.remove_prefix(prefix.size());
  if (hash_prefix) {
    if (rest.size() < 10 || rest[8] != '-') return false;
    rest.remove_prefix(9);
  }
  if (rest.size() < 8 || rest.size() > 16) return false;
  uint64_t value = 0;
  for (char c : rest) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  // Only the canonical spelling is a block (no extra leading zeros, and
  // the right hash): anything else is some other object.
  if (BlockObjectKey(prefix, hash_prefix, value) != key) return false;
  *block = value;
  return true;
}

}  // namespace usbd
