// usbd's options: one table defines every option once, for the command line
// (CLI11) and for the options file (`--configFile`, INI read with inih, keys
// are the long option names). Command-line values override the file.
//
// The values of the secret options (--accessKey, --httpHeader, --password)
// are SecretStrings (crypto/secure_memory.h): they never reach CLI11, inih
// or a std::string, so no copy is left in ordinary memory.
//
// Names and meanings follow s3backer's. The table is in option_table.cc;
// the options file reader in ini_file.cc; the secrets (S3 credentials, the
// HTTP header) are read after parsing by credentials.h.
#ifndef USBD_CONFIG_OPTIONS_H_
#define USBD_CONFIG_OPTIONS_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "crypto/secure_memory.h"
#include "util/status.h"

namespace usbd {

// Where the blocks live. S3 unless --test, --memory or --httpStore.
enum class StoreKind {
  kS3,         // default: an S3 bucket (S3StoreOptions)
  kHttp,       // --httpStore: plain HTTP PUT/GET/DELETE (HttpStoreOptions)
  kDirectory,  // --test: a local directory, one file per block
  kMemory,     // --memory: volatile, in this process
};

struct Options {
  // Positional: BUCKET[/PREFIX] and the optional TARGET (/dev/nbdX).
  std::string bucket;  // with --test: the store directory
  std::string target;
  // BUCKET[/PREFIX] exactly as given: the NBD export name. (`bucket` and
  // `prefix` are what it means: "b/vol1" is bucket "b", prefix "vol1/".)
  std::string export_name;

  std::string config_file;  // --configFile

  // --- Store ---------------------------------------------------------------
  bool test = false;        // --test: BUCKET is a local directory
  bool memory = false;      // --memory: volatile in-memory store
  bool http_store = false;  // --httpStore: plain HTTP server, no signing
  // --baseURL, http:// or https://. After parsing it always ends in '/'.
  // S3: the endpoint (S3StoreOptions::base_url); when not given and
  // --region is not us-east-1 it becomes https://s3.REGION.amazonaws.com/.
  // HTTP: required; objects are at base_url + bucket + "/" + prefix +
  // block name, i.e. HttpStoreOptions::base_url = base_url + bucket + "/".
  std::string base_url = "https://s3.amazonaws.com/";
  std::string prefix;              // --prefix (also BUCKET/PREFIX)
  bool block_hash_prefix = false;  // --blockHashPrefix

  // --- S3 ------------------------------------------------------------------
  std::string region = "us-east-1";     // --region
  bool vhost = false;                   // --vhost: virtual-host addressing
  bool ssl = false;                     // --ssl: already folded into base_url
  std::string storage_class;            // --storageClass ("": none)
  std::string sse;                      // --sse: "", AES256, aws:kms...
  std::string sse_key_id;               // --sse-key-id (with aws:kms)
  std::string access_type = "private";  // --accessType, canned ACL ("": none)
  std::string auth_version = "aws4";    // --authVersion: only aws4
  bool list_blocks = false;             // --listBlocks
  uint32_t list_blocks_threads = 4;     // --listBlocksThreads

  // --- Credentials (S3): use ResolveCredentials() (credentials.h) --------
  std::string access_file;     // --accessFile ("": ~/.s3backer_passwd)
  std::string access_id;       // --accessId
  SecretString access_key;     // --accessKey (secret; scrubbed from argv)
  std::string access_key_env;  // --accessKeyEnv: name of a variable

  // --- HTTP (--httpStore): use ResolveHttpHeader() (credentials.h) -------
  SecretString http_header;      // --httpHeader "Name: value" (may be secret)
  std::string http_header_file;  // --httpHeaderFile: the header, in a file

  // --- Network (S3 and HTTP): CurlOptions ----------------------------------
  std::string ca_file;            // --cacert ("": the system's CAs)
  bool insecure = false;          // --insecure: no TLS verification
  bool http11 = false;            // --http11: HTTP/1.1 only
  uint32_t timeout_seconds = 30;  // --timeout: per attempt, seconds
  // --maxUploadSpeed / --maxDownloadSpeed are given in BITS per second
  // (s3backer's unit); these are BYTES per second, rounded up (0: no cap),
  // ready for CurlOptions::max_{upload,download}_bytes_per_sec.
  uint64_t max_upload_bytes_per_sec = 0;
  uint64_t max_download_bytes_per_sec = 0;

  // --- Retry (S3 and HTTP): RetryOptions -----------------------------------
  uint32_t initial_retry_pause_ms = 200;  // --initialRetryPause, milliseconds
  uint32_t max_retry_pause_ms = 30000;    // --maxRetryPause: total budget, ms

  // --- Volume ----------------------------------------------------------------
  // --size in bytes; 0: not given (S3, HTTP and --test then read it from
  // the volume's metadata, which a new volume needs it for; --memory
  // requires it).
  uint64_t size = 0;
  uint32_t block_size = 256 * 1024;  // --blockSize, power of two
  bool block_size_given = false;     // --blockSize was set (argv or file)
  bool read_only = false;            // --readOnly
  bool force = false;                // --force (command line only)
  // Not an option: the block object format the volume's metadata records
  // (codec/object_format.h), set when the volume is opened.
  uint32_t object_format = 2;

  // --- Compression and encryption (stack/build_stack.h, volume/metadata.h) ---
  // --compress[=LEVEL]: the zstd level, 1..19 (bare --compress: level
  // kDefaultCompressLevel, codec/block_codec.h); 0: no compression.
  uint32_t compress = 0;
  bool encrypt = false;  // --encrypt: AES-256-GCM, key from the password
  // s3backer's value names (option_table.h s3backer_names): "deflate",
  // "AES-128-CBC", ...; "" when not given. Used on volumes adopted from
  // s3backer only (their blocks stay in s3backer's format).
  std::string s3backer_compress, s3backer_cipher;
  uint32_t key_length = 0;  // --keyLength (s3backer's ciphers); 0: theirs
  // The password, with --encrypt: use ResolvePassword() (credentials.h).
  // Exactly one is set with --encrypt, none without (ParseOptions checks).
  SecretString password;      // --password (secret; scrubbed from argv)
  std::string password_file;  // --passwordFile: its first line
  std::string password_env;   // --passwordEnv: name of a variable
  bool password_on_command_line = false;  // --password was in argv: warn
  // The other secret options given in argv ("--accessKey", "--httpHeader"):
  // warned about at start (daemon/start_checks.h).
  std::vector<std::string> secrets_on_command_line;

  // --- Actions (command line only; BUCKET, no TARGET, no --size needed) ---
  bool erase = false;               // --erase: delete every object
  bool reset_mounted_flag = false;  // --reset-mounted-flag

  // --- Server ----------------------------------------------------------------
  std::string listen;        // --listen=unix:PATH | tcp:HOST:PORT
  bool foreground = false;   // -f, --foreground
  unsigned nbd_threads = 8;  // --nbdThreads: request workers per connection
  // nbdkit's conveniences (daemon/captive.h); not with --nbd but the last
  // two. --run and --exit-with-parent imply --foreground.
  bool print_uri = false;         // --print-uri: the URI on stdout
  std::string run;                // --run: a shell command to serve for
  std::string pid_file;           // --pidfile ("": none)
  bool exit_with_parent = false;  // --exit-with-parent

  // --- Kernel device (--nbd) ---------------------------------------------
  bool nbd = false;                      // --nbd: attach TARGET (/dev/nbdX)
  unsigned nbd_connections = 0;          // --nbdConnections; 0: auto
  uint64_t nbd_block_size = 0;           // --nbdBlockSize; 0: auto
  unsigned nbd_timeout = 0;              // --nbdTimeout, seconds; 0: never
  unsigned nbd_dead_conn_timeout = 600;  // --nbdDeadConnTimeout, seconds
  bool nbd_ioctl = false;                // --nbdIoctl

  // --- Block cache (cache/cache_store.h) -----------------------------------
  // --blockCacheSize in blocks; 0: no cache (unless --blockCacheFile).
  uint32_t block_cache_size = 0;
  std::string block_cache_file;               // --blockCacheFile ("": memory)
  uint32_t block_cache_write_delay_ms = 250;  // --blockCacheWriteDelay
  uint32_t block_cache_threads = 20;          // --blockCacheThreads
  uint32_t block_cache_max_dirty = 0;         // --blockCacheMaxDirty (0: size)
  bool block_cache_sync = false;              // --blockCacheSync
  bool block_cache_discard_dirty = false;     // --blockCacheDiscardDirty
  uint64_t block_cache_num_protected = 0;     // --blockCacheNumProtected
  uint32_t block_cache_timeout_ms = 0;        // --blockCacheTimeout (0: none)
  uint32_t read_ahead = 32;                   // --readAhead, blocks (0: off)
  uint32_t read_ahead_trigger = 2;            // --readAheadTrigger, blocks

  // --- Logging ---------------------------------------------------------------
  bool debug = false;       // --debug
  bool debug_http = false;  // --debug-http: one log line per HTTP request
  bool quiet = false;       // --quiet

  // --- Statistics (daemon/stats_report.h) -----------------------------------
  std::string stats_file;             // --statsFilename ("": none)
  std::string metrics_file;           // --metricsFile ("": none)
  uint32_t stats_interval_secs = 10;  // --statsInterval

  StoreKind store() const {
    if (memory) return StoreKind::kMemory;
    if (test) return StoreKind::kDirectory;
    if (http_store) return StoreKind::kHttp;
    return StoreKind::kS3;
  }
};

// What ParseOptions decided.
enum class ParseAction {
  kRun,   // options are complete and valid: run (or do --erase etc.)
  kExit,  // --help or --version was printed: exit 0
};

// Parses argv and the options file it names. On error the Status message is
// one line naming the option (and, for the options file, FILE:LINE), e.g.
// "opts.conf:3: blockSize: '300k' is not a power of two". No message ever
// contains the value of --accessKey, --httpHeader or --password.
// --help and --version print to `out`.
Result<ParseAction> ParseOptions(int argc, const char* const* argv,
                                 std::ostream& out, Options* options);

// The same, for main()'s own argv: afterwards (success or not) it calls
// ScrubSecretArguments(argc, argv), so `ps` no longer shows the secrets.
Result<ParseAction> ParseOptions(int argc, char** argv, std::ostream& out,
                                 Options* options);

// Overwrites, in place, the values of --accessKey, --httpHeader and
// --password in argv ("--accessKey=SECRET" or "--accessKey SECRET") with
// 'x's of the same length: /proc/PID/cmdline, and so `ps`, show the x's
// from then on. (The secret is visible between exec and this call: prefer
// --accessKeyEnv, --accessFile, --httpHeaderFile, --passwordFile and
// --passwordEnv.) Stops at "--".
void ScrubSecretArguments(int argc, char** argv);

// Parses "12", "4k", "256K", "1G", "2T" (powers of 1024). Rejects "12x".
// Also accepts a trailing "b" or "ib" ("4kb", "4KiB", "512B"), and P and E.
Result<uint64_t> ParseSize(const std::string& text);
// (Its inverse, FormatSize, is in util/strings.h.)

// The default --listen address: unix socket in $XDG_RUNTIME_DIR or /tmp.
std::string DefaultListenAddress();

}  // namespace usbd

#endif  // USBD_CONFIG_OPTIONS_H_
