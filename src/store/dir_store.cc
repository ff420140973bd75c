#include "store/dir_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <set>

#include "util/fd.h"

namespace usbd {
namespace {

constexpr char kTempMarker[] = ".usbd-tmp-";

class DirStore : public BlockStore {
 public:
  explicit DirStore(const DirStoreOptions& options) : options_(options) {}

  Geometry geometry() const override { return options_.geometry; }
  Capabilities capabilities() const override {
    Capabilities caps;
    caps.partial_write = false;
    caps.read_only = options_.read_only;
    caps.objects = true;
    return caps;
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
    if (!options_.read_only) {
      USBD_RETURN_IF_ERROR(CreatePrefixDirectories());
      RemoveStaleTempFiles();
    }
    return Status::Ok();
  }

  Status Shutdown() override {
    Status status = options_.read_only ? Status::Ok() : Flush();
    dir_fd_.Reset();
    return status;
  }

  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    std::string name = BlockObjectName(options_.prefix, block);
    Fd fd(::openat(dir_fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT) {
        std::memset(out.data(), 0, out.size());
        return Status::Ok();
      }
      return ErrnoStatus("cannot open block file " + name);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat " + name);
    if (static_cast<uint64_t>(st.st_size) != options_.geometry.block_size) {
      return Status::IoError("block file " + name + " has " +
                             std::to_string(st.st_size) + " bytes, expected " +
                             std::to_string(options_.geometry.block_size) +
                             " (truncated or foreign object)");
    }
    USBD_RETURN_IF_ERROR(PreadAll(fd.get(), out, offset).WithContext(name));
    reads_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }

  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    if (offset != 0 || data.size() != options_.geometry.block_size) {
      return Status::Invalid("directory store writes whole blocks only");
    }
    return Replace(block, data);
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
    if (st.st_size <= 0 || static_cast<uint64_t>(st.st_size) >
                               MaxObjectSize(options_.geometry.block_size)) {
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
    if (object.empty() ||
        object.size() > MaxObjectSize(options_.geometry.block_size)) {
      return Status::Invalid("object of " + std::to_string(object.size()) +
                             " bytes for block " + std::to_string(block));
    }
    return Replace(block, object);
  }

  Status Trim(uint64_t block) override {
    if (options_.read_only) return Status::Error(EPERM, "volume is read-only");
    std::string name = BlockObjectName(options_.prefix, block);
    if (::unlinkat(dir_fd_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("cannot delete block file " + name);
    }
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
    out->push_back({"dir.reads", reads_.load()});
    out->push_back({"dir.writes", writes_.load()});
    out->push_back({"dir.trims", trims_.load()});
    out->push_back({"dir.flushes", flushes_.load()});
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
    {
      std::lock_guard lock(mu_);
      unsynced_.insert(block);
    }
    writes_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
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
  std::atomic<uint64_t> reads_{0}, writes_{0}, trims_{0}, flushes_{0};
};

}  // namespace

std::unique_ptr<BlockStore> NewDirStore(const DirStoreOptions& options) {
  return std::make_unique<DirStore>(options);
}

}  // namespace usbd
