// WriteLog: the block cache's record of writes acknowledged since the last
// FLUSH, so that the death of the process (kill -9, a crash, the OOM
// killer) loses no acknowledged write; only a crash of the machine may.
//
// Why: with --nbd the kernel keeps its queued requests across a restart of
// usbd and sends them to the new one, FLUSH included. A FLUSH answered by
// the new usbd promises every write the old one acknowledged, so those
// writes must outlive the old process. Their data is already in the cache
// file (the page cache keeps what a dead process wrote); what the index
// lacks until the next commit is which slot holds which block. The log
// holds exactly that: one record each time a block's slot or zero state
// changes between commits, and one when a block so recorded leaves the
// cache (its slot may then be reused: the store holds the block). A record is
// written (a store into a shared mapping of the file, else pwrite; no
// fdatasync: the page cache is enough for a process crash) before the write is
// acknowledged. After a reboot the page cache is gone and so is the promise: a
// start on another boot (the kernel's boot_id) ignores the log, as a disk with
// a volatile write cache loses unflushed writes.
//
// File `<cache file>.wlog`, little-endian:
//   0     4096  header: magic "USBDWLOG" (8), format 1 (4), capacity (4),
//               cache id (32, as the cache file's), boot id (36), then
//               CRC-32C of bytes 0..83 (4)
//   4096        half 0: `capacity` records of 40 bytes
//   ...         half 1: `capacity` records
// Record: seq (8) block (8) generation (8) slot (4) kind (1, as
// RecordKind: 2 dirty, 3 zero, 1 gone from the cache) reserved (7)
// CRC-32C of bytes 0..35 (4).
// The cache writes one half per epoch (an epoch ends when a FLUSH's commit
// takes its snapshot; the next epoch uses the other half, from its start,
// once the commit of the epoch before is durable). Sequence numbers rise
// across both halves; a half is read from its start until a record fails
// its CRC or does not rise (what is left of an older epoch). The index
// keeps the sequence number its last full commit covers; records above it
// are replayed over the index at start, in order, the last per block
// winning. A block's slot is reused only after a record says it left, or
// once the index covers its record, so the last record of a block always
// finds its data.
//
// Thread safety: none; the cache calls it under its mutex.
#ifndef USBD_CACHE_WRITE_LOG_H_
#define USBD_CACHE_WRITE_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/cache_index.h"
#include "util/status.h"

namespace usbd {

struct WriteLogRecord {
  uint64_t seq = 0;
  uint64_t block = 0;
  uint64_t gen = 0;
  uint32_t slot = 0;                     // kDirty only
  RecordKind kind = RecordKind::kDirty;  // kDirty or kZero
};

// This machine's boot id (/proc/sys/kernel/random/boot_id), or "" when it
// cannot be read (then no log is kept).
std::string CurrentBootId();

class WriteLog {
 public:
  // Opens (creating, mode 0600) `path`; reads nothing yet.
  static Result<std::unique_ptr<WriteLog>> Open(const std::string& path);
  ~WriteLog();

  // The records a dead process of this boot left for the cache `cache_id`,
  // in sequence order, from both halves; empty when the file is new, of
  // another cache or another boot, or damaged. Records at or below
  // `through` are left out.
  std::vector<WriteLogRecord> Recover(const std::string& cache_id,
                                      const std::string& boot_id,
                                      uint64_t through);
  // The largest sequence number in the file (any cache, any boot), so new
  // records can rise above every one left in it.
  uint64_t MaxSeq() const { return max_seq_; }

  // Empties the file and writes a header for this cache and boot, with
  // room for `capacity` records per half; the next Append goes to half 0.
  Status Reset(const std::string& cache_id, const std::string& boot_id,
               uint32_t capacity);
  uint32_t capacity() const { return capacity_; }
  // Records in the half being written.
  uint32_t used() const { return used_; }
  // Starts writing `half` (0 or 1) from its beginning.
  void SwitchTo(int half);
  // Appends to the current half; ENOSPC when it is full.
  Status Append(const WriteLogRecord& record);
  // Voids the header, so that no start replays this file (best effort).
  void Invalidate();

 private:
  WriteLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  void Unmap();
  const std::string path_;
  const int fd_;
  uint8_t* map_ = nullptr;  // the whole file, once Reset reserved it
  uint64_t map_size_ = 0;
  uint32_t capacity_ = 0;
  int half_ = 0;
  uint32_t used_ = 0;
  uint64_t max_seq_ = 0;
};

}  // namespace usbd

#endif  // USBD_CACHE_WRITE_LOG_H_
