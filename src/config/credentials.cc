// Credentials and the HTTP header, resolved after parsing; see
// credentials.h for the order of precedence. Every message here is built
// from option names, file names, line numbers and access key ids only.
#include "config/credentials.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "crypto/secret_key.h"

namespace usbd {
namespace {

constexpr const char* kNoCredentials =
    "no S3 credentials: use --accessFile, --accessId with --accessKeyEnv, or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY";

std::string Quote(const std::string& text) { return "'" + text + "'"; }

std::string Trim(const std::string& text) {
  const char* space = " \t\r\n\f\v";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(space) - begin + 1);
}

// The lines of `path`, or an error naming `option` and the file.
Result<std::vector<std::string>> ReadLines(const std::string& path,
                                           const char* option) {
  FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) {
    return Status::Error(errno, std::string(option) + ": cannot open " +
                                    Quote(path) + ": " + std::strerror(errno));
  }
  std::vector<std::string> lines;
  std::string line;
  int c;
  while ((c = std::getc(file)) != EOF) {
    if (c == '\n') {
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line += static_cast<char>(c);
    }
  }
  bool failed = std::ferror(file) != 0;
  int err = errno;
  std::fclose(file);
  if (failed) {
    return Status::Error(err, std::string(option) + ": cannot read " +
                                  Quote(path) + ": " + std::strerror(err));
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

// Searches an s3backer access file for `id` (or the first entry when `id`
// is empty). nullopt: no such entry.
Result<std::optional<AwsCredentials>> SearchAccessFile(const std::string& path,
                                                       const std::string& id) {
  Result<std::vector<std::string>> lines = ReadLines(path, "--accessFile");
  if (!lines.ok()) return lines.status();
  for (size_t i = 0; i < lines->size(); ++i) {
    std::string line = Trim((*lines)[i]);
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    std::string line_id = Trim(line.substr(0, colon));
    if (colon == std::string::npos || line_id.empty() ||
        Trim(line.substr(colon + 1)).empty()) {
      return Status::Invalid(path + ":" + std::to_string(i + 1) +
                             ": expected accessId:accessKey");
    }
    if (id.empty() || line_id == id) {
      return std::optional<AwsCredentials>(
          AwsCredentials{line_id, Trim(line.substr(colon + 1)), ""});
    }
  }
  return std::optional<AwsCredentials>();
}

}  // namespace

Result<AwsCredentials> ResolveCredentials(const Options& options,
                                          const GetEnvFunction& getenv) {
  auto env = [&](const char* name) -> std::string {
    const char* value = getenv(name);
    return value != nullptr ? value : "";
  };
  const std::string& id = options.access_id;

  // 1. --accessKey / --accessKeyEnv, with --accessId.
  if (!options.access_key.empty() && !options.access_key_env.empty()) {
    return Status::Invalid(
        "--accessKey and --accessKeyEnv cannot be used together");
  }
  if (!options.access_key.empty() || !options.access_key_env.empty()) {
    const char* which =
        options.access_key.empty() ? "--accessKeyEnv" : "--accessKey";
    if (id.empty()) {
      return Status::Invalid(std::string(which) + " needs --accessId");
    }
    std::string secret = options.access_key;
    if (!options.access_key_env.empty()) {
      secret = env(options.access_key_env.c_str());
      if (secret.empty()) {
        return Status::Invalid("--accessKeyEnv: environment variable " +
                               options.access_key_env + " is not set or empty");
      }
    }
    return AwsCredentials{id, secret, ""};
  }

  // 2. The access file.
  std::string path = options.access_file;
  bool explicit_file = !path.empty();
  if (!explicit_file && !env("HOME").empty()) {
    path = env("HOME") + "/.s3backer_passwd";
    errno = 0;
    if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) path.clear();
  }
  if (!path.empty()) {
    Result<std::optional<AwsCredentials>> found = SearchAccessFile(path, id);
    if (!found.ok()) return found.status();
    if (found->has_value()) return **found;
    if (explicit_file) {
      return Status::Invalid("--accessFile: " + Quote(path) +
                             (id.empty()
                                  ? " holds no accessId:accessKey line"
                                  : " has no line for access id " + Quote(id)));
    }
  }

  // 3. The environment.
  std::string env_id = env("AWS_ACCESS_KEY_ID");
  std::string env_secret = env("AWS_SECRET_ACCESS_KEY");
  std::string use_id = env_id.empty() ? id : env_id;
  if (!env_secret.empty() && !use_id.empty() && (id.empty() || use_id == id)) {
    return AwsCredentials{use_id, env_secret, env("AWS_SESSION_TOKEN")};
  }

  if (!id.empty()) {
    return Status::Invalid("no secret key for access id " + Quote(id) +
                           ": use --accessKeyEnv, a line in --accessFile, or "
                           "AWS_SECRET_ACCESS_KEY" +
                           (env_id.empty() || env_id == id
                                ? std::string()
                                : " (AWS_ACCESS_KEY_ID names another id)"));
  }
  if (!env_id.empty() && env_secret.empty()) {
    return Status::Invalid(std::string(kNoCredentials) +
                           " (AWS_ACCESS_KEY_ID is set, "
                           "AWS_SECRET_ACCESS_KEY is not)");
  }
  if (env_id.empty() && !env_secret.empty()) {
    return Status::Invalid(std::string(kNoCredentials) +
                           " (AWS_SECRET_ACCESS_KEY is set, "
                           "AWS_ACCESS_KEY_ID is not)");
  }
  return Status::Invalid(kNoCredentials);
}

Result<std::string> ResolveHttpHeader(const Options& options) {
  if (options.http_header_file.empty()) return options.http_header;
  if (!options.http_header.empty()) {
    return Status::Invalid(
        "--httpHeader and --httpHeaderFile cannot be used together");
  }
  const std::string& path = options.http_header_file;
  Result<std::vector<std::string>> lines = ReadLines(path, "--httpHeaderFile");
  if (!lines.ok()) return lines.status();
  std::string header;
  for (std::string& line : *lines) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty()) continue;
    if (!header.empty()) {
      return Status::Invalid("--httpHeaderFile: " + Quote(path) +
                             " holds more than one line");
    }
    header = line;
  }
  size_t colon = header.find(':');
  bool ok = colon != std::string::npos && colon > 0;
  for (size_t i = 0; ok && i < header.size(); ++i) {
    unsigned char c = header[i];
    ok = c == '\t' || (c >= ' ' && c != 0x7f);
    if (i < colon) ok = ok && c != ' ' && c != '\t';
  }
  if (!ok) {
    return Status::Invalid("--httpHeaderFile: " + Quote(path) +
                           ": expected one line 'Name: value'");
  }
  return header;
}

Result<std::string> ResolvePassword(const Options& options,
                                    const GetEnvFunction& getenv) {
  const int sources = !options.password.empty() +
                      !options.password_file.empty() +
                      !options.password_env.empty();
  if (sources > 1) {
    return Status::Invalid(
        "--password, --passwordFile and --passwordEnv: give only one");
  }
  if (!options.password.empty()) return options.password;
  if (!options.password_env.empty()) {
    const char* value = getenv(options.password_env.c_str());
    if (value == nullptr || value[0] == '\0') {
      return Status::Invalid("--passwordEnv: environment variable " +
                             options.password_env + " is not set or empty");
    }
    return std::string(value);
  }
  if (options.password_file.empty()) {
    return Status::Invalid(
        "--encrypt needs a password: --passwordFile=FILE, --passwordEnv=VAR "
        "or --password=PW");
  }
  const std::string& path = options.password_file;
  FILE* file = std::fopen(path.c_str(), "re");
  if (file == nullptr) {
    return Status::Error(errno, "--passwordFile: cannot open " + Quote(path) +
                                    ": " + std::strerror(errno));
  }
  // No stdio buffer: it would keep a copy of the password.
  std::setvbuf(file, nullptr, _IONBF, 0);
  // Reserved once, on the heap, so that no reallocation leaves a copy
  // behind and moving the result moves the buffer.
  constexpr size_t kMaxPassword = 1023;
  std::string password;
  password.reserve(kMaxPassword + 1);
  int c;
  bool too_long = false;
  while ((c = std::getc(file)) != EOF && c != '\n') {
    if (password.size() == kMaxPassword) {
      too_long = true;
      break;
    }
    password += static_cast<char>(c);
  }
  bool failed = std::ferror(file) != 0;
  int err = errno;
  std::fclose(file);
  if (failed) {
    CleanseString(&password);
    return Status::Error(err, "--passwordFile: cannot read " + Quote(path) +
                                  ": " + std::strerror(err));
  }
  if (too_long) {
    CleanseString(&password);
    return Status::Invalid("--passwordFile: the first line of " + Quote(path) +
                           " is longer than " + std::to_string(kMaxPassword) +
                           " bytes");
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    return Status::Invalid("--passwordFile: the first line of " + Quote(path) +
                           " is empty");
  }
  return password;
}

}  // namespace usbd
