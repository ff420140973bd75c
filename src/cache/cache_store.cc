// The block cache: entry states, slot rules, commit protocol, invariants.
//
// Every cached block has one Entry; its content lives in a slot of the slot
// file (zero entries have none). The index (LMDB) holds one record per
// block that the cache may rely on after a crash; CacheTable::committed()
// mirrors it exactly.
//
// Entry states (EntryState in cache_table.h):
//
//   (absent) --read miss--> LOADING --filled--> CLEAN --write/trim--> DIRTY
//   LOADING --write/trim--> DIRTY          (the load's result is dropped)
//   LOADING --store error--> (absent)
//   DIRTY --upload ok, unchanged--> UPLOADED --store Flush--> CLEAN
//                                          (a zero entry: --> absent)
//   DIRTY --rewritten during upload, or upload failed--> DIRTY (queued)
//   UPLOADED --write/trim--> DIRTY
//   CLEAN --evicted (LRU) / expired / fails its checksum--> (absent)
//   (below a store without Flush, DIRTY --upload ok--> CLEAN directly)
//
// LOST blocks (lost_, no entry, a LOST record in the index): a start found
// their newest flushed data damaged. They never fall back to the store's
// older version: reads, partial writes and loads fail with EIO; a whole
// write or trim that succeeds makes an entry and clears the state, and the
// LOST record goes when a commit replaces it (FLUSH) or deletes it (the
// new content reached the store). Commits never delete a LOST record of a
// block still lost.
//
// Each write or trim gives the entry a new generation from one global
// sequence, so a load or upload that ends after the entry changed sees its
// result is stale. Writes and trims of one block are serialised by a
// striped block lock; all bookkeeping is under the cache mutex, which is
// never held across I/O.
//
// Slots. A write never modifies a slot anything else relies on: it fills a
// free slot and switches the entry to it (copy on write). Only a private
// slot (CacheTable::Private: live for its entry alone, in no committed
// record and no commit in flight, not being read) is patched in place. A
// slot is free only when nothing holds it:
//   live        the current content of an entry, or reserved by a writer
//   committed   a committed record maps a block to it
//   committing  the commit in flight will map a block to it
//   pins        readers, loaders and uploaders using it
//   writing     an in-place write to it is in progress
//
// Commit: snapshot the entries changed since the last commit and mark
// their slots committing; wait for in-place writes to them to end; compute
// missing checksums (writes leave them to the upload, which checksums its
// copy, or to here); fdatasync the slot file; write the records (put block
// -> slot, kind, crc, generation; delete) in one LMDB transaction; then
// release the slots the old records named. Commits are serialised; a
// caller arriving during one waits and is covered by the next (group
// commit). Three scopes (commit.cc): FLUSH commits everything; the
// housekeeper records clean blocks; eviction and the write-back only delete
// records, which needs no fdatasync and leaves dirty slots private, so
// writes to dirty blocks go on in place between flushes. A failed
// fdatasync is sticky: no later commit can promise what it lost.
//
// Upload rule: a block whose committed record is CLEAN with another
// generation has that record deleted before it is uploaded, and a record
// becomes CLEAN only after the store flushed the upload, so a crash can
// never leave a clean record naming content the store does not hold. An
// upload copies the slot first and uploads the copy (the slot is pinned
// only for the copy). Trims travel the same way (zero entries), so a
// trimmed dirty block is never uploaded later. A block with no entry reads
// what the store holds.
//
// Invariants (CacheTable::CheckInvariants; the unit tests check them):
//  I1 every slot is either free (on the free list, nothing holds it) or
//     held by live/committed/committing/pins/writing; when no operation is
//     in flight, a live slot belongs to an entry: nothing leaks.
//  I2 no two entries share a slot; no two committed records share a slot;
//     an entry's slot is live; a committed record's slot is marked
//     committed, so it is never free and never written.
//  I3 zero entries hold no slot and are DIRTY or UPLOADED; data entries
//     hold a slot.
//  I4 an entry is on the list its state names: CLEAN on an LRU list
//     (blocks below num_protected on their own, evicted last), DIRTY and
//     not uploading on the dirty queue, UPLOADED on the uploaded list.
//  I5 the dirty count is the number of DIRTY and UPLOADED entries; writers
//     wait while it is at the limit.
//  I6 (crash safety) at every instant each committed record matches its
//     slot's content, so a restart after any crash verifies every DIRTY
//     record and reuses CLEAN ones; flushed writes are never lost.
//  I7 the cache file's unsent mark is at least the number of durable
//     DIRTY, ZERO and LOST records (raised and synced before the index
//     commit that adds them), so a start without the index knows whether
//     it would drop flushed data.
#include <cstring>

#include "cache/cache_impl.h"
#include "cache/crc32c.h"
#include "store/zero_store.h"
#include "util/iszero.h"
#include "util/log.h"

namespace usbd {
namespace cache_internal {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::span<uint8_t> ThreadBuffer(uint32_t size) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return {buffer.data(), size};
}

CacheStore::CacheStore(CacheOptions options, VolumeIdentity volume,
                       std::unique_ptr<BlockStore> inner)
    : options_(std::move(options)),
      volume_(std::move(volume)),
      inner_(std::move(inner)) {}

CacheStore::~CacheStore() { StopThreads(); }

Capabilities CacheStore::capabilities() const {
  Capabilities caps = inner_->capabilities();
  caps.partial_write = true;
  caps.flush = true;
  caps.fast_zero = true;
  caps.objects = false;  // the cache holds blocks; encodings live below it
  return caps;
}

bool CacheStore::Expired(const Entry& e, int64_t now) const {
  return options_.timeout.count() > 0 && e.state == EntryState::kClean &&
         now - e.since_ms > options_.timeout.count();
}

void CacheStore::NotifyRoom() {
  if (room_waiters_ > 0) room_cv_.notify_all();
}

void CacheStore::WaitForWriteBack(Lock& lock) {
  ++urgent_;
  ++room_waiters_;
  work_cv_.notify_all();
  room_cv_.wait_for(lock, std::chrono::milliseconds(200));
  --room_waiters_;
  --urgent_;
}

void CacheStore::MarkForCommit(uint64_t block) {
  if (index_) table_->MarkForCommit(block);
}

// ---- reads --------------------------------------------------------------

Status CacheStore::Read(uint64_t block, uint32_t offset,
                        std::span<uint8_t> out) {
  Lock lock(mu_);
  if (IsLost(block)) return LostError(block);
  NoteRead(block);
  for (;;) {
    Entry* e = table_->Find(block);
    if (e && e->state == EntryState::kLoading) {
      entry_cv_.wait(lock);
      continue;
    }
    if (e && Expired(*e, NowMs())) {
      Forget(e);
      ++durable_events_;
      NotifyRoom();
      continue;
    }
    bool retry = false;
    Status status = e ? ReadCached(lock, e, offset, out, &retry)
                      : LoadBlock(lock, block, offset, out, false, &retry);
    if (!retry) return status;
  }
}

Status CacheStore::ReadCached(Lock& lock, Entry* e, uint32_t offset,
                              std::span<uint8_t> out, bool* retry) {
  if (e->zero) {
    std::memset(out.data(), 0, out.size());
    hits_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }
  const uint32_t slot = e->slot;
  const uint64_t block = e->block, gen = e->gen;
  const uint32_t crc = e->crc;
  const bool verify = !e->verified;
  table_->Pin(slot);
  table_->Touch(e);
  lock.unlock();
  Status status;
  bool matches = true;
  if (verify) {
    // First read since start-up: check the slot against its record.
    std::span<uint8_t> buf = ThreadBuffer(geometry_.block_size);
    status = slots_->Read(slot, 0, buf);
    matches = status.ok() && Crc32c(buf) == crc;
    if (matches) std::memcpy(out.data(), buf.data() + offset, out.size());
  } else {
    status = slots_->Read(slot, offset, out);
  }
  lock.lock();
  table_->Unpin(slot);
  NotifyRoom();
  if (!verify) {
    hits_.fetch_add(1, std::memory_order_relaxed);
    return status;
  }
  if (matches) {
    Entry* now = table_->Find(block);
    if (now && now->gen == gen) now->verified = true;
    hits_.fetch_add(1, std::memory_order_relaxed);
    return Status::Ok();
  }
  DropDamaged(block, gen, slot,
              status.ok() ? "content changed" : status.ToString());
  *retry = true;
  return Status::Ok();
}

// A clean entry from before the restart whose slot fails its checksum: the
// store has the block; forget the entry (one log line).
void CacheStore::DropDamaged(uint64_t block, uint64_t gen, uint32_t slot,
                             const std::string& why) {
  Entry* e = table_->Find(block);
  if (!e || e->gen != gen || e->state != EntryState::kClean) return;
  LogWarning("cache: block " + std::to_string(block) + ": slot " +
             std::to_string(slot) + " does not match its checksum (" + why +
             "): dropped, reading the store instead");
  dropped_.fetch_add(1, std::memory_order_relaxed);
  Forget(e);
  ++durable_events_;
  NotifyRoom();
}

Status CacheStore::LoadBlock(Lock& lock, uint64_t block, uint32_t offset,
                             std::span<uint8_t> out, bool read_ahead,
                             bool* retry) {
  // The store's older version must not come back through a load.
  if (IsLost(block)) return read_ahead ? Status::Ok() : LostError(block);
  // A failed eviction commit is no reason to fail a read: read through.
  Result<uint32_t> slot = AllocateSlot(lock, /*wait=*/false);
  if (!slot.ok()) slot = kNoSlot;
  if (table_->Find(block)) {  // appeared while slots were being freed
    if (*slot != kNoSlot) table_->ReleaseSlot(*slot);
    *retry = true;
    return Status::Ok();
  }
  if (*slot == kNoSlot) {
    // Every slot holds dirty data: read through without caching, rather
    // than wait for uploads.
    if (read_ahead) return Status::Ok();
    read_throughs_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    Status status = inner_->Read(block, offset, out);
    lock.lock();
    return status;
  }
  Entry* e = table_->Create(block);
  e->slot = *slot;
  e->gen = ++seq_;
  const uint64_t token = e->gen;
  table_->Pin(*slot);  // a write that supersedes us must not free it yet
  lock.unlock();

  if (read_ahead) {
    read_aheads_.fetch_add(1, std::memory_order_relaxed);
  } else {
    misses_.fetch_add(1, std::memory_order_relaxed);
  }
  std::span<uint8_t> buf = ThreadBuffer(geometry_.block_size);
  Status status = inner_->Read(block, 0, buf);
  Status cached = status;
  uint32_t crc = 0;
  if (status.ok()) {
    cached = slots_->Write(*slot, 0, buf);
    if (index_) crc = Crc32c(buf);  // only the index keeps checksums
    if (!out.empty()) std::memcpy(out.data(), buf.data() + offset, out.size());
  }

  lock.lock();
  table_->Unpin(*slot);
  e = table_->Find(block);
  if (e && e->state == EntryState::kLoading && e->gen == token) {
    if (cached.ok()) {
      e->crc = crc;
      e->crc_valid = index_ != nullptr;
      e->since_ms = NowMs();
      table_->SetState(e, EntryState::kClean);
      MarkForCommit(block);
    } else {
      table_->Remove(e);
      NotifyRoom();
    }
  }
  entry_cv_.notify_all();
  return status;
}

// ---- writes -------------------------------------------------------------

Status CacheStore::Write(uint64_t block, uint32_t offset,
                         std::span<const uint8_t> data) {
  Status status = WriteCached(block, offset, data);
  // --blockCacheSync (s3backer's meaning): a write returns once stored.
  if (status.ok() && options_.sync) status = WaitUploaded();
  return status;
}

Status CacheStore::WriteCached(uint64_t block, uint32_t offset,
                               std::span<const uint8_t> data) {
  if (inner_caps_.read_only) {
    return Status::Error(EPERM, "volume is read-only");
  }
  std::lock_guard block_lock(BlockLock(block));
  const bool whole = offset == 0 && data.size() == geometry_.block_size;
  if (whole && IsAllZero(data)) return MakeZero(block);
  writes_.fetch_add(1, std::memory_order_relaxed);
  Lock lock(mu_);
  USBD_RETURN_IF_ERROR(WaitForDirtyRoom(lock, block));
  EnsureLogRoom(lock);
  if (!whole) return WritePartial(lock, block, offset, data);
  return WriteNewSlot(lock, block, data);
}

Status CacheStore::WritePartial(Lock& lock, uint64_t block, uint32_t offset,
                                std::span<const uint8_t> data) {
  // Nothing to merge the bytes into: the block's newest data is gone.
  if (IsLost(block)) return LostError(block);
  Entry* e;
  while ((e = table_->Find(block)) && e->state == EntryState::kLoading) {
    entry_cv_.wait(lock);
  }
  if (e && !e->zero && in_place_ok_ && table_->Private(e->slot)) {
    // Nothing else relies on this slot: patch it. DIRTY first, so it is
    // neither evicted nor uploaded (uploads skip slots being written).
    const uint32_t slot = e->slot;
    table_->slot(slot).writing = true;
    e->crc_valid = false;
    e->gen = ++seq_;
    MakeDirty(e);
    lock.unlock();
    Status status = slots_->Write(slot, offset, data);
    lock.lock();
    table_->slot(slot).writing = false;
    e = table_->Find(block);
    e->gen = ++seq_;  // an upload that read the slot meanwhile is stale
    MakeDirty(e);
    if (status.ok()) LogMapping(e);
    entry_cv_.notify_all();
    in_place_writes_.fetch_add(1, std::memory_order_relaxed);
    return status;
  }

  // Copy on write: the block's current content, patched, into a new slot.
  std::span<uint8_t> buf = ThreadBuffer(geometry_.block_size);
  if (e && e->zero) {
    std::memset(buf.data(), 0, buf.size());
  } else if (e) {
    const uint32_t slot = e->slot, crc = e->crc;
    const uint64_t gen = e->gen;
    const bool verify = !e->verified;
    table_->Pin(slot);
    lock.unlock();
    Status status = slots_->Read(slot, 0, buf);
    lock.lock();
    table_->Unpin(slot);
    NotifyRoom();
    USBD_RETURN_IF_ERROR(status);
    if (verify && Crc32c(buf) != crc) {
      DropDamaged(block, gen, slot, "content changed");
      lock.unlock();
      status = inner_->Read(block, 0, buf);
      lock.lock();
      USBD_RETURN_IF_ERROR(status);
    }
  } else {
    Result<bool> absent = KnownAbsent(lock, block);
    USBD_RETURN_IF_ERROR(absent.status());
    if (*absent) {
      std::memset(buf.data(), 0, buf.size());
    } else {
      lock.unlock();
      Status status = inner_->Read(block, 0, buf);
      lock.lock();
      USBD_RETURN_IF_ERROR(status);
    }
  }
  std::memcpy(buf.data() + offset, data.data(), data.size());
  return WriteNewSlot(lock, block, buf);
}

Result<bool> CacheStore::KnownAbsent(Lock& lock, uint64_t block) {
  if (!inner_caps_.allocation) return false;
  std::vector<bool> allocated;
  lock.unlock();
  Status status = inner_->QueryAllocation(block, 1, &allocated);
  lock.lock();
  USBD_RETURN_IF_ERROR(status);
  return !allocated[0];
}

// The checksum is not computed here: the upload computes it on its copy,
// or the commit that needs it first (kept off the writer's path).
Status CacheStore::WriteNewSlot(Lock& lock, uint64_t block,
                                std::span<const uint8_t> content) {
  Result<uint32_t> slot = AllocateSlot(lock, /*wait=*/true);
  USBD_RETURN_IF_ERROR(slot.status());
  lock.unlock();
  Status status = slots_->Write(*slot, 0, content);
  lock.lock();
  if (!status.ok()) {
    // ENOSPC and friends reach the writer; the block keeps its old content.
    table_->ReleaseSlot(*slot);
    NotifyRoom();
    return status;
  }
  Entry* e = table_->Find(block);
  if (!e) e = table_->Create(block);
  if (e->slot != kNoSlot) table_->ReleaseSlot(e->slot);
  e->slot = *slot;
  e->crc_valid = false;
  e->verified = true;
  e->zero = false;
  e->gen = ++seq_;
  e->log_epoch = 0;
  MakeDirty(e);
  LogMapping(e);
  lost_.erase(block);  // written whole: readable again
  NotifyRoom();
  return Status::Ok();
}

Status CacheStore::LostError(uint64_t block) const {
  return Status::IoError(
      "block " + std::to_string(block) +
      ": its newest flushed data was lost from the cache file; it reads as "
      "EIO until written whole or trimmed");
}

Status CacheStore::Trim(uint64_t block) {
  if (inner_caps_.read_only) {
    return Status::Error(EPERM, "volume is read-only");
  }
  Status status;
  {
    std::lock_guard block_lock(BlockLock(block));
    status = MakeZero(block);
  }
  if (status.ok() && options_.sync) status = WaitUploaded();
  return status;
}

// Trims, and whole-block writes of zeros: the block becomes a zero entry
// that the write-back sends down as a trim.
Status CacheStore::MakeZero(uint64_t block) {
  trims_.fetch_add(1, std::memory_order_relaxed);
  Lock lock(mu_);
  if (!table_->Find(block) && !IsLost(block)) {
    // Nothing cached: if the store holds nothing either, there is nothing
    // to do (mkfs discards whole disks; do not queue a trim per block).
    Result<bool> absent = KnownAbsent(lock, block);
    USBD_RETURN_IF_ERROR(absent.status());
    if (*absent && !table_->Find(block)) return Status::Ok();
  }
  USBD_RETURN_IF_ERROR(WaitForDirtyRoom(lock, block));
  EnsureLogRoom(lock);
  Entry* e = table_->Find(block);
  if (!e) e = table_->Create(block);
  if (e->slot != kNoSlot) table_->ReleaseSlot(e->slot);
  e->slot = kNoSlot;
  e->zero = true;
  e->crc = 0;
  e->crc_valid = true;
  e->verified = true;
  e->gen = ++seq_;
  e->log_epoch = 0;
  MakeDirty(e);
  LogMapping(e);
  lost_.erase(block);
  NotifyRoom();
  return Status::Ok();
}

void CacheStore::MakeDirty(Entry* e) {
  if (e->state != EntryState::kDirty) {
    e->since_ms = NowMs() + options_.write_delay.count();
    table_->SetState(e, EntryState::kDirty);
    work_cv_.notify_one();
  }
  MarkForCommit(e->block);
  entry_cv_.notify_all();
}

// A record that cannot be written leaves the log unable to say where a
// block is (its older record may name a slot reused since): the log is
// voided until the next start, which then relies on the index alone.
bool CacheStore::AppendToLog(const WriteLogRecord& r) {
  if (!log_ || log_broken_) return false;
  Status status = log_->Append(r);
  if (status.ok()) return true;
  log_broken_ = true;
  log_->Invalidate();
  LogWarning("cache: " + status.ToString() +
             ": write log abandoned; until usbd restarts, a crash of usbd "
             "may lose writes acknowledged since the last FLUSH");
  return false;
}

void CacheStore::LogMapping(Entry* e) {
  if (!log_ || e->log_epoch == log_epoch_) return;
  WriteLogRecord r{++log_seq_, e->block, e->gen, e->zero ? 0 : e->slot,
                   e->zero ? RecordKind::kZero : RecordKind::kDirty};
  if (AppendToLog(r)) e->log_epoch = log_epoch_;
}

void CacheStore::Forget(Entry* e) {
  if (log_ && e->log_epoch > log_durable_epoch_) {
    AppendToLog({++log_seq_, e->block, e->gen, 0, RecordKind::kClean});
  }
  table_->Remove(e);
}

void CacheStore::EnsureLogRoom(Lock& lock) {
  if (!log_ || log_->used() < log_->capacity() / 4 * 3) return;
  lock.unlock();
  Status status = Commit(CommitScope::kFull);
  lock.lock();
  if (!status.ok()) {
    LogWarning("cache: commit to make room in the write log failed: " +
               status.ToString());
  }
}

Status CacheStore::WaitForDirtyRoom(Lock& lock, uint64_t block) {
  bool waited = false;
  for (;;) {
    Entry* e = table_->Find(block);
    bool adds = !e || (e->state != EntryState::kDirty &&
                       e->state != EntryState::kUploaded);
    if (!adds || table_->dirty_count() < dirty_limit_) return Status::Ok();
    if (stopping_) return Status::Error(ESHUTDOWN, "cache is shutting down");
    if (!waited) write_waits_.fetch_add(1, std::memory_order_relaxed);
    waited = true;
    WaitForWriteBack(lock);
  }
}

// ---- allocation map, stats ------------------------------------------------

Status CacheStore::QueryAllocation(uint64_t first, uint64_t count,
                                   std::vector<bool>* allocated) {
  // The store's answer, corrected by what the cache knows better: dirty
  // data is allocated, zero entries are holes. If a block became clean or
  // left the cache while the store was asked, the store's answer may
  // predate its upload: ask again.
  for (int attempt = 0;; ++attempt) {
    uint64_t events;
    {
      Lock lock(mu_);
      events = durable_events_;
    }
    USBD_RETURN_IF_ERROR(inner_->QueryAllocation(first, count, allocated));
    Lock lock(mu_);
    bool stale = durable_events_ != events;
    if (stale && attempt < 3) continue;
    auto overlay = [&](const Entry& e) {
      if (e.block < first || e.block - first >= count) return;
      bool dirty =
          e.state == EntryState::kDirty || e.state == EntryState::kUploaded;
      if (dirty) {
        (*allocated)[e.block - first] = !e.zero;
      } else if (stale && e.state == EntryState::kClean) {
        (*allocated)[e.block - first] = true;
      }
    };
    if (count <= table_->entry_count()) {
      for (uint64_t i = 0; i < count; ++i) {
        if (Entry* e = table_->Find(first + i)) overlay(*e);
      }
    } else {
      table_->ForEachEntry([&](const Entry& e) { overlay(e); });
    }
    for (uint64_t block : lost_) {  // data, though unreadable
      if (block >= first && block - first < count) {
        (*allocated)[block - first] = true;
      }
    }
    return Status::Ok();
  }
}

void CacheStore::CollectStats(std::vector<StatEntry>* out) const {
  out->push_back(
      {"cache.hits", hits_.load(), "block reads answered from the cache"});
  out->push_back(
      {"cache.misses", misses_.load(),
       "block reads that loaded the block from the store into the cache"});
  out->push_back(
      {"cache.read_throughs", read_throughs_.load(),
       "block reads passed to the store uncached (every slot dirty)"});
  out->push_back({"cache.read_aheads", read_aheads_.load(),
                  "blocks loaded ahead of sequential reads"});
  out->push_back(
      {"cache.writes", writes_.load(), "block writes into the cache"});
  out->push_back({"cache.in_place_writes", in_place_writes_.load(),
                  "partial writes patched into the block's cache slot"});
  out->push_back({"cache.trims", trims_.load(), "blocks trimmed"});
  out->push_back(
      {"cache.uploads", uploads_.load(), "dirty blocks uploaded to the store"});
  out->push_back(
      {"cache.upload_errors", upload_errors_.load(),
       "uploads that failed (the block stays dirty and is retried)"});
  out->push_back({"cache.evictions", evictions_.load(),
                  "clean blocks evicted to make room"});
  out->push_back(
      {"cache.commits", commits_.load(), "commits of the cache index (LMDB)"});
  out->push_back({"cache.write_waits", write_waits_.load(),
                  "writes that waited for room (--blockCacheMaxDirty)"});
  out->push_back({"cache.dropped", dropped_.load(),
                  "cached blocks dropped as damaged or discarded at start"});
  {
    Lock lock(mu_);
    out->push_back({"cache.entries", table_ ? table_->entry_count() : 0,
                    "blocks in the cache", StatKind::kGauge});
    out->push_back({"cache.dirty", table_ ? table_->dirty_count() : 0,
                    "blocks written and not uploaded yet", StatKind::kGauge});
    out->push_back({"cache.uploads_in_flight",
                    static_cast<uint64_t>(uploads_in_flight_),
                    "uploads of dirty blocks under way", StatKind::kGauge});
    out->push_back(
        {"cache.lost", lost_.size(),
         "blocks whose flushed data was found damaged: EIO until rewritten",
         StatKind::kGauge});
  }
  inner_->CollectStats(out);
}

CacheDebugState CacheStore::Inspect(bool quiescent) {
  Lock lock(mu_);
  CacheDebugState state;
  if (!table_) return state;
  state.entries = table_->entry_count();
  state.dirty = table_->dirty_count();
  state.free_slots = table_->free_slots();
  state.committed_records = table_->committed().size();
  state.broken_invariants = table_->CheckInvariants(quiescent);
  return state;
}

}  // namespace cache_internal

Result<std::unique_ptr<BlockStore>> NewCacheStore(
    CacheOptions options, VolumeIdentity volume,
    std::unique_ptr<BlockStore> inner) {
  Geometry geometry = inner->geometry();
  if (options.block_cache_size == 0) {
    return Status::Invalid("--blockCacheSize must be at least 1");
  }
  if (volume.block_size != geometry.block_size ||
      volume.size != geometry.size_bytes()) {
    return Status::Invalid(
        "block cache: volume geometry (" + std::to_string(volume.size) +
        " bytes in blocks of " + std::to_string(volume.block_size) +
        ") differs from the store's");
  }
  if (options.threads == 0) {
    return Status::Invalid("--blockCacheThreads must be at least 1");
  }
  if (uint64_t{options.block_cache_size} * geometry.block_size >
      (uint64_t{1} << 50)) {
    return Status::Invalid("--blockCacheSize is too large");
  }
  std::unique_ptr<BlockStore> store =
      std::make_unique<cache_internal::CacheStore>(
          std::move(options), std::move(volume), std::move(inner));
  return store;
}

CacheDebugState InspectCache(BlockStore* cache, bool quiescent) {
  auto* impl = dynamic_cast<cache_internal::CacheStore*>(cache);
  return impl ? impl->Inspect(quiescent) : CacheDebugState{};
}

}  // namespace usbd
