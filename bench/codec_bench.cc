// The compress+encrypt pipeline's throughput on one core, on realistic
// data, with the same code the layers run (CompressBlock, ObjectCipher,
// DecodePayload). bench/codec.sh runs it beside `zstd -b` and
// `openssl speed -evp aes-256-gcm` on the same data and machine.
//
//   codec_bench [--level=N] [--block-size=BYTES] [--mib=N] [--seconds=S]
//               [--text=DIR] [--data=FILE]
//
// Data: blocks in turn of text, text, text then zeros (half each), and
// random bytes. Text is the files under --text (default /usr/include: C
// headers, real text that compresses as text does), else generated words.
// --data writes the data set to FILE, for `zstd -b` to read the same bytes.
//
// Prints key=value lines; speeds are in MB/s (10^6 bytes per second) of
// block bytes, as zstd -b reports them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "codec/block_codec.h"
#include "crypto/object_cipher.h"

namespace {

using namespace usbd;
using Clock = std::chrono::steady_clock;

struct Args {
  int level = kDefaultCompressLevel;
  uint32_t block_size = 256 * 1024;
  size_t mib = 256;
  double seconds = 2.0;
  std::string text = "/usr/include";
  std::string data;
};

bool Flag(const char* arg, const char* name, std::string* value) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *value = arg + n + 1;
  return true;
}

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string v;
    if (Flag(argv[i], "--level", &v)) {
      args.level = std::atoi(v.c_str());
    } else if (Flag(argv[i], "--block-size", &v)) {
      args.block_size = static_cast<uint32_t>(std::atol(v.c_str()));
    } else if (Flag(argv[i], "--mib", &v)) {
      args.mib = static_cast<size_t>(std::atol(v.c_str()));
    } else if (Flag(argv[i], "--seconds", &v)) {
      args.seconds = std::atof(v.c_str());
    } else if (Flag(argv[i], "--text", &v)) {
      args.text = v;
    } else if (Flag(argv[i], "--data", &v)) {
      args.data = v;
    } else {
      std::fprintf(stderr, "codec_bench: unknown argument %s\n", argv[i]);
      std::exit(2);
    }
  }
  return args;
}

// Up to `limit` bytes of the regular files under `dir`, in a stable order.
std::string LoadText(const std::string& dir, size_t limit) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::string text;
  for (const auto& path : files) {
    if (text.size() >= limit) break;
    std::ifstream in(path, std::ios::binary);
    text.append(std::istreambuf_iterator<char>(in), {});
  }
  if (text.size() < (1 << 20)) {  // no corpus here: generated words
    static const char* kWords[] = {"the ",   "block ", "store ",  "object ",
                                   "cache ", "of ",    "write ",  "read ",
                                   "data ",  "and ",   "volume ", "key ",
                                   "a ",     "is ",    "to ",     "in "};
    uint32_t x = 12345;
    while (text.size() < limit) {
      x = x * 1664525u + 1013904223u;
      text += kWords[(x >> 16) % 16];
      if ((x >> 8) % 13 == 0) text += std::to_string(x % 1000) + ".\n";
    }
  }
  return text;
}

std::vector<std::vector<uint8_t>> MakeBlocks(const Args& args) {
  size_t count = args.mib * (1 << 20) / args.block_size;
  std::string text = LoadText(args.text, count * args.block_size);
  std::vector<std::vector<uint8_t>> blocks(count);
  size_t text_at = 0;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < count; ++i) {
    std::vector<uint8_t>& block = blocks[i];
    block.assign(args.block_size, 0);
    size_t text_bytes = i % 4 == 2 ? args.block_size / 2 : args.block_size;
    if (i % 4 == 3) {
      for (auto& b : block) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = static_cast<uint8_t>(x);
      }
      continue;
    }
    for (size_t j = 0; j < text_bytes; ++j) {
      block[j] = static_cast<uint8_t>(text[text_at++ % text.size()]);
    }
  }
  return blocks;
}

// Runs `pass` over all blocks until `seconds` passed; MB/s of block bytes.
template <typename Pass>
double Measure(double seconds, size_t bytes_per_pass, Pass pass) {
  pass();  // warm up
  size_t passes = 0;
  auto start = Clock::now();
  double elapsed;
  do {
    pass();
    ++passes;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(bytes_per_pass) * passes / elapsed / 1e6;
}

void Fail(const char* what) {
  std::fprintf(stderr, "codec_bench: %s\n", what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  if (args.block_size < 4096 || (args.block_size & (args.block_size - 1))) {
    Fail("--block-size must be a power of two >= 4096");
  }
  auto blocks = MakeBlocks(args);
  if (blocks.empty()) Fail("--mib too small for one block");
  if (!args.data.empty()) {
    std::ofstream out(args.data, std::ios::binary);
    for (const auto& b : blocks) {
      out.write(reinterpret_cast<const char*>(b.data()), b.size());
    }
    if (!out) Fail("cannot write --data");
  }
  const size_t input = blocks.size() * args.block_size;

  auto key = SecretKey::New();
  if (!key.ok()) Fail("no key memory");
  for (size_t i = 0; i < SecretKey::kSize; ++i) {
    (*key)->mutable_bytes()[i] = static_cast<uint8_t>(i);
  }
  auto made = ObjectCipher::New(std::move(*key), "bench-volume");
  if (!made.ok()) Fail("no AES-256-GCM");
  ObjectCipher& cipher = **made;

  // The objects as the pipeline stores them, and their payload sizes.
  std::vector<std::vector<uint8_t>> compressed(blocks.size());
  std::vector<ObjectHeader> headers(blocks.size());
  std::vector<std::vector<uint8_t>> sealed(blocks.size());
  size_t payload_bytes = 0;
  auto encode = [&](size_t i) {
    ObjectHeader& h = headers[i];
    h.plain_length = args.block_size;
    std::span<const uint8_t> payload = blocks[i];
    if (CompressBlock(blocks[i], args.level, &compressed[i])) {
      h.codec = Codec::kZstd;
      payload = std::span(compressed[i]).subspan(kObjectHeaderSize);
    } else {
      h.codec = Codec::kNone;
    }
    h.payload_length = static_cast<uint32_t>(payload.size());
    return payload;
  };
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto payload = encode(i);
    payload_bytes += payload.size();
    if (!cipher.Seal(i, headers[i], payload, &sealed[i]).ok()) Fail("seal");
  }

  std::vector<uint8_t> scratch, out(args.block_size);
  double compress = Measure(args.seconds, input, [&] {
    for (size_t i = 0; i < blocks.size(); ++i) {
      (void)CompressBlock(blocks[i], args.level, &scratch);
    }
  });
  double decompress = Measure(args.seconds, input, [&] {
    for (size_t i = 0; i < blocks.size(); ++i) {
      std::span<const uint8_t> payload = blocks[i];  // raw: a copy
      if (headers[i].codec == Codec::kZstd) {
        payload = std::span(compressed[i]).subspan(kObjectHeaderSize);
      }
      if (!DecodePayload(i, headers[i], payload, out).ok()) Fail("decode");
    }
  });
  double write = Measure(args.seconds, input, [&] {
    for (size_t i = 0; i < blocks.size(); ++i) {
      auto payload = encode(i);
      if (!cipher.Seal(i, headers[i], payload, &sealed[i]).ok()) Fail("seal");
    }
  });
  double read = Measure(args.seconds, input, [&] {
    for (size_t i = 0; i < blocks.size(); ++i) {
      auto header = cipher.Open(i, args.block_size, sealed[i], &scratch);
      if (!header.ok()) Fail("open");
      if (!DecodePayload(i, *header, scratch, out).ok()) Fail("decode");
    }
  });

  std::printf("blocks=%zu\nblock_size=%u\nlevel=%d\ninput_bytes=%zu\n",
              blocks.size(), args.block_size, args.level, input);
  std::printf("payload_bytes=%zu\nratio=%.3f\n", payload_bytes,
              static_cast<double>(input) / payload_bytes);
  std::printf("compress_mbps=%.1f\ndecompress_mbps=%.1f\n", compress,
              decompress);
  std::printf("pipeline_write_mbps=%.1f\npipeline_read_mbps=%.1f\n", write,
              read);
  return 0;
}
