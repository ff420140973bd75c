#include "config/arg_file.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

namespace usbd::options_internal {
namespace {

std::string Trim(const std::string& line) {
  size_t begin = 0, end = line.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(line[begin]))) {
    ++begin;
  }
  while (end > begin &&
         std::isspace(static_cast<unsigned char>(line[end - 1]))) {
    --end;
  }
  return line.substr(begin, end - begin);
}

bool Meaningful(const std::string& trimmed) {
  return !trimmed.empty() && trimmed[0] != '#';
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
    std::ifstream in(path);
    if (!in) {
      return Status::Error(errno, "--configFile: cannot open '" + path +
                                      "': " + std::strerror(errno));
    }
    std::vector<std::string> inner;
    std::string line;
    while (std::getline(in, line)) {
      std::string arg = Trim(line);
      if (Meaningful(arg)) inner.push_back(std::move(arg));
    }
    if (in.bad()) {
      return Status::IoError("--configFile: cannot read '" + path + "'");
    }
    USBD_RETURN_IF_ERROR(
        Expand(inner, depth + 1, out).WithContext("in --configFile " + path));
    i += static_cast<size_t>(flag->second - 1);
  }
  return Status::Ok();
}

}  // namespace

bool IsArgumentFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  while (in && std::getline(in, line)) {
    std::string trimmed = Trim(line);
    if (Meaningful(trimmed)) return trimmed[0] == '-';
  }
  return false;
}

Result<std::vector<std::string>> ExpandArgumentFiles(
    const std::vector<std::string>& args) {
  std::vector<std::string> out;
  USBD_RETURN_IF_ERROR(Expand(args, 0, &out));
  return out;
}

}  // namespace usbd::options_internal
