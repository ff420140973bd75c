// Internal to src/config: the checks of single option values that the
// option table (option_table.cc) refers to, one per kind of text. Each
// returns EINVAL with a message naming the value, not the option (the
// caller adds that).
#ifndef USBD_CONFIG_OPTION_CHECKS_H_
#define USBD_CONFIG_OPTION_CHECKS_H_

#include <string>
#include <string_view>

#include "util/status.h"

namespace usbd::options_internal {

// true/false/yes/no/on/off/1/0, any case.
Result<bool> ParseBool(const std::string& text);

Status CheckListen(const std::string& text);
Status CheckBaseUrl(const std::string& text);
Status CheckRegion(const std::string& text);
Status CheckStorageClass(const std::string& text);
Status CheckSse(const std::string& text);
Status CheckSectorSize(const std::string& text);
Status CheckAccessType(const std::string& text);
Status CheckAuthVersion(const std::string& text);
Status CheckEnvName(const std::string& text);
Status CheckHttpHeader(std::string_view text);
Status CheckCaFile(const std::string& text);

}  // namespace usbd::options_internal

#endif  // USBD_CONFIG_OPTION_CHECKS_H_
