// Internal to src/config: s3backer's options that usbd does not implement
// under their own name, each with its answer, so that no s3backer option is
// "unknown" (the rest of s3backer's options are usbd options with the same
// name and meaning, in option_table.cc).
//
//  - kIgnored: usbd's design makes it unnecessary; accepted (on the
//    command line and in either options file format) with one notice line
//    saying why, and nothing else changes.
//  - kRefused: it cannot mean anything here (a FUSE file's options, s3backer
//    test modes) or is not built yet; the start fails with an error naming
//    the option and the reason.
#ifndef USBD_CONFIG_S3BACKER_OPTIONS_H_
#define USBD_CONFIG_S3BACKER_OPTIONS_H_

#include <span>
#include <string>
#include <string_view>

#include "util/status.h"

namespace usbd::options_internal {

enum class S3backerAnswer { kIgnored, kRefused };

struct S3backerOption {
  const char* name;  // without "--"
  bool takes_value;  // "--name=VALUE" (else a bare flag)
  S3backerAnswer answer;
  const char* reason;  // completes "--name: accepted and ignored: ..."
};

std::span<const S3backerOption> S3backerOptions();
const S3backerOption* FindS3backerOption(std::string_view name);

// Answers `option` given in `context` ("--md5CacheSize", "FILE:3:
// md5CacheSize"): logs the notice and returns OK when ignored; the
// refusal as EINVAL otherwise.
Status AnswerS3backerOption(const S3backerOption& option,
                            const std::string& context);

}  // namespace usbd::options_internal

#endif  // USBD_CONFIG_S3BACKER_OPTIONS_H_
