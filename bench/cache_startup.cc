// bench/cache_startup: start-up time and resident memory of the block
// cache, measured on the real cache code over a store that holds nothing.
//
//   cache_startup DIR [ENTRIES [BLOCK_SIZE [VOLUME_BYTES]]]
//
// Fills a persistent cache in DIR with ENTRIES clean blocks (by reading
// them; the cache has 2% more slots, as the cache keeps a small reserve of
// free slots), shuts it down (one commit of every record), then times a
// fresh start over it (open, identity check, loading every record into the
// table) and reports the resident memory after the start and after reading
// every block again (all hits). Defaults: 1,000,000 entries of 1 KiB (the
// cost is per entry, not per byte: clean entries are checked lazily) in a
// 1 TiB volume. `cache_startup DIR 40960 262144` is a 10 GiB cache of
// 256 KiB blocks on a 1 TiB volume.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "cache/cache_store.h"
#include "util/log.h"

namespace usbd {
namespace {

class EmptyStore : public BlockStore {
 public:
  EmptyStore(uint32_t block_size, uint64_t bytes)
      : geometry_{block_size, bytes / block_size} {}
  Geometry geometry() const override { return geometry_; }
  Capabilities capabilities() const override { return {}; }
  Status Start() override { return Status::Ok(); }
  Status Shutdown() override { return Status::Ok(); }
  Status Read(uint64_t, uint32_t, std::span<uint8_t> out) override {
    for (size_t i = 0; i < out.size(); i += 512) out[i] = 1;  // not zeros
    return Status::Ok();
  }
  Status Write(uint64_t, uint32_t, std::span<const uint8_t>) override {
    return Status::Ok();
  }
  Status Trim(uint64_t) override { return Status::Ok(); }
  Status Flush() override { return Status::Ok(); }
  Status QueryAllocation(uint64_t, uint64_t count,
                         std::vector<bool>* allocated) override {
    allocated->assign(count, true);
    return Status::Ok();
  }
  void CollectStats(std::vector<StatEntry>*) const override {}

 private:
  Geometry geometry_;
};

long StatusKiB(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0)
      return std::stol(line.substr(line.find(':') + 1));
  }
  return -1;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

std::unique_ptr<BlockStore> Open(const std::string& dir, uint32_t entries,
                                 uint32_t block_size, uint64_t volume) {
  CacheOptions options;
  options.block_cache_size = entries + entries / 50;
  options.block_cache_file = dir + "/bench.cache";
  options.read_ahead = 0;
  options.threads = 2;
  auto made = NewCacheStore(options, {"bench", block_size, volume},
                            std::make_unique<EmptyStore>(block_size, volume));
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
    std::exit(1);
  }
  std::unique_ptr<BlockStore> cache = std::move(made).value();
  Status status = cache->Start();
  if (!status.ok()) {
    std::fprintf(stderr, "start: %s\n", status.ToString().c_str());
    std::exit(1);
  }
  return cache;
}

int Run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: cache_startup DIR [ENTRIES [BLOCK_SIZE [VOLUME]]]\n");
    return 2;
  }
  std::string dir = argv[1];
  uint32_t entries = argc > 2 ? std::atoi(argv[2]) : 1000000;
  uint32_t block_size = argc > 3 ? std::atoi(argv[3]) : 1024;
  uint64_t volume = argc > 4 ? std::strtoull(argv[4], nullptr, 0) : 1ull << 40;
  SetLogLevel(LogLevel::kWarning);
  std::vector<uint8_t> buf(block_size);
  // Blocks spread over the whole volume, as a real cache's are.
  uint64_t stride = volume / block_size / entries;
  long base = StatusKiB("VmRSS");

  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<BlockStore> cache = Open(dir, entries, block_size, volume);
  for (uint64_t i = 0; i < entries; ++i) {
    if (!cache->Read(i * stride, 0, buf).ok()) return 1;
  }
  double fill = Seconds(start);
  long filled_rss = StatusKiB("VmRSS");
  start = std::chrono::steady_clock::now();
  if (!cache->Shutdown().ok()) return 1;
  double shutdown = Seconds(start);
  cache.reset();

  start = std::chrono::steady_clock::now();
  cache = Open(dir, entries, block_size, volume);
  double startup = Seconds(start);
  long started_rss = StatusKiB("VmRSS");
  std::vector<StatEntry> stats;
  start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < entries; ++i) {
    if (!cache->Read(i * stride, 0, buf).ok()) return 1;
  }
  double reread = Seconds(start);
  cache->CollectStats(&stats);
  uint64_t hits = 0;
  for (const StatEntry& s : stats) {
    if (s.name == "cache.hits") hits = s.value;
  }
  long reread_rss = StatusKiB("VmRSS");
  long anon = StatusKiB("RssAnon"), file = StatusKiB("RssFile");
  (void)cache->Shutdown();
  if (std::getenv("VERBOSE")) {
    for (const StatEntry& s : stats) {
      std::printf("  %s = %lu\n", s.name.c_str(),
                  static_cast<unsigned long>(s.value));
    }
  }

  std::printf(
      "%u cached blocks of %u bytes (%.1f GiB) on a %.0f GiB volume\n"
      "  fill by reading:        %.2f s\n"
      "  shutdown (commit all):  %.2f s\n"
      "  start-up with %u entries: %.2f s\n"
      "  re-read, all hits:      %.2f s (%lu hits)\n"
      "  resident memory: %ld MiB before, %ld MiB filled, %ld MiB after "
      "start-up, %ld MiB after re-read (peak %ld MiB)\n"
      "  of which after re-read: %ld MiB the process's own (RssAnon), "
      "%ld MiB mapped file pages (RssFile: the cache file and index in the "
      "page cache, reclaimable)\n",
      entries, block_size, double(entries) * block_size / (1 << 30),
      double(volume) / (1ull << 30), fill, shutdown, entries, startup, reread,
      static_cast<unsigned long>(hits), base / 1024, filled_rss / 1024,
      started_rss / 1024, reread_rss / 1024, StatusKiB("VmHWM") / 1024,
      anon / 1024, file / 1024);
  return 0;
}

}  // namespace
}  // namespace usbd

int main(int argc, char** argv) { return usbd::Run(argc, argv); }
