#include "cache/slot_file.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "cache/crc32c.h"
#include "util/coding.h"
#include "util/fd.h"
#include "util/log.h"

namespace usbd {
namespace {

constexpr uint64_t kHeaderSize = 4096;
constexpr char kMagic[8] = {'U', 'S', 'B', 'D', 'S', 'L', 'O', 'T'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 124;  // what the CRC at byte 120 covers + 4
constexpr char kUnsentMagic[8] = {'U', 'S', 'B', 'D', 'U', 'N', 'S', 'N'};
constexpr uint64_t kUnsentOffset = 128;
constexpr size_t kUnsentBytes = 20;  // magic, count, CRC of both

void EncodeUnsentMark(uint64_t unsent, uint8_t out[kUnsentBytes]) {
  std::memcpy(out, kUnsentMagic, 8);
  PutLe64(out + 8, unsent);
  PutLe32(out + 16, Crc32c({out, 16}));
}

std::optional<uint64_t> DecodeUnsentMark(const uint8_t in[kUnsentBytes]) {
  if (std::memcmp(in, kUnsentMagic, 8) != 0) return std::nullopt;
  if (GetLe32(in + 16) != Crc32c({in, 16})) return std::nullopt;
  return GetLe64(in + 8);
}

std::string Directory(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Copies to and from the mapped cache file. An I/O error under a mapping
// arrives as SIGBUS, not as an error code; the handler turns a SIGBUS
// raised inside a guarded copy into an error of that copy (EIO) and passes
// any other SIGBUS on to the handler that was there before.
// volatile: the stores around memcpy must not be optimised away.
thread_local sigjmp_buf* volatile t_copy_guard = nullptr;
struct sigaction g_previous_sigbus;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  if (sigjmp_buf* guard = t_copy_guard) {
    t_copy_guard = nullptr;
    siglongjmp(*guard, 1);
  }
  if (g_previous_sigbus.sa_flags & SA_SIGINFO) {
    if (g_previous_sigbus.sa_sigaction) {
      g_previous_sigbus.sa_sigaction(sig, info, context);
      return;
    }
  } else if (g_previous_sigbus.sa_handler != SIG_DFL &&
             g_previous_sigbus.sa_handler != SIG_IGN) {
    g_previous_sigbus.sa_handler(sig);
    return;
  }
  ::signal(SIGBUS, SIG_DFL);
  ::raise(SIGBUS);
}

void InstallSigbusHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_sigaction = OnSigbus;
    // SA_NODEFER: the handler leaves by siglongjmp without restoring the
    // signal mask, so SIGBUS must not be blocked while it runs.
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous_sigbus);
  });
}

// memcpy that reports an I/O error of the mapped file instead of dying.
Status GuardedCopy(void* to, const void* from, size_t size) {
  sigjmp_buf guard;
  if (sigsetjmp(guard, 0) != 0) {
    return Status::IoError("I/O error in the mapped cache file (SIGBUS)");
  }
  t_copy_guard = &guard;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(to, from, size);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_copy_guard = nullptr;
  return Status::Ok();
}

class MemorySlotFile : public SlotFile {
 public:
  MemorySlotFile(uint32_t block_size, uint32_t slot_count)
      : block_size_(block_size), bytes_(uint64_t{block_size} * slot_count) {
    void* p = bytes_ == 0
                  ? MAP_FAILED
                  : ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
  }
  ~MemorySlotFile() override {
    if (base_) ::munmap(base_, bytes_);
  }

  bool persistent() const override { return false; }
  std::string path() const override { return ""; }
  bool preallocated() override { return true; }
  std::optional<SlotFileHeader> ReadHeader(std::string* why) override {
    *why = "in memory";
    return std::nullopt;
  }
  Status Format(const SlotFileHeader&) override {
    if (!base_) return Status::Error(ENOMEM, "cannot map the memory cache");
    return Status::Ok();
  }
  Status WriteUnsentMark(uint64_t) override { return Status::Ok(); }
  Status Read(uint32_t slot, uint32_t offset, std::span<uint8_t> out) override {
    std::memcpy(out.data(), At(slot) + offset, out.size());
    return Status::Ok();
  }
  Status Write(uint32_t slot, uint32_t offset,
               std::span<const uint8_t> data) override {
    std::memcpy(At(slot) + offset, data.data(), data.size());
    return Status::Ok();
  }
  Status Sync() override { return Status::Ok(); }

 private:
  uint8_t* At(uint32_t slot) { return base_ + uint64_t{slot} * block_size_; }

  const uint32_t block_size_;
  const uint64_t bytes_;
  uint8_t* base_ = nullptr;
};

class FileSlotFile : public SlotFile {
 public:
  FileSlotFile(std::string path, Fd fd, uint32_t block_size)
      : path_(std::move(path)), fd_(std::move(fd)), block_size_(block_size) {}
  ~FileSlotFile() override { Unmap(); }

  bool persistent() const override { return true; }
  std::string path() const override { return path_; }
  bool preallocated() override {
    struct stat st;
    return ::fstat(fd_.get(), &st) == 0 &&
           static_cast<uint64_t>(st.st_blocks) * 512 >=
               static_cast<uint64_t>(st.st_size);
  }

  std::optional<SlotFileHeader> ReadHeader(std::string* why) override {
    uint8_t h[kUnsentOffset + kUnsentBytes];
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0 || st.st_size == 0) {
      *why = "new cache file";
      return std::nullopt;
    }
    Status status = PreadAll(fd_.get(), h, 0);
    if (!status.ok()) {
      *why = "header unreadable: " + status.ToString();
      return std::nullopt;
    }
    if (std::memcmp(h, kMagic, 8) != 0) {
      *why = "not a usbd cache file";
      return std::nullopt;
    }
    if (GetLe32(h + 120) != Crc32c({h, 120})) {
      *why = "header checksum mismatch";
      return std::nullopt;
    }
    if (GetLe32(h + 8) != kFormatVersion) {
      *why = "cache file format " + std::to_string(GetLe32(h + 8)) +
             " is not supported";
      return std::nullopt;
    }
    SlotFileHeader header;
    header.block_size = GetLe32(h + 12);
    uint64_t slots = GetLe64(h + 16);
    header.slot_count = static_cast<uint32_t>(slots);
    header.cache_id.assign(reinterpret_cast<const char*>(h + 24), 32);
    const char* uuid = reinterpret_cast<const char*>(h + 56);
    header.volume_uuid.assign(uuid, strnlen(uuid, 64));
    header.unsent = DecodeUnsentMark(h + kUnsentOffset);
    uint64_t needed = kHeaderSize + slots * header.block_size;
    if (slots > UINT32_MAX || static_cast<uint64_t>(st.st_size) < needed) {
      *why = "cache file is shorter than its header says (truncated)";
      return std::nullopt;
    }
    Map(static_cast<uint64_t>(st.st_size));
    return header;
  }

  Status Format(const SlotFileHeader& header) override {
    uint8_t h[kHeaderBytes] = {};
    std::memcpy(h, kMagic, 8);
    PutLe32(h + 8, kFormatVersion);
    PutLe32(h + 12, header.block_size);
    PutLe64(h + 16, header.slot_count);
    std::memcpy(h + 24, header.cache_id.data(),
                std::min<size_t>(32, header.cache_id.size()));
    std::memcpy(h + 56, header.volume_uuid.data(),
                std::min<size_t>(64, header.volume_uuid.size()));
    PutLe32(h + 120, Crc32c({h, 120}));
    uint64_t size = kHeaderSize + uint64_t{header.slot_count} * block_size_;
    Unmap();
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
      return ErrnoStatus("cannot size cache file " + path_);
    }
    // Reserve the space now where the file system can, so the disk filling
    // up later does not fail writes into the cache.
    int err = ::posix_fallocate(fd_.get(), 0, static_cast<off_t>(size));
    if (err == ENOSPC) {
      LogWarning("cache file " + path_ + ": not enough free space to reserve " +
                 std::to_string(size >> 20) +
                 " MiB; writes into the cache fail with ENOSPC when the disk "
                 "is full");
    } else if (err != 0 && err != EOPNOTSUPP && err != EINVAL) {
      return ErrnoStatus("cannot reserve space for " + path_, err);
    }
    USBD_RETURN_IF_ERROR(
        PwriteAll(fd_.get(), h, 0).WithContext("cache file " + path_));
    if (header.unsent) {
      uint8_t mark[kUnsentBytes];
      EncodeUnsentMark(*header.unsent, mark);
      USBD_RETURN_IF_ERROR(PwriteAll(fd_.get(), mark, kUnsentOffset)
                               .WithContext("cache file " + path_));
    }
    if (::fsync(fd_.get()) != 0) return ErrnoStatus("fsync " + path_);
    std::string dir = Directory(path_);
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.valid()) (void)::fsync(dir_fd.get());
    Map(size);
    return Status::Ok();
  }

  // Through pwrite even when mapped: the header page is outside what the
  // slots' copies touch, and fdatasync covers both ways of writing.
  Status WriteUnsentMark(uint64_t unsent) override {
    uint8_t mark[kUnsentBytes];
    EncodeUnsentMark(unsent, mark);
    return PwriteAll(fd_.get(), mark, kUnsentOffset)
        .WithContext("cache file " + path_);
  }

  Status Read(uint32_t slot, uint32_t offset, std::span<uint8_t> out) override {
    uint64_t at = Offset(slot) + offset;
    Status status = map_ ? GuardedCopy(out.data(), map_ + at, out.size())
                         : PreadAll(fd_.get(), out, at);
    return status.WithContext("cache file " + path_ + " slot " +
                              std::to_string(slot));
  }
  Status Write(uint32_t slot, uint32_t offset,
               std::span<const uint8_t> data) override {
    uint64_t at = Offset(slot) + offset;
    Status status = map_ ? GuardedCopy(map_ + at, data.data(), data.size())
                         : PwriteAll(fd_.get(), data, at);
    return status.WithContext("cache file " + path_ + " slot " +
                              std::to_string(slot));
  }
  Status Sync() override {
    if (::fdatasync(fd_.get()) != 0) return ErrnoStatus("fdatasync " + path_);
    return Status::Ok();
  }

 private:
  uint64_t Offset(uint32_t slot) const {
    return kHeaderSize + uint64_t{slot} * block_size_;
  }

  // Slots are copied through a shared mapping when their space is reserved
  // (no write can then fail for want of space): pwrite takes the inode's
  // lock, so concurrent writers queue on it, and a memcpy does not.
  // fdatasync writes back pages dirtied through the mapping too.
  void Map(uint64_t size) {
    Unmap();
    if (!preallocated()) return;
    void* p =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) return;  // pread/pwrite then
    InstallSigbusHandler();
    map_ = static_cast<uint8_t*>(p);
    map_size_ = size;
  }
  void Unmap() {
    if (map_) ::munmap(map_, map_size_);
    map_ = nullptr;
  }

  const std::string path_;
  Fd fd_;
  const uint32_t block_size_;
  uint8_t* map_ = nullptr;  // set only while no other call runs
  uint64_t map_size_ = 0;
};

}  // namespace

std::unique_ptr<SlotFile> NewMemorySlotFile(uint32_t block_size,
                                            uint32_t slot_count) {
  return std::make_unique<MemorySlotFile>(block_size, slot_count);
}

Result<std::unique_ptr<SlotFile>> OpenSlotFile(const std::string& path,
                                               uint32_t block_size) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoStatus("cannot open cache file " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Error(
          EBUSY, "cache file " + path + " is busy: another usbd is using it");
    }
    return ErrnoStatus("cannot lock cache file " + path);
  }
  std::unique_ptr<SlotFile> file =
      std::make_unique<FileSlotFile>(path, std::move(fd), block_size);
  return file;
}

}  // namespace usbd
