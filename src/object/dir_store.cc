#include "object/dir_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "object/block_key.h"
#include "store/zero_store.h"
#include "util/fd.h"
#include "util/iszero.h"

namespace usbd {
namespace {

constexpr char kTempMarker[] = ".usbd-tmp-";

// Open block files, so that a Read or a partial Write costs one pread or
// pwrite instead of open + fstat + pread + close.
//
// The one invariant: an operation that starts after a rename over a block's
// file, or its unlink, has returned never gets the old file's descriptor.
// Whoever renames or unlinks calls Erase() before returning, which drops the
// entry and bumps its shard's epoch; whoever opens a file by name takes the
// epoch from Find() before opening and Insert()s only if it has not moved,
// so a descriptor opened before the rename or unlink cannot come back.
//
// Descriptors are shared: eviction or Erase() while a pread is under way
// only drops the cache's reference. Thread-safe.
class FdCache {
 public:
  using FdRef = std::shared_ptr<const Fd>;

  // Before any other call: at most `capacity` descriptors stay open.
  void SetCapacity(size_t capacity) {
    per_shard_ = std::max<size_t>(1, capacity / kShards);
  }

  // The block's cached descriptor, or null; then *epoch is for Insert().
  FdRef Find(uint64_t block, uint64_t* epoch) {
    Shard& shard = ShardOf(block);
    std::lock_guard lock(shard.mu);
    *epoch = shard.epoch;
    auto it = shard.fds.find(block);
    return it == shard.fds.end() ? nullptr : it->second;
  }

  // Caches `fd`, opened after Find() returned `epoch`, unless an Erase() in
  // the shard came since. Evicts an entry when the shard is full.
  void Insert(uint64_t block, uint64_t epoch, FdRef fd) {
    FdRef evicted;  // released after the lock
    Shard& shard = ShardOf(block);
    std::lock_guard lock(shard.mu);
    if (shard.epoch != epoch || shard.fds.contains(block)) return;
    if (shard.fds.size() >= per_shard_) {
      // Round robin over the buckets: cheap, and not biased towards the
      // entries inserted last as begin() would be.
      for (;;) {
        size_t bucket = shard.hand++ % shard.fds.bucket_count();
        if (shard.fds.bucket_size(bucket) != 0) {
          uint64_t victim = shard.fds.begin(bucket)->first;
          auto it = shard.fds.find(victim);
          evicted = std::move(it->second);
          shard.fds.erase(it);
          break;
        }
      }
    }
    shard.fds.emplace(block, std::move(fd));
  }

  // The block's file was replaced or removed: forget its descriptor, and
  // make every descriptor opened before this call uncacheable.
  void Erase(uint64_t block) {
    FdRef erased;  // released after the lock
    Shard& shard = ShardOf(block);
    std::lock_guard lock(shard.mu);
    ++shard.epoch;
    auto it = shard.fds.find(block);
    if (it != shard.fds.end()) {
      erased = std::move(it->second);
      shard.fds.erase(it);
    }
  }

  void Clear() {
    for (Shard& shard : shards_) {
      std::unordered_map<uint64_t, FdRef> fds;
      std::lock_guard lock(shard.mu);
      ++shard.epoch;
      fds.swap(shard.fds);
    }
  }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    uint64_t epoch = 0;                       // guarded by mu
    size_t hand = 0;                          // guarded by mu
    std::unordered_map<uint64_t, FdRef> fds;  // guarded by mu
  };
  Shard& ShardOf(uint64_t block) { return shards_[block % kShards]; }

  size_t per_shard_ = 1;
  std::array<Shard, kShards> shards_;
};

class DirStore : public BlockStore {
 public:
  explicit DirStore(const DirStoreOptions& options) : options_(options) {}

  Geometry geometry() const override { return options_.geometry; }
  Capabilities capabilities() const override {
    return LocalStoreCapabilities(options_.read_only);
  }

  Status Start() override {
    const std::string& dir = options_.directory;
    if (!options_.read_only && ::mkdir(dir.c_str(), 0700) != 0 &&
        errno != EEXIST) {
      return ErrnoStatus("cannot create store directory " + dir);
    }
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("cannot open store directory " + dir);
    dir_fd_.Reset(fd);
    fds_.SetCapacity(OpenFileBudget());
    if (!options_.read_only) {
      USBD_RETURN_IF_ERROR(CreatePrefixDirectories());
      RemoveStaleTempFiles();
    }
    return Status::Ok();
  }

  Status Shutdown() override {
    Status status = options_.read_only ? Status::Ok() : Flush();
    fds_.Clear();
    dir_fd_.Reset();
    return status;
  }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    if (uint64_t{offset} + out.size() > options_.geometry.block_size) {
      return Status::Invalid("read past the end of block " +
                             std::to_string(block));
    }
    FdCache::FdRef fd;
    uint64_t epoch;
    USBD_RETURN_IF_ERROR(OpenBlock(block, &fd, &epoch));
    if (fd == nullptr) {
      std::memset(out.data(), 0, out.size());
      return Status::Ok();
    }
    USBD_RETURN_IF_ERROR(
        PreadAll(fd->get(), out, offset)
            .WithContext(BlockObjectName(options_.prefix, block)));
    reads_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    const uint32_t block_size = options_.geometry.block_size;
    if (uint64_t{offset} + data.size() > block_size) {
      return Status::Invalid("write past the end of block " +
                             std::to_string(block));
    }
    if (offset == 0 && data.size() == block_size) return Replace(block, data);
    return WriteInPlace(block, offset, data);
  }

  Status ReadObject(uint64_t block, std::vector<uint8_t>* object) override {
    object->clear();
    std::string name = BlockObjectName(options_.prefix, block);
    Fd fd(::openat(dir_fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("cannot open block file " + name);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat " + name);
    if (st.st_size <= 0 || !IsObjectSize(static_cast<uint64_t>(st.st_size),
                                         options_.geometry.block_size)) {
      return Status::IoError("block file " + name + " has " +
                             std::to_string(st.st_size) +
                             " bytes, not an object of this volume");
    }
    object->resize(static_cast<size_t>(st.st_size));
    USBD_RETURN_IF_ERROR(PreadAll(fd.get(), *object, 0).WithContext(name));
    reads_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status WriteObject(uint64_t block, std::span<const uint8_t> object) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    USBD_RETURN_IF_ERROR(
        CheckObjectSize(block, object.size(), options_.geometry.block_size));
    return Replace(block, object);
  }

  Status Trim(uint64_t block) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    std::string name = BlockObjectName(options_.prefix, block);
    if (::unlinkat(dir_fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("cannot delete block file " + name);
    }
    fds_.Erase(block);
    {
      std::lock_guard lock(mu_);
      unsynced_.erase(block);
      directory_dirty_ = true;
    }
    trims_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status Flush() override {
    std::set<uint64_t> blocks;
    bool directory_dirty;
    {
      std::lock_guard lock(mu_);
      blocks.swap(unsynced_);
      directory_dirty = directory_dirty_ || !blocks.empty();
      directory_dirty_ = false;
    }
    for (uint64_t block : blocks) {
      std::string name = BlockObjectName(options_.prefix, block);
      Fd fd(::openat(dir_fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) {
        if (errno == ENOENT) continue;  // trimmed since: nothing to sync
        return RequeueAfterFailure(blocks, ErrnoStatus("open " + name));
      }
      if (::fsync(fd.get()) != 0) {
        return RequeueAfterFailure(blocks, ErrnoStatus("fsync " + name));
      }
    }
    if (directory_dirty && ::fsync(dir_fd_.get()) != 0) {
      return RequeueAfterFailure(blocks, ErrnoStatus("fsync directory"));
    }
    flushes_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    allocated->assign(count, false);
    for (uint64_t i = 0; i < count; ++i) {
      std::string name = BlockObjectName(options_.prefix, first + i);
      struct stat st;
      if (::fstatat(dir_fd_.get(), name.c_str(), &st, 0) == 0) {
        (*allocated)[i] = true;
      } else if (errno != ENOENT) {
        return ErrnoStatus("stat " + name);
      }
    }
    return Status::Ok();
  }

  void CollectStats(std::vector<StatEntry>* out) const override {
    out->push_back({"dir.reads", reads_.load(), "block files read"});
    out->push_back({"dir.writes", writes_.load(), "block files written"});
    out->push_back({"dir.partial_writes", partial_writes_.load(),
                    "block files written in part"});
    out->push_back({"dir.trims", trims_.load(), "block files removed"});
    out->push_back(
        {"dir.flushes", flushes_.load(), "flushes of the store directory"});
    out->push_back(
        {"dir.file_opens", file_opens_.load(), "block files opened"});
  }

 private:
  // Writes the block's file atomically: a temporary file renamed over it.
  Status Replace(uint64_t block, std::span<const uint8_t> data) {
    std::string name = BlockObjectName(options_.prefix, block);
    std::string temp = TempName(name);
    Fd fd(::openat(dir_fd_.get(), temp.c_str(),
                   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus("cannot create " + temp);
    Status status = WriteAll(fd.get(), data).WithContext(temp);
    if (status.ok() && ::renameat(dir_fd_.get(), temp.c_str(), dir_fd_.get(),
                                  name.c_str()) != 0) {
      status = ErrnoStatus("cannot rename " + temp + " to " + name);
    }
    if (!status.ok()) {
      ::unlinkat(dir_fd_.get(), temp.c_str(), 0);
      return status;
    }
    fds_.Erase(block);
    MarkUnsynced(block);
    writes_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  // The block's file, open (read-write unless the store is read-only) and
  // checked to hold exactly one block, or null when the block has no file.
  // *epoch is the cache epoch taken before looking, for a file created next.
  Status OpenBlock(uint64_t block, FdCache::FdRef* fd, uint64_t* epoch) {
    *fd = fds_.Find(block, epoch);
    if (*fd != nullptr) return Status::Ok();
    std::string name = BlockObjectName(options_.prefix, block);
    int flags = (options_.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    Fd opened(::openat(dir_fd_.get(), name.c_str(), flags));
    if (!opened.valid()) {
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("cannot open block file " + name);
    }
    struct stat st;
    if (::fstat(opened.get(), &st) != 0) return ErrnoStatus("fstat " + name);
    if (static_cast<uint64_t>(st.st_size) != options_.geometry.block_size) {
      return Status::NotABlock(
          "block file " + name + " has " + std::to_string(st.st_size) +
          " bytes, expected " + std::to_string(options_.geometry.block_size) +
          " (truncated or foreign object)");
    }
    file_opens_.fetch_add(1, std::memory_order_relaxed);
    *fd = std::make_shared<const Fd>(std::move(opened));
    fds_.Insert(block, *epoch, *fd);
    return Status::Ok();
  }

  // A sub-block write goes into the block's file in place, as on a disk. A
  // block without a file gets one holding zeros and this data, installed
  // only if the block still has none: a concurrent partial write that
  // created it first is written into, not replaced, so both survive.
  Status WriteInPlace(uint64_t block, uint32_t offset,
                      std::span<const uint8_t> data) {
    // Each round either writes, or finds that the file it just missed was
    // created by someone else. Only a trim racing every round ends it.
    for (int round = 0; round < 16; ++round) {
      FdCache::FdRef fd;
      uint64_t epoch;
      USBD_RETURN_IF_ERROR(OpenBlock(block, &fd, &epoch));
      if (fd != nullptr) {
        USBD_RETURN_IF_ERROR(
            PwriteAll(fd->get(), data, offset)
                .WithContext(BlockObjectName(options_.prefix, block)));
        break;
      }
      // Zeros over a block without a file: it reads as zeros already.
      if (IsAllZero(data)) return Status::Ok();
      bool installed = false;
      USBD_RETURN_IF_ERROR(CreateBlock(block, offset, data, epoch, &installed));
      if (installed) break;
      if (round == 15) {
        return Status::IoError("block file " +
                               BlockObjectName(options_.prefix, block) +
                               " keeps disappearing under a partial write");
      }
    }
    MarkUnsynced(block);
    partial_writes_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  // Creates the block's file holding zeros and `data` at `offset`, unless a
  // file appeared meanwhile (then *installed is false and nothing changed).
  // `epoch` was taken before the block was found missing.
  Status CreateBlock(uint64_t block, uint32_t offset,
                     std::span<const uint8_t> data, uint64_t epoch,
                     bool* installed) {
    *installed = false;
    std::string name = BlockObjectName(options_.prefix, block);
    std::string temp = TempName(name);
    Fd fd(::openat(dir_fd_.get(), temp.c_str(),
                   O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus("cannot create " + temp);
    Status status;
    if (::ftruncate(fd.get(), options_.geometry.block_size) != 0) {
      status = ErrnoStatus("cannot extend " + temp);
    } else {
      status = PwriteAll(fd.get(), data, offset).WithContext(temp);
    }
    if (status.ok()) status = InstallWithoutReplacing(temp, name, installed);
    if (!*installed) {
      ::unlinkat(dir_fd_.get(), temp.c_str(), 0);
      return status;
    }
    fds_.Insert(block, epoch, std::make_shared<const Fd>(std::move(fd)));
    return Status::Ok();
  }

  // Renames `temp` to `name` unless `name` exists (*installed false, OK).
  // Where the file system cannot rename without replacing, a hard link does
  // the same; the temporary name is then removed.
  Status InstallWithoutReplacing(const std::string& temp,
                                 const std::string& name, bool* installed) {
    int dir = dir_fd_.get();
    if (::renameat2(dir, temp.c_str(), dir, name.c_str(), RENAME_NOREPLACE) ==
        0) {
      *installed = true;
      return Status::Ok();
    }
    if (errno == EEXIST) return Status::Ok();
    if (errno != EINVAL && errno != ENOSYS) {
      return ErrnoStatus("cannot rename " + temp + " to " + name);
    }
    if (::linkat(dir, temp.c_str(), dir, name.c_str(), 0) != 0) {
      if (errno == EEXIST) return Status::Ok();
      return ErrnoStatus("cannot link " + temp + " to " + name);
    }
    *installed = true;
    ::unlinkat(dir, temp.c_str(), 0);
    return Status::Ok();
  }

  void MarkUnsynced(uint64_t block) {
    std::lock_guard lock(mu_);
    unsynced_.insert(block);
  }

  // Cached descriptors stay well inside the process's open file limit.
  static size_t OpenFileBudget() {
    constexpr size_t kMaxOpenBlockFiles = 1024;
    struct rlimit limit;
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 ||
        limit.rlim_cur == RLIM_INFINITY) {
      return kMaxOpenBlockFiles;
    }
    return std::min<size_t>(kMaxOpenBlockFiles, limit.rlim_cur / 4);
  }

  // A prefix with slashes ("vol1/") names subdirectories, as S3 keys do.
  Status CreatePrefixDirectories() {
    size_t slash = 0;
    while ((slash = options_.prefix.find('/', slash)) != std::string::npos) {
      std::string sub = options_.prefix.substr(0, slash++);
      if (!sub.empty() && ::mkdirat(dir_fd_.get(), sub.c_str(), 0700) != 0 &&
          errno != EEXIST) {
        return ErrnoStatus("cannot create " + options_.directory + "/" + sub);
      }
    }
    return Status::Ok();
  }

  // The temporary file sits next to its block file (same directory, so the
  // rename is atomic), hidden behind kTempMarker.
  std::string TempName(const std::string& name) {
    size_t base = name.rfind('/') + 1;  // npos + 1 == 0
    return name.substr(0, base) + kTempMarker + name.substr(base) + "-" +
           std::to_string(temp_counter_.fetch_add(1));
  }

  // A failed flush must not forget what still needs syncing.
  Status RequeueAfterFailure(const std::set<uint64_t>& blocks, Status status) {
    std::lock_guard lock(mu_);
    unsynced_.insert(blocks.begin(), blocks.end());
    directory_dirty_ = true;
    return status;
  }

  // Temporary files left by a crash mid-write were never renamed into place,
  // so they hold nothing that was ever reported written.
  void RemoveStaleTempFiles() {
    size_t base = options_.prefix.rfind('/') + 1;
    std::string sub = options_.prefix.substr(0, base);
    int fd = ::openat(dir_fd_.get(), sub.empty() ? "." : sub.c_str(),
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      return;
    }
    std::string marker = kTempMarker + options_.prefix.substr(base);
    while (struct dirent* entry = ::readdir(dir)) {
      if (std::strncmp(entry->d_name, marker.c_str(), marker.size()) == 0) {
        ::unlinkat(::dirfd(dir), entry->d_name, 0);
      }
    }
    ::closedir(dir);
  }

  const DirStoreOptions options_;
  Fd dir_fd_;
  std::atomic<uint64_t> temp_counter_{0};
  std::mutex mu_;
  std::set<uint64_t> unsynced_;   // guarded by mu_
  bool directory_dirty_ = false;  // guarded by mu_
  FdCache fds_;
  std::atomic<uint64_t> reads_{0}, writes_{0}, partial_writes_{0}, trims_{0},
      flushes_{0}, file_opens_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewDirStore(const DirStoreOptions& options) {
  return std::make_unique<DirStore>(options);
}

}  // namespace usbd
