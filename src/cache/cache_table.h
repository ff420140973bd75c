// CacheTable: the block cache's in-memory state: entries, slots, the
// mirror of the committed index, and the lists the cache works from. Pure
// bookkeeping, no I/O and no locking (the cache holds its mutex around
// every call). The states and invariants are described at the top of
// cache_store.cc; CheckInvariants() verifies them for the tests.
//
// Memory is bounded by the cache, never by the volume: one Entry per cached
// block (at most slot_count with data, plus trimmed blocks not yet sent
// down, which the dirty limit bounds), one SlotState per slot, one
// CommittedRecord per index record.
#ifndef USBD_CACHE_CACHE_TABLE_H_
#define USBD_CACHE_CACHE_TABLE_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/cache_index.h"

namespace usbd {

constexpr uint32_t kNoSlot = UINT32_MAX;

enum class EntryState : uint8_t {
  kLoading,   // being filled from the store; its slot is reserved
  kClean,     // slot holds what the store durably holds
  kDirty,     // newer than the store: waiting for (or in) an upload
  kUploaded,  // uploaded; durable in the store after its next Flush
};

const char* EntryStateName(EntryState state);

enum class ListId : uint8_t { kNone, kLru, kLruProtected, kDirty, kUploaded };

struct Entry {
  uint64_t block = 0;
  uint64_t gen = 0;             // version of the current content
  uint64_t uploaded_gen = 0;    // newest version sent to the store
  uint64_t uploaded_epoch = 0;  // store flushes started before that upload
  int64_t since_ms = 0;         // kDirty: due time; kClean: clean since
  uint32_t slot = kNoSlot;      // kNoSlot: zero (or a read-through)
  uint32_t crc = 0;
  EntryState state = EntryState::kLoading;
  bool zero = false;       // trimmed / zeroed: reads as zeros, no slot
  bool crc_valid = false;  // crc matches the slot (else computed at commit)
  bool uploading = false;  // an upload of this block is in flight
  bool verified = true;    // slot checked against crc since start-up
  // The write-log epoch whose record names the current slot or zero state
  // (0: none; the index may then still need a record that it left).
  uint32_t log_epoch = 0;
  ListId list = ListId::kNone;
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

struct SlotState {
  uint16_t pins = 0;            // readers and uploaders reading the slot
  bool live : 1 = false;        // an entry's content, or reserved by a writer
  bool committed : 1 = false;   // a committed index record maps to it
  bool committing : 1 = false;  // named by the commit in flight
  bool writing : 1 = false;     // an in-place write is in progress
  bool free : 1 = true;         // on the free list
};

struct CommittedRecord {
  uint32_t slot = kNoSlot;
  RecordKind kind = RecordKind::kClean;
  uint64_t gen = 0;
};

// An intrusive list of entries, oldest first.
class EntryList {
 public:
  Entry* front() const { return head_; }
  size_t size() const { return size_; }
  void PushBack(Entry* e);
  void Remove(Entry* e);

 private:
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
  size_t size_ = 0;
};

class CacheTable {
 public:
  CacheTable(uint32_t slot_count, uint64_t num_protected);

  uint32_t slot_count() const { return static_cast<uint32_t>(slots_.size()); }
  size_t entry_count() const { return entries_.size(); }
  uint64_t dirty_count() const { return dirty_count_; }
  size_t free_slots() const { return free_.size(); }

  Entry* Find(uint64_t block);
  // A new entry in state kLoading, without slot, on no list.
  Entry* Create(uint64_t block);
  // Forgets the entry: releases its slot and marks the block for commit.
  void Remove(Entry* e);
  template <typename Fn>
  void ForEachEntry(Fn&& fn) {
    for (auto& [block, e] : entries_) fn(e);
  }

  // Slots.
  SlotState& slot(uint32_t s) { return slots_[s]; }
  // A free slot, now live; kNoSlot when none is free.
  uint32_t TakeFreeSlot();
  // Start-up: marks a slot in use; RebuildFreeList() once all are marked.
  void ClaimSlot(uint32_t s, bool live, bool committed);
  void RebuildFreeList();
  // Clears `live` and frees the slot unless something else still holds it.
  void ReleaseSlot(uint32_t s);
  // Sets `committed`, keeping count of committed slots no entry uses.
  void SetCommitted(uint32_t s, bool committed);
  // Slots only a committed record holds (old versions, evicted blocks): a
  // commit that moves their records on frees them.
  size_t committed_only() const { return committed_only_; }
  void Pin(uint32_t s) { ++slots_[s].pins; }
  void Unpin(uint32_t s);
  // Frees the slot when no flag and no pin holds it any more.
  void MaybeFree(uint32_t s);
  // May the slot be written in place? Only a slot nothing else relies on:
  // not in the committed index or a commit, not read, not being written.
  bool Private(uint32_t s) const;

  // State changes; each puts the entry on the list its state belongs to.
  void SetState(Entry* e, EntryState state);
  void SetUploading(Entry* e, bool uploading);
  // A clean entry was used: least recently used last.
  void Touch(Entry* e);
  Entry* DirtyHead() const { return dirty_.front(); }
  const EntryList& uploaded() const { return uploaded_; }
  // The next clean entry to evict (protected blocks last), or nullptr.
  Entry* EvictionCandidate() const;

  // The committed index, mirrored.
  std::unordered_map<uint64_t, CommittedRecord>& committed() {
    return committed_;
  }
  const CommittedRecord* CommittedFor(uint64_t block) const;
  // Blocks whose entry may differ from their committed record.
  void MarkForCommit(uint64_t block) { to_commit_.insert(block); }
  std::unordered_set<uint64_t>& to_commit() { return to_commit_; }

  // Every invariant of cache_store.cc's table; "" when all hold. With
  // `quiescent` (no operation in flight), also that no slot leaked.
  std::string CheckInvariants(bool quiescent) const;

 private:
  void Relist(Entry* e);
  EntryList* ListFor(ListId id);

  const uint64_t num_protected_;
  std::unordered_map<uint64_t, Entry> entries_;
  std::vector<SlotState> slots_;
  std::vector<uint32_t> free_;
  std::unordered_map<uint64_t, CommittedRecord> committed_;
  std::unordered_set<uint64_t> to_commit_;
  EntryList lru_, lru_protected_, dirty_, uploaded_;
  uint64_t dirty_count_ = 0;
  size_t committed_only_ = 0;
};

}  // namespace usbd

#endif  // USBD_CACHE_CACHE_TABLE_H_
