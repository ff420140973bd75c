#include "volume/erase.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <istream>
#include <mutex>
#include <ostream>
#include <thread>
#include <vector>

#include "object/object_block_store.h"
#include "util/log.h"
#include "volume/metadata.h"
#include "volume/mount_token.h"
#include "volume/volume_text.h"

namespace usbd {
namespace {

// Keys waiting for a deleter; bounds memory whatever the volume's size.
constexpr size_t kQueueLimit = 1024;

bool IsBlockKey(const std::string& prefix, const std::string& key) {
  uint64_t block;
  for (BlockNaming naming : kAllBlockNamings) {
    if (ParseBlockObjectKey(prefix, naming, key, &block)) return true;
  }
  return false;
}

std::string Holder(const std::vector<uint8_t>& token, const std::string& key) {
  auto parsed = ParseMountToken(token, key);
  if (parsed.ok()) return parsed->Describe();
  return "an unknown usbd (unreadable mount token '" + key + "')";
}

}  // namespace

Status DeleteObjectsInParallel(ObjectStore& store, const KeySource& source,
                               unsigned threads, const RetryOptions& retry,
                               std::optional<uint64_t> known_total,
                               const EraseProgressCallback& progress,
                               uint64_t* deleted_out) {
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::string> queue;  // guarded by mu, as are the next four
  bool source_done = false;
  Status failure;
  uint64_t deleted = 0;
  uint64_t found = 0;
  // Serialises the callback and keeps its counts from going backwards.
  std::mutex progress_mu;

  auto snapshot = [&] {
    std::lock_guard lock(mu);
    return EraseProgress{deleted, known_total.value_or(found),
                         known_total.has_value() || source_done};
  };
  auto report = [&] {
    if (!progress) return;
    std::lock_guard lock(progress_mu);
    progress(snapshot());
  };

  auto work = [&] {
    while (true) {
      std::string key;
      {
        std::unique_lock lock(mu);
        changed.wait(lock, [&] {
          return !queue.empty() || source_done || !failure.ok();
        });
        if (!failure.ok() || queue.empty()) return;
        key = std::move(queue.front());
        queue.pop_front();
      }
      changed.notify_all();  // room in the queue
      Status status =
          DeleteWithRetry(store, key, retry, "deleting '" + key + "'");
      {
        std::lock_guard lock(mu);
        if (!status.ok()) {
          if (failure.ok()) failure = status;
        } else {
          ++deleted;
        }
      }
      if (!status.ok()) {
        changed.notify_all();
        return;
      }
      report();
    }
  };

  std::vector<std::thread> pool;
  for (unsigned i = 0; i < std::max(threads, 1u); ++i) pool.emplace_back(work);

  Status listed = source([&](std::string key) {
    std::unique_lock lock(mu);
    changed.wait(lock,
                 [&] { return queue.size() < kQueueLimit || !failure.ok(); });
    if (!failure.ok()) return false;
    queue.push_back(std::move(key));
    ++found;
    lock.unlock();
    changed.notify_all();
    return true;
  });
  {
    std::lock_guard lock(mu);
    source_done = listed.ok();
    if (!listed.ok() && failure.ok()) failure = listed;
    if (!failure.ok()) source_done = true;  // wakes and stops the workers
  }
  changed.notify_all();
  for (auto& thread : pool) thread.join();
  report();
  std::lock_guard lock(mu);
  if (deleted_out != nullptr) *deleted_out = deleted;
  return failure;
}

Result<EraseSummary> EraseVolume(ObjectStore& store, const std::string& prefix,
                                 const EraseOptions& options) {
  const std::string name = VolumeDisplayName(store, prefix, options.name);
  const std::string metadata_key = VolumeMetadataKey(prefix);
  const std::string token_key = MountTokenKey(prefix);
  const std::string flag_key = S3backerFlagKey(prefix);
  const RetryOptions& retry = options.retry;

  auto token = GetWithRetry(store, token_key, retry,
                            "reading mount token '" + token_key + "'");
  if (!token.ok()) return token.status();
  if (token->has_value() && !options.force) {
    return Status::Error(
        EBUSY, "volume " + name + " is mounted by " +
                   Holder(**token, token_key) +
                   "; stop that usbd first, or if it is gone, run usbd "
                   "--reset-mounted-flag " +
                   name + " (or add --force)");
  }
  // A flag a usbd wrote goes with its token (above); s3backer's is its own.
  auto flag = ReadS3backerFlagInfo(store, prefix, retry);
  if (!flag.ok()) return flag.status();
  if (flag->has_value() && !(*flag)->by_usbd && !options.force) {
    return Status::Error(EBUSY, "volume " + name + " is mounted by " +
                                    (*flag)->holder + " (its flag '" +
                                    flag_key +
                                    "'); stop it first, or if it is gone, run "
                                    "usbd --reset-mounted-flag " +
                                    name + " (or add --force)");
  }
  auto metadata =
      GetWithRetry(store, metadata_key, retry,
                   "reading volume metadata '" + metadata_key + "'");
  if (!metadata.ok()) return metadata.status();

  // Without listing, the recorded geometry says which blocks to delete.
  std::optional<VolumeMetadata> recorded;
  if (!store.CanList()) {
    const std::string why = "cannot erase volume " + name + ": " +
                            store.Describe() + " cannot list objects and ";
    if (!metadata->has_value()) {
      return Status::Error(ENOTSUP, why + "there is no metadata object '" +
                                        metadata_key +
                                        "' giving the volume's size");
    }
    auto parsed = ParseVolumeMetadata(**metadata, metadata_key);
    if (!parsed.ok()) {
      return Status::Error(ENOTSUP, why + parsed.status().message());
    }
    recorded = *parsed;
  }

  // Metadata and token are counted on top of what the engine reports.
  EraseSummary summary;
  const uint64_t extra_found =
      (metadata->has_value() ? 1 : 0) + (token->has_value() ? 1 : 0);
  uint64_t extra_deleted = 0;
  auto report = [&](EraseProgress p) {
    if (!options.progress) return;
    p.deleted += extra_deleted;
    p.found += extra_found;
    options.progress(p);
  };

  KeySource source;
  std::optional<uint64_t> known_total;
  if (recorded) {
    known_total = recorded->geometry().block_count;
    source = [&](const std::function<bool(std::string)>& emit) {
      for (uint64_t b = 0; b < *known_total; ++b) {
        if (!emit(BlockObjectKey(prefix, recorded->naming, b))) {
          break;
        }
      }
      return Status::Ok();
    };
  } else {
    source = [&](const std::function<bool(std::string)>& emit) {
      std::string last;  // a retried listing skips what it already saw
      return RetryWithBackoff(retry, "listing volume " + name, [&] {
        return store.List(prefix, [&](const ObjectInfo& info) {
          if (!last.empty() && info.key <= last) return true;
          last = info.key;
          if (info.key == metadata_key || info.key == token_key ||
              info.key == flag_key) {
            return true;
          }
          if (!IsBlockKey(prefix, info.key)) {
            ++summary.foreign;
            return true;
          }
          return emit(info.key);
        });
      });
    };
  }

  if (metadata->has_value()) {  // first: see erase.h
    USBD_RETURN_IF_ERROR(
        DeleteWithRetry(store, metadata_key, retry,
                        "deleting volume metadata '" + metadata_key + "'"));
    extra_deleted = 1;
    report({0, known_total.value_or(0), known_total.has_value()});
  }

  uint64_t blocks_deleted = 0;
  Status status = DeleteObjectsInParallel(store, source, options.threads, retry,
                                          known_total, report, &blocks_deleted);
  summary.deleted = extra_deleted + blocks_deleted;
  if (!status.ok()) {
    return status.WithContext("erasing volume " + name + " (" +
                              std::to_string(summary.deleted) +
                              " objects deleted)");
  }

  // Last, the token: only the one seen at the start. A token that appeared
  // meanwhile belongs to a usbd that mounted the volume during the erase.
  auto now = GetWithRetry(store, token_key, retry,
                          "reading mount token '" + token_key + "'");
  if (!now.ok()) return now.status();
  if (now->has_value()) {
    if (!token->has_value() || **now != **token) {
      return Status::Error(EBUSY, "volume " + name + " was mounted by " +
                                      Holder(**now, token_key) +
                                      " while it was being erased");
    }
    USBD_RETURN_IF_ERROR(DeleteWithRetry(
        store, token_key, retry, "deleting mount token '" + token_key + "'"));
    ++summary.deleted;
  }
  auto flag_now = ReadS3backerFlagInfo(store, prefix, retry);
  if (!flag_now.ok()) return flag_now.status();
  if (flag_now->has_value()) {
    USBD_RETURN_IF_ERROR(
        DeleteWithRetry(store, flag_key, retry,
                        "deleting s3backer's mounted flag '" + flag_key + "'"));
    ++summary.deleted;
  }
  if (options.progress) {
    options.progress({summary.deleted, summary.deleted, true});
  }

  std::string line = "erased volume " + name + ": " +
                     std::to_string(summary.deleted) + " objects deleted";
  if (summary.foreign > 0) {
    line += "; left " + std::to_string(summary.foreign) + " objects under '" +
            prefix + "' that are not this volume's";
  }
  LogInfo(line);
  return summary;
}

bool ConfirmOnTerminal(const std::string& question, std::istream& in,
                       std::ostream& out) {
  out << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(in, answer)) {
    out << "\n";
    return false;
  }
  const char* blanks = " \t\r";
  size_t first = answer.find_first_not_of(blanks);
  if (first == std::string::npos) return false;
  answer = answer.substr(first, answer.find_last_not_of(blanks) - first + 1);
  std::transform(answer.begin(), answer.end(), answer.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return answer == "y" || answer == "yes";
}

EraseProgressCallback TerminalEraseProgress(std::ostream& out) {
  using Clock = std::chrono::steady_clock;
  return [&out, last = Clock::time_point(),
          finished = false](const EraseProgress& p) mutable {
    if (finished) return;
    const bool done = p.listing_done && p.deleted >= p.found;
    Clock::time_point now = Clock::now();
    if (!done && now - last < std::chrono::milliseconds(100)) return;
    last = now;
    out << "\rerased " << p.deleted << " of "
        << (p.listing_done ? "" : "at least ") << p.found << " objects";
    if (done) {
      out << "\n";
      finished = true;
    }
    out << std::flush;
  };
}

}  // namespace usbd
