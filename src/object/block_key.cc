#include "object/block_key.h"

#include <string_view>

#include "util/hex.h"

namespace usbd {
namespace {

uint32_t UsbdHash(uint64_t block) {
  uint64_t z = block + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<uint32_t>(z);
}

// s3backer's block numbers are 32 bits; a larger number (beyond any
// s3backer volume) folds its high half in first.
uint32_t S3backerHash(uint64_t block) {
  uint32_t h = static_cast<uint32_t>(block ^ (block >> 32));
  for (uint32_t round = 12; round > 0; --round) {
    h = ((h >> 8) ^ h) * 0x6bu + round;
  }
  return h;
}

}  // namespace

std::string BlockNamingName(BlockNaming naming) {
  switch (naming) {
    case BlockNaming::kPlain:
      return "plain";
    case BlockNaming::kS3backerHash:
      return "s3backer hash";
    case BlockNaming::kUsbdHash:
      return "usbd hash (before 2026-12)";
  }
  return "unknown";
}

std::string BlockObjectName(const std::string& prefix, uint64_t block) {
  return prefix + HexNumber(block, 8);
}

std::string BlockHashPrefix(BlockNaming naming, uint64_t block) {
  switch (naming) {
    case BlockNaming::kPlain:
      return "";
    case BlockNaming::kS3backerHash:
      return HexNumber(S3backerHash(block), 8);
    case BlockNaming::kUsbdHash:
      return HexNumber(UsbdHash(block), 8);
  }
  return "";
}

std::string BlockObjectKey(const std::string& prefix, BlockNaming naming,
                           uint64_t block) {
  if (naming == BlockNaming::kPlain) return BlockObjectName(prefix, block);
  return BlockObjectName(prefix + BlockHashPrefix(naming, block) + "-", block);
}

bool ParseBlockObjectKey(const std::string& prefix, BlockNaming naming,
                         const std::string& key, uint64_t* block) {
  if (!key.starts_with(prefix)) return false;
  std::string_view rest(key);
  rest.remove_prefix(prefix.size());
  if (naming != BlockNaming::kPlain) {
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
  if (BlockObjectKey(prefix, naming, value) != key) return false;
  *block = value;
  return true;
}

}  // namespace usbd
