// libFuzzer target: the block object header parser and the decode paths of
// the compression and encryption layers, which read bytes from the bucket.
//
// The first input byte picks what the rest is:
//   0: a stored object read by the compression layer (DecodeObject);
//   1: a stored object read by the encryption layer (ObjectCipher::Open,
//      then DecodePayload if it opened: only the sealed seed does);
//   2: a header and payload a key holder sealed (so the payload passes
//      authentication and reaches the zstd decoder);
//   3: a block: compress, seal, open, decode must give it back, and the
//      sealed object with one byte changed must not open.
// Any crash, sanitizer report or broken invariant (__builtin_trap) fails.
//
// With USBD_FUZZ_SEEDS=DIR set, writes a few valid inputs to DIR and exits:
// fuzz.sh seeds the corpus that way.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "codec/block_codec.h"
#include "codec/object_format.h"
#include "crypto/object_cipher.h"
#include "util/log.h"

namespace {

using namespace usbd;

constexpr uint32_t kBlockSizes[2] = {4096, 512};
constexpr uint64_t kBlock = 7;

ObjectCipher& Cipher() {
  static ObjectCipher* cipher = [] {
    auto key = SecretKey::New();
    if (!key.ok()) __builtin_trap();
    for (size_t i = 0; i < SecretKey::kSize; ++i) {
      (*key)->mutable_bytes()[i] = static_cast<uint8_t>(i * 37 + 1);
    }
    auto made = ObjectCipher::New(std::move(*key), "fuzz-volume-uuid");
    if (!made.ok()) __builtin_trap();
    return made->release();  // lives as long as the process
  }();
  return *cipher;
}

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

void DecodeStored(const uint8_t* data, size_t size, uint32_t block_size) {
  std::vector<uint8_t> out(block_size);
  Status status = DecodeObject(kBlock, {data, size}, out);
  Check(status.ok() || (status.code() == EIO || status.corrupt()));
  auto header = ParseObjectHeader({data, size}, block_size, kBlock);
  if (header.ok()) Check(header->object_size() == size);
}

void OpenStored(const uint8_t* data, size_t size, uint32_t block_size) {
  std::vector<uint8_t> payload;
  auto header = Cipher().Open(kBlock, block_size, {data, size}, &payload);
  if (!header.ok()) {
    Check((header.status().code() == EIO || header.status().corrupt()) &&
          payload.empty());
    return;
  }
  // Only what the key sealed opens (the seed, and inputs derived from it
  // in bytes the tag does not cover: none).
  Check(payload.size() == header->payload_length);
  std::vector<uint8_t> out(block_size);
  Status status = DecodePayload(kBlock, *header, payload, out);
  Check(status.ok() || (status.code() == EIO || status.corrupt()));
}

// data = codec byte, then the payload.
void SealThenDecode(const uint8_t* data, size_t size, uint32_t block_size) {
  if (size < 1) return;
  ObjectHeader header;
  header.codec = (data[0] & 1) ? Codec::kZstd : Codec::kNone;
  header.plain_length = block_size;
  std::vector<uint8_t> payload(data + 1, data + size);
  if (header.codec == Codec::kNone) payload.resize(block_size);
  if (header.codec == Codec::kZstd &&
      (payload.empty() ||
       payload.size() + kObjectHeaderSize + kObjectChecksumSize >=
           block_size)) {
    return;  // the header parser refuses such lengths; tested in mode 1
  }
  header.payload_length = static_cast<uint32_t>(payload.size());
  std::vector<uint8_t> sealed, opened;
  Check(Cipher().Seal(kBlock, header, payload, &sealed).ok());
  auto parsed = Cipher().Open(kBlock, block_size, sealed, &opened);
  Check(parsed.ok() && opened == payload);
  std::vector<uint8_t> out(block_size);
  Status status = DecodePayload(kBlock, *parsed, opened, out);
  Check(status.ok() || (status.code() == EIO || status.corrupt()));
}

void RoundTrip(const uint8_t* data, size_t size, uint32_t block_size) {
  std::vector<uint8_t> block(block_size);
  // Stretch the input over the block so short inputs still compress.
  for (size_t i = 0; size > 1 && i < block_size; ++i) {
    block[i] = data[1 + i % (size - 1)];
  }
  std::vector<uint8_t> object;
  ObjectHeader header;
  header.plain_length = block_size;
  std::span<const uint8_t> payload = block;
  if (CompressBlock(block, 1 + data[0] % 3, 1 + data[0] % 2, &object)) {
    Check(object.size() < block_size);
    auto parsed = ParseObjectHeader(object, block_size, kBlock);
    Check(parsed.ok() && parsed->codec == Codec::kZstd);
    header = *parsed;
    payload = ObjectBody(object, header);
  } else {
    header.payload_length = block_size;
  }
  std::vector<uint8_t> out(block_size);
  if (header.codec == Codec::kZstd) {
    Check(DecodeObject(kBlock, object, out).ok() && out == block);
  }
  std::vector<uint8_t> sealed, opened;
  Check(Cipher().Seal(kBlock, header, payload, &sealed).ok());
  auto parsed = Cipher().Open(kBlock, block_size, sealed, &opened);
  Check(parsed.ok());
  Check(DecodePayload(kBlock, *parsed, opened, out).ok() && out == block);
  // Any single changed byte, or another block number: refused.
  size_t at = (size > 1 ? data[1] * 131 + data[size - 1] : 0) % sealed.size();
  sealed[at] ^= static_cast<uint8_t>(1 + data[0] % 255);
  Check(!Cipher().Open(kBlock, block_size, sealed, &opened).ok());
  sealed[at] ^= static_cast<uint8_t>(1 + data[0] % 255);
  Check(!Cipher().Open(kBlock + 1, block_size, sealed, &opened).ok());
}

void WriteSeed(const std::string& dir, int n, uint8_t mode,
               const std::vector<uint8_t>& body) {
  std::string path = dir + "/seed-" + std::to_string(n);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::exit(1);
  std::fputc(mode, f);
  std::fwrite(body.data(), 1, body.size(), f);
  std::fclose(f);
}

void WriteSeeds(const std::string& dir) {
  const std::string text = "a block of text that compresses well; ";
  std::vector<uint8_t> block(kBlockSizes[0]);
  for (size_t i = 0; i < block.size(); ++i) block[i] = text[i % text.size()];
  std::vector<uint8_t> object;
  if (!CompressBlock(block, 1, kNewestObjectFormat, &object)) std::exit(1);
  WriteSeed(dir, 0, 0, object);  // a compressed object
  WriteSeed(dir, 1, 0, block);   // a raw block
  ObjectHeader header;
  header.codec = Codec::kZstd;
  header.plain_length = kBlockSizes[0];
  header.payload_length = static_cast<uint32_t>(object.size() - 24);
  std::vector<uint8_t> sealed;
  if (!Cipher()
           .Seal(kBlock, header, ObjectBody(object, header), &sealed)
           .ok()) {
    std::exit(1);
  }
  WriteSeed(dir, 2, 1, sealed);  // a sealed object
  std::vector<uint8_t> codec_and_payload = {1};
  codec_and_payload.insert(codec_and_payload.end(), object.begin() + 16,
                           object.end() - 8);
  WriteSeed(dir, 3, 2, codec_and_payload);
  WriteSeed(dir, 4, 3, std::vector<uint8_t>(text.begin(), text.end()));
  std::exit(0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  SetLogLevel(LogLevel::kError);
  if (const char* dir = std::getenv("USBD_FUZZ_SEEDS")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint32_t block_size = kBlockSizes[(data[0] >> 2) & 1];
  switch (data[0] & 3) {
    case 0:
      DecodeStored(data + 1, size - 1, block_size);
      break;
    case 1:
      OpenStored(data + 1, size - 1, block_size);
      break;
    case 2:
      SealThenDecode(data + 1, size - 1, block_size);
      break;
    case 3:
      RoundTrip(data, size, block_size);
      break;
  }
  return 0;
}
