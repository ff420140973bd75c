// The block cache's implementation class, shared by the files of
// src/cache/ (the layer's public interface is cache_store.h):
//   cache_store.cc  the BlockStore methods, slot allocation, commits
//   recovery.cc     Start(): opening, checking and reloading the cache
//   write_back.cc   upload and read-ahead workers, Shutdown()
#ifndef USBD_CACHE_CACHE_IMPL_H_
#define USBD_CACHE_CACHE_IMPL_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "cache/cache_index.h"
#include "cache/cache_store.h"
#include "cache/cache_table.h"
#include "cache/slot_file.h"
#include "cache/write_log.h"

namespace usbd::cache_internal {

int64_t NowMs();
// A per-thread buffer of at least `size` bytes.
std::span<uint8_t> ThreadBuffer(uint32_t size);

class CacheStore : public BlockStore {
 public:
  CacheStore(CacheOptions options, VolumeIdentity volume,
             std::unique_ptr<BlockStore> inner);
  // Without Shutdown(): stops the threads and commits nothing, as a crash
  // would (the tests rely on this).
  ~CacheStore() override;

  Geometry geometry() const override { return inner_->geometry(); }
  Capabilities capabilities() const override;
  Status Start() override;
  Status Shutdown() override;
  Status Read(uint64_t block, uint32_t offset, std::span<uint8_t> out) override;
  Status Write(uint64_t block, uint32_t offset,
               std::span<const uint8_t> data) override;
  Status Trim(uint64_t block) override;
  Status Flush() override;
  Status QueryAllocation(uint64_t first, uint64_t count,
                         std::vector<bool>* allocated) override;
  void CollectStats(std::vector<StatEntry>* out) const override;

  CacheDebugState Inspect(bool quiescent);

 private:
  using Lock = std::unique_lock<std::mutex>;

  // cache_store.cc
  Status LoadBlock(Lock& lock, uint64_t block, uint32_t offset,
                   std::span<uint8_t> out, bool read_ahead, bool* retry);
  Status ReadCached(Lock& lock, Entry* e, uint32_t offset,
                    std::span<uint8_t> out, bool* retry);
  void DropDamaged(uint64_t block, uint64_t gen, uint32_t slot,
                   const std::string& why);
  // Write() without --blockCacheSync's wait.
  Status WriteCached(uint64_t block, uint32_t offset,
                     std::span<const uint8_t> data);
  Status WritePartial(Lock& lock, uint64_t block, uint32_t offset,
                      std::span<const uint8_t> data);
  Status WriteNewSlot(Lock& lock, uint64_t block,
                      std::span<const uint8_t> content);
  Status MakeZero(uint64_t block);
  Status WaitForDirtyRoom(Lock& lock, uint64_t block);
  // Records e's slot (or zero state) in the write log unless this epoch
  // already did.
  void LogMapping(Entry* e);
  bool AppendToLog(const WriteLogRecord& r);
  // Removes a clean (or uploaded zero) entry: the store holds the block's
  // newest data. A write-log record not yet in the index names its slot,
  // so a record saying so goes first (the slot may be reused at once).
  void Forget(Entry* e);
  // A FLUSH's commit first when the log's half is three quarters full.
  void EnsureLogRoom(Lock& lock);
  Result<uint32_t> AllocateSlot(Lock& lock, bool wait);
  void MakeDirty(Entry* e);
  void MarkForCommit(uint64_t block);
  void NotifyRoom();
  // Wakes the write-back to work without delay and waits (up to 200 ms,
  // `lock` released meanwhile) for it to make room.
  void WaitForWriteBack(Lock& lock);
  // Evicts clean blocks, coldest first, until `max` are gone, none is
  // left, or enough(evicted) holds; counts them. Returns how many went.
  template <typename Enough>
  size_t EvictBatch(size_t max, const Enough& enough);
  enum class CommitScope { kDeletes = 0, kClean = 1, kFull = 2 };
  Status Commit(CommitScope scope);
  Result<bool> KnownAbsent(Lock& lock, uint64_t block);
  std::mutex& BlockLock(uint64_t block) {
    return block_locks_[block % block_locks_.size()];
  }
  bool Expired(const Entry& e, int64_t now) const;

  // recovery.cc
  Status OpenCache();
  Result<std::optional<IndexMeta>> OpenIndex(const std::string& index_path);
  Status RefuseToDropUnsent(std::optional<uint64_t> unsent,
                            const std::string& problem);
  Status Reinitialize(uint32_t slot_count);
  Status LoadRecords(const IndexMeta& meta,
                     std::optional<uint64_t> file_unsent);
  // Replays the write log into `records` (the index's); returns how many
  // blocks it wrote, adding their records to `puts` and the blocks that
  // left the cache to `deletes`.
  Result<uint64_t> ReplayLog(const IndexMeta& meta,
                             std::vector<IndexRecord>* records,
                             std::vector<IndexRecord>* puts,
                             std::vector<uint64_t>* deletes);
  // Empties the write log for a new run of this cache.
  Status ResetLog(const std::string& cache_id, uint64_t seq);
  void LogLost() const;
  // EIO for a read or partial write of a block in lost_.
  Status LostError(uint64_t block) const;
  bool IsLost(uint64_t block) const {
    return !lost_.empty() && lost_.contains(block);
  }

  // write_back.cc
  void StartThreads();
  void StopThreads();
  void UploadWorker();
  void ReadAheadWorker();
  void Housekeeper();
  void RefillFreeSlots(Lock& lock);
  // Free slots the housekeeper keeps in reserve (about 1.5% of the cache),
  // because freeing a slot whose record is committed costs a commit. A
  // memory-only cache evicts one block when it needs a slot, so it keeps
  // none and holds all --blockCacheSize blocks.
  size_t ReserveSlots() const {
    if (!index_) return 0;
    return std::min<size_t>(table_->slot_count() / 64, 1024);
  }
  Entry* NextUpload(int64_t now, int64_t* wake_ms);
  bool NeedsCommitBeforeUpload(const Entry& e) const;
  void UploadOne(Lock& lock, Entry* e);
  bool ShouldFlushInner(int64_t now) const;
  void FlushInner(Lock& lock);
  void MarkDurable(Entry* e);
  bool DurableAt(const Entry& e, uint64_t gen) const;
  void NoteRead(uint64_t block);
  Status WaitUploaded();
  Status Drain();

  const CacheOptions options_;
  const VolumeIdentity volume_;
  const std::unique_ptr<BlockStore> inner_;
  Geometry geometry_;
  Capabilities inner_caps_;
  uint64_t dirty_limit_ = 0;
  bool wait_for_uploads_ = false;  // sync, or memory only
  bool in_place_ok_ = true;        // slots preallocated (or in memory)
  std::vector<uint8_t> zero_block_;

  std::unique_ptr<SlotFile> slots_;
  std::unique_ptr<CacheIndex> index_;  // null in memory-only mode
  // The write log (null in memory-only mode, or without a boot id) and its
  // state, guarded by mu_: records go to half (epoch - 1) % 2; a FLUSH's
  // commit moves to the next epoch once the one before is durable.
  std::unique_ptr<WriteLog> log_;
  std::string boot_id_;
  uint32_t log_epoch_ = 1;
  uint32_t log_durable_epoch_ = 0;
  uint64_t log_seq_ = 0;
  bool log_broken_ = false;  // a record could not be written: no more log

  mutable std::mutex mu_;
  std::unique_ptr<CacheTable> table_;    // guarded by mu_
  std::condition_variable entry_cv_;     // loads finish, in-place writes end
  std::condition_variable room_cv_;      // slots freed, dirty count falls
  std::condition_variable work_cv_;      // write-back work appeared
  std::condition_variable progress_cv_;  // uploads and flushes finished
  std::condition_variable ahead_cv_;     // read-ahead work appeared
  std::condition_variable house_cv_;     // only to stop the housekeeper
  uint64_t seq_ = 0;                     // last generation handed out
  // Blocks whose newest flushed data was lost (a LOST record each): reads
  // and partial writes fail with EIO until a whole write or trim succeeds.
  std::unordered_set<uint64_t> lost_;  // guarded by mu_
  int room_waiters_ = 0;
  int urgent_ = 0;  // callers waiting on the write-back: ignore the delay
  bool started_ = false;
  bool stopping_ = false;
  bool draining_ = false;
  int uploads_in_flight_ = 0;
  bool inner_flushing_ = false;
  uint64_t inner_flush_started_ = 0, inner_flush_done_ = 0;
  uint64_t uploads_since_inner_flush_ = 0;
  int64_t first_unflushed_upload_ms_ = 0;
  int64_t inner_flush_retry_ms_ = 0;
  int fail_streak_ = 0;  // uploads failed in a row
  int64_t failing_since_ms_ = 0;
  int64_t last_failure_log_ms_ = 0;
  Status last_upload_error_;
  uint64_t upload_failures_ = 0;
  uint64_t durable_events_ = 0;  // entries became clean or left the cache
  // Read-ahead detector and queue.
  uint64_t last_read_ = UINT64_MAX - 1;
  uint64_t run_ = 0;
  uint64_t ahead_next_ = 0;
  std::deque<uint64_t> ahead_queue_;

  // Group commit: callers take a ticket; one of them commits for all.
  std::mutex commit_mu_;  // held by the committing thread
  // Per CommitScope; a commit of one scope covers the weaker ones.
  std::array<uint64_t, 3> commit_requested_{};  // guarded by mu_
  std::array<uint64_t, 3> commit_done_{};       // guarded by mu_
  int64_t last_clean_commit_ms_ = 0;            // guarded by mu_
  Status sync_failure_;                         // sticky, guarded by mu_
  std::vector<uint8_t> commit_buffer_;          // guarded by commit_mu_
  // Committed records of unsent kinds (dirty, zero, lost), and the cache
  // file's unsent mark (never below the durable count); commit_mu_.
  uint64_t unsent_records_ = 0;
  uint64_t unsent_mark_ = 0;
  uint64_t log_through_ = 0;  // as the index records it; commit_mu_

  // Serialise writers and trimmers of one block (partial writes must not
  // lose each other's bytes); readers never take them.
  std::array<std::mutex, 1024> block_locks_;

  std::vector<std::thread> threads_;

  mutable std::atomic<uint64_t> hits_{0}, misses_{0}, read_throughs_{0},
      read_aheads_{0}, writes_{0}, in_place_writes_{0}, trims_{0}, uploads_{0},
      upload_errors_{0}, evictions_{0}, commits_{0}, write_waits_{0},
      dropped_{0};
};

template <typename Enough>
size_t CacheStore::EvictBatch(size_t max, const Enough& enough) {
  size_t evicted = 0;
  while (evicted < max && !enough(evicted)) {
    Entry* victim = table_->EvictionCandidate();
    if (!victim) break;
    Forget(victim);
    ++durable_events_;
    ++evicted;
  }
  evictions_.fetch_add(evicted, std::memory_order_relaxed);
  return evicted;
}

}  // namespace usbd::cache_internal

#endif  // USBD_CACHE_CACHE_IMPL_H_
