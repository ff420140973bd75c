// Slot allocation and the group commit of the block cache; the protocol
// is described at the top of cache_store.cc.
#include <algorithm>
#include <array>
#include <unordered_set>

#include "cache/cache_impl.h"
#include "cache/crc32c.h"
#include "util/log.h"

namespace usbd::cache_internal {

namespace {

RecordKind KindOf(const Entry& e) {
  if (e.state == EntryState::kClean) return RecordKind::kClean;
  return e.zero ? RecordKind::kZero : RecordKind::kDirty;
}

}  // namespace

// A free slot. In order of cost: one freed by a commit that only deletes
// records (old versions of rewritten blocks); one freed by evicting clean
// blocks (least recently used first); one freed by a full commit (old
// versions kept for the last FLUSH). With `wait`, then waits for the
// write-back to make clean blocks; without, returns kNoSlot instead.
Result<uint32_t> CacheStore::AllocateSlot(Lock& lock, bool wait) {
  // Evicting a block whose record is committed frees its slot only at the
  // next commit; evict a few such blocks per commit (without an index, one).
  const size_t batch =
      index_ ? std::clamp<size_t>(table_->slot_count() / 64, 1, 64) : 1;
  bool deletes_tried = false, full_tried = false;
  for (;;) {
    uint32_t slot = table_->TakeFreeSlot();
    if (table_->free_slots() < ReserveSlots()) {
      house_cv_.notify_one();  // refill the reserve in the background
    }
    if (slot != kNoSlot) return slot;
    Status status;
    if (index_ && !deletes_tried && table_->committed_only() > 0) {
      deletes_tried = true;
      lock.unlock();
      status = Commit(CommitScope::kDeletes);
      lock.lock();
    } else if (table_->EvictionCandidate()) {
      EvictBatch(batch, [&](size_t) { return table_->free_slots() != 0; });
      if (index_ && table_->free_slots() == 0) {
        // The evicted blocks' records go; their slots are free after that.
        lock.unlock();
        status = Commit(CommitScope::kDeletes);
        lock.lock();
      }
    } else if (index_ && wait && !full_tried && table_->committed_only() > 0) {
      // Old versions of dirty blocks, kept for the last FLUSH: committing
      // the new versions frees them.
      full_tried = true;
      lock.unlock();
      status = Commit(CommitScope::kFull);
      lock.lock();
    } else if (!wait) {
      return kNoSlot;
    } else {
      // Everything holds dirty data: wait for the write-back.
      if (stopping_) return Status::Error(ESHUTDOWN, "cache is shutting down");
      WaitForWriteBack(lock);
      deletes_tried = full_tried = false;
    }
    if (!status.ok()) return status;
  }
}

Status CacheStore::Flush() {
  USBD_RETURN_IF_ERROR(Commit(CommitScope::kFull));
  if (wait_for_uploads_) return WaitUploaded();
  return Status::Ok();
}

// Scopes, each covering the ones before it:
//  kDeletes (eviction, the write-back): only deletes records, so it frees
//    the slots they held without syncing the cache file: records of blocks
//    no longer cached, and records of blocks that are CLEAN now or whose
//    CLEAN record names a version since rewritten (the store holds that
//    one; the new one is not flushed yet).
//  kClean (the housekeeper): also records clean blocks (a restart finds
//    them cached), syncing the slot file first.
//  kFull (FLUSH): every change. The only scope that commits dirty blocks,
//    so only a FLUSH freezes their slots (each is then copied once by its
//    next write); between flushes, writes to dirty blocks go on in place.
Status CacheStore::Commit(CommitScope scope) {
  if (!index_) return Status::Ok();
  const int level = static_cast<int>(scope);
  uint64_t ticket;
  {
    Lock lock(mu_);
    ticket = ++commit_requested_[level];
  }
  std::lock_guard commit_lock(commit_mu_);
  std::vector<IndexRecord> puts;
  std::vector<uint64_t> deletes;
  std::vector<size_t> need_crc;
  std::array<uint64_t, 3> through;
  uint64_t unsent_after = 0;
  std::optional<uint64_t> log_through;
  uint32_t log_closed = 0;
  {
    Lock lock(mu_);
    if (commit_done_[level] >= ticket) return Status::Ok();  // covered
    if (!sync_failure_.ok()) return sync_failure_;
    through = commit_requested_;
    std::unordered_set<uint64_t> pending;
    pending.swap(table_->to_commit());
    for (uint64_t block : pending) {
      Entry* e = table_->Find(block);
      const CommittedRecord* c = table_->CommittedFor(block);
      if (!e) {
        // A LOST record goes only once the block was written or trimmed.
        if (c && !IsLost(block)) deletes.push_back(block);
        continue;
      }
      if (e->state == EntryState::kLoading) {
        // Marked again when loaded. The store holds its newest data, so an
        // older record of it goes now (the write log may no longer name
        // what replaced that record).
        if (c && !IsLost(block)) deletes.push_back(block);
        continue;
      }
      IndexRecord r{block, e->slot, KindOf(*e), e->crc, e->gen};
      if (c && c->kind == r.kind && c->slot == r.slot && c->gen == r.gen) {
        continue;
      }
      const bool clean = r.kind == RecordKind::kClean;
      if (scope == CommitScope::kDeletes ||
          (scope == CommitScope::kClean && !clean)) {
        // A clean block's record, or a CLEAN record of a dirty block, can
        // go: the store holds what it promised. A dirty record is flushed
        // data: only a full commit replaces it.
        if (c && (clean || c->kind == RecordKind::kClean)) {
          deletes.push_back(block);
        }
        table_->MarkForCommit(block);  // put by a later commit
        continue;
      }
      if (!e->crc_valid) need_crc.push_back(puts.size());
      if (HoldsSlot(r.kind)) table_->slot(r.slot).committing = true;
      puts.push_back(r);
    }
    // A FLUSH covers the write log up to here: later records go to the
    // other half, unless its epoch is not durable yet (a commit failed).
    if (scope == CommitScope::kFull && log_) {
      if (log_durable_epoch_ + 1 >= log_epoch_) {
        ++log_epoch_;
        log_->SwitchTo(static_cast<int>((log_epoch_ - 1) % 2));
      }
      log_closed = log_epoch_ - 1;
      log_through = log_seq_;
    }
    // In-place writes that began before the snapshot must land in it.
    entry_cv_.wait(lock, [&] {
      for (const IndexRecord& r : puts) {
        if (HoldsSlot(r.kind) && table_->slot(r.slot).writing) {
          return false;
        }
      }
      return true;
    });
    // The unsent count once this commit is in: the mark must cover it
    // before the index does.
    auto unsent = [](const CommittedRecord* c) {
      return c && c->kind != RecordKind::kClean;
    };
    unsent_after = unsent_records_;
    for (const IndexRecord& r : puts) {
      unsent_after += r.kind != RecordKind::kClean;
      unsent_after -= unsent(table_->CommittedFor(r.block));
    }
    for (uint64_t block : deletes) {
      unsent_after -= unsent(table_->CommittedFor(block));
    }
  }

  Status status;
  commit_buffer_.resize(geometry_.block_size);
  for (size_t i : need_crc) {
    status = slots_->Read(puts[i].slot, 0, commit_buffer_);
    if (!status.ok()) break;
    puts[i].crc = Crc32c(commit_buffer_);
  }
  bool has_data = false;
  for (const IndexRecord& r : puts) has_data |= HoldsSlot(r.kind);
  const bool raise_mark = unsent_after > unsent_mark_;
  if (status.ok() && raise_mark) {
    status = slots_->WriteUnsentMark(unsent_after);
    if (status.ok()) unsent_mark_ = unsent_after;
  }
  if (status.ok() && (has_data || raise_mark)) {
    status = slots_->Sync();
    if (!status.ok()) {
      LogError("cache: " + status.ToString() +
               ": the cache file can no longer promise durability; FLUSH "
               "fails until usbd is restarted");
      Lock lock(mu_);
      sync_failure_ = status;
    }
  }
  if (log_through && *log_through == log_through_) log_through.reset();
  if (status.ok() && (!puts.empty() || !deletes.empty() || log_through)) {
    status = index_->Apply(puts, deletes, log_through);
  }
  if (status.ok() && log_through) log_through_ = *log_through;
  if (status.ok()) {
    unsent_records_ = unsent_after;
    // Lowered lazily: a mark above the count only costs a needless refusal
    // if the index is lost before the next sync.
    if (unsent_after < unsent_mark_ &&
        slots_->WriteUnsentMark(unsent_after).ok()) {
      unsent_mark_ = unsent_after;
    }
  }

  Lock lock(mu_);
  if (!status.ok()) {
    for (const IndexRecord& r : puts) {
      if (HoldsSlot(r.kind)) {
        table_->slot(r.slot).committing = false;
        table_->MaybeFree(r.slot);
      }
      table_->MarkForCommit(r.block);
    }
    for (uint64_t block : deletes) table_->MarkForCommit(block);
    NotifyRoom();
    return status;
  }
  auto& committed = table_->committed();
  auto release = [&](const CommittedRecord& old, uint32_t keep) {
    if (HoldsSlot(old.kind) && old.slot != keep) {
      table_->SetCommitted(old.slot, false);
    }
  };
  for (const IndexRecord& r : puts) {
    auto it = committed.find(r.block);
    uint32_t keep = HoldsSlot(r.kind) ? r.slot : kNoSlot;
    if (it != committed.end()) release(it->second, keep);
    committed[r.block] = {r.slot, r.kind, r.gen};
    if (HoldsSlot(r.kind)) {
      table_->slot(r.slot).committing = false;
      table_->SetCommitted(r.slot, true);
    }
    Entry* e = table_->Find(r.block);
    if (e && e->gen == r.gen && !e->crc_valid) {
      e->crc = r.crc;
      e->crc_valid = true;
    }
  }
  for (uint64_t block : deletes) {
    auto it = committed.find(block);
    if (it == committed.end()) continue;
    release(it->second, kNoSlot);
    committed.erase(it);
  }
  log_durable_epoch_ = std::max(log_durable_epoch_, log_closed);
  for (int i = 0; i <= level; ++i) commit_done_[i] = through[i];
  if (scope != CommitScope::kDeletes) last_clean_commit_ms_ = NowMs();
  commits_.fetch_add(1, std::memory_order_relaxed);
  NotifyRoom();
  work_cv_.notify_all();
  return Status::Ok();
}

}  // namespace usbd::cache_internal
