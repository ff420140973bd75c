// The options file: `key = value` lines, optionally under [usbd], read with
// inih. Values go through the same Apply() as the command line's.
#include "config/ini_file.h"

#include <ini.h>
#include <openssl/crypto.h>
#include <strings.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <string_view>

#include "config/option_table.h"
#include "config/s3backer_options.h"

namespace usbd::options_internal {
namespace {

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
// Each call first wipes inih's line buffer, which held the last line (a
// secret option's value, maybe): after the last call nothing is left in it.
char* Reader(char* buffer, int size, void* stream) {
  auto* parse = static_cast<FileParse*>(stream);
  OPENSSL_cleanse(buffer, static_cast<size_t>(size));
  if (std::fgets(buffer, size, parse->file) == nullptr) return nullptr;
  if (parse->at_line_start) ++parse->line;
  size_t length = std::strlen(buffer);
  parse->at_line_start = length > 0 && buffer[length - 1] == '\n';
  if (!parse->at_line_start && !std::feof(parse->file)) {
    parse->Fail("line longer than " + std::to_string(size - 3) + " characters");
  }
  return buffer;
}

std::string_view Unquote(std::string_view value) {
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
    if (const S3backerOption* s3b = FindS3backerOption(key)) {
      Status answer = AnswerS3backerOption(*s3b, parse->Where() + ": " + key);
      if (!answer.ok()) parse->Fail(answer.message());
      return answer.ok() ? 1 : 0;
    }
    std::string hint;
    for (const OptionSpec& s : AllOptions()) {
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
  const std::string context = parse->Where() + ": " + spec->name;
  // A secret goes from inih's line buffer to its SecretString only.
  parse->error =
      spec->secret
          ? ApplySecret(*spec, Unquote(value), context, parse->options)
          : Apply(*spec, std::string(Unquote(value)), context, parse->options);
  return parse->error.ok() ? 1 : 0;
}

}  // namespace

Status ReadOptionsFile(const std::string& path, Options* options,
                       std::set<std::string>* keys) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    return Status::Error(errno, "--configFile: cannot open " + Quote(path) +
                                    ": " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(::fileno(file), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::fclose(file);
    return Status::Error(EISDIR, "--configFile: " + Quote(path) +
                                     " is a directory, not an options file");
  }
  // Unbuffered: a stdio buffer would keep a copy of the secrets in it.
  std::setvbuf(file, nullptr, _IONBF, 0);
  FileParse parse{&path, file, options};
  int rc = ini_parse_stream(&Reader, &parse, &Handler, &parse);
  std::fclose(file);
  if (!parse.error.ok()) return parse.error;
  if (rc > 0) {
    return Status::Invalid(path + ":" + std::to_string(rc) +
                           ": expected 'key = value' or '[usbd]'");
  }
  if (rc != 0) return Status::IoError(path + ": cannot parse");
  for (const auto& [key, line] : parse.seen) keys->insert(key);
  return Status::Ok();
}

}  // namespace usbd::options_internal
