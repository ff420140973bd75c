// SlotFile: the block cache's data, an array of fixed-size slots, each the
// size of one block, in a local file (persistent cache) or in memory.
//
// File layout (format 1): a 4096-byte header, then slot i at byte
// 4096 + i * block_size. The header names the cache (a random cache id the
// LMDB index beside the file repeats, so a file and an index that do not
// belong together are noticed), the volume (UUID, block size) and the slot
// count:
//
//   offset  size  field
//   0       8     magic "USBDSLOT"
//   8       4     format version (1), little-endian
//   12      4     block size
//   16      8     slot count
//   24      32    cache id, 32 hex digits
//   56      64    volume UUID, NUL-padded
//   120     4     CRC-32C of bytes 0..119
//   128     8     magic "USBDUNSN": the unsent mark follows
//   136     8     unsent count, little-endian
//   144     4     CRC-32C of bytes 128..143
//
// The unsent mark is an upper bound on the index records whose data the
// store does not hold yet (dirty blocks, trims, lost blocks). It is raised
// and made durable before the index records more, and lowered lazily after,
// so even without its index the file tells whether dropping it would lose
// flushed writes. A file written by an older usbd has no mark (unknown).
// The file is locked (flock, exclusive) while open: a second usbd on the
// same cache gets EBUSY. Slots are preallocated when the file is formatted
// where the file system allows, so a full disk is found at start rather
// than in the middle of a write; where it does not, a write that finds the
// disk full fails with ENOSPC and changes nothing the cache relies on.
// A preallocated file is accessed through a shared mapping (memcpy; an I/O
// error, which the kernel reports as SIGBUS, becomes EIO of that call),
// otherwise with pread/pwrite.
//
// Thread safety: Read, Write and Sync may be called concurrently (the
// callers keep concurrent writes to one slot apart). Format is called
// alone, before any other use.
#ifndef USBD_CACHE_SLOT_FILE_H_
#define USBD_CACHE_SLOT_FILE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "util/status.h"

namespace usbd {

struct SlotFileHeader {
  uint32_t block_size = 0;
  uint32_t slot_count = 0;
  std::string cache_id;  // 32 hex digits, shared with the index
  std::string volume_uuid;
  // The unsent mark; nullopt when the file has none (or it is damaged).
  // Format writes it when set and leaves the file's mark alone otherwise.
  std::optional<uint64_t> unsent;
};

class SlotFile {
 public:
  virtual ~SlotFile() = default;

  virtual bool persistent() const = 0;
  virtual std::string path() const = 0;  // "" in memory
  // Every slot has its disk space reserved, so writing one cannot run out
  // of space half-way (in memory: true).
  virtual bool preallocated() = 0;

  // The header, or nullopt (with `*why` set) when the file is empty, not a
  // cache file or damaged.
  virtual std::optional<SlotFileHeader> ReadHeader(std::string* why) = 0;
  // Writes the header and sizes the file for header.slot_count slots,
  // keeping the content of the slots below both the old and new count.
  // Durable when it returns.
  virtual Status Format(const SlotFileHeader& header) = 0;
  // Rewrites the unsent mark (see above); durable at the next Sync. Called
  // by one thread at a time (the cache's commits).
  virtual Status WriteUnsentMark(uint64_t unsent) = 0;

  virtual Status Read(uint32_t slot, uint32_t offset,
                      std::span<uint8_t> out) = 0;
  virtual Status Write(uint32_t slot, uint32_t offset,
                       std::span<const uint8_t> data) = 0;
  // Makes every completed Write durable (fdatasync).
  virtual Status Sync() = 0;
};

// Slots in an anonymous mapping; pages are allocated when first written.
std::unique_ptr<SlotFile> NewMemorySlotFile(uint32_t block_size,
                                            uint32_t slot_count);

// Opens `path`, creating it (mode 0600) when missing, and locks it. Nothing
// is read or written until ReadHeader / Format.
Result<std::unique_ptr<SlotFile>> OpenSlotFile(const std::string& path,
                                               uint32_t block_size);

}  // namespace usbd

#endif  // USBD_CACHE_SLOT_FILE_H_
