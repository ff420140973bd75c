#include "config/s3backer_options.h"

#include "util/log.h"

namespace usbd::options_internal {
namespace {

using enum S3backerAnswer;

constexpr const char* kFuse =
    "an option of s3backer's FUSE file; usbd serves a block device over NBD "
    "and has no file to name";
constexpr const char* kNbdkit =
    "an option for s3backer's nbdkit; usbd is its own NBD server (see "
    "--listen and --nbd)";
constexpr const char* kTestMode =
    "an s3backer test mode; usbd tests with --memory and --test";
constexpr const char* kMd5 =
    "usbd checks every object it reads back by its own checksum and orders "
    "the writes of a block itself, so there is no MD5 cache to size";

const S3backerOption kOptions[] = {
    {"accessEC2IAM", true, kRefused,
     "EC2 instance-role credentials are not supported yet: give keys with "
     "--accessFile, --accessId/--accessKeyEnv or AWS_ACCESS_KEY_ID"},
    {"accessEC2IAM-IMDSv2", false, kRefused,
     "EC2 instance-role credentials are not supported yet"},
    {"blockCacheFileAdvise", false, kIgnored,
     "usbd's cache file is read and written by usbd only, never by the "
     "kernel's page cache of a FUSE file, so nothing is cached twice"},
    {"blockCacheNoVerify", false, kIgnored,
     "usbd's cache index says what each slot holds (checksummed), so cached "
     "blocks are not verified against the store at start"},
    {"blockCacheRecoverDirtyBlocks", false, kIgnored,
     "usbd always uploads the dirty blocks its cache file holds after a "
     "crash; there is no mode that drops them"},
    {"compress-level", true, kRefused,
     "use --compress=LEVEL (usbd compresses with zstd, levels 1 to 19)"},
    {"defaultContentEncoding", true, kIgnored,
     "a workaround for stores that drop Content-Encoding; usbd's own blocks "
     "say in their header how they are encoded, and s3backer's blocks are "
     "read by their Content-Encoding"},
    {"directIO", false, kRefused, kFuse},
    {"fileMode", true, kRefused, kFuse},
    {"filename", true, kRefused, kFuse},
    {"ipTOS", true, kRefused, "not supported yet"},
    {"md5CacheSize", true, kIgnored, kMd5},
    {"md5CacheTime", true, kIgnored, kMd5},
    {"minWriteDelay", true, kIgnored,
     "the write-back cache sends one write of a block at a time, so S3 "
     "cannot receive two of them out of order"},
    {"nbd-flag", true, kRefused, kNbdkit},
    {"nbd-param", true, kRefused, kNbdkit},
    {"no-vhost", false, kIgnored,
     "path-style requests are usbd's default (--vhost turns them off)"},
    {"noAutoDetect", false, kRefused,
     "usbd always reads the size and block size recorded in the volume's "
     "metadata; give them with --size and --blockSize (a mismatch is "
     "refused unless --force)"},
    {"noCurlCache", false, kIgnored,
     "a debugging aid of s3backer; usbd keeps its connections either way"},
    {"sharedDiskMode", false, kRefused,
     "usbd does not serve one volume from several hosts at once (its cache "
     "and mount token assume one writer)"},
    {"statsFileMirror", true, kRefused,
     "use --statsFilename=FILE: usbd keeps its counters in FILE itself"},
    {"statsFileMirrorInterval", true, kRefused,
     "use --statsInterval=SECS (with --statsFilename=FILE)"},
    {"test-delays", false, kRefused, kTestMode},
    {"test-discard", false, kRefused, kTestMode},
    {"test-errors", false, kRefused, kTestMode},
};

}  // namespace

std::span<const S3backerOption> S3backerOptions() { return kOptions; }

const S3backerOption* FindS3backerOption(std::string_view name) {
  for (const S3backerOption& option : kOptions) {
    if (name == option.name) return &option;
  }
  return nullptr;
}

Status AnswerS3backerOption(const S3backerOption& option,
                            const std::string& context) {
  if (option.answer == kRefused) {
    return Status::Invalid(
        context + ": s3backer's option is not supported: " + option.reason);
  }
  LogInfo(context +
          ": s3backer's option, accepted and ignored: " + option.reason);
  return Status::Ok();
}

}  // namespace usbd::options_internal
