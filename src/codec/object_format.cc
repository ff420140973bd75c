#include "codec/object_format.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "util/coding.h"
#include "util/hex.h"
#include "util/xxh64.h"

namespace usbd {
namespace {

constexpr uint8_t kMagic[4] = {'U', 'S', 'B', 'D'};

Status Bad(uint64_t block, const std::string& what) {
  return Status::IoError(DescribeBlock(block) + ": " + what +
                         "; not served as data");
}

}  // namespace

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kZstd:
      return "zstd";
  }
  return "unknown";
}

std::string_view CipherName(Cipher cipher) {
  switch (cipher) {
    case Cipher::kNone:
      return "none";
    case Cipher::kAes256Gcm:
      return "aes-256-gcm";
  }
  return "unknown";
}

bool ParseCodecName(std::string_view name, Codec* codec) {
  for (Codec c : {Codec::kNone, Codec::kZstd}) {
    if (name == CodecName(c)) {
      *codec = c;
      return true;
    }
  }
  return false;
}

bool ParseCipherName(std::string_view name, Cipher* cipher) {
  for (Cipher c : {Cipher::kNone, Cipher::kAes256Gcm}) {
    if (name == CipherName(c)) {
      *cipher = c;
      return true;
    }
  }
  return false;
}

void EncodeObjectHeader(const ObjectHeader& header, std::span<uint8_t> out) {
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  p[4] = header.version;
  p[5] = static_cast<uint8_t>(header.codec);
  p[6] = static_cast<uint8_t>(header.cipher);
  p[7] = 0;
  PutLe32(p + 8, header.plain_length);
  PutLe32(p + 12, header.payload_length);
}

bool HasObjectMagic(std::span<const uint8_t> object) {
  return object.size() >= sizeof kMagic &&
         std::memcmp(object.data(), kMagic, sizeof kMagic) == 0;
}

Result<ObjectHeader> ParseObjectHeader(std::span<const uint8_t> object,
                                       uint32_t block_size, uint64_t block) {
  if (object.size() < kObjectHeaderSize) {
    return Bad(block, "object of " + std::to_string(object.size()) +
                          " bytes is too short for a header (truncated)");
  }
  if (!HasObjectMagic(object)) {
    return Bad(block, "object has no usbd header (a raw block, or foreign)");
  }
  const uint8_t* p = object.data();
  ObjectHeader header;
  header.version = p[4];
  if (!IsKnownObjectFormat(header.version)) {
    return Bad(block, "object format version " +
                          std::to_string(header.version) +
                          (header.version > kNewestObjectFormat
                               ? " is newer than this usbd supports"
                               : " is unknown"));
  }
  if (p[5] > static_cast<uint8_t>(Codec::kZstd)) {
    return Bad(block, "unknown codec " + std::to_string(p[5]));
  }
  if (p[6] > static_cast<uint8_t>(Cipher::kAes256Gcm)) {
    return Bad(block, "unknown cipher " + std::to_string(p[6]));
  }
  if (p[7] != 0) return Bad(block, "reserved header byte is not zero");
  header.codec = static_cast<Codec>(p[5]);
  header.cipher = static_cast<Cipher>(p[6]);
  header.plain_length = GetLe32(p + 8);
  header.payload_length = GetLe32(p + 12);
  if (header.plain_length != block_size) {
    return Bad(block,
               "object decodes to " + std::to_string(header.plain_length) +
                   " bytes, the block size is " + std::to_string(block_size) +
                   " (object of another volume?)");
  }
  // Version 2 keeps zstd objects shorter than a block with the checksum.
  const uint64_t overhead =
      kObjectHeaderSize +
      (header.version >= kObjectFormatV2 ? kObjectChecksumSize : 0);
  bool payload_ok =
      header.codec == Codec::kNone
          ? header.payload_length == header.plain_length
          : header.payload_length > 0 &&
                header.payload_length + overhead < header.plain_length;
  if (!payload_ok) {
    return Bad(block, "payload length " +
                          std::to_string(header.payload_length) +
                          " is impossible for codec " +
                          std::string(CodecName(header.codec)));
  }
  if (object.size() != header.object_size()) {
    return Bad(block,
               "object has " + std::to_string(object.size()) +
                   " bytes, its header says " +
                   std::to_string(header.object_size()) +
                   (object.size() < header.object_size() ? " (truncated)"
                                                         : " (extended)"));
  }
  return header;
}

Result<ObjectHeader> CheckStoredObject(std::span<const uint8_t> object,
                                       uint32_t block_size, uint64_t block) {
  const bool v1 = object.size() > 4 && HasObjectMagic(object) &&
                  object[4] == kObjectFormatV1;
  if (!v1) {
    // Version 2, or damaged: nothing in it is believed before the checksum.
    if (object.size() < kObjectHeaderSize + kObjectChecksumSize) {
      return Status::Corrupt(
          DescribeBlock(block) + ": object of " +
          std::to_string(object.size()) +
          " bytes is too short for a header (truncated or foreign object); "
          "not served as data");
    }
    const size_t covered = object.size() - kObjectChecksumSize;
    const uint64_t stored = GetLe64(object.data() + covered);
    const uint64_t computed = Xxh64(object.first(covered));
    if (stored != computed) {
      std::string what = "checksum mismatch (stored " + HexNumber(stored, 16) +
                         ", computed " + HexNumber(computed, 16) + ")";
      if (!HasObjectMagic(object)) {
        what += ", and no usbd header: corrupt or foreign object";
      } else if (object[4] > kNewestObjectFormat) {
        what += ", or format version " + std::to_string(object[4]) +
                " newer than this usbd supports";
      }
      return Status::Corrupt(DescribeBlock(block) + ": object is corrupt: " +
                             what + "; not served as data");
    }
    // Written like this: retrying cannot help.
    return ParseObjectHeader(object, block_size, block);
  }
  auto header = ParseObjectHeader(object, block_size, block);
  if (header.ok()) return header;
  // A version 1 object has no checksum: a damaged one cannot be told from
  // one stored like that, so it is worth reading again.
  return Status::Corrupt(header.status().message());
}

bool IsKnownObjectFormat(uint32_t version) {
  return version == kObjectFormatV1 || version == kObjectFormatV2;
}

void BuildObject(const ObjectHeader& header, std::span<const uint8_t> body,
                 std::vector<uint8_t>* object) {
  object->resize(kObjectHeaderSize + body.size());
  EncodeObjectHeader(header, *object);
  std::memcpy(object->data() + kObjectHeaderSize, body.data(), body.size());
  SealObjectChecksum(header, object);
}

void SealObjectChecksum(const ObjectHeader& header,
                        std::vector<uint8_t>* object) {
  if (header.version < kObjectFormatV2) return;
  const size_t covered = object->size();
  object->resize(covered + kObjectChecksumSize);
  PutLe64(object->data() + covered,
          Xxh64(std::span<const uint8_t>(object->data(), covered)));
}

}  // namespace usbd
