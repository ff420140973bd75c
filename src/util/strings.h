// Text helpers the layers share: strict decimal parsing and the short size
// form used in messages ("256k", "1G").
#ifndef USBD_UTIL_STRINGS_H_
#define USBD_UTIL_STRINGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace usbd {

// Strict unsigned decimal: one or more digits and nothing else (no sign,
// space, prefix or suffix; leading zeros are allowed). Returns nullopt for
// anything else, and for a number above UINT64_MAX; `too_large`, when
// given, tells that last case apart (set true only then).
std::optional<uint64_t> ParseDecimal(std::string_view text,
                                     bool* too_large = nullptr);

// `bytes` in the largest binary unit that divides it exactly: 0, 512, 4k,
// 256k, 1M, 3G, 1T, ... (k = 1024). The inverse of config's ParseSize.
std::string FormatSize(uint64_t bytes);

// Percent-encodes every byte but A-Z a-z 0-9 - _ . ~ (and '/' when
// `keep_slash`): RFC 3986's unreserved characters, as AWS signing and the
// NBD URI format require.
std::string UriEncode(std::string_view s, bool keep_slash);

}  // namespace usbd

#endif  // USBD_UTIL_STRINGS_H_
