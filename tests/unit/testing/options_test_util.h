// Helpers shared by the tests of ParseOptions.
#ifndef USBD_TESTS_UNIT_TESTING_OPTIONS_TEST_UTIL_H_
#define USBD_TESTS_UNIT_TESTING_OPTIONS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/options.h"

namespace usbd::options_test {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = kKiB * 1024;
inline constexpr uint64_t kGiB = kMiB * 1024;

struct Parsed {
  Result<ParseAction> action;
  Options options;
  std::string out;

  bool ok() const { return action.ok(); }
  std::string error() const { return action.status().message(); }
};

inline Parsed Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "usbd");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  std::ostringstream out;
  Options options;
  Result<ParseAction> action =
      ParseOptions(static_cast<int>(argv.size()), argv.data(), out, &options);
  return Parsed{std::move(action), std::move(options), out.str()};
}

// An options file that exists for the life of the object.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string pattern = ::testing::TempDir() + "usbd-options-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    int fd = mkstemp(name.data());
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = name.data();
    std::ofstream(path_) << content;
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline Parsed ParseWithFile(const TempFile& file,
                            std::vector<std::string> args) {
  args.insert(args.begin(), "--configFile=" + file.path());
  return Parse(std::move(args));
}

}  // namespace usbd::options_test

#endif  // USBD_TESTS_UNIT_TESTING_OPTIONS_TEST_UTIL_H_
