#include "object/dir_object_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "util/fd.h"

namespace usbd {
namespace {

constexpr char kTempMarker[] = ".usbd-tmp-";

class DirObjectStore : public ObjectStore {
 public:
  explicit DirObjectStore(std::string directory)
      : directory_(std::move(directory)) {}

  std::string Describe() const override { return "directory " + directory_; }

  Result<std::optional<std::vector<uint8_t>>> Get(const std::string& key,
                                                  size_t) override {
    USBD_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = Path(key);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return std::optional<std::vector<uint8_t>>();
      }
      return ErrnoStatus("cannot open " + path);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("fstat " + path);
    if (!S_ISREG(st.st_mode)) {
      return Status::IoError(path + " is not a regular file");
    }
    std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
    USBD_RETURN_IF_ERROR(PreadAll(fd.get(), data, 0).WithContext(path));
    return std::optional<std::vector<uint8_t>>(std::move(data));
  }

  Status Put(const std::string& key, std::span<const uint8_t> data) override {
    USBD_RETURN_IF_ERROR(CheckKey(key));
    if (::mkdir(directory_.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create store directory " + directory_);
    }
    const std::string path = Path(key);
    const std::string temp =
        Path(kTempMarker + key + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter_.fetch_add(1)));
    Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus("cannot create " + temp);
    Status status = WriteAll(fd.get(), data).WithContext(temp);
    if (status.ok() && ::fsync(fd.get()) != 0) {
      status = ErrnoStatus("fsync " + temp);
    }
    fd.Reset();
    if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
      status = ErrnoStatus("cannot rename " + temp + " to " + path);
    }
    if (!status.ok()) {
      ::unlink(temp.c_str());
      return status;
    }
    return SyncDirectory();
  }

  Status Delete(const std::string& key) override {
    USBD_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = Path(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::Ok();
      return ErrnoStatus("cannot delete " + path);
    }
    return SyncDirectory();
  }

  Result<std::optional<uint64_t>> Head(const std::string& key) override {
    USBD_RETURN_IF_ERROR(CheckKey(key));
    const std::string path = Path(key);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        return std::optional<uint64_t>();
      }
      return ErrnoStatus("stat " + path);
    }
    if (!S_ISREG(st.st_mode)) return std::optional<uint64_t>();
    return std::optional<uint64_t>(static_cast<uint64_t>(st.st_size));
  }

  Status List(const std::string& prefix,
              const ListCallback& callback) override {
    DIR* dir = ::opendir(directory_.c_str());
    if (dir == nullptr) {
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("cannot list " + directory_);
    }
    std::vector<ObjectInfo> found;
    errno = 0;
    while (struct dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name.empty() || name[0] == '.' || !name.starts_with(prefix)) {
        continue;
      }
      struct stat st;
      if (::fstatat(::dirfd(dir), entry->d_name, &st, 0) != 0 ||
          !S_ISREG(st.st_mode)) {
        continue;  // gone since, or not a file: not an object
      }
      found.push_back({std::move(name), static_cast<uint64_t>(st.st_size)});
    }
    const int err = errno;
    ::closedir(dir);
    if (err != 0) return ErrnoStatus("cannot list " + directory_, err);
    std::sort(
        found.begin(), found.end(),
        [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    for (const ObjectInfo& info : found) {
      if (!callback(info)) break;
    }
    return Status::Ok();
  }

  bool CanList() const override { return true; }

 private:
  static Status CheckKey(const std::string& key) {
    if (key.empty() || key[0] == '.' || key.find('/') != std::string::npos) {
      return Status::Invalid("'" + key +
                             "' cannot be a file name in the store directory");
    }
    return Status::Ok();
  }

  std::string Path(const std::string& name) const {
    return directory_ + "/" + name;
  }

  // Makes the rename or unlink durable.
  Status SyncDirectory() {
    Fd dir(::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return ErrnoStatus("cannot open " + directory_);
    if (::fsync(dir.get()) != 0) return ErrnoStatus("fsync " + directory_);
    return Status::Ok();
  }

  const std::string directory_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace

std::unique_ptr<ObjectStore> NewDirObjectStore(const std::string& directory) {
  return std::make_unique<DirObjectStore>(directory);
}

}  // namespace usbd
