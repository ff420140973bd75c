// ParseOptions: the command line (CLI11) on top of the options file (inih,
// ini_file.cc) on top of the defaults in struct Options, then the checks
// that involve several options, once, at the end. The table of options is
// in option_table.cc.
#include "config/options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <set>
#include <vector>

#include "config.h"
#include "config/arg_file.h"
#include "config/ini_file.h"
#include "config/option_table.h"
#include "config/s3backer_options.h"
#include "crypto/secret_key.h"
#include "crypto/secure_memory.h"
#include "util/strings.h"

namespace usbd {

using namespace options_internal;  // NOLINT: this file's own internals

namespace {

// What argv said, before it is applied on top of the options file.
struct CommandLine {
  std::vector<std::string> values;  // raw text, by index in AllOptions()
  std::vector<CLI::Option*> given;  // by index in AllOptions(); count() > 0
  std::string bucket, target;
  bool has_bucket = false, has_target = false;
  std::set<std::string> file_keys;  // keys the options file set

  bool OnArgv(const char* name) const {
    const OptionSpec* spec = FindOption(name);
    return given[spec - AllOptions().data()]->count() > 0;
  }
  // Set explicitly, on argv or in the options file.
  bool Set(const char* name) const {
    return OnArgv(name) || file_keys.count(name) > 0;
  }
};

constexpr const char* kS3BucketRule =
    " is not a valid S3 bucket name (3 to 63 lowercase letters, digits, '.' "
    "and '-', starting and ending with a letter or digit)";

bool ValidS3Bucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  for (char c : b) {
    if (!alnum(c) && c != '.' && c != '-') return false;
  }
  return alnum(b.front()) && alnum(b.back()) &&
         b.find("..") == std::string::npos;
}

bool ValidPathComponent(const std::string& b) {
  if (b.empty() || b == "." || b == "..") return false;
  for (char c : b) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::strchr("._~-", c) == nullptr) {
      return false;
    }
  }
  return true;
}

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

Status CheckBucket(const Options& o) {
  if (o.store() == StoreKind::kS3 && !ValidS3Bucket(o.bucket)) {
    return Status::Invalid("BUCKET " + Quote(o.bucket) + kS3BucketRule);
  }
  if (o.store() == StoreKind::kHttp && !ValidPathComponent(o.bucket)) {
    return Status::Invalid("BUCKET " + Quote(o.bucket) +
                           ": with --httpStore, one path component of "
                           "letters, digits, '.', '_', '~' and '-'");
  }
  return Status::Ok();
}

// At most one of --test, --memory, --httpStore; no contradicting actions.
Status CheckModes(const CommandLine& cli, const Options& o) {
  const std::pair<bool, const char*> stores[] = {{o.test, "--test"},
                                                 {o.memory, "--memory"},
                                                 {o.http_store, "--httpStore"}};
  const char* first = nullptr;
  for (const auto& [on, name] : stores) {
    if (!on) continue;
    if (first != nullptr) {
      return Status::Invalid(std::string(first) + " and " + name +
                             " cannot be used together");
    }
    first = name;
  }
  if (o.debug && o.quiet) {
    return Status::Invalid("--debug and --quiet cannot be used together");
  }
  if (!o.sse_key_id.empty() && o.sse != "aws:kms") {
    return Status::Invalid("--sse-key-id needs --sse=aws:kms");
  }
  if (!cli.has_bucket) {
    return Status::Invalid(std::string("missing BUCKET (usage: ") + kUsage +
                           ")");
  }
  const char* action = o.erase                ? "--erase"
                       : o.reset_mounted_flag ? "--reset-mounted-flag"
                                              : nullptr;
  if (o.erase && o.reset_mounted_flag) {
    return Status::Invalid(
        "--erase and --reset-mounted-flag cannot be used together");
  }
  if (action != nullptr && cli.has_target) {
    return Status::Invalid(std::string(action) +
                           " takes BUCKET[/PREFIX] only, not TARGET");
  }
  if (action != nullptr && o.memory) {
    return Status::Invalid(std::string(action) +
                           " does not apply to --memory (nothing is kept)");
  }
  if (o.erase && o.read_only) {
    return Status::Invalid("--erase and --readOnly cannot be used together");
  }
  if (cli.has_target && !o.nbd) {
    return Status::Invalid("TARGET (/dev/nbdX) requires --nbd");
  }
  if (o.nbd && (o.print_uri || !o.run.empty())) {
    return Status::Invalid(std::string(o.print_uri ? "--print-uri" : "--run") +
                           " needs an NBD socket: not with --nbd");
  }
  // Options for another store, on the command line. (An options file may
  // hold settings for several stores; those are ignored.)
  const unsigned store = StoreBit(o);
  for (const OptionSpec& spec : AllOptions()) {
    if ((spec.stores & store) == 0 && cli.OnArgv(spec.name)) {
      return Status::Invalid("--" + std::string(spec.name) +
                             " only applies to " + StoresText(spec.stores));
    }
  }
  return Status::Ok();
}

// --baseURL, --ssl, --region; secrets given twice.
Status FinishRemote(const CommandLine& cli, Options* o) {
  if (o->store() == StoreKind::kS3) {
    bool base_given = cli.Set("baseURL");
    if (o->ssl && base_given && o->base_url.rfind("https://", 0) != 0) {
      return Status::Invalid("--ssl conflicts with the non-https --baseURL " +
                             Quote(o->base_url));
    }
    if (!base_given && o->region != "us-east-1") {
      o->base_url = "https://s3." + o->region + ".amazonaws.com/";
    }
    if (!o->access_key.empty() && !o->access_key_env.empty()) {
      return Status::Invalid(
          "--accessKey and --accessKeyEnv cannot be used together");
    }
  }
  if (o->store() == StoreKind::kHttp) {
    if (!cli.Set("baseURL")) {
      return Status::Invalid(
          "--httpStore needs --baseURL (the server's URL, e.g. "
          "http://localhost:8080/dav/)");
    }
    if (!o->http_header.empty() && !o->http_header_file.empty()) {
      return Status::Invalid(
          "--httpHeader and --httpHeaderFile cannot be used together");
    }
  }
  if (o->base_url.back() != '/') o->base_url += '/';
  if (o->max_retry_pause_ms != 0 &&
      o->max_retry_pause_ms < o->initial_retry_pause_ms) {
    return Status::Invalid(
        "--maxRetryPause (" + std::to_string(o->max_retry_pause_ms) +
        " ms) must be at least --initialRetryPause (" +
        std::to_string(o->initial_retry_pause_ms) + " ms), or 0: no retries");
  }
  // As s3backer: one block must fit in one attempt at the capped speed.
  const std::pair<uint64_t, const char*> caps[] = {
      {o->max_upload_bytes_per_sec, "--maxUploadSpeed"},
      {o->max_download_bytes_per_sec, "--maxDownloadSpeed"}};
  for (const auto& [bytes_per_sec, name] : caps) {
    if (bytes_per_sec != 0 &&
        o->block_size / bytes_per_sec >= o->timeout_seconds) {
      return Status::Invalid(
          "--timeout (" + std::to_string(o->timeout_seconds) +
          " s) is too short to move one block (" + FormatSize(o->block_size) +
          ") at " + name + " (" + std::to_string(bytes_per_sec) + " bytes/s)");
    }
    // An attempt is also cut to the retry budget (retry_store.h).
    if (bytes_per_sec != 0 && o->max_retry_pause_ms != 0 &&
        uint64_t{o->block_size} * 1000 / bytes_per_sec >=
            o->max_retry_pause_ms) {
      return Status::Invalid(
          "--maxRetryPause (" + std::to_string(o->max_retry_pause_ms) +
          " ms) is too short to move one block (" + FormatSize(o->block_size) +
          ") at " + name + " (" + std::to_string(bytes_per_sec) + " bytes/s)");
    }
  }
  return Status::Ok();
}

// --encrypt and its password: exactly one source with it, none without.
Status CheckEncryption(const CommandLine& cli, Options* o) {
  const std::pair<const char*, bool> sources[] = {
      {"passwordFile", o->password_file.empty()},
      {"passwordEnv", o->password_env.empty()},
      {"password", o->password.empty()}};
  std::vector<std::string> given;
  for (const auto& [name, empty] : sources) {
    if (!cli.Set(name)) continue;
    if (empty) {
      return Status::Invalid("--" + std::string(name) + " must not be empty");
    }
    given.push_back("--" + std::string(name));
  }
  if (given.size() > 1) {
    return Status::Invalid(given[0] + " and " + given[1] +
                           " cannot be used together (give one password)");
  }
  if (o->encrypt && given.empty()) {
    return Status::Invalid(
        "--encrypt needs a password: --passwordFile=FILE, --passwordEnv=VAR "
        "or --password=PW");
  }
  if (!o->encrypt && !given.empty()) {
    return Status::Invalid(given[0] +
                           " is only used with --encrypt, which is not set");
  }
  o->password_on_command_line = cli.OnArgv("password");
  for (const OptionSpec& spec : AllOptions()) {
    if (spec.secret && cli.OnArgv(spec.name) &&
        std::strcmp(spec.name, "password") != 0) {  // warned about with it
      o->secrets_on_command_line.push_back("--" + std::string(spec.name));
    }
  }
  return Status::Ok();
}

// The checks that involve more than one option.
Status Finish(const CommandLine& cli, Options* o) {
  USBD_RETURN_IF_ERROR(CheckModes(cli, *o));
  o->export_name = cli.bucket;
  o->target = cli.target;
  USBD_RETURN_IF_ERROR(SplitBucket(o));
  USBD_RETURN_IF_ERROR(CheckBucket(*o));
  bool remote = o->store() == StoreKind::kS3 || o->store() == StoreKind::kHttp;
  if (remote) USBD_RETURN_IF_ERROR(FinishRemote(cli, o));
  USBD_RETURN_IF_ERROR(CheckEncryption(cli, o));
  bool action = o->erase || o->reset_mounted_flag;
  // S3, HTTP and --test volumes record their size (volume/metadata.h): it
  // is required only to create one, which only the volume can tell.
  if (o->size == 0 && o->memory && !action) {
    return Status::Invalid("--size is required");
  }
  if (o->size % o->block_size != 0) {
    return Status::Invalid("--size (" + FormatSize(o->size) +
                           ") is not a multiple of --blockSize (" +
                           FormatSize(o->block_size) + ")");
  }
  if (o->listen.empty()) o->listen = DefaultListenAddress();
  return Status::Ok();
}

// CLI11 2.1.2 reads "--name=" as "--name" and takes the NEXT argument as
// its value ("--prefix= --readOnly" set the prefix to "--readOnly").
// Rewrites "--name=" as "--name" "" so the value is explicitly empty; a
// flag has no empty value, so "--flag=" is refused.
Result<std::vector<std::string>> ExplicitEmptyValues(int argc,
                                                     const char* const* argv) {
  std::vector<std::string> args;
  bool options_end = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") options_end = true;
    const OptionSpec* spec = nullptr;
    if (!options_end && i > 0 && arg.size() > 3 && arg.starts_with("--") &&
        arg.back() == '=') {
      spec = FindOption(arg.substr(2, arg.size() - 3));
    }
    if (spec == nullptr || spec->kind == Kind::kHelp ||
        spec->kind == Kind::kVersion) {
      args.push_back(std::move(arg));
      continue;
    }
    if (spec->kind == Kind::kFlag || spec->kind == Kind::kLevel) {
      return Status::Invalid(arg + ": empty value (give --" + spec->name +
                             " alone, or with =yes or =no)");
    }
    arg.pop_back();
    args.push_back(std::move(arg));
    args.emplace_back();
  }
  return args;
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
  bool overflow;
  std::optional<uint64_t> parsed =
      ParseDecimal(std::string_view(text).substr(0, digits), &overflow);
  if (!parsed && !overflow) return bad;
  const uint64_t number = parsed.value_or(0);
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

std::string DefaultListenAddress() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (runtime != nullptr && runtime[0] == '/') {
    return std::string("unix:") + runtime + "/usbd.sock";
  }
  return "unix:/tmp/usbd-" + std::to_string(getuid()) + ".sock";
}

namespace {

// The values of the secret options in argv, as CLI11 reads them:
// "--name=VALUE", or "--name VALUE" when VALUE does not look like an
// option (CLI11 refuses that). Calls found(k, i, offset) for each: the
// value of AllOptions()[k] is argv[i] + offset. Stops at "--".
template <typename Found>
void FindSecretArguments(int argc, const char* const* argv, Found found) {
  const std::span<const OptionSpec> specs = AllOptions();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return;
    for (size_t k = 0; k < specs.size(); ++k) {
      if (!specs[k].secret) continue;
      std::string name = "--" + std::string(specs[k].name);
      if (argv[i] == name) {
        if (i + 1 < argc && (argv[i + 1][0] != '-' || argv[i + 1][1] == '\0')) {
          found(k, ++i, 0);
        }
        break;
      }
      if (std::strncmp(argv[i], (name + "=").c_str(), name.size() + 1) == 0) {
        found(k, i, name.size() + 1);
        break;
      }
    }
  }
}

// The values of the secret options, taken out of argv before CLI11 sees
// it: CLI11 copies every argument into std::strings that it frees without
// wiping. CLI11 gets `args`, argv with each such value replaced by a
// placeholder, so that it still counts the option as given.
struct SecretArguments {
  std::vector<const char*> args;
  std::vector<SecretString> values;  // by index in AllOptions()
  std::vector<bool> taken;           // values[k] was set from argv
  std::vector<std::unique_ptr<std::string>> replaced;  // "--name=*"
};

SecretArguments TakeSecretArguments(int argc, const char* const* argv) {
  static constexpr const char* kPlaceholder = "*";
  SecretArguments secrets;
  secrets.args.assign(argv, argv + argc);
  secrets.values.resize(AllOptions().size());
  secrets.taken.resize(AllOptions().size());
  FindSecretArguments(argc, argv, [&](size_t k, int i, size_t offset) {
    const char* value = argv[i] + offset;
    secrets.values[k] = SecretString(value);
    secrets.taken[k] = true;
    if (offset == 0) {
      secrets.args[i] = kPlaceholder;
    } else if (value[0] != '\0') {
      secrets.replaced.push_back(std::make_unique<std::string>(
          std::string(argv[i], offset) + kPlaceholder));
      secrets.args[i] = secrets.replaced.back()->c_str();
    }
  });
  return secrets;
}

}  // namespace

void ScrubSecretArguments(int argc, char** argv) {
  FindSecretArguments(argc, argv, [&](size_t, int i, size_t offset) {
    for (char* text = argv[i] + offset; *text != '\0'; ++text) *text = 'x';
  });
}

Result<ParseAction> ParseOptions(int argc, const char* const* argv,
                                 std::ostream& out, Options* options) {
  // s3backer's options files become arguments in place (arg_file.h).
  std::vector<std::string> given(argv, argv + argc);
  Result<std::vector<std::string>> expanded = ExpandArgumentFiles(given);
  struct WipeExpanded {  // copies that may hold a secret's value
    std::vector<std::string>& given;
    Result<std::vector<std::string>>& expanded;
    ~WipeExpanded() {
      for (std::string& arg : given) CleanseString(&arg);
      if (expanded.ok()) {
        for (std::string& arg : *expanded) CleanseString(&arg);
      }
    }
  } wipe_expanded{given, expanded};
  if (!expanded.ok()) return expanded.status();
  std::vector<const char*> expanded_argv;
  for (const std::string& arg : *expanded) expanded_argv.push_back(arg.c_str());
  argc = static_cast<int>(expanded_argv.size());
  argv = expanded_argv.data();

  const std::span<const OptionSpec> specs = AllOptions();
  const size_t count = specs.size();
  SecretArguments secrets = TakeSecretArguments(argc, argv);
  CommandLine cli;
  cli.values.resize(count);
  cli.given.resize(count);
  // The raw text of the secret options is wiped however parsing ends.
  struct WipeSecrets {
    CommandLine& cli;
    std::span<const OptionSpec> specs;
    ~WipeSecrets() {
      for (size_t i = 0; i < specs.size(); ++i) {
        if (specs[i].secret) CleanseString(&cli.values[i]);
      }
    }
  } wipe{cli, specs};

  CLI::App app("usbd", "usbd");
  app.set_help_flag();
  for (size_t i = 0; i < count; ++i) {
    const OptionSpec& spec = specs[i];
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
      case Kind::kFlag:   // "--readOnly" stores "true"; "--readOnly=no" works
      case Kind::kLevel:  // "--compress" stores "true"; "--compress=3" works
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
  // s3backer's options that usbd answers without implementing them.
  const std::span<const S3backerOption> s3backer = S3backerOptions();
  std::vector<std::string> s3backer_values(s3backer.size());
  std::vector<CLI::Option*> s3backer_given(s3backer.size());
  for (size_t k = 0; k < s3backer.size(); ++k) {
    const std::string names = "--" + std::string(s3backer[k].name);
    s3backer_given[k] = s3backer[k].takes_value
                            ? app.add_option(names, s3backer_values[k])
                            : app.add_flag(names, s3backer_values[k]);
    s3backer_given[k]->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  CLI::Option* bucket = app.add_option("BUCKET", cli.bucket);
  CLI::Option* target = app.add_option("TARGET", cli.target);

  // From argv with the secret values already taken out.
  Result<std::vector<std::string>> args =
      ExplicitEmptyValues(argc, secrets.args.data());
  if (!args.ok()) return args.status();
  struct WipeArgs {  // should they hold a secret CLI11 would refuse
    std::vector<std::string>& args;
    ~WipeArgs() {
      for (std::string& arg : args) CleanseString(&arg);
    }
  } wipe_args{*args};
  std::vector<const char*> arg_pointers;
  for (const std::string& arg : *args) arg_pointers.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(arg_pointers.size()), arg_pointers.data());
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
  for (size_t k = 0; k < s3backer.size(); ++k) {
    if (s3backer_given[k]->count() == 0) continue;
    USBD_RETURN_IF_ERROR(AnswerS3backerOption(
        s3backer[k], "--" + std::string(s3backer[k].name)));
  }
  cli.has_bucket = bucket->count() > 0;
  cli.has_target = target->count() > 0;

  Options result;
  size_t config_index = FindOption("configFile") - specs.data();
  if (cli.given[config_index]->count() > 0) {
    const std::string& path = cli.values[config_index];
    if (path.empty()) return Status::Invalid("--configFile: empty file name");
    USBD_RETURN_IF_ERROR(ReadOptionsFile(path, &result, &cli.file_keys));
  }
  for (size_t i = 0; i < count; ++i) {
    if (cli.given[i]->count() == 0) continue;
    if (specs[i].kind == Kind::kHelp || specs[i].kind == Kind::kVersion) {
      continue;
    }
    const std::string context = "--" + std::string(specs[i].name);
    if (specs[i].secret && secrets.taken[i]) {
      USBD_RETURN_IF_ERROR(
          ApplySecret(specs[i], secrets.values[i].view(), context, &result));
      continue;
    }
    USBD_RETURN_IF_ERROR(Apply(specs[i], cli.values[i], context, &result));
  }
  USBD_RETURN_IF_ERROR(Finish(cli, &result));
  *options = std::move(result);
  return ParseAction::kRun;
}

Result<ParseAction> ParseOptions(int argc, char** argv, std::ostream& out,
                                 Options* options) {
  Result<ParseAction> action =
      ParseOptions(argc, static_cast<const char* const*>(argv), out, options);
  ScrubSecretArguments(argc, argv);
  return action;
}

}  // namespace usbd
