// kOptions below is the only place an option is defined; the command line
// (CLI11), the options file (inih) and --help are all generated from it, so
// they cannot disagree. Every value, wherever it came from, goes through
// the same ParseValue() for its kind, so "--size=12x" and "size = 12x" fail
// the same way; only the context in the message differs.
#include "config/option_table.h"

#include <strings.h>

#include <cctype>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <optional>
#include <utility>

#include "codec/block_codec.h"
#include "config/option_checks.h"
#include "util/strings.h"

namespace usbd::options_internal {
namespace {

// Defaults are not here: they are the initialisers in struct Options (and
// DefaultListenAddress()), which --help reads back. Laid out by hand.
// clang-format off
const OptionSpec kOptions[] = {
    {.group = "Store", .name = "test", .kind = Kind::kFlag,
     .help = "BUCKET is a local directory holding one file per block "
             "(one usbd cannot write needs --readOnly)",
     .field = &Options::test},
    {.group = "Store", .name = "memory", .kind = Kind::kFlag,
     .help = "keep blocks in memory only; everything is lost at exit",
     .field = &Options::memory},
    {.group = "Store", .name = "httpStore", .kind = Kind::kFlag,
     .help = "store blocks on a plain HTTP server (PUT, GET, DELETE, e.g. "
             "nginx with WebDAV) at BASEURL/BUCKET/PREFIX+block, not S3",
     .field = &Options::http_store},
    {.group = "Store", .name = "baseURL", .kind = Kind::kString,
     .value_name = "URL",
     .help = "S3 endpoint, http:// or https://; with --httpStore the "
             "server's URL (required then)",
     .field = &Options::base_url, .stores = kRemote, .check = &CheckBaseUrl},
    {.group = "Store", .name = "prefix", .kind = Kind::kString,
     .value_name = "STR", .help = "prepend STR to every block object name",
     .field = &Options::prefix},
    {.group = "Store", .name = "blockHashPrefix", .kind = Kind::kFlag,
     .help = "put a hash before each block's object name, to spread keys "
             "over the bucket's partitions",
     .field = &Options::block_hash_prefix, .stores = kRemote},

    {.group = "S3", .name = "region", .kind = Kind::kString,
     .value_name = "REGION",
     .help = "region to sign for; without --baseURL, another region than "
             "us-east-1 selects https://s3.REGION.amazonaws.com/",
     .field = &Options::region, .stores = kS3, .check = &CheckRegion},
    {.group = "S3", .name = "vhost", .kind = Kind::kFlag,
     .help = "address the bucket as BUCKET.host (virtual host style), not "
             "as host/BUCKET",
     .field = &Options::vhost, .stores = kS3},
    {.group = "S3", .name = "ssl", .kind = Kind::kFlag,
     .help = "use https://s3.amazonaws.com/ (already the default; an http:// "
             "--baseURL conflicts)",
     .field = &Options::ssl, .stores = kS3},
    {.group = "S3", .name = "storageClass", .kind = Kind::kString,
     .value_name = "CLASS",
     .help = "storage class of new objects, e.g. STANDARD_IA",
     .field = &Options::storage_class, .stores = kS3,
     .check = &CheckStorageClass},
    {.group = "S3", .name = "sse", .kind = Kind::kString,
     .value_name = "ALG",
     .help = "server-side encryption of new objects: AES256 or aws:kms",
     .field = &Options::sse, .stores = kS3, .check = &CheckSse},
    {.group = "S3", .name = "sse-key-id", .kind = Kind::kString,
     .value_name = "ID",
     .help = "the KMS key of --sse=aws:kms, as s3backer's --sse-key-id; "
             "empty: the bucket's default key",
     .field = &Options::sse_key_id, .stores = kS3},
    {.group = "S3", .name = "accessType", .kind = Kind::kString,
     .value_name = "ACL",
     .help = "canned ACL of new objects (private, public-read, "
             "bucket-owner-full-control...); empty: send none",
     .field = &Options::access_type, .stores = kS3,
     .check = &CheckAccessType},
    {.group = "S3", .name = "authVersion", .kind = Kind::kString,
     .value_name = "VER",
     .help = "request signing: only aws4 (Signature Version 4)",
     .field = &Options::auth_version, .stores = kS3,
     .check = &CheckAuthVersion},
    {.group = "S3", .name = "listBlocks", .kind = Kind::kFlag,
     .help = "list the volume's objects at start, so reads of absent "
             "blocks need no request and block status is exact",
     .field = &Options::list_blocks, .stores = kS3},
    {.group = "S3", .name = "listBlocksThreads", .kind = Kind::kUint,
     .value_name = "N", .help = "parallel listings for --listBlocks, 1 to 64",
     .field = &Options::list_blocks_threads, .stores = kS3,
     .min = 1, .max = 64},

    {.group = "Credentials (S3)", .name = "accessFile", .kind = Kind::kString,
     .value_name = "FILE",
     .help = "read the key from FILE, lines accessId:accessKey; without it, "
             "~/.s3backer_passwd if it exists",
     .field = &Options::access_file, .stores = kS3, .default_text = ""},
    {.group = "Credentials (S3)", .name = "accessId", .kind = Kind::kString,
     .value_name = "ID",
     .help = "access key id; selects the line of --accessFile",
     .field = &Options::access_id, .stores = kS3},
    {.group = "Credentials (S3)", .name = "accessKey", .kind = Kind::kString,
     .value_name = "KEY",
     .help = "secret access key (shown by ps until usbd has read it: prefer "
             "--accessKeyEnv or --accessFile)",
     .field = &Options::access_key, .secret = true, .stores = kS3},
    {.group = "Credentials (S3)", .name = "accessKeyEnv",
     .kind = Kind::kString, .value_name = "VAR",
     .help = "read the secret access key from environment variable VAR",
     .field = &Options::access_key_env, .stores = kS3,
     .check = &CheckEnvName},

    {.group = "HTTP (--httpStore)", .name = "httpHeader",
     .kind = Kind::kString, .value_name = "HDR",
     .help = "send the header 'Name: value' with every request, e.g. "
             "'Authorization: Bearer TOKEN'",
     .field = &Options::http_header, .secret = true, .stores = kHttp,
     .check_secret = &CheckHttpHeader},
    {.group = "HTTP (--httpStore)", .name = "httpHeaderFile",
     .kind = Kind::kString, .value_name = "FILE",
     .help = "read that header from FILE, which keeps it out of ps",
     .field = &Options::http_header_file, .stores = kHttp},

    {.group = "Network (S3 and HTTP)", .name = "cacert",
     .kind = Kind::kString, .value_name = "FILE",
     .help = "verify TLS servers with the CA certificates in FILE (PEM) "
             "instead of the system's",
     .field = &Options::ca_file, .stores = kRemote, .check = &CheckCaFile},
    {.group = "Network (S3 and HTTP)", .name = "insecure", .kind = Kind::kFlag,
     .help = "do not verify TLS certificates or host names",
     .field = &Options::insecure, .stores = kRemote},
    {.group = "Network (S3 and HTTP)", .name = "http11", .kind = Kind::kFlag,
     .help = "speak HTTP/1.1 only (no HTTP/2, which libcurl otherwise "
             "negotiates over TLS), as s3backer's --http11",
     .field = &Options::http11, .stores = kRemote},
    {.group = "Network (S3 and HTTP)", .name = "timeout", .kind = Kind::kUint,
     .value_name = "SECS",
     .help = "time limit of each HTTP attempt, in seconds, 1 to 3600",
     .field = &Options::timeout_seconds, .stores = kRemote,
     .min = 1, .max = 3600},
    {.group = "Network (S3 and HTTP)", .name = "maxUploadSpeed",
     .kind = Kind::kSpeed, .value_name = "BITS",
     .help = "bandwidth cap of each upload, in bits per second (10m: 10 "
             "Mibit/s); 0: no cap",
     .field = &Options::max_upload_bytes_per_sec, .stores = kRemote,
     .default_text = ""},
    {.group = "Network (S3 and HTTP)", .name = "maxDownloadSpeed",
     .kind = Kind::kSpeed, .value_name = "BITS",
     .help = "bandwidth cap of each download, in bits per second; 0: no cap",
     .field = &Options::max_download_bytes_per_sec, .stores = kRemote,
     .default_text = ""},

    {.group = "Retry (S3 and HTTP)", .name = "initialRetryPause",
     .kind = Kind::kUint, .value_name = "MS",
     .help = "longest first pause before retrying a failed request, in "
             "milliseconds; each further pause may double",
     .field = &Options::initial_retry_pause_ms, .stores = kRemote,
     .min = 1, .max = 3600000},
    {.group = "Retry (S3 and HTTP)", .name = "maxRetryPause",
     .kind = Kind::kUint, .value_name = "MS",
     .help = "time budget of one request and its retries, in milliseconds "
             "(attempts included); then it fails with EIO; 0: no retries",
     .field = &Options::max_retry_pause_ms, .stores = kRemote,
     .min = 0, .max = 86400000},

    {.group = "Volume", .name = "size", .kind = Kind::kSize,
     .value_name = "SIZE",
     .help = "volume size, a multiple of --blockSize; required with --memory "
             "and to create a volume (S3, HTTP, --test), which records it "
             "for later runs",
     .field = &Options::size, .default_text = ""},
    {.group = "Volume", .name = "blockSize", .kind = Kind::kBlockSize,
     .value_name = "SIZE",
     .help = "block (object) size, a power of two from 512 to 32M",
     .field = &Options::block_size},
    {.group = "Volume", .name = "readOnly", .kind = Kind::kFlag,
     .help = "serve the volume read-only", .field = &Options::read_only},
    {.group = "Volume", .name = "force", .kind = Kind::kFlag,
     .help = "override safety checks: a --size, --blockSize or --compress "
             "unlike the volume's, a mount token held elsewhere, --erase's "
             "question",
     .field = &Options::force, .in_file = false},

    {.group = "Compression and encryption", .name = "compress",
     .kind = Kind::kLevel, .value_name = "LEVEL",
     .help = "compress each block with zstd at LEVEL, 1 (fast, the level of "
             "a bare --compress) to 19 (small)",
     .field = &Options::compress, .default_text = "",
     .min = kMinCompressLevel, .max = kMaxCompressLevel,
     .implicit = kDefaultCompressLevel, .algorithm = "zstd",
     .algorithm_note = "usbd compresses with zstd (and with deflate the "
                       "volumes it adopted from s3backer): use --compress, "
                       "--compress=zstd or --compress=LEVEL",
     .s3backer_names = "deflate", .s3backer_field = &Options::s3backer_compress},
    {.group = "Compression and encryption", .name = "encrypt",
     .kind = Kind::kFlag,
     .help = "encrypt each block with AES-256-GCM under a key derived from "
             "the password; needs one of the three options below",
     .field = &Options::encrypt, .algorithm = "aes-256-gcm",
     .algorithm_note = "usbd encrypts with AES-256-GCM (and with s3backer's "
                       "AES-128-CBC, AES-192-CBC or AES-256-CBC the volumes "
                       "it adopted from s3backer): use --encrypt or "
                       "--encrypt=aes-256-gcm",
     .s3backer_names = "AES-128-CBC|AES-192-CBC|AES-256-CBC",
     .s3backer_field = &Options::s3backer_cipher},
    {.group = "Compression and encryption", .name = "keyLength",
     .kind = Kind::kUint, .value_name = "BYTES",
     .help = "s3backer's --keyLength, for a volume adopted from s3backer: "
             "the length of its encryption key (0: the cipher's)",
     .field = &Options::key_length, .min = 0, .max = 64},
    {.group = "Compression and encryption", .name = "passwordFile",
     .kind = Kind::kString, .value_name = "FILE",
     .help = "read the password from the first line of FILE",
     .field = &Options::password_file},
    {.group = "Compression and encryption", .name = "passwordEnv",
     .kind = Kind::kString, .value_name = "VAR",
     .help = "read the password from environment variable VAR",
     .field = &Options::password_env, .check = &CheckEnvName},
    {.group = "Compression and encryption", .name = "password",
     .kind = Kind::kString, .value_name = "PW",
     .help = "the password itself (shown by ps until usbd has read it: "
             "prefer --passwordFile or --passwordEnv)",
     .field = &Options::password, .secret = true},

    {.group = "Actions (then exit)", .name = "erase", .kind = Kind::kFlag,
     .help = "delete every object of the volume BUCKET[/PREFIX]; asks for "
             "confirmation unless --force",
     .field = &Options::erase, .in_file = false, .stores = kAllStores},
    {.group = "Actions (then exit)", .name = "reset-mounted-flag",
     .kind = Kind::kFlag,
     .help = "clear the mount token a usbd that did not stop cleanly left on "
             "BUCKET[/PREFIX] (a restart on the same machine with the same "
             "cache file takes its own over by itself)",
     .field = &Options::reset_mounted_flag, .in_file = false},

    {.group = "Server", .name = "listen", .kind = Kind::kString,
     .value_name = "ADDR", .help = "listen on unix:PATH or tcp:HOST:PORT",
     .field = &Options::listen, .check = &CheckListen},
    {.group = "Server", .name = "foreground", .short_name = "f",
     .kind = Kind::kFlag, .help = "stay in the foreground, logging to stderr",
     .field = &Options::foreground},
    {.group = "Server", .name = "nbdThreads", .kind = Kind::kUint,
     .value_name = "N", .help = "request workers per connection, 1 to 256",
     .field = &Options::nbd_threads, .min = 1, .max = 256},
    {.group = "Server", .name = "print-uri", .kind = Kind::kFlag,
     .help = "once serving, print the export's NBD URI on stdout",
     .field = &Options::print_uri},
    {.group = "Server", .name = "run", .kind = Kind::kString,
     .value_name = "CMD",
     .help = "serve while the shell command CMD runs, with $uri set, then "
             "stop and exit with its status (implies --foreground)",
     .field = &Options::run},
    {.group = "Server", .name = "pidfile", .kind = Kind::kString,
     .value_name = "FILE",
     .help = "once serving, write usbd's PID to FILE; removed at exit",
     .field = &Options::pid_file},
    {.group = "Server", .name = "exit-with-parent", .kind = Kind::kFlag,
     .help = "stop as on SIGTERM when the process that started usbd exits "
             "(implies --foreground)",
     .field = &Options::exit_with_parent},

    {.group = "Kernel device (--nbd)", .name = "nbd", .kind = Kind::kFlag,
     .help = "attach the kernel's NBD driver to TARGET (/dev/nbdX; without "
             "TARGET, a free one, printed) instead of listening",
     .field = &Options::nbd},
    {.group = "Kernel device (--nbd)", .name = "nbdConnections",
     .kind = Kind::kUint, .value_name = "N",
     .help = "sockets between the kernel and usbd, 1 to 16; 0: the number "
             "of CPUs, at most 4",
     .field = &Options::nbd_connections, .min = 0, .max = 16},
    {.group = "Kernel device (--nbd)", .name = "nbdBlockSize",
     .kind = Kind::kSize, .value_name = "SIZE",
     .help = "the device's sector size, a power of two from 512 to 4096; "
             "0: 4096, or --blockSize if smaller (512 for a volume adopted "
             "from s3backer)",
     .field = &Options::nbd_block_size, .check = CheckSectorSize},
    {.group = "Kernel device (--nbd)", .name = "nbdTimeout",
     .kind = Kind::kUint, .value_name = "SECS",
     .help = "seconds before the kernel gives up on a request; 0: never",
     .field = &Options::nbd_timeout, .min = 0, .max = 86400},
    {.group = "Kernel device (--nbd)", .name = "nbdDeadConnTimeout",
     .kind = Kind::kUint, .value_name = "SECS",
     .help = "seconds requests wait for a restarted usbd to reattach",
     .field = &Options::nbd_dead_conn_timeout, .min = 0, .max = 86400},
    {.group = "Kernel device (--nbd)", .name = "nbdIoctl", .kind = Kind::kFlag,
     .help = "configure the device with ioctls instead of netlink",
     .field = &Options::nbd_ioctl},

    {.group = "Block cache", .name = "blockCacheSize", .kind = Kind::kUint,
     .value_name = "N",
     .help = "blocks kept in the write-back cache; 0: no cache unless "
             "--blockCacheFile is given (then 1000)",
     .field = &Options::block_cache_size, .min = 0, .max = 1u << 30},
    {.group = "Block cache", .name = "blockCacheFile", .kind = Kind::kString,
     .value_name = "FILE",
     .help = "persistent cache file (and FILE.lmdb beside it): writes "
             "survive crashes and are uploaded at the next start",
     .field = &Options::block_cache_file},
    {.group = "Block cache", .name = "blockCacheWriteDelay",
     .kind = Kind::kUint, .value_name = "MS",
     .help = "milliseconds a block stays dirty before its upload starts",
     .field = &Options::block_cache_write_delay_ms, .min = 0,
     .max = 3600000},
    {.group = "Block cache", .name = "blockCacheThreads", .kind = Kind::kUint,
     .value_name = "N", .help = "upload and read-ahead workers, 1 to 256",
     .field = &Options::block_cache_threads, .min = 1, .max = 256},
    {.group = "Block cache", .name = "blockCacheMaxDirty", .kind = Kind::kUint,
     .value_name = "N",
     .help = "writers wait while this many blocks are dirty; 0: the cache "
             "size",
     .field = &Options::block_cache_max_dirty, .min = 0, .max = 1u << 30},
    {.group = "Block cache", .name = "blockCacheSync", .kind = Kind::kFlag,
     .help = "write-through, as s3backer's: every write returns only once "
             "uploaded",
     .field = &Options::block_cache_sync},
    {.group = "Block cache", .name = "blockCacheDiscardDirty",
     .kind = Kind::kFlag,
     .help = "start even if that drops flushed blocks not uploaded yet (the "
             "index FILE.lmdb is lost) or whose cached data is damaged; "
             "logs how many",
     .field = &Options::block_cache_discard_dirty},
    {.group = "Block cache", .name = "blockCacheNumProtected",
     .kind = Kind::kUint, .value_name = "N",
     .help = "the first N blocks (file system metadata) are evicted last",
     .field = &Options::block_cache_num_protected, .min = 0,
     .max = uint64_t{1} << 40},
    {.group = "Block cache", .name = "blockCacheTimeout", .kind = Kind::kUint,
     .value_name = "MS",
     .help = "milliseconds a clean cached block stays valid; 0: forever",
     .field = &Options::block_cache_timeout_ms, .min = 0, .max = 1u << 31},
    {.group = "Block cache", .name = "readAhead", .kind = Kind::kUint,
     .value_name = "N",
     .help = "at most N blocks read ahead, in parallel, once reads are "
             "sequential; the window grows with the sequential run; 0: off",
     .field = &Options::read_ahead, .min = 0, .max = 1024},
    {.group = "Block cache", .name = "readAheadTrigger", .kind = Kind::kUint,
     .value_name = "N",
     .help = "sequential blocks read before read-ahead starts",
     .field = &Options::read_ahead_trigger, .min = 1, .max = 1024},

    {.group = "Logging", .name = "debug", .kind = Kind::kFlag,
     .help = "also log debugging messages", .field = &Options::debug},
    {.group = "Logging", .name = "debug-http", .kind = Kind::kFlag,
     .help = "log one line per HTTP request, also without --debug (never "
             "a secret)",
     .field = &Options::debug_http, .stores = kRemote},
    {.group = "Logging", .name = "quiet", .kind = Kind::kFlag,
     .help = "log errors only", .field = &Options::quiet},

    {.group = "Statistics", .name = "statsFilename", .kind = Kind::kString,
     .value_name = "FILE",
     .help = "keep every layer's counters in FILE, one 'NAME VALUE' line "
             "each, rewritten whole every --statsInterval and on SIGUSR1",
     .field = &Options::stats_file},
    {.group = "Statistics", .name = "metricsFile", .kind = Kind::kString,
     .value_name = "FILE",
     .help = "the same in Prometheus' text format, for node_exporter's "
             "textfile collector (name it *.prom)",
     .field = &Options::metrics_file},
    {.group = "Statistics", .name = "statsInterval", .kind = Kind::kUint,
     .value_name = "SECS",
     .help = "seconds between rewrites of those files, 1 to 86400",
     .field = &Options::stats_interval_secs, .min = 1, .max = 86400},

    {.group = "General", .name = "configFile", .short_name = "F",
     .kind = Kind::kString, .value_name = "FILE",
     .help = "read options from FILE: usbd's INI format (keys are the long "
             "option names) or s3backer's (one argument per line, in place "
             "of this flag)",
     .field = &Options::config_file, .in_file = false},
    {.group = "General", .name = "help", .short_name = "h",
     .kind = Kind::kHelp, .help = "print this help and exit",
     .in_file = false},
    {.group = "General", .name = "version", .kind = Kind::kVersion,
     .help = "print the version and exit", .in_file = false},
};
// clang-format on

// For an option with an algorithm name: nullopt when `text` is no name
// (a number or a boolean, parsed as usual), else "on" or the refusal.
std::optional<Status> MatchAlgorithm(const OptionSpec& spec,
                                     const std::string& text) {
  if (spec.algorithm == nullptr || text.empty() ||
      !std::isalpha(static_cast<unsigned char>(text[0])) ||
      ParseBool(text).ok()) {
    return std::nullopt;
  }
  if (strcasecmp(text.c_str(), spec.algorithm) == 0) return Status::Ok();
  const std::string level = spec.kind == Kind::kLevel
                                ? "a level (" + std::to_string(spec.min) +
                                      " to " + std::to_string(spec.max) + "), "
                                : "";
  return Status::Invalid(Quote(text) + " is not " + level + "a boolean or '" +
                         spec.algorithm + "': " + spec.algorithm_note);
}

// Converts `text` for `spec`; the message names the value, not the option.
Result<Value> ParseValue(const OptionSpec& spec, const std::string& text) {
  if (std::optional<Status> named = MatchAlgorithm(spec, text)) {
    if (!named->ok()) return *named;
    if (spec.kind == Kind::kFlag) return Value(true);
    return Value(spec.implicit);
  }
  switch (spec.kind) {
    case Kind::kFlag: {
      Result<bool> b = ParseBool(text);
      if (!b.ok()) return b.status();
      return Value(*b);
    }
    case Kind::kString:
      if (spec.check != nullptr) USBD_RETURN_IF_ERROR(spec.check(text));
      return Value(text);
    case Kind::kSize: {
      Result<uint64_t> size = ParseSize(text);
      if (!size.ok()) return size.status();
      if (*size == 0 && spec.check == nullptr) {
        return Status::Invalid(Quote(text) + " must be greater than zero");
      }
      if (spec.check != nullptr) USBD_RETURN_IF_ERROR(spec.check(text));
      if (*size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Status::Invalid(Quote(text) + " is too large (limit 8E - 1)");
      }
      return Value(*size);
    }
    case Kind::kBlockSize: {
      Result<uint64_t> size = ParseSize(text);
      if (!size.ok()) return size.status();
      if (*size < kMinBlockSize || *size > kMaxBlockSize) {
        return Status::Invalid(Quote(text) + " is out of range (" +
                               FormatSize(kMinBlockSize) + " to " +
                               FormatSize(kMaxBlockSize) + ")");
      }
      if ((*size & (*size - 1)) != 0) {
        return Status::Invalid(Quote(text) + " is not a power of two");
      }
      return Value(*size);
    }
    case Kind::kSpeed: {  // bits per second in, bytes per second out
      Result<uint64_t> bits = ParseSize(text);
      if (!bits.ok()) return bits.status();
      return Value(*bits / 8 + (*bits % 8 != 0 ? 1 : 0));
    }
    case Kind::kUint: {
      bool too_large;
      std::optional<uint64_t> n = ParseDecimal(text, &too_large);
      if (!n && !too_large) {
        return Status::Invalid(Quote(text) + " is not a whole number");
      }
      if (!n || *n < spec.min || *n > spec.max) {
        return Status::Invalid(Quote(text) + " is out of range (" +
                               std::to_string(spec.min) + " to " +
                               std::to_string(spec.max) + ")");
      }
      return Value(*n);
    }
    case Kind::kLevel: {
      bool too_large;
      std::optional<uint64_t> n = ParseDecimal(text, &too_large);
      if (n || too_large) {
        if (n && *n == 0) return Value(uint64_t{0});
        if (!n || *n < spec.min || *n > spec.max) {
          return Status::Invalid(Quote(text) + " is out of range (" +
                                 std::to_string(spec.min) + " to " +
                                 std::to_string(spec.max) + ")");
        }
        return Value(*n);
      }
      Result<bool> b = ParseBool(text);
      if (!b.ok()) {
        return Status::Invalid(Quote(text) + " is not a level (" +
                               std::to_string(spec.min) + " to " +
                               std::to_string(spec.max) +
                               ") or a boolean (true or false)");
      }
      return Value(*b ? spec.implicit : uint64_t{0});
    }
    default:  // --help, --version: handled by CLI11, never in the file
      break;
  }
  return Status::Invalid(std::string(spec.name) + " takes no value");
}

void Store(const Field& field, const Value& value, Options* options) {
  std::visit(
      [&](auto member) {
        if constexpr (!std::is_same_v<decltype(member), std::monostate>) {
          using T = std::remove_reference_t<decltype(options->*member)>;
          if constexpr (std::is_same_v<T, bool>) {
            options->*member = std::get<bool>(value);
          } else if constexpr (std::is_same_v<T, std::string>) {
            options->*member = std::get<std::string>(value);
          } else if constexpr (std::is_same_v<T, SecretString>) {
            // Secret options go through ApplySecret, never through a Value.
          } else {
            // ParseValue() has checked the range for this option.
            options->*member = static_cast<T>(std::get<uint64_t>(value));
          }
        }
      },
      field);
}

}  // namespace

std::span<const OptionSpec> AllOptions() { return kOptions; }

const OptionSpec* FindOption(const std::string& name) {
  for (const OptionSpec& spec : kOptions) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

std::string Quote(const std::string& text) { return "'" + text + "'"; }

Status ApplySecret(const OptionSpec& spec, std::string_view text,
                   const std::string& context, Options* options) {
  if (spec.check_secret != nullptr) {
    USBD_RETURN_IF_ERROR(spec.check_secret(text).WithContext(context));
  }
  auto* field = std::get_if<SecretString Options::*>(&spec.field);
  if (field == nullptr) return Status::Invalid(context + ": not a secret");
  options->** field = SecretString(text);
  return Status::Ok();
}

// s3backer's name for the value of `spec` that `text` spells (any case),
// or "".
std::string MatchS3backerName(const OptionSpec& spec, const std::string& text) {
  if (spec.s3backer_names == nullptr) return "";
  std::string_view names = spec.s3backer_names;
  while (!names.empty()) {
    const size_t bar = std::min(names.find('|'), names.size());
    const std::string name(names.substr(0, bar));
    if (strcasecmp(name.c_str(), text.c_str()) == 0) return name;
    names.remove_prefix(std::min(bar + 1, names.size()));
  }
  return "";
}

Status Apply(const OptionSpec& spec, const std::string& text,
             const std::string& context, Options* options) {
  if (spec.secret) return ApplySecret(spec, text, context, options);
  if (const std::string name = MatchS3backerName(spec, text); !name.empty()) {
    options->*spec.s3backer_field = name;
    Store(spec.field,
          spec.kind == Kind::kFlag ? Value(true) : Value(spec.implicit),
          options);
    return Status::Ok();
  }
  Result<Value> value = ParseValue(spec, text);
  if (!value.ok()) return value.status().WithContext(context);
  Store(spec.field, *value, options);
  if (std::strcmp(spec.name, "blockSize") == 0) {
    options->block_size_given = true;
  }
  return Status::Ok();
}

unsigned StoreBit(const Options& options) {
  switch (options.store()) {
    case StoreKind::kS3:
      return kS3;
    case StoreKind::kHttp:
      return kHttp;
    case StoreKind::kDirectory:
      return kDirectory;
    case StoreKind::kMemory:
      return kMemory;
  }
  return kS3;
}

std::string StoresText(unsigned stores) {
  if (stores == kS3) return "the S3 store";
  if (stores == kHttp) return "the HTTP store (--httpStore)";
  if (stores == kRemote) return "the S3 and HTTP stores";
  std::string text;
  for (auto [bit, name] : {std::pair{kS3, "S3"},
                           {kHttp, "HTTP"},
                           {kDirectory, "--test"},
                           {kMemory, "--memory"}}) {
    if ((stores & bit) == 0) continue;
    text += (text.empty() ? "" : ", ") + std::string(name);
  }
  return "these stores: " + text;
}

}  // namespace usbd::options_internal
