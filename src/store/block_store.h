// BlockStore: the one interface every layer of usbd implements.
//
// A volume is `block_count` blocks of `block_size` bytes (a power of two).
// Layers are decorators: each owns the layer below it (std::unique_ptr), adds
// one concern and forwards the rest. The NBD frontend is the only caller that
// deals in byte ranges; below it everything is addressed by block number.
//
// Contract, for every implementation:
//  - A block never written, or trimmed since, reads as zeros.
//  - A read returns the latest completed write of that block (completed = the
//    Write call returned OK).
//  - After Flush() returns OK, every write and trim that completed before the
//    call is durable (survives a crash of this process and of the host, as far
//    as the layer's medium allows).
//  - A failed whole-block write leaves the block holding either its old or
//    its new content, never a mix and never garbage. A partial write (only
//    where capabilities().partial_write) may be torn by a failure or a
//    crash, like a write to a disk: the range it covered then holds a mix of
//    old and new bytes; bytes outside it are never affected.
//  - Errors are Status values with errno-style codes; nothing throws.
//
// Thread safety: every method may be called concurrently from any number of
// threads, including for the same block. Concurrent writes to the same block
// race (one of them wins whole, as in NBD); callers that need read-modify-
// write atomicity lock above this interface.
//
// Lifecycle: the constructor does no I/O and starts no threads. Start() is
// called once, after daemonising, before any other call. Shutdown() is called
// once, after the last other call: it makes everything durable, stops this
// layer's threads, then shuts down the layer below.
#ifndef USBD_STORE_BLOCK_STORE_H_
#define USBD_STORE_BLOCK_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "store/stat_entry.h"
#include "util/hex.h"
#include "util/status.h"

namespace usbd {

struct Geometry {
  uint32_t block_size = 0;   // bytes, power of two
  uint64_t block_count = 0;  // size of the volume in blocks

  uint64_t size_bytes() const { return uint64_t{block_size} * block_count; }
};

// What a layer can do; each decorator narrows what it receives from below.
// Every field defaults to false, the claim a store makes by saying
// nothing: a bottom store sets each one it offers.
struct Capabilities {
  // Write() accepts any sub-range of a block. When false, writes must cover
  // whole blocks and the frontend does read-modify-write of partial blocks.
  // A partial write need not be atomic (see the contract above).
  bool partial_write = false;
  // Trim() actually releases storage (otherwise it is emulated by zeros).
  bool trim = false;
  // Writes are durable only after Flush(); advertise NBD FLUSH/FUA.
  bool flush = false;
  // One coherent view shared by all connections (NBD CAN_MULTI_CONN).
  bool multi_conn = false;
  // Writes are refused with EPERM.
  bool read_only = false;
  // Zeroing a whole block (Trim) is much cheaper than writing it.
  bool fast_zero = false;
  // QueryAllocation() reports real holes (NBD base:allocation).
  bool allocation = false;
  // ReadObject() and WriteObject() keep variable-length objects.
  bool objects = false;
};

// What a store of local blocks offers (memory, the --test directory): raw
// blocks written in place, partial writes, trims that release, exact
// allocation, objects, and writes made durable by Flush.
inline Capabilities LocalStoreCapabilities(bool read_only) {
  Capabilities caps;
  caps.partial_write = true;
  caps.trim = true;
  caps.flush = true;
  caps.multi_conn = true;
  caps.read_only = read_only;
  caps.fast_zero = true;
  caps.allocation = true;
  caps.objects = true;
  return caps;
}

// The longest object a store that keeps objects must accept: an encoded
// block (compressed or encrypted) never exceeds the block by more.
constexpr uint32_t kMaxObjectOverhead = 1024;
inline uint64_t MaxObjectSize(uint32_t block_size) {
  return uint64_t{block_size} + kMaxObjectOverhead;
}

// Whether `size` bytes can be an object of blocks of `block_size`: 1 to
// MaxObjectSize(block_size). Stores check it when they read one back.
inline bool IsObjectSize(uint64_t size, uint32_t block_size) {
  return size != 0 && size <= MaxObjectSize(block_size);
}

// What every WriteObject checks first: EINVAL naming the size otherwise.
inline Status CheckObjectSize(uint64_t block, uint64_t size,
                              uint32_t block_size) {
  if (IsObjectSize(size, block_size)) return Status::Ok();
  return Status::Invalid("object of " + std::to_string(size) +
                         " bytes for block " + std::to_string(block));
}

// "block 12 (0xc)": how every message of the layers names a block.
inline std::string DescribeBlock(uint64_t block) {
  return "block " + std::to_string(block) + " (0x" + HexNumber(block, 0) + ")";
}

// Names a block's object in messages: "object vol1/0000000c".
using ObjectNamer = std::function<std::string(uint64_t block)>;

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  virtual Geometry geometry() const = 0;
  virtual Capabilities capabilities() const = 0;

  virtual Status Start() = 0;
  virtual Status Shutdown() = 0;

  // Reads out.size() bytes of `block` starting at `offset` within the block.
  // Requires offset + out.size() <= block_size.
  virtual Status Read(uint64_t block, uint32_t offset,
                      std::span<uint8_t> out) = 0;

  // Writes `data` at `offset` within `block`. Unless
  // capabilities().partial_write, offset is 0 and data is a whole block.
  virtual Status Write(uint64_t block, uint32_t offset,
                       std::span<const uint8_t> data) = 0;

  // Makes the block read as zeros and, where possible, releases its storage.
  virtual Status Trim(uint64_t block) = 0;

  // Makes every completed write and trim durable.
  virtual Status Flush() = 0;

  // For blocks [first, first + count): allocated->at(i) is true when block
  // first + i may hold data, false when it certainly reads as zeros.
  virtual Status QueryAllocation(uint64_t first, uint64_t count,
                                 std::vector<bool>* allocated) = 0;

  // Appends this layer's counters, then those of the layers below.
  virtual void CollectStats(std::vector<StatEntry>* out) const = 0;

  // Variable-length objects, for the layers whose encoding of a block is
  // not block_size bytes (compression, encryption). Only when
  // capabilities().objects; otherwise ENOTSUP (these defaults).
  //
  // An object is 1 to MaxObjectSize(block_size) opaque bytes and lives in
  // its block's slot: WriteObject replaces the block's content, Trim
  // removes it, QueryAllocation reports it, and Read() or a partial Write()
  // of a block holding an object that is not exactly block_size bytes is
  // Status::NotABlock (it is not data; EIO on the NBD wire). Writes have the
  // atomicity and durability of a whole-block Write().
  //
  // ReadObject: on OK, *object holds the block's stored bytes (a block
  // written with Write() reads as its block_size bytes), or is empty when
  // the block holds nothing (never written, or trimmed). An object longer
  // than MaxObjectSize is EIO.
  virtual Status ReadObject(uint64_t block, std::vector<uint8_t>* object);
  virtual Status WriteObject(uint64_t block, std::span<const uint8_t> object);
};

inline Status BlockStore::ReadObject(uint64_t, std::vector<uint8_t>*) {
  return Status::Error(ENOTSUP, "this store does not keep objects");
}

inline Status BlockStore::WriteObject(uint64_t, std::span<const uint8_t>) {
  return Status::Error(ENOTSUP, "this store does not keep objects");
}

// A decorator that forwards everything to the layer below; subclasses
// override only what they change. It owns the layer below, or, built from
// a plain pointer, borrows it (as LevelDB's EnvWrapper): the caller keeps
// the target alive for the forwarder's lifetime. Borrowing lets tests
// build successive stacks ("runs") over one bottom store and reach under
// them; production stacks always own.
class ForwardingStore : public BlockStore {
 public:
  explicit ForwardingStore(std::unique_ptr<BlockStore> inner)
      : owned_(std::move(inner)), inner_(owned_.get()) {}
  explicit ForwardingStore(BlockStore* target) : inner_(target) {}

  Geometry geometry() const override { return inner_->geometry(); }
  Capabilities capabilities() const override { return inner_->capabilities(); }
  Status Start() override { return inner_->Start(); }
  Status Shutdown() override { return inner_->Shutdown(); }
  Status Read(uint64_t block, uint32_t offset,
              std::span<uint8_t> out) override {
    return inner_->Read(block, offset, out);
  }
  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override {
    return inner_->Write(block, offset, data);
  }
  Status Trim(uint64_t block) override { return inner_->Trim(block); }
  Status Flush() override { return inner_->Flush(); }
  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override {
    return inner_->QueryAllocation(first, count, allocated);
  }
  void CollectStats(std::vector<StatEntry>* out) const override {
    inner_->CollectStats(out);
  }
  Status ReadObject(uint64_t block, std::vector<uint8_t>* object) override {
    return inner_->ReadObject(block, object);
  }
  Status WriteObject(uint64_t block, std::span<const uint8_t> object) override {
    return inner_->WriteObject(block, object);
  }

 protected:
  BlockStore& inner() { return *inner_; }
  const BlockStore& inner() const { return *inner_; }

 private:
  std::unique_ptr<BlockStore> owned_;  // null when borrowing
  BlockStore* const inner_;
};

// A forwarder to `target`, which it does not own (see ForwardingStore).
inline std::unique_ptr<BlockStore> Borrow(BlockStore* target) {
  return std::make_unique<ForwardingStore>(target);
}

}  // namespace usbd

#endif  // USBD_STORE_BLOCK_STORE_H_
