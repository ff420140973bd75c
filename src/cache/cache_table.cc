#include "cache/cache_table.h"

#include <sstream>

namespace usbd {

const char* EntryStateName(EntryState state) {
  switch (state) {
    case EntryState::kLoading:
      return "loading";
    case EntryState::kClean:
      return "clean";
    case EntryState::kDirty:
      return "dirty";
    case EntryState::kUploaded:
      return "uploaded";
  }
  return "?";
}

void EntryList::PushBack(Entry* e) {
  e->prev = tail_;
  e->next = nullptr;
  if (tail_) {
    tail_->next = e;
  } else {
    head_ = e;
  }
  tail_ = e;
  ++size_;
}

void EntryList::Remove(Entry* e) {
  if (e->prev) {
    e->prev->next = e->next;
  } else {
    head_ = e->next;
  }
  if (e->next) {
    e->next->prev = e->prev;
  } else {
    tail_ = e->prev;
  }
  e->prev = e->next = nullptr;
  --size_;
}

CacheTable::CacheTable(uint32_t slot_count, uint64_t num_protected)
    : num_protected_(num_protected), slots_(slot_count) {
  entries_.reserve(slot_count);
  free_.reserve(slot_count);
  // Lowest slots first: a fresh cache fills its file from the start.
  for (uint32_t s = slot_count; s > 0; --s) free_.push_back(s - 1);
}

Entry* CacheTable::Find(uint64_t block) {
  auto it = entries_.find(block);
  return it == entries_.end() ? nullptr : &it->second;
}

Entry* CacheTable::Create(uint64_t block) {
  Entry& e = entries_[block];
  e.block = block;
  return &e;
}

void CacheTable::Remove(Entry* e) {
  if (e->list != ListId::kNone) ListFor(e->list)->Remove(e);
  if (e->state == EntryState::kDirty || e->state == EntryState::kUploaded) {
    --dirty_count_;
  }
  if (e->slot != kNoSlot) ReleaseSlot(e->slot);
  if (committed_.contains(e->block)) to_commit_.insert(e->block);
  entries_.erase(e->block);
}

uint32_t CacheTable::TakeFreeSlot() {
  if (free_.empty()) return kNoSlot;
  uint32_t s = free_.back();
  free_.pop_back();
  slots_[s].free = false;
  slots_[s].live = true;
  return s;
}

void CacheTable::ClaimSlot(uint32_t s, bool live, bool committed) {
  SlotState& st = slots_[s];
  st.free = false;
  st.live = st.live || live;
  st.committed = st.committed || committed;
}

void CacheTable::RebuildFreeList() {
  free_.clear();
  for (uint32_t s = static_cast<uint32_t>(slots_.size()); s > 0; --s) {
    SlotState& st = slots_[s - 1];
    st.free = false;
    MaybeFree(s - 1);
  }
}

void CacheTable::ReleaseSlot(uint32_t s) {
  SlotState& st = slots_[s];
  if (st.live && st.committed) ++committed_only_;
  st.live = false;
  MaybeFree(s);
}

void CacheTable::SetCommitted(uint32_t s, bool committed) {
  SlotState& st = slots_[s];
  if (st.committed == committed) return;
  if (!st.live) committed ? ++committed_only_ : --committed_only_;
  st.committed = committed;
  MaybeFree(s);
}

void CacheTable::Unpin(uint32_t s) {
  --slots_[s].pins;
  MaybeFree(s);
}

void CacheTable::MaybeFree(uint32_t s) {
  SlotState& st = slots_[s];
  if (st.free || st.live || st.committed || st.committing || st.writing ||
      st.pins > 0) {
    return;
  }
  st.free = true;
  free_.push_back(s);
}

bool CacheTable::Private(uint32_t s) const {
  const SlotState& st = slots_[s];
  return st.live && !st.committed && !st.committing && !st.writing &&
         st.pins == 0;
}

void CacheTable::SetState(Entry* e, EntryState state) {
  bool was_dirty =
      e->state == EntryState::kDirty || e->state == EntryState::kUploaded;
  bool is_dirty = state == EntryState::kDirty || state == EntryState::kUploaded;
  if (was_dirty && !is_dirty) --dirty_count_;
  if (!was_dirty && is_dirty) ++dirty_count_;
  e->state = state;
  Relist(e);
}

void CacheTable::SetUploading(Entry* e, bool uploading) {
  e->uploading = uploading;
  Relist(e);
}

void CacheTable::Touch(Entry* e) {
  if (e->list != ListId::kLru && e->list != ListId::kLruProtected) return;
  EntryList* list = ListFor(e->list);
  list->Remove(e);
  list->PushBack(e);
}

Entry* CacheTable::EvictionCandidate() const {
  return lru_.front() ? lru_.front() : lru_protected_.front();
}

const CommittedRecord* CacheTable::CommittedFor(uint64_t block) const {
  auto it = committed_.find(block);
  return it == committed_.end() ? nullptr : &it->second;
}

EntryList* CacheTable::ListFor(ListId id) {
  switch (id) {
    case ListId::kLru:
      return &lru_;
    case ListId::kLruProtected:
      return &lru_protected_;
    case ListId::kDirty:
      return &dirty_;
    case ListId::kUploaded:
      return &uploaded_;
    case ListId::kNone:
      break;
  }
  return nullptr;
}

namespace {

ListId ListOf(const Entry& e, uint64_t num_protected) {
  switch (e.state) {
    case EntryState::kLoading:
      return ListId::kNone;
    case EntryState::kClean:
      return e.block < num_protected ? ListId::kLruProtected : ListId::kLru;
    case EntryState::kDirty:
      return e.uploading ? ListId::kNone : ListId::kDirty;
    case EntryState::kUploaded:
      return ListId::kUploaded;
  }
  return ListId::kNone;
}

}  // namespace

void CacheTable::Relist(Entry* e) {
  ListId want = ListOf(*e, num_protected_);
  if (want == e->list) return;
  if (e->list != ListId::kNone) ListFor(e->list)->Remove(e);
  e->list = want;
  if (want != ListId::kNone) ListFor(want)->PushBack(e);
}

std::string CacheTable::CheckInvariants(bool quiescent) const {
  std::ostringstream bad;
  auto fail = [&](uint64_t block, const std::string& what) {
    bad << "block " << block << ": " << what << "; ";
  };
  std::vector<int> entry_refs(slots_.size(), 0), record_refs(slots_.size(), 0);
  uint64_t dirty = 0;
  size_t on_lists = 0;
  for (const auto& [block, e] : entries_) {
    if (e.block != block) fail(block, "entry keyed under another block");
    if (e.list != ListOf(e, num_protected_)) fail(block, "on the wrong list");
    if (e.list != ListId::kNone) ++on_lists;
    bool dirty_state =
        e.state == EntryState::kDirty || e.state == EntryState::kUploaded;
    if (dirty_state) ++dirty;
    if (e.zero && e.slot != kNoSlot) fail(block, "zero entry holds a slot");
    if (e.zero && !dirty_state) fail(block, "zero entry is not dirty");
    if (!e.zero && e.slot == kNoSlot) fail(block, "data entry without slot");
    if (e.uploading && e.state != EntryState::kDirty) {
      fail(block, "uploading but not dirty");
    }
    if (e.slot != kNoSlot) {
      if (e.slot >= slots_.size()) {
        fail(block, "slot out of range");
        continue;
      }
      ++entry_refs[e.slot];
      if (!slots_[e.slot].live) fail(block, "its slot is not live");
      if (slots_[e.slot].free) fail(block, "its slot is on the free list");
    }
  }
  if (dirty != dirty_count_)
    bad << "dirty count " << dirty_count_ << " != " << dirty << "; ";
  if (on_lists !=
      lru_.size() + lru_protected_.size() + dirty_.size() + uploaded_.size()) {
    bad << "list sizes disagree with entries; ";
  }
  for (const auto& [block, r] : committed_) {
    if (!HoldsSlot(r.kind)) continue;
    if (r.slot >= slots_.size()) {
      fail(block, "committed record names a slot out of range");
      continue;
    }
    ++record_refs[r.slot];
    if (!slots_[r.slot].committed) fail(block, "committed slot not marked");
    if (slots_[r.slot].free) fail(block, "committed slot on the free list");
  }
  size_t free_marked = 0, committed_only = 0;
  for (size_t s = 0; s < slots_.size(); ++s) {
    const SlotState& st = slots_[s];
    committed_only += st.committed && !st.live;
    if (entry_refs[s] > 1) bad << "slot " << s << " shared by entries; ";
    if (record_refs[s] > 1) bad << "slot " << s << " in two records; ";
    if (st.committed && record_refs[s] == 0) {
      bad << "slot " << s << " marked committed without a record; ";
    }
    if (st.free) {
      ++free_marked;
      if (st.live || st.committed || st.committing || st.writing || st.pins) {
        bad << "slot " << s << " free but held; ";
      }
    } else if (quiescent) {
      if (st.live && entry_refs[s] == 0) {
        bad << "slot " << s << " live without an entry (leaked); ";
      }
      if (!st.live && !st.committed) {
        bad << "slot " << s << " neither free nor held (leaked); ";
      }
      if (st.pins || st.writing || st.committing) {
        bad << "slot " << s << " still pinned or in flight; ";
      }
    }
  }
  if (free_marked != free_.size()) bad << "free list size mismatch; ";
  if (committed_only != committed_only_) {
    bad << "committed-only count " << committed_only_
        << " != " << committed_only << "; ";
  }
  return bad.str();
}

}  // namespace usbd
