// The cache's bookkeeping on its own: entry states, lists, and the slot
// rules of cache_store.cc, checked through CheckInvariants.
#include "cache/cache_table.h"

#include <gtest/gtest.h>

namespace usbd {
namespace {

Entry* CleanEntry(CacheTable& t, uint64_t block) {
  Entry* e = t.Create(block);
  e->slot = t.TakeFreeSlot();
  t.SetState(e, EntryState::kClean);
  return e;
}

TEST(CacheTableTest, AFreshTableHandsOutTheLowestSlotsFirst) {
  CacheTable t(4, 0);
  EXPECT_EQ(t.TakeFreeSlot(), 0u);
  EXPECT_EQ(t.TakeFreeSlot(), 1u);
  EXPECT_EQ(t.free_slots(), 2u);
}

TEST(CacheTableTest, EntriesSitOnTheListTheirStateNames) {
  CacheTable t(8, 2);
  Entry* low = CleanEntry(t, 1);   // protected
  Entry* high = CleanEntry(t, 5);  // ordinary
  EXPECT_EQ(low->list, ListId::kLruProtected);
  EXPECT_EQ(high->list, ListId::kLru);
  t.SetState(high, EntryState::kDirty);
  EXPECT_EQ(high->list, ListId::kDirty);
  EXPECT_EQ(t.dirty_count(), 1u);
  t.SetUploading(high, true);
  EXPECT_EQ(high->list, ListId::kNone);
  t.SetUploading(high, false);
  t.SetState(high, EntryState::kUploaded);
  EXPECT_EQ(high->list, ListId::kUploaded);
  EXPECT_EQ(t.dirty_count(), 1u);  // uploaded is not durable yet
  t.SetState(high, EntryState::kClean);
  EXPECT_EQ(t.dirty_count(), 0u);
  EXPECT_EQ(t.CheckInvariants(true), "");
}

TEST(CacheTableTest, EvictionTakesOrdinaryBlocksBeforeProtectedOnes) {
  CacheTable t(8, 2);
  CleanEntry(t, 0);
  CleanEntry(t, 10);
  Entry* recent = CleanEntry(t, 11);
  EXPECT_EQ(t.EvictionCandidate()->block, 10u);
  t.Touch(t.Find(10));
  EXPECT_EQ(t.EvictionCandidate()->block, 11u);
  t.Remove(recent);
  t.Remove(t.Find(10));
  EXPECT_EQ(t.EvictionCandidate()->block, 0u);
}

TEST(CacheTableTest, ASlotIsFreeOnlyWhenNothingHoldsIt) {
  CacheTable t(4, 0);
  Entry* e = CleanEntry(t, 3);
  uint32_t s = e->slot;
  t.committed()[3] = {s, RecordKind::kClean, 1};
  t.SetCommitted(s, true);
  t.Pin(s);
  size_t free_before = t.free_slots();
  t.Remove(e);  // no longer live, but committed and pinned
  EXPECT_EQ(t.free_slots(), free_before);
  t.Unpin(s);
  EXPECT_EQ(t.free_slots(), free_before);  // still named by the record
  EXPECT_TRUE(t.to_commit().contains(3));  // the record must go
  EXPECT_EQ(t.committed_only(), 1u);
  t.committed().erase(3);
  t.SetCommitted(s, false);
  EXPECT_EQ(t.free_slots(), free_before + 1);
  EXPECT_EQ(t.committed_only(), 0u);
  EXPECT_EQ(t.CheckInvariants(true), "");
}

TEST(CacheTableTest, OnlyPrivateSlotsMayBeWrittenInPlace) {
  CacheTable t(4, 0);
  Entry* e = CleanEntry(t, 1);
  EXPECT_TRUE(t.Private(e->slot));
  t.slot(e->slot).committing = true;
  EXPECT_FALSE(t.Private(e->slot));
  t.slot(e->slot).committing = false;
  t.Pin(e->slot);
  EXPECT_FALSE(t.Private(e->slot));
  t.Unpin(e->slot);
  t.SetCommitted(e->slot, true);
  EXPECT_FALSE(t.Private(e->slot));
}

TEST(CacheTableTest, CheckInvariantsNamesWhatIsBroken) {
  CacheTable t(4, 0);
  Entry* a = CleanEntry(t, 1);
  Entry* b = CleanEntry(t, 2);
  b->slot = a->slot;  // two entries, one slot
  EXPECT_NE(t.CheckInvariants(false).find("shared by entries"),
            std::string::npos);
  b->slot = 1;
  t.committed()[9] = {3, RecordKind::kDirty, 1};  // slot 3 not marked
  EXPECT_NE(t.CheckInvariants(false).find("committed slot not marked"),
            std::string::npos);
  t.committed().clear();
  Entry* z = t.Create(7);
  z->zero = true;
  t.SetState(z, EntryState::kClean);  // zero entries are never clean
  EXPECT_NE(t.CheckInvariants(false).find("zero entry is not dirty"),
            std::string::npos);
}

TEST(CacheTableTest, LeakedSlotsAreFoundWhenQuiescent) {
  CacheTable t(4, 0);
  uint32_t s = t.TakeFreeSlot();  // reserved by a writer that never installs
  EXPECT_EQ(t.CheckInvariants(false), "");
  EXPECT_NE(t.CheckInvariants(true).find("leaked"), std::string::npos);
  t.ReleaseSlot(s);
  EXPECT_EQ(t.CheckInvariants(true), "");
}

}  // namespace
}  // namespace usbd
