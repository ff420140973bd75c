// usbd's options: one table defines every option once, for the command line
// (CLI11) and for the options file (`--configFile`, INI read with inih, keys
// are the long option names). Command-line values override the file.
#ifndef USBD_CONFIG_OPTIONS_H_
#define USBD_CONFIG_OPTIONS_H_

#include <cstdint>
#include <iosfwd>
#include <string>

#include "util/status.h"

namespace usbd {

struct Options {
  // Positional: BUCKET[/PREFIX] and the optional TARGET (/dev/nbdX).
  std::string bucket;  // with --test: the store directory
  std::string target;
  // BUCKET[/PREFIX] exactly as given: the NBD export name. (`bucket` and
  // `prefix` are what it means: "b/vol1" is bucket "b", prefix "vol1/".)
  std::string export_name;

  std::string config_file;  // --configFile
  bool test = false;        // --test: BUCKET is a local directory
  bool memory = false;      // --memory: volatile in-memory store
  std::string prefix;       // --prefix (also BUCKET/PREFIX)

  uint64_t size = 0;                 // --size, bytes (0: not given)
  uint32_t block_size = 256 * 1024;  // --blockSize, power of two
  bool read_only = false;            // --readOnly

  std::string listen;        // --listen=unix:PATH | tcp:HOST:PORT
  bool foreground = false;   // -f, --foreground
  unsigned nbd_threads = 8;  // --nbdThreads: request workers per connection

  bool debug = false;  // --debug
  bool quiet = false;  // --quiet
};

// What ParseOptions decided.
enum class ParseAction {
  kRun,   // options are complete and valid: run
  kExit,  // --help or --version was printed: exit 0
};

// Parses argv and the options file it names. On error the Status message is
// one line naming the option (and, for the options file, FILE:LINE), e.g.
// "opts.conf:3: blockSize: '300k' is not a power of two".
// --help and --version print to `out`.
Result<ParseAction> ParseOptions(int argc, const char* const* argv,
                                 std::ostream& out, Options* options);

// Parses "12", "4k", "256K", "1G", "2T" (powers of 1024). Rejects "12x".
// Also accepts a trailing "b" or "ib" ("4kb", "4KiB", "512B"), and P and E.
Result<uint64_t> ParseSize(const std::string& text);

// The inverse, for messages and --help: 262144 -> "256k", 1000 -> "1000".
std::string FormatSize(uint64_t bytes);

// The default --listen address: unix socket in $XDG_RUNTIME_DIR or /tmp.
std::string DefaultListenAddress();

}  // namespace usbd

#endif  // USBD_CONFIG_OPTIONS_H_
