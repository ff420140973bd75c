#include "nbd/frontend.h"

#include <algorithm>
#include <cstring>

namespace usbd::nbd {
namespace {

// Scratch space for read-modify-write, reused by each worker thread.
std::vector<uint8_t>& ScratchBlock(uint32_t block_size) {
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < block_size) scratch.resize(block_size);
  return scratch;
}

}  // namespace

bool Frontend::Piece::whole() const {
  return offset == 0 && length == block_size;
}

Frontend::Frontend(BlockStore* store)
    : store_(store),
      geometry_(store->geometry()),
      caps_(store->capabilities()),
      size_(geometry_.size_bytes()),
      zero_block_(geometry_.block_size, 0) {}

template <typename Fn>
Status Frontend::ForEachPiece(uint64_t offset, uint64_t length, Fn&& fn) {
  const uint32_t bs = geometry_.block_size;
  uint64_t position = 0;
  while (position < length) {
    uint64_t at = offset + position;
    Piece piece;
    piece.block = at / bs;
    piece.offset = static_cast<uint32_t>(at % bs);
    piece.length = static_cast<uint32_t>(
        std::min<uint64_t>(bs - piece.offset, length - position));
    piece.position = position;
    piece.block_size = bs;
    USBD_RETURN_IF_ERROR(fn(piece));
    position += piece.length;
  }
  return Status::Ok();
}

Status Frontend::Read(uint64_t offset, std::span<uint8_t> out) {
  return ForEachPiece(offset, out.size(), [&](const Piece& p) {
    return store_->Read(p.block, p.offset, out.subspan(p.position, p.length));
  });
}

Status Frontend::WritePartial(const Piece& piece, const uint8_t* data) {
  if (caps_.partial_write) {
    const uint8_t* src = data ? data : zero_block_.data();
    return store_->Write(piece.block, piece.offset, {src, piece.length});
  }
  std::vector<uint8_t>& scratch = ScratchBlock(geometry_.block_size);
  std::span<uint8_t> block(scratch.data(), geometry_.block_size);
  std::lock_guard lock(LockFor(piece.block));
  USBD_RETURN_IF_ERROR(store_->Read(piece.block, 0, block));
  if (data) {
    std::memcpy(block.data() + piece.offset, data, piece.length);
  } else {
    std::memset(block.data() + piece.offset, 0, piece.length);
  }
  return store_->Write(piece.block, 0, block);
}

Status Frontend::Write(uint64_t offset, std::span<const uint8_t> data,
                       bool fua) {
  USBD_RETURN_IF_ERROR(ForEachPiece(offset, data.size(), [&](const Piece& p) {
    if (p.whole()) {
      BlockGuard guard(this, p.block);
      return store_->Write(p.block, 0, data.subspan(p.position, p.length));
    }
    return WritePartial(p, data.data() + p.position);
  }));
  return fua ? Flush() : Status::Ok();
}

Status Frontend::Zero(uint64_t offset, uint64_t length, bool may_trim,
                      bool fua) {
  USBD_RETURN_IF_ERROR(ForEachPiece(offset, length, [&](const Piece& p) {
    if (!p.whole()) return WritePartial(p, nullptr);
    BlockGuard guard(this, p.block);
    if (may_trim && caps_.trim) return store_->Trim(p.block);
    return store_->Write(p.block, 0, zero_block_);
  }));
  return fua ? Flush() : Status::Ok();
}

Status Frontend::Trim(uint64_t offset, uint64_t length, bool fua) {
  if (caps_.trim) {
    USBD_RETURN_IF_ERROR(ForEachPiece(offset, length, [&](const Piece& p) {
      if (!p.whole()) return Status::Ok();
      BlockGuard guard(this, p.block);
      return store_->Trim(p.block);
    }));
  }
  return fua ? Flush() : Status::Ok();
}

Status Frontend::Cache(uint64_t offset, uint64_t length) {
  std::vector<uint8_t>& scratch = ScratchBlock(geometry_.block_size);
  return ForEachPiece(offset, length, [&](const Piece& p) {
    return store_->Read(p.block, p.offset, {scratch.data(), p.length});
  });
}

Status Frontend::Flush() { return store_->Flush(); }

Status Frontend::BlockStatus(uint64_t offset, uint64_t length,
                             size_t max_extents, std::vector<Extent>* extents) {
  extents->clear();
  if (length == 0 || max_extents == 0) return Status::Ok();
  const uint32_t bs = geometry_.block_size;
  // Bound the work (and the reply) per request; clients ask again for the
  // rest, as the protocol allows.
  constexpr uint64_t kMaxBlocksPerQuery = 64 * 1024;
  uint64_t first = offset / bs;
  uint64_t last = (offset + length - 1) / bs;
  uint64_t count = std::min(last - first + 1, kMaxBlocksPerQuery);
  std::vector<bool> allocated;
  USBD_RETURN_IF_ERROR(store_->QueryAllocation(first, count, &allocated));
  uint64_t end = std::min(offset + length, (first + count) * bs);
  uint64_t at = offset;
  for (uint64_t i = 0; i < count && at < end; ++i) {
    uint64_t block_end = std::min((first + i + 1) * bs, end);
    bool hole = !allocated[i];
    // Extent lengths are 32 bits on the wire.
    if (!extents->empty() && extents->back().hole == hole &&
        extents->back().length + (block_end - at) <= UINT32_MAX) {
      extents->back().length += block_end - at;
    } else {
      if (extents->size() == max_extents) break;
      extents->push_back({block_end - at, hole});
    }
    at = block_end;
  }
  return Status::Ok();
}

}  // namespace usbd::nbd
