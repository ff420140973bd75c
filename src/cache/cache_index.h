// CacheIndex: the block cache's metadata in an LMDB environment beside the
// cache file (`<cache file>.lmdb`, one data file, no lock file: the cache
// file's own lock keeps other processes out).
//
// Two databases:
//   "meta":   the cache's identity: format, cache id (also in the cache
//             file's header), volume UUID, block size, slot count; and
//             "log_through" (8 bytes, little-endian), the last write-log
//             sequence number the records cover (write_log.h).
//   "blocks": one record per cached block, keyed by the block number
//             (8 bytes, big-endian, so iteration is in block order):
//               slot (4) kind (1) reserved (3) crc32c (4) generation (8),
//             little-endian, 20 bytes. A record is what the cache may rely
//             on after a crash: see the state machine in cache_store.cc.
//
// Every Apply is one LMDB transaction, durable (fdatasync) when it returns.
//
// Thread safety: none; the cache serialises its calls (one commit at a
// time; reads only at start-up).
#ifndef USBD_CACHE_CACHE_INDEX_H_
#define USBD_CACHE_CACHE_INDEX_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "util/status.h"

namespace usbd {

enum class RecordKind : uint8_t {
  kClean = 1,  // slot holds the store's content of the block
  kDirty = 2,  // slot holds content newer than the store's: upload it
  kZero = 3,   // the block was trimmed or zeroed: trim it in the store
  kLost = 4,   // its newest flushed data was lost: reads fail (EIO) until
               // it is written whole or trimmed; no slot
};

// Whether a record of this kind names a slot.
inline bool HoldsSlot(RecordKind kind) {
  return kind == RecordKind::kClean || kind == RecordKind::kDirty;
}

struct IndexRecord {
  uint64_t block = 0;
  uint32_t slot = 0;  // meaningful only where HoldsSlot(kind)
  RecordKind kind = RecordKind::kClean;
  uint32_t crc = 0;  // CRC-32C of the slot's whole content
  uint64_t gen = 0;  // version of the content; larger is newer

  bool operator==(const IndexRecord&) const = default;
};

struct IndexMeta {
  std::string cache_id;
  std::string volume_uuid;
  uint32_t block_size = 0;
  uint32_t slot_count = 0;
  // Write-log records up to this sequence number are in the index; read by
  // ReadMeta (0 when absent), written only by Apply.
  uint64_t log_through = 0;
};

class CacheIndex {
 public:
  // Opens (creating) the environment at `path`, sized for about
  // `max_records` records; it grows when needed.
  static Result<std::unique_ptr<CacheIndex>> Open(const std::string& path,
                                                  uint64_t max_records);
  virtual ~CacheIndex() = default;

  virtual Result<std::optional<IndexMeta>> ReadMeta() = 0;
  // Replaces the identity; with `clear`, deletes every block record in the
  // same transaction.
  virtual Status WriteMeta(const IndexMeta& meta, bool clear) = 0;
  // Calls `fn` for every record, in block order. A record that cannot be
  // decoded is skipped and counted in *damaged.
  virtual Status ForEach(const std::function<void(const IndexRecord&)>& fn,
                         uint64_t* damaged) = 0;
  // Puts and deletes, in one durable transaction; with `log_through`, it
  // also records that the index covers the write log up to there.
  virtual Status Apply(std::span<const IndexRecord> puts,
                       std::span<const uint64_t> deletes,
                       std::optional<uint64_t> log_through = std::nullopt) = 0;
};

}  // namespace usbd

#endif  // USBD_CACHE_CACHE_INDEX_H_
