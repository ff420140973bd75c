// Internal to src/config: s3backer's options file format, read so that an
// s3backer user's --configFile works unchanged.
//
// Format (s3backer's): one command-line argument per line, inserted in
// place of the --configFile flag; leading and trailing white space is
// trimmed; blank lines and lines starting with '#' are ignored; a line may
// be a flag ("--size=10G", "--listBlocks"), a flag's value on its own line
// after it, or a positional argument (the bucket, the device). Nested
// --configFile flags are expanded too, at most kMaxArgumentFileDepth deep.
//
// Which format a file is in is decided per file by its first line that is
// neither blank nor a comment: one starting with '-' is s3backer's format,
// anything else usbd's INI format (ini_file.h), which never starts so.
#ifndef USBD_CONFIG_ARG_FILE_H_
#define USBD_CONFIG_ARG_FILE_H_

#include <string>
#include <vector>

#include "util/status.h"

namespace usbd::options_internal {

inline constexpr int kMaxArgumentFileDepth = 8;

// True when the file at `path` is in s3backer's format. A file that cannot
// be read is not (ReadOptionsFile then reports why).
bool IsArgumentFile(const std::string& path);

// argv (without argv[0]'s meaning changed) with every "--configFile=FILE",
// "--configFile FILE" or "-F FILE" whose FILE is in s3backer's format
// replaced by the file's arguments, in place; other --configFile flags are
// kept for ReadOptionsFile. Stops at "--". Errors name FILE:LINE.
Result<std::vector<std::string>> ExpandArgumentFiles(
    const std::vector<std::string>& args);

}  // namespace usbd::options_internal

#endif  // USBD_CONFIG_ARG_FILE_H_
