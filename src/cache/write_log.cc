#include "cache/write_log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "cache/crc32c.h"
#include "util/coding.h"
#include "util/fd.h"

namespace usbd {
namespace {

constexpr char kMagic[8] = {'U', 'S', 'B', 'D', 'W', 'L', 'O', 'G'};
constexpr uint32_t kFormat = 1;
constexpr uint64_t kHeaderSize = 4096;
constexpr size_t kHeaderUsed = 88;  // fields, then their CRC at 84
constexpr size_t kRecordSize = 40;
constexpr size_t kIdSize = 32, kBootIdSize = 36;

void EncodeRecord(const WriteLogRecord& r, uint8_t out[kRecordSize]) {
  std::memset(out, 0, kRecordSize);
  PutLe64(out, r.seq);
  PutLe64(out + 8, r.block);
  PutLe64(out + 16, r.gen);
  PutLe32(out + 24, r.slot);
  out[28] = static_cast<uint8_t>(r.kind);
  PutLe32(out + 36, Crc32c({out, 36}));
}

bool DecodeRecord(const uint8_t in[kRecordSize], WriteLogRecord* r) {
  if (GetLe32(in + 36) != Crc32c({in, 36})) return false;
  r->seq = GetLe64(in);
  r->block = GetLe64(in + 8);
  r->gen = GetLe64(in + 16);
  r->slot = GetLe32(in + 24);
  r->kind = static_cast<RecordKind>(in[28]);
  return r->seq != 0 &&
         (r->kind == RecordKind::kDirty || r->kind == RecordKind::kZero ||
          r->kind == RecordKind::kClean);
}

// `text` in a fixed-size field, NUL-padded (truncated if longer).
void PutField(uint8_t* p, size_t size, const std::string& text) {
  std::memset(p, 0, size);
  std::memcpy(p, text.data(), std::min(size, text.size()));
}

std::string GetField(const uint8_t* p, size_t size) {
  const char* c = reinterpret_cast<const char*>(p);
  return std::string(c, strnlen(c, size));
}

}  // namespace

std::string CurrentBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!std::getline(in, id) || id.size() != kBootIdSize) return "";
  return id;
}

Result<std::unique_ptr<WriteLog>> WriteLog::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("cannot open write log " + path);
  return std::unique_ptr<WriteLog>(new WriteLog(path, fd));
}

WriteLog::~WriteLog() {
  Unmap();
  ::close(fd_);
}

void WriteLog::Unmap() {
  if (map_) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
}

std::vector<WriteLogRecord> WriteLog::Recover(const std::string& cache_id,
                                              const std::string& boot_id,
                                              uint64_t through) {
  std::vector<WriteLogRecord> records;
  uint8_t header[kHeaderUsed];
  if (!PreadAll(fd_, header, 0).ok()) return records;  // new or short
  if (std::memcmp(header, kMagic, 8) != 0 ||
      GetLe32(header + 84) != Crc32c({header, 84}) ||
      GetLe32(header + 8) != kFormat) {
    return records;
  }
  const uint32_t capacity = GetLe32(header + 12);
  const bool ours = GetField(header + 16, kIdSize) == cache_id &&
                    !boot_id.empty() &&
                    GetField(header + 48, kBootIdSize) == boot_id;
  std::vector<uint8_t> half(uint64_t{capacity} * kRecordSize);
  for (int h = 0; h < 2; ++h) {
    if (!PreadAll(fd_, half, kHeaderSize + h * half.size()).ok()) break;
    uint64_t last = 0;
    for (uint32_t i = 0; i < capacity; ++i) {
      WriteLogRecord r;
      if (!DecodeRecord(&half[uint64_t{i} * kRecordSize], &r) ||
          r.seq <= last) {
        break;
      }
      last = r.seq;
      max_seq_ = std::max(max_seq_, r.seq);
      if (ours && r.seq > through) records.push_back(r);
    }
  }
  std::sort(records.begin(), records.end(),
            [](const WriteLogRecord& a, const WriteLogRecord& b) {
              return a.seq < b.seq;
            });
  return records;
}

Status WriteLog::Reset(const std::string& cache_id, const std::string& boot_id,
                       uint32_t capacity) {
  // Truncating first leaves no record of before; the space is then
  // reserved so that appends cannot meet a full disk.
  const uint64_t size = kHeaderSize + 2 * uint64_t{capacity} * kRecordSize;
  Unmap();
  if (::ftruncate(fd_, 0) != 0) {
    return ErrnoStatus("cannot truncate write log " + path_);
  }
  int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
  const bool reserved = rc == 0;
  if (rc == EOPNOTSUPP || rc == EINVAL) {
    rc = ::ftruncate(fd_, static_cast<off_t>(size)) == 0 ? 0 : errno;
  }
  if (rc != 0) {
    errno = rc;
    return ErrnoStatus("cannot size write log " + path_);
  }
  if (reserved) {
    // Records are then stores into a shared mapping: no system call on the
    // writers' path, and the page cache has them the moment they are made.
    // Only with the space reserved, since a mapping cannot report ENOSPC.
    void* map =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (map != MAP_FAILED) {
      map_ = static_cast<uint8_t*>(map);
      map_size_ = size;
    }
  }
  uint8_t header[kHeaderUsed] = {};
  std::memcpy(header, kMagic, 8);
  PutLe32(header + 8, kFormat);
  PutLe32(header + 12, capacity);
  PutField(header + 16, kIdSize, cache_id);
  PutField(header + 48, kBootIdSize, boot_id);
  PutLe32(header + 84, Crc32c({header, 84}));
  USBD_RETURN_IF_ERROR(PwriteAll(fd_, header, 0));
  capacity_ = capacity;
  SwitchTo(0);
  return Status::Ok();
}

void WriteLog::SwitchTo(int half) {
  half_ = half;
  used_ = 0;
}

void WriteLog::Invalidate() {
  uint8_t zeros[8] = {};
  if (map_) {
    std::memcpy(map_, zeros, sizeof zeros);
  } else {
    (void)PwriteAll(fd_, zeros, 0);
  }
}

Status WriteLog::Append(const WriteLogRecord& record) {
  if (used_ >= capacity_) {
    return Status::Error(ENOSPC, "write log " + path_ + " is full");
  }
  uint8_t buf[kRecordSize];
  EncodeRecord(record, buf);
  const uint64_t offset =
      kHeaderSize + (uint64_t{capacity_} * half_ + used_) * kRecordSize;
  if (map_) {
    std::memcpy(map_ + offset, buf, kRecordSize);
  } else {
    USBD_RETURN_IF_ERROR(PwriteAll(fd_, buf, offset));
  }
  ++used_;
  return Status::Ok();
}

}  // namespace usbd
