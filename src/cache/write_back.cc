// The block cache's threads: upload workers (write-back), read-ahead
// workers and a housekeeper (periodic commit, expiry); and Shutdown(),
// which drains the dirty blocks first. States and rules: cache_store.cc.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "cache/cache_impl.h"
#include "cache/crc32c.h"
#include "util/log.h"

namespace usbd::cache_internal {
namespace {

using std::chrono::milliseconds;

// The background commit keeps the index near the table (a restart then
// re-uploads little and finds recent reads cached); each commit turns the
// dirty slots into committed ones that the next write must copy, so not
// too often.
constexpr int64_t kCommitIntervalMs = 10000;
constexpr int64_t kInnerFlushIntervalMs = 1000;
constexpr size_t kInnerFlushBatch = 64;

}  // namespace

void CacheStore::StartThreads() {
  stopping_ = false;
  for (unsigned i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { UploadWorker(); });
  }
  if (options_.read_ahead > 0) {
    unsigned n = std::clamp<unsigned>(options_.read_ahead, 2,
                                      std::max(2u, options_.threads));
    for (unsigned i = 0; i < n; ++i) {
      threads_.emplace_back([this] { ReadAheadWorker(); });
    }
  }
  threads_.emplace_back([this] { Housekeeper(); });
}

void CacheStore::StopThreads() {
  {
    Lock lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  ahead_cv_.notify_all();
  room_cv_.notify_all();
  progress_cv_.notify_all();
  entry_cv_.notify_all();
  house_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

// ---- uploads --------------------------------------------------------------

void CacheStore::UploadWorker() {
  // Uploads are background work: let the threads serving clients go first.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  Lock lock(mu_);
  while (!stopping_) {
    int64_t now = NowMs();
    if (ShouldFlushInner(now)) {
      FlushInner(lock);
      continue;
    }
    int64_t wake = now + 1000;
    Entry* e = NextUpload(now, &wake);
    if (!e) {
      work_cv_.wait_for(lock, milliseconds(std::max<int64_t>(1, wake - now)));
      continue;
    }
    if (NeedsCommitBeforeUpload(*e)) {
      lock.unlock();
      Status status = Commit(CommitScope::kDeletes);
      lock.lock();
      if (!status.ok()) work_cv_.wait_for(lock, milliseconds(1000));
      continue;
    }
    UploadOne(lock, e);
  }
}

Entry* CacheStore::NextUpload(int64_t now, int64_t* wake) {
  if (inner_caps_.read_only) return nullptr;
  Entry* e = table_->DirtyHead();
  if (!e) return nullptr;
  bool urgent = urgent_ > 0 || draining_ ||
                table_->dirty_count() * 4 > uint64_t{table_->slot_count()} * 3;
  if (e->since_ms > now && (!urgent || fail_streak_ > 0)) {
    *wake = e->since_ms;
    return nullptr;
  }
  if (e->slot != kNoSlot && table_->slot(e->slot).writing) {
    *wake = now + 1;  // an in-place write ends in microseconds
    return nullptr;
  }
  return e;
}

// A committed CLEAN record says the store holds that generation; before
// the store gets another, the record must stop saying so.
bool CacheStore::NeedsCommitBeforeUpload(const Entry& e) const {
  if (!index_) return false;
  const CommittedRecord* c = table_->CommittedFor(e.block);
  return c && c->kind == RecordKind::kClean && c->gen != e.gen;
}

void CacheStore::UploadOne(Lock& lock, Entry* e) {
  const uint64_t block = e->block, gen = e->gen;
  const bool zero = e->zero;
  const uint32_t slot = e->slot;
  table_->SetUploading(e, true);
  if (!zero) table_->Pin(slot);
  ++uploads_in_flight_;
  lock.unlock();

  Status status;
  if (zero) {
    status = inner_caps_.trim ? inner_->Trim(block)
                              : inner_->Write(block, 0, zero_block_);
  } else {
    // Copy the slot, then let it go: a slot pinned for the whole upload
    // would make every write to the block meanwhile copy the block.
    std::span<uint8_t> buf = ThreadBuffer(geometry_.block_size);
    status = slots_->Read(slot, 0, buf);
    // A memory-only cache has no index, so no use for checksums.
    const uint32_t crc = index_ && status.ok() ? Crc32c(buf) : 0;
    lock.lock();
    table_->Unpin(slot);
    e = table_->Find(block);
    if (index_ && status.ok() && e->gen == gen && !e->crc_valid) {
      e->crc = crc;  // saves the commit reading the slot again
      e->crc_valid = true;
    }
    NotifyRoom();
    lock.unlock();
    if (status.ok()) status = inner_->Write(block, 0, buf);
  }

  lock.lock();
  --uploads_in_flight_;
  e = table_->Find(block);  // an uploading entry is never removed
  table_->SetUploading(e, false);
  const int64_t now = NowMs();
  if (status.ok()) {
    uploads_.fetch_add(1, std::memory_order_relaxed);
    fail_streak_ = 0;
    e->uploaded_gen = gen;
    e->uploaded_epoch = inner_flush_started_;
    if (uploads_since_inner_flush_++ == 0) first_unflushed_upload_ms_ = now;
    if (e->gen != gen) {
      e->since_ms = now + options_.write_delay.count();  // upload again
    } else if (inner_caps_.flush) {
      table_->SetState(e, EntryState::kUploaded);
    } else {
      MarkDurable(e);
    }
  } else {
    upload_errors_.fetch_add(1, std::memory_order_relaxed);
    ++upload_failures_;
    last_upload_error_ = status;
    if (fail_streak_++ == 0) failing_since_ms_ = now;
    // Back off in proportion to how long the store has been failing: a
    // blip costs 100 ms, an outage at most 30 s between attempts.
    e->since_ms =
        now + std::clamp<int64_t>((now - failing_since_ms_) / 2, 100, 30000);
    if (now - last_failure_log_ms_ >= 10000) {
      last_failure_log_ms_ = now;
      LogWarning("cache: upload of block " + std::to_string(block) +
                 " failed: " + status.ToString() + "; retrying, " +
                 std::to_string(table_->dirty_count()) +
                 " dirty blocks waiting");
    }
  }
  progress_cv_.notify_all();
  NotifyRoom();
}

bool CacheStore::ShouldFlushInner(int64_t now) const {
  if (!inner_caps_.flush || inner_flushing_ ||
      uploads_since_inner_flush_ == 0 || now < inner_flush_retry_ms_) {
    return false;
  }
  if (urgent_ > 0 || draining_) return true;
  if (table_->uploaded().size() >= kInnerFlushBatch) return true;
  if (now - first_unflushed_upload_ms_ >= kInnerFlushIntervalMs) return true;
  const Entry* head = table_->DirtyHead();
  return uploads_in_flight_ == 0 && (!head || head->since_ms > now);
}

// Flushes the store; uploads that completed before it began are durable
// there afterwards, so their entries become CLEAN.
void CacheStore::FlushInner(Lock& lock) {
  inner_flushing_ = true;
  const uint64_t epoch = ++inner_flush_started_;
  const uint64_t pending = uploads_since_inner_flush_;
  uploads_since_inner_flush_ = 0;
  lock.unlock();
  Status status = inner_->Flush();
  lock.lock();
  inner_flushing_ = false;
  if (status.ok()) {
    inner_flush_done_ = epoch;
    for (Entry* e = table_->uploaded().front(); e;) {
      Entry* next = e->next;
      if (e->uploaded_epoch < epoch) MarkDurable(e);
      e = next;
    }
  } else {
    uploads_since_inner_flush_ += pending;
    ++upload_failures_;
    last_upload_error_ = status;
    const int64_t now = NowMs();
    inner_flush_retry_ms_ = now + 1000;
    if (now - last_failure_log_ms_ >= 10000) {
      last_failure_log_ms_ = now;
      LogWarning("cache: flush of the store failed: " + status.ToString() +
                 "; retrying");
    }
  }
  progress_cv_.notify_all();
  NotifyRoom();
}

void CacheStore::MarkDurable(Entry* e) {
  ++durable_events_;
  if (e->zero) {
    Forget(e);  // the store reads zeros now
    return;
  }
  e->since_ms = NowMs();
  table_->SetState(e, EntryState::kClean);
  MarkForCommit(e->block);
}

bool CacheStore::DurableAt(const Entry& e, uint64_t gen) const {
  // LOADING: the block had no entry, so the store held its latest content.
  if (e.state == EntryState::kClean || e.state == EntryState::kLoading) {
    return true;
  }
  return e.uploaded_gen >= gen &&
         (!inner_caps_.flush || inner_flush_done_ > e.uploaded_epoch);
}

// Flush with --blockCacheSync, or of a memory-only cache: every block dirty
// now must reach the store, durably.
Status CacheStore::WaitUploaded() {
  Lock lock(mu_);
  std::vector<std::pair<uint64_t, uint64_t>> need;
  table_->ForEachEntry([&](const Entry& e) {
    if (e.state == EntryState::kDirty || e.state == EntryState::kUploaded) {
      need.emplace_back(e.block, e.gen);
    }
  });
  if (need.empty() || inner_caps_.read_only) return Status::Ok();
  const uint64_t failures = upload_failures_;
  ++urgent_;
  work_cv_.notify_all();
  Status result;
  for (;;) {
    std::erase_if(need, [&](const std::pair<uint64_t, uint64_t>& n) {
      Entry* e = table_->Find(n.first);
      return !e || DurableAt(*e, n.second);
    });
    if (need.empty()) break;
    if (upload_failures_ != failures) {
      result = Status::IoError("upload to the store failed: " +
                               last_upload_error_.ToString());
      break;
    }
    if (stopping_) {
      result = Status::Error(ESHUTDOWN, "cache is shutting down");
      break;
    }
    progress_cv_.wait_for(lock, milliseconds(1000));
  }
  --urgent_;
  return result;
}

// ---- read-ahead -------------------------------------------------------------

// Called with mu_ held, for every read.
//
// A stream advances by reads at most kStreamStep blocks past the highest
// block it has read; reads up to kStreamSlack blocks behind that neither
// advance nor break it: several NBD worker threads serve one sequential
// reader, so its blocks arrive out of order (0, 4, 8, 1, 5, ...). Once the
// stream spans `read_ahead_trigger` blocks, the blocks after its highest
// are fetched ahead, the window growing with the stream (as many blocks as
// it spans, at least kFirstWindow) up to `read_ahead`: a
// long sequential read gets deep read-ahead, a short one (a random 1 MiB
// read) a little, and random reads almost never any.
void CacheStore::NoteRead(uint64_t block) {
  if (options_.read_ahead == 0) return;
  constexpr uint64_t kStreamStep = 8;
  constexpr uint64_t kStreamSlack = 32;
  constexpr uint64_t kFirstWindow = 4;
  if (block > last_read_ && block <= last_read_ + kStreamStep) {
    run_ += block - last_read_;  // the stream's length in blocks
    last_read_ = block;
  } else if (block > last_read_ || block + kStreamSlack < last_read_) {
    run_ = 1;
    last_read_ = block;
  } else {
    return;  // behind the stream's front: an out-of-order read of it
  }
  if (run_ < options_.read_ahead_trigger) return;
  const uint64_t window =
      std::min<uint64_t>(options_.read_ahead, std::max(kFirstWindow, run_));
  const uint64_t end = std::min(last_read_ + 1 + window, geometry_.block_count);
  uint64_t from = ahead_next_ > last_read_ && ahead_next_ <= end
                      ? ahead_next_
                      : last_read_ + 1;
  for (uint64_t b = from; b < end; ++b) {
    if (!table_->Find(b)) ahead_queue_.push_back(b);
  }
  ahead_next_ = end;
  while (ahead_queue_.size() > 4 * size_t{options_.read_ahead} + 16) {
    ahead_queue_.pop_front();
  }
  if (from < end) ahead_cv_.notify_all();
}

void CacheStore::ReadAheadWorker() {
  Lock lock(mu_);
  while (!stopping_) {
    if (ahead_queue_.empty()) {
      ahead_cv_.wait(lock);
      continue;
    }
    uint64_t block = ahead_queue_.front();
    ahead_queue_.pop_front();
    if (table_->Find(block)) continue;
    bool retry = false;
    Status status = LoadBlock(lock, block, 0, {}, /*read_ahead=*/true, &retry);
    if (!status.ok()) {
      LogDebug("cache: read-ahead of block " + std::to_string(block) +
               " failed: " + status.ToString());
    }
  }
}

// ---- housekeeping, shutdown -------------------------------------------------

void CacheStore::Housekeeper() {
  Lock lock(mu_);
  int64_t last_sweep = NowMs();
  while (!stopping_) {
    house_cv_.wait_for(lock, milliseconds(500));
    if (stopping_) break;
    const int64_t now = NowMs();
    // Keep the index close to the table, so a restart re-uploads little
    // and finds the blocks read since the last FLUSH.
    if (index_ && !table_->to_commit().empty() &&
        now - last_clean_commit_ms_ >= kCommitIntervalMs) {
      lock.unlock();
      Status status = Commit(CommitScope::kClean);
      lock.lock();
      if (!status.ok()) {
        last_clean_commit_ms_ = now;  // try again later, not at once
        LogWarning("cache: background commit failed: " + status.ToString());
      }
    }
    // Without FLUSHes the write log fills: a full commit moves it to its
    // other half, off the writers' path.
    if (log_ && now - last_clean_commit_ms_ >= 1000 &&
        log_->used() > log_->capacity() / 2) {
      lock.unlock();
      Status status = Commit(CommitScope::kFull);
      lock.lock();
      if (!status.ok()) {
        last_clean_commit_ms_ = now;  // try again later, not at once
        LogWarning("cache: background commit failed: " + status.ToString());
      }
    }
    RefillFreeSlots(lock);
    const int64_t timeout = options_.timeout.count();
    if (timeout > 0 &&
        now - last_sweep >= std::max<int64_t>(1000, timeout / 4)) {
      last_sweep = now;
      std::vector<uint64_t> expired;
      table_->ForEachEntry([&](const Entry& e) {
        if (Expired(e, now)) expired.push_back(e.block);
      });
      for (uint64_t block : expired) {
        Forget(table_->Find(block));
        ++durable_events_;
      }
      if (!expired.empty()) NotifyRoom();
    }
  }
}

// Keeps a reserve of free slots, so writers rarely find none: a slot freed
// by evicting a block whose record is committed needs a commit first, and
// one commit for many evictions is cheaper than one per few writes.
void CacheStore::RefillFreeSlots(Lock& lock) {
  const size_t low = ReserveSlots();
  if (low < 4 || table_->free_slots() >= low) return;
  const size_t target = 2 * low;
  if (index_ && table_->committed_only() > 0) {
    // Old versions first: freeing them costs no cached block.
    lock.unlock();
    (void)Commit(CommitScope::kDeletes);
    lock.lock();
    if (table_->free_slots() >= low) return;
  }
  // An evicted slot whose record is committed is free only once the record
  // is deleted (below): count it as freed.
  const size_t evicted = EvictBatch(
      SIZE_MAX, [&](size_t n) { return table_->free_slots() + n >= target; });
  NotifyRoom();
  if (evicted > 0 && index_ && !table_->to_commit().empty()) {
    lock.unlock();
    // A failure is retried by the next round, or by a writer.
    (void)Commit(CommitScope::kDeletes);
    lock.lock();
  }
}

Status CacheStore::Drain() {
  Lock lock(mu_);
  draining_ = true;
  work_cv_.notify_all();
  const uint64_t total = table_->dirty_count();
  if (total == 0 || inner_caps_.read_only) return Status::Ok();
  LogInfo("cache: uploading " + std::to_string(total) +
          " dirty blocks before exit");
  int64_t last_log = NowMs(), last_progress = last_log;
  uint64_t last_dirty = total, last_uploads = uploads_.load();
  while (table_->dirty_count() > 0) {
    progress_cv_.wait_for(lock, milliseconds(500));
    const int64_t now = NowMs();
    const uint64_t dirty = table_->dirty_count();
    if (dirty < last_dirty || uploads_.load() != last_uploads) {
      last_progress = now;
      last_dirty = dirty;
      last_uploads = uploads_.load();
    }
    if (now - last_log >= 5000) {
      last_log = now;
      LogInfo("cache: " + std::to_string(total - std::min(total, dirty)) +
              " of " + std::to_string(total) + " dirty blocks uploaded");
    }
    if (now - last_progress >= options_.shutdown_stall_timeout.count()) {
      std::string message =
          std::to_string(dirty) + " dirty blocks could not be uploaded (" +
          last_upload_error_.ToString() + ")" +
          (index_ ? "; they stay in the cache file and are uploaded at the "
                    "next start"
                  : "; the cache is in memory only: they are lost");
      LogError("cache: " + message);
      return Status::IoError(message);
    }
  }
  LogInfo("cache: all " + std::to_string(total) + " dirty blocks uploaded");
  return Status::Ok();
}

Status CacheStore::Shutdown() {
  if (!started_) return inner_->Shutdown();
  Status status = Drain();
  // Record the clean state, so the next start re-uploads nothing.
  Status committed = Commit(CommitScope::kFull);
  StopThreads();
  started_ = false;
  if (status.ok()) status = committed;
  index_.reset();
  slots_.reset();
  Status inner = inner_->Shutdown();
  return status.ok() ? inner : status;
}

}  // namespace usbd::cache_internal
