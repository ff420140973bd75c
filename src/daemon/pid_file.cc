#include "daemon/pid_file.h"

#include <unistd.h>

#include <fstream>

#include "util/fd.h"

namespace usbd {
namespace {

std::string PidLine() { return std::to_string(::getpid()) + "\n"; }

}  // namespace

Result<PidFile> PidFile::Write(const std::string& path) {
  USBD_RETURN_IF_ERROR(ReplaceFile(path, PidLine()).WithContext("--pidfile"));
  return PidFile(path);
}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  Remove();
  path_ = std::move(other.path_);
  other.path_.clear();
  return *this;
}

void PidFile::Remove() {
  if (path_.empty()) return;
  std::ifstream in(path_);
  std::string line;
  if (std::getline(in, line) && line + "\n" == PidLine()) {
    ::unlink(path_.c_str());
  }
  path_.clear();
}

}  // namespace usbd
