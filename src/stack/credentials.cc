// Credentials and the HTTP header, resolved after parsing; see
// credentials.h for the order of precedence. Every message here is built
// from option names, file names, line numbers and access key ids only.
#include "stack/credentials.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "crypto/secure_memory.h"

namespace usbd {
namespace {

constexpr const char* kNoCredentials =
    "no S3 credentials: use --accessFile, --accessId with --accessKeyEnv, "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials";

std::string Quote(const std::string& text) { return "'" + text + "'"; }

std::string_view Trim(std::string_view text) {
  const char* space = " \t\r\n\f\v";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(space) - begin + 1);
}

// Cuts the first line (without its '\n') off *rest.
std::string_view NextLine(std::string_view* rest) {
  size_t end = rest->find('\n');
  std::string_view line = rest->substr(0, end);
  *rest = end == std::string_view::npos ? std::string_view()
                                        : rest->substr(end + 1);
  return line;
}

// The whole of `path`, read with open/read straight into secure memory: no
// stdio buffer or std::string ever holds a byte of it. Errors name
// `option` and the file.
Result<SecretString> ReadSecretFile(const std::string& path,
                                    const char* option) {
  constexpr size_t kMaxFile = 1 << 20;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::Error(errno, std::string(option) + ": cannot open " +
                                    Quote(path) + ": " + std::strerror(errno));
  }
  size_t capacity = 4096, size = 0;
  char* buffer = static_cast<char*>(SecureAllocate(capacity));
  Status status = Status::Ok();
  while (buffer != nullptr) {
    if (size == capacity) {
      if (capacity >= kMaxFile) {
        status = Status::Invalid(std::string(option) + ": " + Quote(path) +
                                 " is larger than 1 MiB");
        break;
      }
      capacity *= 2;
      buffer = static_cast<char*>(SecureReallocate(buffer, capacity));
      continue;
    }
    ssize_t n = ::read(fd, buffer + size, capacity - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status =
          Status::Error(errno, std::string(option) + ": cannot read " +
                                   Quote(path) + ": " + std::strerror(errno));
    }
    if (n <= 0) break;
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  if (buffer == nullptr) return Status::Error(ENOMEM, "out of secure memory");
  SecretString text(std::string_view(buffer, status.ok() ? size : 0));
  SecureFree(buffer);  // wipes
  if (!status.ok()) return status;
  return text;
}

// Searches an s3backer access file for `id` (or the first entry when `id`
// is empty). nullopt: no such entry.
Result<std::optional<AwsCredentials>> SearchAccessFile(const std::string& path,
                                                       const std::string& id) {
  Result<SecretString> file = ReadSecretFile(path, "--accessFile");
  if (!file.ok()) return file.status();
  std::string_view rest = file->view();
  for (size_t number = 1; !rest.empty(); ++number) {
    std::string_view line = Trim(NextLine(&rest));
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    std::string_view line_id = Trim(line.substr(0, colon));
    if (colon == std::string_view::npos || line_id.empty() ||
        Trim(line.substr(colon + 1)).empty()) {
      return Status::Invalid(path + ":" + std::to_string(number) +
                             ": expected accessId:accessKey");
    }
    if (id.empty() || line_id == id) {
      return std::optional<AwsCredentials>(AwsCredentials{
          std::string(line_id), Trim(line.substr(colon + 1)), ""});
    }
  }
  return std::optional<AwsCredentials>();
}

// The profile `profile` of an AWS shared credentials file (INI: "[name]"
// sections, "key = value" lines, '#' and ';' comments); nullopt when the
// file has no such section. A section without both keys is an error.
Result<std::optional<AwsCredentials>> SearchSharedCredentials(
    const std::string& path, const std::string& profile) {
  Result<SecretString> file = ReadSecretFile(path, "AWS credentials file");
  if (!file.ok()) return file.status();
  std::string_view rest = file->view();
  bool in_profile = false, found = false;
  std::string id, token;
  SecretString secret;
  for (size_t number = 1; !rest.empty(); ++number) {
    std::string_view line = Trim(NextLine(&rest));
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string_view name = Trim(line.substr(1, line.size() - 2));
      if (name.starts_with("profile ")) name = Trim(name.substr(8));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return Status::Invalid(path + ":" + std::to_string(number) +
                             ": expected 'key = value'");
    }
    std::string_view key = Trim(line.substr(0, equals));
    std::string_view value = Trim(line.substr(equals + 1));
    if (key == "aws_access_key_id") id = std::string(value);
    if (key == "aws_secret_access_key") secret = SecretString(value);
    if (key == "aws_session_token") token = std::string(value);
  }
  if (!found) return std::optional<AwsCredentials>();
  if (id.empty() || secret.empty()) {
    return Status::Invalid("profile " + Quote(profile) + " in " + Quote(path) +
                           " needs aws_access_key_id and "
                           "aws_secret_access_key");
  }
  return std::optional<AwsCredentials>(
      AwsCredentials{id, std::move(secret), token});
}

}  // namespace

Result<AwsCredentials> ResolveCredentials(const Options& options,
                                          const GetEnvFunction& getenv) {
  // Secret values are read as views (copied only into SecretStrings);
  // names and ids as strings.
  auto getenv_value = [&](const char* name) -> std::string_view {
    const char* value = getenv(name);
    return value != nullptr ? value : "";
  };
  auto env = [&](const char* name) -> std::string {
    return std::string(getenv_value(name));
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
    SecretString secret = options.access_key;
    if (!options.access_key_env.empty()) {
      secret = SecretString(getenv_value(options.access_key_env.c_str()));
      if (secret.empty()) {
        return Status::Invalid("--accessKeyEnv: environment variable " +
                               options.access_key_env + " is not set or empty");
      }
    }
    return AwsCredentials{id, std::move(secret), ""};
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
  std::string_view env_secret = getenv_value("AWS_SECRET_ACCESS_KEY");
  std::string use_id = env_id.empty() ? id : env_id;
  if (!env_secret.empty() && !use_id.empty() && (id.empty() || use_id == id)) {
    return AwsCredentials{use_id, SecretString(env_secret),
                          env("AWS_SESSION_TOKEN")};
  }

  // 4. The AWS shared credentials file, as the AWS CLI reads it.
  std::string shared = env("AWS_SHARED_CREDENTIALS_FILE");
  const bool explicit_shared = !shared.empty();
  if (!explicit_shared && !env("HOME").empty()) {
    shared = env("HOME") + "/.aws/credentials";
    errno = 0;
    if (access(shared.c_str(), F_OK) != 0 && errno == ENOENT) shared.clear();
  }
  std::string profile = env("AWS_PROFILE");
  if (profile.empty()) profile = env("AWS_DEFAULT_PROFILE");
  const bool explicit_profile = !profile.empty();
  if (!explicit_profile) profile = "default";
  if (!shared.empty()) {
    Result<std::optional<AwsCredentials>> found =
        SearchSharedCredentials(shared, profile);
    if (!found.ok()) return found.status();
    if (found->has_value() && (id.empty() || (*found)->access_key_id == id)) {
      return **found;
    }
    if (explicit_profile && !found->has_value()) {
      return Status::Invalid("AWS_PROFILE: no profile " + Quote(profile) +
                             " in " + Quote(shared));
    }
  } else if (explicit_profile) {
    return Status::Invalid("AWS_PROFILE is " + Quote(profile) +
                           " but there is no AWS credentials file "
                           "(~/.aws/credentials or "
                           "AWS_SHARED_CREDENTIALS_FILE)");
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

Result<SecretString> ResolveHttpHeader(const Options& options) {
  if (options.http_header_file.empty()) return options.http_header;
  if (!options.http_header.empty()) {
    return Status::Invalid(
        "--httpHeader and --httpHeaderFile cannot be used together");
  }
  const std::string& path = options.http_header_file;
  Result<SecretString> file = ReadSecretFile(path, "--httpHeaderFile");
  if (!file.ok()) return file.status();
  std::string_view rest = file->view(), header;
  while (!rest.empty()) {
    std::string_view line = NextLine(&rest);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Trim(line).empty()) continue;
    if (!header.empty()) {
      return Status::Invalid("--httpHeaderFile: " + Quote(path) +
                             " holds more than one line");
    }
    header = line;
  }
  size_t colon = header.find(':');
  bool ok = colon != std::string_view::npos && colon > 0;
  for (size_t i = 0; ok && i < header.size(); ++i) {
    unsigned char c = header[i];
    ok = c == '\t' || (c >= ' ' && c != 0x7f);
    if (i < colon) ok = ok && c != ' ' && c != '\t';
  }
  if (!ok) {
    return Status::Invalid("--httpHeaderFile: " + Quote(path) +
                           ": expected one line 'Name: value'");
  }
  return SecretString(header);
}

Result<SecretString> ResolvePassword(const Options& options,
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
    return SecretString(value);
  }
  if (options.password_file.empty()) {
    return Status::Invalid(
        "--encrypt needs a password: --passwordFile=FILE, --passwordEnv=VAR "
        "or --password=PW");
  }
  const std::string& path = options.password_file;
  Result<SecretString> file = ReadSecretFile(path, "--passwordFile");
  if (!file.ok()) return file.status();
  std::string_view rest = file->view();
  std::string_view password = NextLine(&rest);
  constexpr size_t kMaxPassword = 1023;
  if (password.size() > kMaxPassword) {
    return Status::Invalid("--passwordFile: the first line of " + Quote(path) +
                           " is longer than " + std::to_string(kMaxPassword) +
                           " bytes");
  }
  if (!password.empty() && password.back() == '\r') password.remove_suffix(1);
  if (password.empty()) {
    return Status::Invalid("--passwordFile: the first line of " + Quote(path) +
                           " is empty");
  }
  return SecretString(password);
}

}  // namespace usbd
