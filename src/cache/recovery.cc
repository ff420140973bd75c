// Start-up of the block cache: open the cache file and its index, check
// that they belong together and to this volume, and rebuild the in-memory
// table from the committed records (see cache_store.cc for what a record
// promises). Every record that does not hold up is dropped with one log
// line; dirty records are verified by checksum before they are queued.
#include <sys/random.h>

#include <algorithm>
#include <cstring>

#include "cache/cache_impl.h"
#include "cache/crc32c.h"
#include "util/log.h"

namespace usbd::cache_internal {
namespace {

std::string RandomId() {
  uint8_t bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (uint8_t b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::string Mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

Status CacheStore::Start() {
  USBD_RETURN_IF_ERROR(inner_->Start());
  geometry_ = inner_->geometry();
  inner_caps_ = inner_->capabilities();
  zero_block_.assign(geometry_.block_size, 0);
  dirty_limit_ =
      options_.max_dirty > 0 ? options_.max_dirty : options_.block_cache_size;
  wait_for_uploads_ = options_.sync || options_.block_cache_file.empty();
  USBD_RETURN_IF_ERROR(OpenCache());
  in_place_ok_ = slots_->preallocated();
  StartThreads();
  started_ = true;
  return Status::Ok();
}

Status CacheStore::OpenCache() {
  const uint32_t slots = options_.block_cache_size;
  const uint32_t bs = geometry_.block_size;
  const std::string& path = options_.block_cache_file;
  auto wrap = [&](std::unique_ptr<SlotFile> file) {
    return options_.wrap_slot_file ? options_.wrap_slot_file(std::move(file))
                                   : std::move(file);
  };
  if (path.empty()) {
    slots_ = wrap(NewMemorySlotFile(bs, slots));
    USBD_RETURN_IF_ERROR(slots_->Format({}));
    table_ = std::make_unique<CacheTable>(slots, options_.num_protected);
    LogInfo("cache: " + std::to_string(slots) + " blocks (" +
            Mib(uint64_t{slots} * bs) +
            ") in memory only: no crash recovery, FLUSH waits for uploads "
            "(use --blockCacheFile for a persistent cache)");
    return Status::Ok();
  }
  Result<std::unique_ptr<SlotFile>> file = OpenSlotFile(path, bs);
  USBD_RETURN_IF_ERROR(file.status());
  slots_ = wrap(std::move(file).value());
  Result<std::unique_ptr<CacheIndex>> index =
      CacheIndex::Open(path + ".lmdb", 3ull * slots + 1024);
  USBD_RETURN_IF_ERROR(index.status());
  index_ = std::move(index).value();

  std::string why;
  std::optional<SlotFileHeader> header = slots_->ReadHeader(&why);
  Result<std::optional<IndexMeta>> meta = index_->ReadMeta();
  USBD_RETURN_IF_ERROR(meta.status());
  auto count_dirty = [&](uint64_t* dirty) {
    uint64_t damaged = 0;
    *dirty = 0;
    return index_->ForEach(
        [&](const IndexRecord& r) { *dirty += r.kind != RecordKind::kClean; },
        &damaged);
  };
  auto refuse_if_dirty = [&](const std::string& problem) -> Status {
    uint64_t dirty = 0;
    USBD_RETURN_IF_ERROR(count_dirty(&dirty));
    if (dirty == 0) return Status::Ok();
    return Status::Invalid(
        "cache " + path + ": " + problem + ", but its index holds " +
        std::to_string(dirty) +
        " dirty blocks not yet uploaded; refusing to drop them (start usbd "
        "with the volume they belong to, or move " +
        path + " and " + path + ".lmdb away to start with an empty cache)");
  };

  const bool paired = header && *meta && header->cache_id == (*meta)->cache_id;
  if (!paired) {
    if (*meta) {
      USBD_RETURN_IF_ERROR(refuse_if_dirty(
          header ? "the cache file does not belong to its index" : why));
    }
    if (header || *meta) {
      LogWarning("cache: " + path + ": " +
                 (header ? std::string("index does not match the file") : why) +
                 ": starting with an empty cache");
    } else {
      LogInfo("cache: creating " + path + " (" + std::to_string(slots) +
              " blocks, " + Mib(uint64_t{slots} * bs) + ")");
    }
    return Reinitialize(slots);
  }
  if (header->volume_uuid != volume_.uuid || header->block_size != bs) {
    std::string other = "it belongs to volume " + header->volume_uuid +
                        " with blocks of " +
                        std::to_string(header->block_size) + " bytes";
    USBD_RETURN_IF_ERROR(refuse_if_dirty(other));
    LogWarning("cache: " + path + ": " + other +
               ": starting with an empty cache for volume " + volume_.uuid);
    return Reinitialize(slots);
  }
  return LoadRecords(header->slot_count);
}

Status CacheStore::Reinitialize(uint32_t slot_count) {
  std::string id = RandomId();
  const uint32_t bs = geometry_.block_size;
  // Index first: a crash before the file's header is rewritten leaves a
  // pair that does not match and an index without records, which the next
  // start reinitialises again.
  USBD_RETURN_IF_ERROR(
      index_->WriteMeta({id, volume_.uuid, bs, slot_count}, /*clear=*/true));
  USBD_RETURN_IF_ERROR(slots_->Format({bs, slot_count, id, volume_.uuid}));
  table_ = std::make_unique<CacheTable>(slot_count, options_.num_protected);
  return Status::Ok();
}

Status CacheStore::LoadRecords(uint32_t old_slots) {
  const int64_t started = NowMs();
  const uint32_t slots = options_.block_cache_size;
  const uint32_t bs = geometry_.block_size;
  const std::string& path = options_.block_cache_file;
  std::vector<IndexRecord> records;
  uint64_t damaged = 0;
  USBD_RETURN_IF_ERROR(index_->ForEach(
      [&](const IndexRecord& r) { records.push_back(r); }, &damaged));
  if (damaged > 0) {
    LogWarning("cache: " + path + ".lmdb: " + std::to_string(damaged) +
               " undecodable records ignored");
  }

  std::vector<uint64_t> deletes;
  auto drop = [&](const IndexRecord& r, const std::string& why) {
    LogWarning("cache: block " + std::to_string(r.block) + " (" +
               (r.kind == RecordKind::kClean ? "clean" : "dirty") +
               "): " + why + ": dropped");
    deletes.push_back(r.block);
    dropped_.fetch_add(1, std::memory_order_relaxed);
  };
  // Records that name one slot twice: keep the dirty, else the newest.
  std::vector<uint32_t> owner(std::max(slots, old_slots), UINT32_MAX);
  std::vector<bool> keep(records.size(), true);
  for (size_t i = 0; i < records.size(); ++i) {
    const IndexRecord& r = records[i];
    if (r.block >= geometry_.block_count) {
      drop(r, "beyond the end of the volume");
      keep[i] = false;
      continue;
    }
    if (r.kind == RecordKind::kZero) continue;
    if (r.slot >= old_slots) {
      drop(r, "slot " + std::to_string(r.slot) + " is outside the cache file");
      keep[i] = false;
      continue;
    }
    uint32_t& o = owner[r.slot];
    if (o != UINT32_MAX) {
      const IndexRecord& other = records[o];
      bool mine =
          (r.kind == RecordKind::kDirty) != (other.kind == RecordKind::kDirty)
              ? r.kind == RecordKind::kDirty
              : r.gen > other.gen;
      size_t loser = mine ? o : i;
      drop(records[loser],
           "shares slot " + std::to_string(r.slot) + " with another block");
      keep[loser] = false;
      if (!mine) continue;
    }
    o = static_cast<uint32_t>(i);
  }
  // Dirty data is the only copy of flushed writes: verify before queuing.
  std::vector<uint8_t> buf(bs);
  uint64_t verified = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const IndexRecord& r = records[i];
    if (!keep[i] || r.kind != RecordKind::kDirty) continue;
    Status status = slots_->Read(r.slot, 0, buf);
    if (!status.ok() || Crc32c(buf) != r.crc) {
      LogError("cache: block " + std::to_string(r.block) +
               ": dirty data in slot " + std::to_string(r.slot) +
               " fails its checksum (" +
               (status.ok() ? "damaged on the cache disk" : status.ToString()) +
               "): dropped");
      deletes.push_back(r.block);
      dropped_.fetch_add(1, std::memory_order_relaxed);
      keep[i] = false;
    }
    ++verified;
  }

  table_ = std::make_unique<CacheTable>(slots, options_.num_protected);
  auto& committed = table_->committed();
  const int64_t now = NowMs();
  uint64_t clean = 0, dirty = 0, shrunk = 0;
  std::vector<size_t> relocate;
  for (size_t i = 0; i < records.size(); ++i) {
    const IndexRecord& r = records[i];
    if (!keep[i]) continue;
    if (r.kind != RecordKind::kZero && r.slot >= slots) {
      if (r.kind == RecordKind::kClean) {
        deletes.push_back(r.block);
        ++shrunk;
      } else {
        relocate.push_back(i);
      }
      continue;
    }
    Entry* e = table_->Create(r.block);
    e->gen = r.gen;
    e->crc = r.crc;
    e->crc_valid = true;
    e->since_ms = now;
    e->zero = r.kind == RecordKind::kZero;
    if (!e->zero) {
      e->slot = r.slot;
      table_->ClaimSlot(r.slot, /*live=*/true, /*committed=*/true);
    }
    e->verified = r.kind != RecordKind::kClean;
    table_->SetState(e, r.kind == RecordKind::kClean ? EntryState::kClean
                                                     : EntryState::kDirty);
    committed[r.block] = {e->slot, r.kind, r.gen};
    seq_ = std::max(seq_, r.gen);
    ++(r.kind == RecordKind::kClean ? clean : dirty);
  }
  table_->RebuildFreeList();

  // A smaller cache than last time: move dirty blocks from the cut-off end
  // into free slots (clean ones there were simply dropped).
  std::vector<IndexRecord> moved;
  for (size_t i : relocate) {
    IndexRecord r = records[i];
    uint32_t slot = table_->TakeFreeSlot();
    if (slot == kNoSlot) {
      return Status::Invalid(
          "cache " + path + ": cannot shrink to " + std::to_string(slots) +
          " blocks while it holds more dirty blocks; start once with "
          "--blockCacheSize=" +
          std::to_string(old_slots) + " so they are uploaded");
    }
    USBD_RETURN_IF_ERROR(slots_->Read(r.slot, 0, buf));
    USBD_RETURN_IF_ERROR(slots_->Write(slot, 0, buf));
    r.slot = slot;
    moved.push_back(r);
    Entry* e = table_->Create(r.block);
    e->gen = r.gen;
    e->crc = r.crc;
    e->crc_valid = true;
    e->since_ms = now;
    e->slot = slot;
    table_->SetState(e, EntryState::kDirty);
    table_->SetCommitted(slot, true);
    committed[r.block] = {slot, r.kind, r.gen};
    seq_ = std::max(seq_, r.gen);
    ++dirty;
  }
  if (!moved.empty()) USBD_RETURN_IF_ERROR(slots_->Sync());
  if (!moved.empty() || !deletes.empty()) {
    USBD_RETURN_IF_ERROR(index_->Apply(moved, deletes));
  }
  if (slots != old_slots) {
    Result<std::optional<IndexMeta>> meta = index_->ReadMeta();
    USBD_RETURN_IF_ERROR(meta.status());
    IndexMeta resized = **meta;
    resized.slot_count = slots;
    USBD_RETURN_IF_ERROR(index_->WriteMeta(resized, /*clear=*/false));
    USBD_RETURN_IF_ERROR(
        slots_->Format({bs, slots, resized.cache_id, volume_.uuid}));
    LogInfo("cache: " + path + " resized from " + std::to_string(old_slots) +
            " to " + std::to_string(slots) + " blocks" +
            (shrunk ? " (" + std::to_string(shrunk) + " clean blocks dropped)"
                    : std::string()));
  }
  LogInfo("cache: " + path + ": " + std::to_string(slots) + " blocks of " +
          std::to_string(bs >> 10) + " KiB; " + std::to_string(clean) +
          " clean blocks reused, " + std::to_string(dirty) +
          " dirty blocks queued for upload (" + std::to_string(verified) +
          " verified), " + std::to_string(deletes.size() - shrunk) +
          " dropped, in " + std::to_string(NowMs() - started) + " ms");
  if (dirty > 0 && inner_caps_.read_only) {
    LogWarning("cache: the volume is read-only: " + std::to_string(dirty) +
               " dirty blocks stay in the cache until a read-write start");
  }
  return Status::Ok();
}

}  // namespace usbd::cache_internal
