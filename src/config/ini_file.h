// Internal to src/config: reads the options file (`--configFile`), an INI
// file parsed with inih whose keys are the long option names.
#ifndef USBD_CONFIG_INI_FILE_H_
#define USBD_CONFIG_INI_FILE_H_

#include <set>
#include <string>

#include "config/options.h"
#include "util/status.h"

namespace usbd::options_internal {

// Applies every "key = value" of the file at `path` to `options`, and adds
// each key it set to `keys`. Errors name FILE:LINE and the key.
Status ReadOptionsFile(const std::string& path, Options* options,
                       std::set<std::string>* keys);

}  // namespace usbd::options_internal

#endif  // USBD_CONFIG_INI_FILE_H_
