// Start-up of the block cache: open the cache file and its index, check
// that they belong together and to this volume, and rebuild the in-memory
// table from the committed records (see cache_store.cc for what a record
// promises). Every record that does not hold up is dropped with one log
// line; dirty records are verified by checksum before they are queued.
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "cache/cache_impl.h"
#include "cache/crc32c.h"
#include "util/fd.h"
#include "util/hex.h"
#include "util/log.h"

namespace usbd::cache_internal {
namespace {

std::string RandomId() { return RandomHex(16); }

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
  boot_id_ = options_.boot_id.empty() ? CurrentBootId() : options_.boot_id;
  if (boot_id_.empty()) {
    LogWarning(
        "cache: cannot read the boot id: no write log; a crash of "
        "usbd may lose writes it acknowledged since the last FLUSH");
  } else {
    Result<std::unique_ptr<WriteLog>> log = WriteLog::Open(path + ".wlog");
    USBD_RETURN_IF_ERROR(log.status());
    log_ = std::move(log).value();
  }
  std::string why;
  std::optional<SlotFileHeader> header = slots_->ReadHeader(&why);
  // Without a usable index, only the cache file's unsent mark tells what
  // dropping the cache would lose (unknown: no header, or no mark in it).
  const std::optional<uint64_t> file_unsent =
      header ? header->unsent : std::nullopt;

  const std::string index_path = path + ".lmdb";
  Result<std::optional<IndexMeta>> meta = OpenIndex(index_path);
  if (!meta.ok()) {
    USBD_RETURN_IF_ERROR(RefuseToDropUnsent(
        file_unsent, "its index " + index_path + " cannot be read (" +
                         meta.status().ToString() + ")"));
    LogWarning("cache: " + index_path + " cannot be read (" +
               meta.status().ToString() + "): replacing it");
    index_.reset();
    if (::unlink(index_path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus("cannot remove " + index_path);
    }
    meta = OpenIndex(index_path);
    USBD_RETURN_IF_ERROR(meta.status());
    return Reinitialize(slots);
  }
  auto index_unsent = [&]() -> Result<std::optional<uint64_t>> {
    uint64_t damaged = 0, unsent = 0;
    USBD_RETURN_IF_ERROR(index_->ForEach(
        [&](const IndexRecord& r) { unsent += r.kind != RecordKind::kClean; },
        &damaged));
    return std::optional<uint64_t>(unsent);
  };

  const bool paired = header && *meta && header->cache_id == (*meta)->cache_id;
  if (!paired) {
    if (*meta) {
      Result<std::optional<uint64_t>> unsent = index_unsent();
      USBD_RETURN_IF_ERROR(unsent.status());
      USBD_RETURN_IF_ERROR(RefuseToDropUnsent(
          *unsent, header ? "the cache file does not belong to its index"
                          : "the cache file is unusable (" + why +
                                ") but its index " + index_path + " is not"));
    } else if (header) {
      USBD_RETURN_IF_ERROR(RefuseToDropUnsent(
          file_unsent, "its index " + index_path + " is missing or empty"));
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
    Result<std::optional<uint64_t>> unsent = index_unsent();
    USBD_RETURN_IF_ERROR(unsent.status());
    USBD_RETURN_IF_ERROR(RefuseToDropUnsent(*unsent, other));
    LogWarning("cache: " + path + ": " + other +
               ": starting with an empty cache for volume " + volume_.uuid);
    return Reinitialize(slots);
  }
  IndexMeta found = **meta;
  found.slot_count = header->slot_count;
  return LoadRecords(found, file_unsent);
}

// Opens the index and reads its identity; an error means it is unreadable.
Result<std::optional<IndexMeta>> CacheStore::OpenIndex(
    const std::string& index_path) {
  Result<std::unique_ptr<CacheIndex>> index =
      CacheIndex::Open(index_path, 3ull * options_.block_cache_size + 1024);
  USBD_RETURN_IF_ERROR(index.status());
  index_ = std::move(index).value();
  return index_->ReadMeta();
}

// Dropping the cache would lose `unsent` blocks not uploaded yet (flushed
// writes and trims; nullopt: an unknown number). Refused unless there are
// none or the operator said --blockCacheDiscardDirty; then one log line
// says how many were dropped.
Status CacheStore::RefuseToDropUnsent(std::optional<uint64_t> unsent,
                                      const std::string& problem) {
  if (unsent && *unsent == 0) return Status::Ok();
  const std::string& path = options_.block_cache_file;
  const std::string count =
      unsent ? std::to_string(*unsent) : std::string("an unknown number of");
  if (!options_.discard_dirty) {
    return Status::Invalid(
        "cache " + path + ": " + problem + ", and the cache holds " + count +
        " dirty blocks not uploaded yet (flushed writes and trims); refusing "
        "to "
        "start without them: start with the index and the volume the cache "
        "belongs to, or once with --blockCacheDiscardDirty to drop them "
        "(those blocks then read as the store's older versions)");
  }
  LogError("cache: " + path + ": " + problem +
           ": --blockCacheDiscardDirty: dropped " + count +
           " dirty blocks not uploaded yet; they read as the store's older "
           "versions");
  if (unsent) dropped_.fetch_add(*unsent, std::memory_order_relaxed);
  return Status::Ok();
}

Status CacheStore::Reinitialize(uint32_t slot_count) {
  std::string id = RandomId();
  const uint32_t bs = geometry_.block_size;
  // Index first: a crash before the file's header is rewritten leaves a
  // pair that does not match and an index without records, which the next
  // start reinitialises again.
  USBD_RETURN_IF_ERROR(
      index_->WriteMeta({id, volume_.uuid, bs, slot_count}, /*clear=*/true));
  USBD_RETURN_IF_ERROR(
      slots_->Format({bs, slot_count, id, volume_.uuid, /*unsent=*/0}));
  table_ = std::make_unique<CacheTable>(slot_count, options_.num_protected);
  lost_.clear();
  unsent_records_ = unsent_mark_ = 0;
  if (log_) {
    // The index is new: it covers no record, and the log starts empty.
    USBD_RETURN_IF_ERROR(index_->Apply({}, {}, uint64_t{0}));
    USBD_RETURN_IF_ERROR(ResetLog(id, 0));
  }
  return Status::Ok();
}

Status CacheStore::ResetLog(const std::string& cache_id, uint64_t seq) {
  // Each write that moves a block, and each eviction of a block written,
  // adds a record; a full commit (a FLUSH, or the cache's own at half) moves
  // to the other half.
  // Eight records per slot put one commit in about four cache sizes of
  // writes without a FLUSH; at most 2M (160 MiB of file).
  const uint32_t capacity = static_cast<uint32_t>(
      std::min<uint64_t>(8ull * options_.block_cache_size, 2u << 20) + 8192);
  USBD_RETURN_IF_ERROR(log_->Reset(cache_id, boot_id_, capacity));
  log_through_ = log_seq_ = seq;
  log_epoch_ = 1;
  log_durable_epoch_ = 0;
  return Status::Ok();
}

Result<uint64_t> CacheStore::ReplayLog(const IndexMeta& meta,
                                       std::vector<IndexRecord>* records,
                                       std::vector<IndexRecord>* puts,
                                       std::vector<uint64_t>* deletes) {
  std::vector<WriteLogRecord> log =
      log_->Recover(meta.cache_id, boot_id_, meta.log_through);
  if (log.empty()) return uint64_t{0};
  std::unordered_map<uint64_t, WriteLogRecord> last;  // in order: last wins
  for (const WriteLogRecord& r : log) last[r.block] = r;
  std::vector<uint8_t> buf(geometry_.block_size);
  std::vector<IndexRecord> kept;
  for (const IndexRecord& r : *records) {
    if (!last.contains(r.block)) kept.push_back(r);
  }
  uint64_t changed = 0;
  for (const auto& [block, r] : last) {
    if (r.kind == RecordKind::kClean) {
      // It left the cache: the store holds its newest data.
      deletes->push_back(block);
      continue;
    }
    IndexRecord record{block, kNoSlot, r.kind, 0, r.gen};
    if (r.kind == RecordKind::kDirty) {
      // The page cache kept what the dead process wrote: the slot is the
      // block's content, whatever checksum it has.
      if (r.slot >= meta.slot_count) continue;  // not from this file
      record.slot = r.slot;
      USBD_RETURN_IF_ERROR(slots_->Read(r.slot, 0, buf));
      record.crc = Crc32c(buf);
    }
    kept.push_back(record);
    puts->push_back(record);
    ++changed;
  }
  records->swap(kept);
  return changed;
}

Status CacheStore::LoadRecords(const IndexMeta& meta,
                               std::optional<uint64_t> file_unsent) {
  const int64_t started = NowMs();
  const uint32_t old_slots = meta.slot_count;
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

  std::vector<IndexRecord> puts;
  std::vector<uint64_t> deletes;
  // Writes acknowledged after the last FLUSH by a usbd that died.
  uint64_t replayed = 0;
  if (log_) {
    Result<uint64_t> n = ReplayLog(meta, &records, &puts, &deletes);
    USBD_RETURN_IF_ERROR(n.status());
    replayed = *n;
  }
  std::vector<bool> keep(records.size(), true);
  uint64_t discarded = 0, newly_lost = 0;
  auto drop = [&](size_t i, const std::string& why) {
    const IndexRecord& r = records[i];
    LogWarning("cache: block " + std::to_string(r.block) + " (" +
               (r.kind == RecordKind::kClean ? "clean" : "dirty") +
               "): " + why + ": dropped");
    deletes.push_back(r.block);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    keep[i] = false;
  };
  // Flushed data that does not hold up: the block must never fall back to
  // the store's older version, so it becomes LOST (read as EIO), unless
  // the operator discards such blocks.
  auto lose = [&](size_t i, const std::string& why) {
    IndexRecord& r = records[i];
    if (options_.discard_dirty) {
      drop(i, why + " (--blockCacheDiscardDirty)");
      ++discarded;
      return;
    }
    if (++newly_lost <= 16) {  // LogLost() names them all, in one line
      LogError("cache: block " + std::to_string(r.block) + ": " + why +
               ": its flushed data is lost");
    }
    r = {r.block, kNoSlot, RecordKind::kLost, 0, r.gen};
    puts.push_back(r);
  };
  // Records that name one slot twice: keep the dirty, else the newest.
  std::vector<uint32_t> owner(std::max(slots, old_slots), UINT32_MAX);
  for (size_t i = 0; i < records.size(); ++i) {
    const IndexRecord& r = records[i];
    if (r.block >= geometry_.block_count) {
      drop(i, "beyond the end of the volume");
      continue;
    }
    if (!HoldsSlot(r.kind)) continue;
    if (r.slot >= old_slots) {
      std::string why =
          "slot " + std::to_string(r.slot) + " is outside the cache file";
      r.kind == RecordKind::kDirty ? lose(i, why) : drop(i, why);
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
      std::string why =
          "shares slot " + std::to_string(r.slot) + " with another block";
      records[loser].kind == RecordKind::kDirty ? lose(loser, why)
                                                : drop(loser, why);
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
      lose(i,
           "dirty data in slot " + std::to_string(r.slot) +
               " fails its checksum (" +
               (status.ok() ? "damaged on the cache disk" : status.ToString()) +
               ")");
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
    seq_ = std::max(seq_, r.gen);
    if (r.kind == RecordKind::kLost) {
      if (options_.discard_dirty) {
        deletes.push_back(r.block);
        dropped_.fetch_add(1, std::memory_order_relaxed);
        ++discarded;
        continue;
      }
      lost_.insert(r.block);
      committed[r.block] = {kNoSlot, r.kind, r.gen};
      continue;
    }
    if (HoldsSlot(r.kind) && r.slot >= slots) {
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
    ++(r.kind == RecordKind::kClean ? clean : dirty);
  }
  table_->RebuildFreeList();

  // A smaller cache than last time: move dirty blocks from the cut-off end
  // into free slots (clean ones there were simply dropped).
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
    puts.push_back(r);
    Entry* e = table_->Create(r.block);
    e->gen = r.gen;
    e->crc = r.crc;
    e->crc_valid = true;
    e->since_ms = now;
    e->slot = slot;
    table_->SetState(e, EntryState::kDirty);
    table_->SetCommitted(slot, true);
    committed[r.block] = {slot, r.kind, r.gen};
    ++dirty;
  }
  // The file's unsent mark, from here on kept by the commits; raised
  // before the index names more unsent blocks (replayed writes).
  unsent_records_ = 0;
  for (const auto& [block, c] : committed) {
    unsent_records_ += c.kind != RecordKind::kClean;
  }
  unsent_mark_ = unsent_records_;
  const bool raise = !file_unsent || *file_unsent < unsent_mark_;
  if (raise) USBD_RETURN_IF_ERROR(slots_->WriteUnsentMark(unsent_mark_));
  // Slots before the records that name them (replayed, relocated).
  if (!relocate.empty() || replayed > 0 || raise) {
    USBD_RETURN_IF_ERROR(slots_->Sync());
  }
  std::optional<uint64_t> log_through;
  if (log_) log_through = std::max(meta.log_through, log_->MaxSeq());
  if (!puts.empty() || !deletes.empty() || log_through) {
    USBD_RETURN_IF_ERROR(index_->Apply(puts, deletes, log_through));
  }
  if (log_) USBD_RETURN_IF_ERROR(ResetLog(meta.cache_id, *log_through));
  if (slots != old_slots) {
    Result<std::optional<IndexMeta>> meta = index_->ReadMeta();
    USBD_RETURN_IF_ERROR(meta.status());
    IndexMeta resized = **meta;
    resized.slot_count = slots;
    USBD_RETURN_IF_ERROR(index_->WriteMeta(resized, /*clear=*/false));
    USBD_RETURN_IF_ERROR(slots_->Format(
        {bs, slots, resized.cache_id, volume_.uuid, unsent_mark_}));
    LogInfo("cache: " + path + " resized from " + std::to_string(old_slots) +
            " to " + std::to_string(slots) + " blocks" +
            (shrunk ? " (" + std::to_string(shrunk) + " clean blocks dropped)"
                    : std::string()));
  } else if (!raise && file_unsent != unsent_mark_) {
    USBD_RETURN_IF_ERROR(slots_->WriteUnsentMark(unsent_mark_));
    USBD_RETURN_IF_ERROR(slots_->Sync());
  }
  LogInfo("cache: " + path + ": " + std::to_string(slots) + " blocks of " +
          std::to_string(bs >> 10) + " KiB; " + std::to_string(clean) +
          " clean blocks reused, " + std::to_string(dirty) +
          " dirty blocks queued for upload (" + std::to_string(verified) +
          " verified" +
          (replayed ? ", " + std::to_string(replayed) +
                          " written after the last FLUSH by a usbd that "
                          "died, from the write log"
                    : std::string()) +
          "), " + std::to_string(deletes.size() - shrunk) + " dropped, " +
          std::to_string(lost_.size()) + " lost, in " +
          std::to_string(NowMs() - started) + " ms");
  if (discarded > 0) {
    LogError("cache: " + path + ": --blockCacheDiscardDirty: dropped " +
             std::to_string(discarded) +
             " blocks whose flushed data was lost; they read as the store's "
             "older versions");
  }
  if (!lost_.empty()) LogLost();
  if (dirty > 0 && inner_caps_.read_only) {
    LogWarning("cache: the volume is read-only: " + std::to_string(dirty) +
               " dirty blocks stay in the cache until a read-write start");
  }
  return Status::Ok();
}

// One line naming the lost blocks (the first few of them).
void CacheStore::LogLost() const {
  constexpr size_t kNamed = 16;
  std::vector<uint64_t> blocks(lost_.begin(), lost_.end());
  std::sort(blocks.begin(), blocks.end());
  std::string named;
  for (size_t i = 0; i < blocks.size() && i < kNamed; ++i) {
    named += (i ? ", " : "") + std::to_string(blocks[i]);
  }
  if (blocks.size() > kNamed) {
    named += " and " + std::to_string(blocks.size() - kNamed) + " more";
  }
  LogWarning("cache: " + options_.block_cache_file + ": " +
             std::to_string(blocks.size()) +
             " blocks lost their newest flushed data (blocks " + named +
             "); they read as EIO until written whole or trimmed, or until "
             "a start with --blockCacheDiscardDirty");
}

}  // namespace usbd::cache_internal
