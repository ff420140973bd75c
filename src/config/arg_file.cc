#include "config/arg_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>

#include "crypto/secret_key.h"
#include "util/fd.h"

namespace usbd::options_internal {
namespace {

std::string Trim(std::string_view line) {
  size_t begin = 0, end = line.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(line[begin]))) {
    ++begin;
  }
  while (end > begin &&
         std::isspace(static_cast<unsigned char>(line[end - 1]))) {
    --end;
  }
  return std::string(line.substr(begin, end - begin));
}

bool Meaningful(const std::string& trimmed) {
  return !trimmed.empty() && trimmed[0] != '#';
}

// The file's lines, trimmed, without blank lines and comments. Read with
// read(2), through no stdio buffer, and every temporary copy wiped: a line
// may be a secret ("--password=..."), as in the INI reader.
Result<std::vector<std::string>> ReadArguments(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Status::Error(errno, "--configFile: cannot open '" + path +
                                    "': " + std::strerror(errno));
  }
  std::string text;
  struct Wipe {
    std::string& text;
    ~Wipe() { CleanseString(&text); }
  } wipe{text};
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      OPENSSL_cleanse(chunk, sizeof chunk);
      return Status::Error(errno, "--configFile: cannot read '" + path +
                                      "': " + std::strerror(errno));
    }
    if (n == 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(chunk, sizeof chunk);
  std::vector<std::string> args;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string arg = Trim(std::string_view(text).substr(begin, end - begin));
    if (Meaningful(arg)) {
      args.push_back(std::move(arg));
    } else {
      CleanseString(&arg);
    }
    begin = end + 1;
  }
  return args;
}

// The path a --configFile flag at args[i] names, and how many arguments
// the flag takes (1 or 2), or nullopt when args[i] is not one.
std::optional<std::pair<std::string, int>> ConfigFlag(
    const std::vector<std::string>& args, size_t i) {
  const std::string& arg = args[i];
  static const std::string kLong = "--configFile";
  if (arg.starts_with(kLong + "=")) {
    return std::make_pair(arg.substr(kLong.size() + 1), 1);
  }
  if ((arg == kLong || arg == "-F") && i + 1 < args.size()) {
    return std::make_pair(args[i + 1], 2);
  }
  return std::nullopt;
}

Status Expand(const std::vector<std::string>& args, int depth,
              std::vector<std::string>* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") {
      out->insert(out->end(), args.begin() + static_cast<long>(i), args.end());
      return Status::Ok();
    }
    auto flag = ConfigFlag(args, i);
    if (!flag || !IsArgumentFile(flag->first)) {
      // usbd's own INI file keeps its flag, in the form CLI11 knows.
      if (flag && args[i] == "-F") {
        out->push_back("--configFile=" + flag->first);
        ++i;
        continue;
      }
      out->push_back(args[i]);
      continue;
    }
    const std::string& path = flag->first;
    if (depth >= kMaxArgumentFileDepth) {
      return Status::Invalid("--configFile: " + path + ": nested more than " +
                             std::to_string(kMaxArgumentFileDepth) +
                             " levels deep");
    }
    Result<std::vector<std::string>> inner = ReadArguments(path);
    if (!inner.ok()) return inner.status();
    Status expanded = Expand(*inner, depth + 1, out);
    for (std::string& arg : *inner) CleanseString(&arg);
    USBD_RETURN_IF_ERROR(expanded.WithContext("in --configFile " + path));
    i += static_cast<size_t>(flag->second - 1);
  }
  return Status::Ok();
}

}  // namespace

bool IsArgumentFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  Result<std::vector<std::string>> args = ReadArguments(path);
  if (!args.ok()) return false;
  const bool dashed = !args->empty() && (*args)[0][0] == '-';
  for (std::string& arg : *args) CleanseString(&arg);
  return dashed;
}

Result<std::vector<std::string>> ExpandArgumentFiles(
    const std::vector<std::string>& args) {
  std::vector<std::string> out;
  USBD_RETURN_IF_ERROR(Expand(args, 0, &out));
  return out;
}

}  // namespace usbd::options_internal
