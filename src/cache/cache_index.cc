#include "cache/cache_index.h"

#include <lmdb.h>

#include <cstring>
#include <string_view>

#include "util/coding.h"

namespace usbd {
namespace {

constexpr char kFormat[] = "1";
constexpr size_t kValueSize = 20;

Status LmdbStatus(const std::string& what, int rc) {
  // LMDB returns errno values for system errors and its own negative codes
  // otherwise; a full map is ENOSPC to the writer.
  int code = rc > 0 ? rc : (rc == MDB_MAP_FULL ? ENOSPC : EIO);
  return Status::Error(code, what + ": " + mdb_strerror(rc));
}

void EncodeKey(uint64_t block, uint8_t out[8]) { PutBe64(out, block); }

uint64_t DecodeKey(const uint8_t in[8]) { return GetBe64(in); }

void EncodeValue(const IndexRecord& r, uint8_t out[kValueSize]) {
  std::memset(out, 0, kValueSize);
  PutLe32(out, r.slot);
  out[4] = static_cast<uint8_t>(r.kind);
  PutLe32(out + 8, r.crc);
  PutLe64(out + 12, r.gen);
}

bool DecodeValue(const MDB_val& v, IndexRecord* r) {
  if (v.mv_size != kValueSize) return false;
  const uint8_t* p = static_cast<const uint8_t*>(v.mv_data);
  r->slot = GetLe32(p);
  if (p[4] < 1 || p[4] > 4) return false;
  r->kind = static_cast<RecordKind>(p[4]);
  r->crc = GetLe32(p + 8);
  r->gen = GetLe64(p + 12);
  return true;
}

MDB_val Val(std::string_view s) {
  return {s.size(), const_cast<char*>(s.data())};
}

// A transaction that aborts unless committed.
class Txn {
 public:
  ~Txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  int Begin(MDB_env* env, unsigned flags) {
    return mdb_txn_begin(env, nullptr, flags, &txn_);
  }
  int Commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    return rc;
  }
  MDB_txn* get() { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

class LmdbIndex : public CacheIndex {
 public:
  LmdbIndex(std::string path, MDB_env* env)
      : path_(std::move(path)), env_(env) {}
  ~LmdbIndex() override { mdb_env_close(env_); }

  Status OpenDatabases() {
    Txn txn;
    int rc = txn.Begin(env_, 0);
    if (rc == 0) rc = mdb_dbi_open(txn.get(), "meta", MDB_CREATE, &meta_);
    if (rc == 0) rc = mdb_dbi_open(txn.get(), "blocks", MDB_CREATE, &blocks_);
    if (rc == 0) rc = txn.Commit();
    if (rc != 0) return LmdbStatus("cache index " + path_, rc);
    return Status::Ok();
  }

  Result<std::optional<IndexMeta>> ReadMeta() override {
    Txn txn;
    int rc = txn.Begin(env_, MDB_RDONLY);
    if (rc != 0) return LmdbStatus("cache index " + path_, rc);
    auto get = [&](std::string_view key, std::string* out) {
      MDB_val k = Val(key), v;
      int r = mdb_get(txn.get(), meta_, &k, &v);
      if (r == 0) out->assign(static_cast<const char*>(v.mv_data), v.mv_size);
      return r;
    };
    std::string format, block_size, slots;
    IndexMeta meta;
    rc = get("format", &format);
    if (rc == MDB_NOTFOUND) return std::optional<IndexMeta>();
    if (rc == 0) rc = get("cache_id", &meta.cache_id);
    if (rc == 0) rc = get("volume_uuid", &meta.volume_uuid);
    if (rc == 0) rc = get("block_size", &block_size);
    if (rc == 0) rc = get("slot_count", &slots);
    if (rc != 0) return LmdbStatus("cache index " + path_ + " meta", rc);
    if (format != kFormat) {
      return Status::Invalid("cache index " + path_ + " has format " + format +
                             ", this usbd supports " + kFormat);
    }
    meta.block_size = static_cast<uint32_t>(std::stoul(block_size));
    meta.slot_count = static_cast<uint32_t>(std::stoul(slots));
    std::string through;
    rc = get("log_through", &through);
    if (rc == 0 && through.size() == 8) {
      meta.log_through =
          GetLe64(reinterpret_cast<const uint8_t*>(through.data()));
    } else if (rc != 0 && rc != MDB_NOTFOUND) {
      return LmdbStatus("cache index " + path_ + " meta", rc);
    }
    return std::optional<IndexMeta>(meta);
  }

  Status WriteMeta(const IndexMeta& meta, bool clear) override {
    Txn txn;
    int rc = txn.Begin(env_, 0);
    if (rc == 0 && clear) rc = mdb_drop(txn.get(), blocks_, 0);
    auto put = [&](std::string_view key, const std::string& value) {
      MDB_val k = Val(key), v = Val(value);
      return mdb_put(txn.get(), meta_, &k, &v, 0);
    };
    if (rc == 0) rc = put("format", kFormat);
    if (rc == 0) rc = put("cache_id", meta.cache_id);
    if (rc == 0) rc = put("volume_uuid", meta.volume_uuid);
    if (rc == 0) rc = put("block_size", std::to_string(meta.block_size));
    if (rc == 0) rc = put("slot_count", std::to_string(meta.slot_count));
    if (rc == 0) rc = txn.Commit();
    if (rc != 0) return LmdbStatus("cache index " + path_ + " meta", rc);
    return Status::Ok();
  }

  Status ForEach(const std::function<void(const IndexRecord&)>& fn,
                 uint64_t* damaged) override {
    *damaged = 0;
    Txn txn;
    int rc = txn.Begin(env_, MDB_RDONLY);
    MDB_cursor* cursor = nullptr;
    if (rc == 0) rc = mdb_cursor_open(txn.get(), blocks_, &cursor);
    if (rc != 0) return LmdbStatus("cache index " + path_, rc);
    MDB_val k, v;
    for (rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      IndexRecord record;
      if (k.mv_size != 8 || !DecodeValue(v, &record)) {
        ++*damaged;
        continue;
      }
      record.block = DecodeKey(static_cast<const uint8_t*>(k.mv_data));
      fn(record);
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND) return LmdbStatus("cache index " + path_, rc);
    return Status::Ok();
  }

  Status Apply(std::span<const IndexRecord> puts,
               std::span<const uint64_t> deletes,
               std::optional<uint64_t> log_through) override {
    int rc = ApplyOnce(puts, deletes, log_through);
    if (rc == MDB_MAP_FULL) {
      // Grow the map and try again; nothing else uses the environment
      // during a commit.
      MDB_envinfo info;
      mdb_env_info(env_, &info);
      rc = mdb_env_set_mapsize(env_, info.me_mapsize * 2);
      if (rc == 0) rc = ApplyOnce(puts, deletes, log_through);
    }
    if (rc != 0) return LmdbStatus("cache index " + path_ + " commit", rc);
    return Status::Ok();
  }

 private:
  int ApplyOnce(std::span<const IndexRecord> puts,
                std::span<const uint64_t> deletes,
                std::optional<uint64_t> log_through) {
    Txn txn;
    int rc = txn.Begin(env_, 0);
    uint8_t key[8], value[kValueSize];
    if (rc == 0 && log_through) {
      uint8_t through[8];
      PutLe64(through, *log_through);
      MDB_val k = Val("log_through"), v{8, through};
      rc = mdb_put(txn.get(), meta_, &k, &v, 0);
    }
    for (uint64_t block : deletes) {
      if (rc != 0) break;
      EncodeKey(block, key);
      MDB_val k{8, key};
      rc = mdb_del(txn.get(), blocks_, &k, nullptr);
      if (rc == MDB_NOTFOUND) rc = 0;
    }
    for (const IndexRecord& r : puts) {
      if (rc != 0) break;
      EncodeKey(r.block, key);
      EncodeValue(r, value);
      MDB_val k{8, key}, v{kValueSize, value};
      rc = mdb_put(txn.get(), blocks_, &k, &v, 0);
    }
    if (rc == 0) rc = txn.Commit();
    return rc;
  }

  const std::string path_;
  MDB_env* const env_;
  MDB_dbi meta_ = 0, blocks_ = 0;
};

}  // namespace

Result<std::unique_ptr<CacheIndex>> CacheIndex::Open(const std::string& path,
                                                     uint64_t max_records) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return LmdbStatus("cache index " + path, rc);
  // About 100 bytes per record once B-tree overhead is counted; the map is
  // address space only, so be generous.
  uint64_t map_size = (64ull << 20) + max_records * 256;
  rc = mdb_env_set_mapsize(env, map_size);
  if (rc == 0) rc = mdb_env_set_maxdbs(env, 2);
  // MDB_NOLOCK: the cache file's flock already excludes other processes,
  // and a lock file would be one more thing left behind by kill -9.
  if (rc == 0) {
    rc = mdb_env_open(env, path.c_str(), MDB_NOSUBDIR | MDB_NOLOCK, 0600);
  }
  if (rc != 0) {
    mdb_env_close(env);
    return LmdbStatus("cannot open cache index " + path, rc);
  }
  auto index = std::make_unique<LmdbIndex>(path, env);
  USBD_RETURN_IF_ERROR(index->OpenDatabases());
  std::unique_ptr<CacheIndex> result = std::move(index);
  return result;
}

}  // namespace usbd
