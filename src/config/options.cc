// usbd's options. kOptions below is the only place an option is defined;
// the command line (CLI11), the options file (inih) and --help are all
// generated from it, so they cannot disagree.
//
// Order of precedence: built-in defaults, then the options file, then the
// command line. Every value, wherever it came from, goes through the same
// ParseValue() for its kind, so "--size=12x" and "size = 12x" fail the same
// way; only the context in the message differs ("--size:" vs "FILE:LINE:
// size:"). Checks that involve several options run once, at the end.
#include "config/options.h"

#include <ini.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <ostream>
#include <sstream>
#include <type_traits>
#include <variant>
#include <vector>

#include "config.h"

namespace usbd {
namespace {

constexpr uint32_t kMinBlockSize = 512;
constexpr uint32_t kMaxBlockSize = 32 << 20;
constexpr const char* kUsage = "usbd [options] BUCKET[/PREFIX] [TARGET]";

enum class Kind {
  kFlag,       // bool; the file takes true/false/yes/no/on/off/1/0
  kString,     // any text, optionally checked by OptionSpec::check
  kSize,       // ParseSize()
  kBlockSize,  // ParseSize(), a power of two in [kMinBlockSize, kMaxBlockSize]
  kUint,       // decimal in [OptionSpec::min, OptionSpec::max]
  kHelp,       // --help: print and exit
  kVersion,    // --version: print and exit
};

static_assert(std::is_same_v<unsigned, uint32_t>,
              "Field below relies on unsigned being uint32_t");
using Field =
    std::variant<std::monostate, bool Options::*, std::string Options::*,
                 uint64_t Options::*, uint32_t Options::*>;
using Value = std::variant<bool, std::string, uint64_t>;

Status CheckListen(const std::string& text);

struct OptionSpec {
  const char* group;                 // heading in --help
  const char* name;                  // long option and options-file key
  const char* short_name = nullptr;  // one letter
  Kind kind;
  const char* value_name = nullptr;  // in --help: --size=SIZE
  const char* help;
  Field field;            // where the value goes (monostate: --help, --version)
  bool in_file = true;    // may the options file set it?
  bool required = false;  // no default; --help says "required"
  uint64_t min = 0, max = 0;                      // Kind::kUint
  Status (*check)(const std::string&) = nullptr;  // Kind::kString
};

// Defaults are not here: they are the initialisers in struct Options (and
// DefaultListenAddress()), which --help reads back. Laid out by hand.
// clang-format off
const OptionSpec kOptions[] = {
    {.group = "Store", .name = "test", .kind = Kind::kFlag,
     .help = "BUCKET is a local directory holding one file per block",
     .field = &Options::test},
    {.group = "Store", .name = "memory", .kind = Kind::kFlag,
     .help = "keep blocks in memory only; everything is lost at exit",
     .field = &Options::memory},
    {.group = "Store", .name = "prefix", .kind = Kind::kString,
     .value_name = "STR", .help = "prepend STR to every block object name",
     .field = &Options::prefix},

    {.group = "Volume", .name = "size", .kind = Kind::kSize,
     .value_name = "SIZE", .help = "volume size, a multiple of --blockSize",
     .field = &Options::size, .required = true},
    {.group = "Volume", .name = "blockSize", .kind = Kind::kBlockSize,
     .value_name = "SIZE",
     .help = "block (object) size, a power of two from 512 to 32M",
     .field = &Options::block_size},
    {.group = "Volume", .name = "readOnly", .kind = Kind::kFlag,
     .help = "serve the volume read-only", .field = &Options::read_only},

    {.group = "Server", .name = "listen", .kind = Kind::kString,
     .value_name = "ADDR", .help = "listen on unix:PATH or tcp:HOST:PORT",
     .field = &Options::listen, .check = &CheckListen},
    {.group = "Server", .name = "foreground", .short_name = "f",
     .kind = Kind::kFlag, .help = "stay in the foreground, logging to stderr",
     .field = &Options::foreground},
    {.group = "Server", .name = "nbdThreads", .kind = Kind::kUint,
     .value_name = "N", .help = "request workers per connection, 1 to 256",
     .field = &Options::nbd_threads, .min = 1, .max = 256},

    {.group = "Logging", .name = "debug", .kind = Kind::kFlag,
     .help = "also log debugging messages", .field = &Options::debug},
    {.group = "Logging", .name = "quiet", .kind = Kind::kFlag,
     .help = "log errors only", .field = &Options::quiet},

    {.group = "General", .name = "configFile", .kind = Kind::kString,
     .value_name = "FILE",
     .help = "read options from FILE (INI; keys are the long option names)",
     .field = &Options::config_file, .in_file = false},
    {.group = "General", .name = "help", .short_name = "h",
     .kind = Kind::kHelp, .help = "print this help and exit",
     .in_file = false},
    {.group = "General", .name = "version", .kind = Kind::kVersion,
     .help = "print the version and exit", .in_file = false},
};
// clang-format on

const OptionSpec* FindOption(const std::string& name) {
  for (const OptionSpec& spec : kOptions) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

std::string Quote(const std::string& text) { return "'" + text + "'"; }

bool ParseDecimal(const std::string& text, uint64_t* value, bool* overflow) {
  *overflow = false;
  if (text.empty()) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    unsigned digit = c - '0';
    if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      *overflow = true;
    } else {
      v = v * 10 + digit;
    }
  }
  *value = v;
  return true;
}

Result<bool> ParseBool(const std::string& text) {
  std::string t;
  for (unsigned char c : text) t += static_cast<char>(std::tolower(c));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return Status::Invalid(Quote(text) + " is not a boolean (use true or false)");
}

Status CheckListen(const std::string& text) {
  const Status bad =
      Status::Invalid(Quote(text) + " is not unix:PATH or tcp:HOST:PORT");
  if (text.rfind("unix:", 0) == 0) {
    std::string path = text.substr(5);
    if (path.empty()) return bad;
    // sockaddr_un.sun_path is 108 bytes including the terminating NUL.
    if (path.size() > 107) {
      return Status::Invalid(Quote(text) +
                             ": socket path longer than 107 bytes");
    }
    return Status::Ok();
  }
  if (text.rfind("tcp:", 0) == 0) {
    std::string rest = text.substr(4);
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0) return bad;
    std::string host = rest.substr(0, colon);
    if (host.front() == '[' && (host.size() < 3 || host.back() != ']')) {
      return bad;
    }
    uint64_t port;
    bool overflow;
    if (!ParseDecimal(rest.substr(colon + 1), &port, &overflow) || overflow ||
        port == 0 || port > 65535) {
      return Status::Invalid(Quote(text) + ": port must be 1 to 65535");
    }
    return Status::Ok();
  }
  return bad;
}

// Converts `text` for `spec`; the message names the value, not the option.
Result<Value> ParseValue(const OptionSpec& spec, const std::string& text) {
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
      if (*size == 0) {
        return Status::Invalid(Quote(text) + " must be greater than zero");
      }
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
    case Kind::kUint: {
      uint64_t n;
      bool overflow;
      if (!ParseDecimal(text, &n, &overflow)) {
        return Status::Invalid(Quote(text) + " is not a whole number");
      }
      if (overflow || n < spec.min || n > spec.max) {
        return Status::Invalid(Quote(text) + " is out of range (" +
                               std::to_string(spec.min) + " to " +
                               std::to_string(spec.max) + ")");
      }
      return Value(n);
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
          } else {
            // ParseValue() has checked the range for this option.
            options->*member = static_cast<T>(std::get<uint64_t>(value));
          }
        }
      },
      field);
}

// Parses and stores one value; `context` prefixes any error message.
Status Apply(const OptionSpec& spec, const std::string& text,
             const std::string& context, Options* options) {
  Result<Value> value = ParseValue(spec, text);
  if (!value.ok()) return value.status().WithContext(context);
  Store(spec.field, *value, options);
  return Status::Ok();
}

// --- the options file ------------------------------------------------------

struct FileParse {
  const std::string* path;
  FILE* file;
  Options* options;
  int line = 0;  // the line inih is handling, counted by Reader
  bool at_line_start = true;
  std::map<std::string, int> seen;  // key -> line that set it
  Status error;                     // the first error; later ones are ignored

  std::string Where() const { return *path + ":" + std::to_string(line); }
  void Fail(const std::string& message) {
    if (error.ok()) error = Status::Invalid(Where() + ": " + message);
  }
};

// inih's reader, fgets-style. The inih built into the distribution does not
// pass line numbers to the handler, so we count lines as inih reads them.
char* Reader(char* buffer, int size, void* stream) {
  auto* parse = static_cast<FileParse*>(stream);
  if (std::fgets(buffer, size, parse->file) == nullptr) return nullptr;
  if (parse->at_line_start) ++parse->line;
  size_t length = std::strlen(buffer);
  parse->at_line_start = length > 0 && buffer[length - 1] == '\n';
  if (!parse->at_line_start && !std::feof(parse->file)) {
    parse->Fail("line longer than " + std::to_string(size - 3) + " characters");
  }
  return buffer;
}

std::string Unquote(const std::string& value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

int Handler(void* user, const char* section, const char* name,
            const char* value) {
  auto* parse = static_cast<FileParse*>(user);
  if (!parse->error.ok()) return 1;
  std::string key = name;
  if (section[0] != '\0' && std::strcmp(section, "usbd") != 0) {
    parse->Fail("unknown section '[" + std::string(section) +
                "]' (use [usbd] or none)");
    return 0;
  }
  const OptionSpec* spec = FindOption(key);
  if (spec == nullptr) {
    std::string hint;
    for (const OptionSpec& s : kOptions) {
      if (strcasecmp(s.name, key.c_str()) == 0) {
        hint = " (did you mean '" + std::string(s.name) + "'?)";
      }
    }
    parse->Fail("unknown option " + Quote(key) + hint);
    return 0;
  }
  if (!spec->in_file) {
    parse->Fail(Quote(key) + " cannot be set in an options file");
    return 0;
  }
  auto [it, inserted] = parse->seen.emplace(key, parse->line);
  if (!inserted) {
    parse->Fail(Quote(key) + " is already set on line " +
                std::to_string(it->second));
    return 0;
  }
  parse->error = Apply(*spec, Unquote(value),
                       parse->Where() + ": " + spec->name, parse->options);
  return parse->error.ok() ? 1 : 0;
}

Status ReadOptionsFile(const std::string& path, Options* options) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    return Status::Error(errno, "--configFile: cannot open " + Quote(path) +
                                    ": " + std::strerror(errno));
  }
  FileParse parse{&path, file, options};
  int rc = ini_parse_stream(&Reader, &parse, &Handler, &parse);
  std::fclose(file);
  if (!parse.error.ok()) return parse.error;
  if (rc > 0) {
    return Status::Invalid(path + ":" + std::to_string(rc) +
                           ": expected 'key = value' or '[usbd]'");
  }
  if (rc != 0) return Status::IoError(path + ": cannot parse");
  return Status::Ok();
}

// --- --help ------------------------------------------------------------------

std::string OptionLabel(const OptionSpec& spec) {
  std::string label = "  ";
  if (spec.short_name != nullptr)
    label += "-" + std::string(spec.short_name) + ", ";
  label += "--" + std::string(spec.name);
  if (spec.value_name != nullptr) label += "=" + std::string(spec.value_name);
  return label;
}

std::string DefaultText(const OptionSpec& spec, const Options& defaults) {
  if (spec.required) return "required";
  std::string text;
  std::visit(
      [&](auto member) {
        if constexpr (!std::is_same_v<decltype(member), std::monostate>) {
          const auto& v = defaults.*member;
          using T = std::remove_cvref_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            text = v;
          } else if constexpr (!std::is_same_v<T, bool>) {
            text = spec.kind == Kind::kUint ? std::to_string(v) : FormatSize(v);
          }
        }
      },
      spec.field);
  return text.empty() ? "" : "default: " + text;
}

// Appends `words` to `line` (already `indent` wide), wrapping at 79 columns.
void Wrap(const std::string& words, size_t indent, std::string* line) {
  std::istringstream in(words);
  std::string word;
  size_t column = indent;
  while (in >> word) {
    if (column > indent && column + 1 + word.size() > 79) {
      *line += "\n" + std::string(indent, ' ');
      column = indent;
    }
    if (column > indent) {
      *line += ' ';
      ++column;
    }
    *line += word;
    column += word.size();
  }
}

void PrintHelp(std::ostream& out) {
  Options defaults;
  defaults.listen = DefaultListenAddress();
  size_t width = 0;
  for (const OptionSpec& spec : kOptions) {
    width = std::max(width, OptionLabel(spec).size());
  }
  width += 2;
  std::string text = std::string("Usage: ") + kUsage + "\n" +
                     "Serve a block device over NBD, stored as one object per "
                     "block.\n";
  std::string group;
  for (const OptionSpec& spec : kOptions) {
    if (group != spec.group) {
      group = spec.group;
      text += "\n" + group + ":\n";
    }
    std::string line = OptionLabel(spec);
    line.resize(width, ' ');
    std::string help = spec.help;
    std::string def = DefaultText(spec, defaults);
    if (!def.empty()) help += " (" + def + ")";
    Wrap(help, width, &line);
    text += line + "\n";
  }
  text +=
      "\nSIZE takes a k, M, G, T, P or E suffix (powers of 1024). Options "
      "given\non the command line override the options file. See usbd(8).\n";
  out << text;
}

// --- the command line --------------------------------------------------------

// What argv said, before it is applied on top of the options file.
struct CommandLine {
  std::vector<std::string> values;  // raw text, by index in kOptions
  std::vector<CLI::Option*> given;  // by index in kOptions; count() > 0
  std::string bucket, target;
  bool has_bucket = false, has_target = false;
};

Status SplitBucket(Options* o) {
  const std::string& arg = o->export_name;
  if (arg.empty()) return Status::Invalid("BUCKET must not be empty");
  if (o->test) {
    o->bucket = arg;
    if (o->prefix.find('/') != std::string::npos) {
      return Status::Invalid(
          "--prefix: " + Quote(o->prefix) +
          " must not contain '/' with --test (block files live directly in "
          "the directory)");
    }
    return Status::Ok();
  }
  size_t slash = arg.find('/');
  if (o->memory || slash == std::string::npos) {
    o->bucket = arg;
    return Status::Ok();
  }
  // s3backer's rule: "bucket/dir" means objects named "dir/<block>".
  std::string dir = arg.substr(slash + 1);
  if (slash == 0 || dir.empty() || dir.front() == '/' || dir.back() == '/' ||
      dir.find("//") != std::string::npos) {
    return Status::Invalid(
        "BUCKET/PREFIX " + Quote(arg) +
        ": needs a bucket name and a prefix without leading, trailing or "
        "doubled '/'");
  }
  if (!o->prefix.empty()) {
    return Status::Invalid("BUCKET/PREFIX " + Quote(arg) +
                           " conflicts with --prefix (give one or the other)");
  }
  o->bucket = arg.substr(0, slash);
  o->prefix = dir + "/";
  return Status::Ok();
}

// The checks that involve more than one option.
Status Finish(const CommandLine& cli, Options* o) {
  if (o->test && o->memory) {
    return Status::Invalid("--test and --memory cannot be used together");
  }
  if (o->debug && o->quiet) {
    return Status::Invalid("--debug and --quiet cannot be used together");
  }
  if (!cli.has_bucket) {
    return Status::Invalid(std::string("missing BUCKET (usage: ") + kUsage +
                           ")");
  }
  if (cli.has_target) {
    return Status::Invalid(
        "TARGET requires --nbd (kernel NBD attach), not available in this "
        "version");
  }
  o->export_name = cli.bucket;
  USBD_RETURN_IF_ERROR(SplitBucket(o));
  if (o->size == 0) return Status::Invalid("--size is required");
  if (o->size % o->block_size != 0) {
    return Status::Invalid("--size (" + FormatSize(o->size) +
                           ") is not a multiple of --blockSize (" +
                           FormatSize(o->block_size) + ")");
  }
  if (o->listen.empty()) o->listen = DefaultListenAddress();
  return Status::Ok();
}

}  // namespace

Result<uint64_t> ParseSize(const std::string& text) {
  const Status bad = Status::Invalid(
      Quote(text) +
      " is not a size (use a number with an optional k, M, G, T suffix)");
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  uint64_t number;
  bool overflow;
  if (!ParseDecimal(text.substr(0, digits), &number, &overflow)) return bad;
  std::string suffix;
  for (char c : text.substr(digits)) {
    suffix += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  unsigned shift = 0;
  if (!suffix.empty() && suffix != "b") {
    static const char kUnits[] = "kmgtpe";
    const char* unit = std::strchr(kUnits, suffix[0]);
    std::string rest = suffix.substr(1);
    if (unit == nullptr || !(rest.empty() || rest == "b" || rest == "ib")) {
      return bad;
    }
    shift = 10 * static_cast<unsigned>(unit - kUnits + 1);
  }
  if (overflow || (shift > 0 && number > (UINT64_MAX >> shift))) {
    return Status::Invalid(Quote(text) + " is too large");
  }
  return number << shift;
}

std::string FormatSize(uint64_t bytes) {
  static const char kUnits[] = "kMGTPE";
  if (bytes == 0) return "0";
  int unit = -1;
  while (unit < 5 && (bytes & 1023) == 0) {
    bytes >>= 10;
    ++unit;
  }
  std::string text = std::to_string(bytes);
  if (unit >= 0) text += kUnits[unit];
  return text;
}

std::string DefaultListenAddress() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && runtime[0] == '/') {
    return std::string("unix:") + runtime + "/usbd.sock";
  }
  return "unix:/tmp/usbd-" + std::to_string(getuid()) + ".sock";
}

Result<ParseAction> ParseOptions(int argc, const char* const* argv,
                                 std::ostream& out, Options* options) {
  constexpr size_t kCount = std::size(kOptions);
  CommandLine cli;
  cli.values.resize(kCount);
  cli.given.resize(kCount);

  CLI::App app("usbd", "usbd");
  app.set_help_flag();
  for (size_t i = 0; i < kCount; ++i) {
    const OptionSpec& spec = kOptions[i];
    std::string names = "--" + std::string(spec.name);
    if (spec.short_name != nullptr) {
      names = "-" + std::string(spec.short_name) + "," + names;
    }
    CLI::Option* opt = nullptr;
    switch (spec.kind) {
      case Kind::kHelp:
        opt = app.set_help_flag(names, spec.help);
        break;
      case Kind::kVersion:
        opt = app.set_version_flag(names, "usbd " PACKAGE_VERSION, spec.help);
        break;
      case Kind::kFlag:  // "--readOnly" stores "true"; "--readOnly=no" works
        opt = app.add_flag(names, cli.values[i], spec.help);
        break;
      default:
        opt = app.add_option(names, cli.values[i], spec.help);
        opt->type_name(spec.value_name);
        break;
    }
    opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    cli.given[i] = opt;
  }
  CLI::Option* bucket = app.add_option("BUCKET", cli.bucket);
  CLI::Option* target = app.add_option("TARGET", cli.target);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    PrintHelp(out);
    return ParseAction::kExit;
  } catch (const CLI::CallForVersion& e) {
    out << e.what() << "\n";
    return ParseAction::kExit;
  } catch (const CLI::ParseError& e) {
    return Status::Invalid(e.what());
  } catch (const std::exception& e) {  // CLI11 may throw others by design
    return Status::Invalid(e.what());
  }
  cli.has_bucket = bucket->count() > 0;
  cli.has_target = target->count() > 0;

  Options result;
  const OptionSpec* config_spec = FindOption("configFile");
  size_t config_index = config_spec - kOptions;
  if (cli.given[config_index]->count() > 0) {
    const std::string& path = cli.values[config_index];
    if (path.empty()) return Status::Invalid("--configFile: empty file name");
    USBD_RETURN_IF_ERROR(ReadOptionsFile(path, &result));
  }
  for (size_t i = 0; i < kCount; ++i) {
    if (cli.given[i]->count() == 0) continue;
    if (kOptions[i].kind == Kind::kHelp || kOptions[i].kind == Kind::kVersion) {
      continue;
    }
    USBD_RETURN_IF_ERROR(Apply(kOptions[i], cli.values[i],
                               "--" + std::string(kOptions[i].name), &result));
  }
  USBD_RETURN_IF_ERROR(Finish(cli, &result));
  *options = std::move(result);
  return ParseAction::kRun;
}

}  // namespace usbd
