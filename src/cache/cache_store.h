// The block cache layer: write-back caching of whole blocks in a local
// cache file (data) with an LMDB index beside it (block map, checksums,
// dirty set), so the volume is fast and a crash loses nothing that was
// flushed. Without a cache file it caches in memory only: no crash
// recovery, and FLUSH then waits until the dirty blocks are uploaded.
//
// Files: `block_cache_file` (4 KiB header + block_cache_size slots of one
// block each) and `block_cache_file + ".lmdb"` (the index). Both belong to
// one volume (UUID and block size are checked at start) and are locked
// while usbd runs. The entry state machine, the commit protocol and the
// invariants are described at the top of cache_store.cc.
//
// Behaviour, as s3backer's options (see the man page):
//  - Writes complete in the cache. Flush() makes every completed write and
//    trim durable in the cache file (data fdatasync'ed, then one LMDB
//    commit; concurrent flushes share it). Between flushes, a write log
//    beside the index (write_log.h) records which slot holds each block
//    written, before the write completes, so the death of the process
//    loses no completed write (a crash of the machine may lose unflushed
//    ones, as a disk with a volatile cache does). With `sync` (and always for a
//    memory-only cache) Flush() also waits until those blocks are uploaded
//    and the store below has flushed them.
//  - Dirty blocks are uploaded by `threads` workers `write_delay` after
//    they first became dirty; rewrites meanwhile coalesce; a block rewritten
//    during its upload is uploaded again. Writers wait while `max_dirty`
//    blocks are dirty (0: the cache size).
//  - Partial writes are accepted (capabilities().partial_write): a partial
//    write to an uncached block reads it from below first unless the store
//    says it holds nothing there. A whole-block write never reads.
//  - Trim, and whole-block writes of zeros, make the block a "zero" entry:
//    it reads as zeros, is never uploaded with older data, and the trim is
//    sent down by the write-back (a write of zeros if the store cannot trim).
//  - Reads of cached blocks never wait for uploads; a miss reads the store
//    in the caller's thread. After `read_ahead_trigger` sequential blocks,
//    the blocks after them are fetched in parallel, a window that grows
//    with the sequential run up to `read_ahead` blocks.
//  - Clean blocks are evicted least recently used, blocks below
//    `num_protected` last; clean blocks older than `timeout` (if set) are
//    dropped when next read.
//  - Start(): starts the store below, then checks the cache files against
//    the volume, re-queues every dirty block whose checksum matches,
//    reuses clean entries (each is checked against its checksum when first
//    read) and drops clean ones that do not hold up with one log line each.
//    Flushed data is never dropped silently: a dirty block that fails its
//    checksum becomes LOST (a record in the index): it reads as EIO, and a
//    partial write to it fails with EIO, until a whole-block write or trim
//    succeeds (across restarts too). A start that would drop blocks not
//    uploaded yet (the index is missing, empty, unreadable, or belongs to
//    another cache or volume; the cache file's unsent mark tells when the
//    index cannot) is refused with EINVAL naming how many. With
//    `discard_dirty`, both are dropped instead, with one log line saying
//    how many; such blocks then read as the store's older versions.
//  - Shutdown(): uploads every dirty block, logging progress, then shuts
//    down the store below. If the store accepts no upload for
//    `shutdown_stall_timeout`, it gives up with EIO: a persistent cache
//    keeps the blocks for the next start.
//
// Memory: one small entry per cached block and a few bytes per slot,
// bounded by the cache size, never by the volume size.
//
// Thread safety: as BlockStore. Ownership: owns the layer below.
#ifndef USBD_CACHE_CACHE_STORE_H_
#define USBD_CACHE_CACHE_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cache/slot_file.h"
#include "store/block_store.h"
#include "util/status.h"

namespace usbd {

struct CacheOptions {
  uint32_t block_cache_size = 1000;  // --blockCacheSize, in blocks (> 0)
  std::string block_cache_file;      // --blockCacheFile; "" = memory only
  std::chrono::milliseconds write_delay{250};  // --blockCacheWriteDelay
  unsigned threads = 20;                       // --blockCacheThreads
  uint32_t max_dirty = 0;  // --blockCacheMaxDirty; 0 = the cache size
  // --blockCacheSync (s3backer's meaning): every write and trim returns
  // only once the store holds it (write-through); FLUSH also waits.
  bool sync = false;
  uint64_t num_protected = 0;            // --blockCacheNumProtected, in blocks
  std::chrono::milliseconds timeout{0};  // --blockCacheTimeout; 0 = none
  uint32_t read_ahead = 32;              // --readAhead, in blocks; 0 = off
  uint32_t read_ahead_trigger = 2;       // --readAheadTrigger, in blocks
  // --blockCacheDiscardDirty: at start, drop what would otherwise refuse
  // the start (blocks not uploaded yet whose index is gone) or read as EIO
  // (lost blocks), logging how many.
  bool discard_dirty = false;

  // Not options: how long Shutdown() waits for a store that accepts no
  // upload before giving up.
  std::chrono::milliseconds shutdown_stall_timeout{60000};
  // Test hook: the boot id the write log is kept for ("" = this machine's
  // boot_id; a different one makes a start see the log of another boot).
  std::string boot_id;
  // Test hook: wraps the slot file (fault injection).
  std::function<std::unique_ptr<SlotFile>(std::unique_ptr<SlotFile>)>
      wrap_slot_file;
};

// The volume the cache belongs to, as the volume metadata records it.
struct VolumeIdentity {
  std::string uuid;  // "" matches only a cache created with "" too
  uint32_t block_size = 0;
  uint64_t size = 0;  // bytes
};

// Checks the options against the volume and the layer below (EINVAL naming
// the option); does no I/O.
Result<std::unique_ptr<BlockStore>> NewCacheStore(
    CacheOptions options, VolumeIdentity volume,
    std::unique_ptr<BlockStore> inner);

// For tests: the cache's bookkeeping, from a store NewCacheStore made.
struct CacheDebugState {
  uint64_t entries = 0;
  uint64_t dirty = 0;  // dirty, zero and uploaded-not-yet-flushed entries
  uint64_t free_slots = 0;
  uint64_t committed_records = 0;
  std::string broken_invariants;  // "" when every invariant holds
};
CacheDebugState InspectCache(BlockStore* cache, bool quiescent);

}  // namespace usbd

#endif  // USBD_CACHE_CACHE_STORE_H_
