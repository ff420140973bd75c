#include "codec/block_codec.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>

namespace usbd {
namespace {

// One compression and one decompression context per thread: creating them
// costs more than compressing a small block.
struct ZstdContexts {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};

ZstdContexts& Contexts() {
  thread_local ZstdContexts contexts;
  return contexts;
}

}  // namespace

bool CompressBlock(std::span<const uint8_t> block, int level, uint8_t version,
                   std::vector<uint8_t>* object) {
  const size_t overhead =
      kObjectHeaderSize +
      (version >= kObjectFormatV2 ? kObjectChecksumSize : 0);
  if (block.size() <= overhead + 1) return false;
  ZSTD_CCtx* cctx = Contexts().cctx;
  if (cctx == nullptr) return false;  // out of memory: store it raw
  // Room only for a payload short enough (see object_format.h); zstd fails
  // with "destination too small" when the block does not shrink that much.
  size_t capacity = block.size() - overhead - 1;
  object->resize(kObjectHeaderSize + capacity);
  // Version 1 has no checksum of its own: the frame's catches a corrupt
  // object. Version 2's checksum covers the frame.
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
  ZSTD_CCtx_setParameter(
      cctx, ZSTD_c_compressionLevel,
      std::clamp(level, kMinCompressLevel, kMaxCompressLevel));
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag,
                         version >= kObjectFormatV2 ? 0 : 1);
  size_t n = ZSTD_compress2(cctx, object->data() + kObjectHeaderSize, capacity,
                            block.data(), block.size());
  if (ZSTD_isError(n)) return false;
  ObjectHeader header;
  header.version = version;
  header.codec = Codec::kZstd;
  header.plain_length = static_cast<uint32_t>(block.size());
  header.payload_length = static_cast<uint32_t>(n);
  object->resize(kObjectHeaderSize + n);
  EncodeObjectHeader(header, *object);
  SealObjectChecksum(header, object);
  return true;
}

std::span<const uint8_t> UncompressedObject(std::span<const uint8_t> block,
                                            uint8_t version,
                                            std::vector<uint8_t>* object) {
  if (version < kObjectFormatV2) return block;
  ObjectHeader header;
  header.version = version;
  header.codec = Codec::kNone;
  header.plain_length = static_cast<uint32_t>(block.size());
  header.payload_length = header.plain_length;
  BuildObject(header, block, object);
  return *object;
}

Status DecodePayload(uint64_t block, const ObjectHeader& header,
                     std::span<const uint8_t> payload, std::span<uint8_t> out) {
  if (out.size() != header.plain_length ||
      payload.size() != header.payload_length) {
    return Status::IoError(DescribeBlock(block) +
                           ": object lengths do not match its header");
  }
  if (header.codec == Codec::kNone) {
    std::memcpy(out.data(), payload.data(), payload.size());
    return Status::Ok();
  }
  ZSTD_DCtx* dctx = Contexts().dctx;
  if (dctx == nullptr) {
    return Status::Error(ENOMEM, "cannot allocate a zstd context");
  }
  size_t n = ZSTD_decompressDCtx(dctx, out.data(), out.size(), payload.data(),
                                 payload.size());
  if (ZSTD_isError(n)) {
    return Status::Corrupt(DescribeBlock(block) + ": corrupt zstd payload: " +
                           ZSTD_getErrorName(n) + "; not served as data");
  }
  if (n != out.size()) {
    return Status::Corrupt(DescribeBlock(block) + ": zstd payload decodes to " +
                           std::to_string(n) + " bytes, expected " +
                           std::to_string(out.size()) + "; not served as data");
  }
  return Status::Ok();
}

Status DecodeObject(uint64_t block, std::span<const uint8_t> object,
                    std::span<uint8_t> out) {
  if (object.size() == out.size()) {
    std::memcpy(out.data(), object.data(), out.size());
    return Status::Ok();
  }
  auto header =
      CheckStoredObject(object, static_cast<uint32_t>(out.size()), block);
  if (!header.ok()) return header.status();
  if (header->cipher != Cipher::kNone) {
    return Status::IoError(
        DescribeBlock(block) + ": object is encrypted (" +
        std::string(CipherName(header->cipher)) +
        ") and this run has no encryption layer; not served as data");
  }
  return DecodePayload(block, *header, ObjectBody(object, *header), out);
}

}  // namespace usbd
