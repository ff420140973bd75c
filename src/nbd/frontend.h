// Frontend: byte ranges of the NBD export onto whole blocks of a BlockStore.
//
// This is the only place that splits a request into head, body and tail. A
// piece that covers part of a block is written directly when the store
// accepts partial writes, otherwise by read-modify-write of the whole block
// under a per-block lock, so two partial writes to different parts of one
// block never lose each other's bytes.
//
// Thread safety: every method may be called concurrently. The Frontend does
// not own the store.
#ifndef USBD_NBD_FRONTEND_H_
#define USBD_NBD_FRONTEND_H_

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "store/block_store.h"

namespace usbd::nbd {

struct Extent {
  uint64_t length;
  bool hole;  // reads as zeros and holds no storage
};

class Frontend {
 public:
  explicit Frontend(BlockStore* store);

  uint64_t size() const { return size_; }
  uint32_t block_size() const { return geometry_.block_size; }
  const Capabilities& capabilities() const { return caps_; }

  // Callers check bounds first: offset + length <= size().
  Status Read(uint64_t offset, std::span<uint8_t> out);
  Status Write(uint64_t offset, std::span<const uint8_t> data, bool fua);
  // Zeroes the range. Whole blocks become holes when `may_trim`.
  Status Zero(uint64_t offset, uint64_t length, bool may_trim, bool fua);
  // Releases whole blocks inside the range; partial blocks keep their data
  // (TRIM is advisory).
  Status Trim(uint64_t offset, uint64_t length, bool fua);
  // Reads the range into the store's caches (if any) without returning it.
  Status Cache(uint64_t offset, uint64_t length);
  Status Flush();
  // Extents covering a prefix of [offset, offset + length), in order, at
  // most `max_extents` of them, none of length zero.
  Status BlockStatus(uint64_t offset, uint64_t length, size_t max_extents,
                     std::vector<Extent>* extents);

 private:
  // One piece of a byte range that lies inside a single block.
  struct Piece {
    uint64_t block;
    uint32_t offset;  // within the block
    uint32_t length;
    uint64_t position;  // bytes into the request
    bool whole() const;
    uint32_t block_size;
  };
  template <typename Fn>
  Status ForEachPiece(uint64_t offset, uint64_t length, Fn&& fn);

  // Writes `data` (nullptr: zeros) into part of a block.
  Status WritePartial(const Piece& piece, const uint8_t* data);
  std::mutex& LockFor(uint64_t block) { return rmw_locks_[block % kLocks]; }

  // Held around a whole-block change when partial writes are done by
  // read-modify-write, so the change cannot fall between the read and the
  // write of a concurrent partial write to the same block (which would put
  // the block's old bytes back). A no-op for stores that write in place.
  class BlockGuard {
   public:
    BlockGuard(Frontend* frontend, uint64_t block) {
      if (!frontend->caps_.partial_write) {
        lock_ = std::unique_lock(frontend->LockFor(block));
      }
    }

   private:
    std::unique_lock<std::mutex> lock_;
  };

  static constexpr size_t kLocks = 1024;
  BlockStore* const store_;
  const Geometry geometry_;
  const Capabilities caps_;
  const uint64_t size_;
  const std::vector<uint8_t> zero_block_;
  std::array<std::mutex, kLocks> rmw_locks_;
};

}  // namespace usbd::nbd

#endif  // USBD_NBD_FRONTEND_H_
