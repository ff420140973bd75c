// Internal to src/config: the table that defines every option, and the
// value parsing shared by the command line and the options file.
#ifndef USBD_CONFIG_OPTION_TABLE_H_
#define USBD_CONFIG_OPTION_TABLE_H_

#include <cstdint>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "config/options.h"
#include "util/status.h"

namespace usbd::options_internal {

inline constexpr uint32_t kMinBlockSize = 512;
inline constexpr uint32_t kMaxBlockSize = 32 << 20;
inline constexpr const char* kUsage = "usbd [options] BUCKET[/PREFIX] [TARGET]";

enum class Kind {
  kFlag,       // bool; the file takes true/false/yes/no/on/off/1/0
  kString,     // any text, optionally checked by OptionSpec::check
  kSize,       // ParseSize(), greater than zero
  kBlockSize,  // ParseSize(), a power of two in [kMinBlockSize, kMaxBlockSize]
  kSpeed,      // ParseSize() in bits per second, stored in bytes per second
  kUint,       // decimal in [OptionSpec::min, OptionSpec::max]
  // A flag that may take a level (--compress[=LEVEL]): bare or
  // true/yes/on: OptionSpec::implicit; false/no/off or 0: 0; otherwise a
  // decimal in [OptionSpec::min, OptionSpec::max]. Stored as a number.
  kLevel,
  kHelp,     // --help: print and exit
  kVersion,  // --version: print and exit
};

// The stores an option applies to; given on the command line with another
// store, it is an error ("--accessId only applies to the S3 store").
enum StoreMask : unsigned {
  kS3 = 1,
  kHttp = 2,
  kDirectory = 4,
  kMemory = 8,
  kRemote = kS3 | kHttp,
  kAllStores = kS3 | kHttp | kDirectory | kMemory,
};

static_assert(std::is_same_v<unsigned, uint32_t>,
              "Field below relies on unsigned being uint32_t");
using Field = std::variant<std::monostate, bool Options::*,
                           std::string Options::*, uint64_t Options::*,
                           uint32_t Options::*, SecretString Options::*>;
using Value = std::variant<bool, std::string, uint64_t>;

struct OptionSpec {
  const char* group;                 // heading in --help
  const char* name;                  // long option and options-file key
  const char* short_name = nullptr;  // one letter
  Kind kind;
  const char* value_name = nullptr;  // in --help: --size=SIZE
  const char* help;
  Field field;          // where the value goes (monostate: --help, --version)
  bool in_file = true;  // may the options file set it?
  // Never quote the value in a message; the field is a SecretString,
  // set by ApplySecret (and checked by check_secret) only.
  bool secret = false;
  unsigned stores = kAllStores;
  // --help's "(default: X)": nullptr derives X from Options{}; "" shows none.
  const char* default_text = nullptr;
  uint64_t min = 0, max = 0;                           // Kind::kUint, kLevel
  Status (*check)(const std::string&) = nullptr;       // Kind::kString
  Status (*check_secret)(std::string_view) = nullptr;  // secret options
  uint64_t implicit = 0;                               // Kind::kLevel
  // Kind::kFlag, kLevel: the one algorithm name also accepted as the value
  // (s3backer's --compress=ALGORITHM, --encrypt=CIPHER), meaning "on"
  // (kLevel: `implicit`); any other name is refused with `algorithm_note`,
  // which says what usbd does instead.
  const char* algorithm = nullptr;
  const char* algorithm_note = nullptr;
  // s3backer's names also accepted as the value, '|'-separated (its
  // --compress=deflate, --encrypt=AES-128-CBC): they mean "on", and the
  // name, in upper case, goes to `s3backer_field`. They take effect on a
  // volume adopted from s3backer only (stack/volume_session.h).
  const char* s3backer_names = nullptr;
  std::string Options::*s3backer_field = nullptr;
};

std::span<const OptionSpec> AllOptions();
const OptionSpec* FindOption(const std::string& name);

std::string Quote(const std::string& text);

// Parses `text` for `spec` and stores it; `context` prefixes any error
// message ("--size" or "FILE:LINE: size"). A secret option goes to
// ApplySecret.
Status Apply(const OptionSpec& spec, const std::string& text,
             const std::string& context, Options* options);

// Checks and stores the value of a secret option (spec.secret) without
// copying it anywhere but into the option's SecretString.
Status ApplySecret(const OptionSpec& spec, std::string_view text,
                   const std::string& context, Options* options);

// Which stores `options` selects, as a StoreMask bit.
unsigned StoreBit(const Options& options);
// "the S3 store", "the S3 and HTTP stores"...: for messages.
std::string StoresText(unsigned stores);

// Prints --help.
void PrintHelp(std::ostream& out);

}  // namespace usbd::options_internal

#endif  // USBD_CONFIG_OPTION_TABLE_H_
