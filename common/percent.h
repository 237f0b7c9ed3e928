// Percent-encoding (RFC 3986, section 2.1), written once: URL query values
// (registry/), package URLs (exporter/) and the file names of store records
// (store/) each keep a different set of bytes as they are, so the caller
// says which; every other byte becomes %XX with upper-case hex digits.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xb {

// RFC 3986's unreserved characters: ASCII letters and digits, "-", ".", "_"
// and "~" (ASCII only, whatever the locale: isalnum would take bytes above
// 127 as letters in a Latin-1 locale).
constexpr bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// s with every byte for which is_safe is false written as %XX.
std::string percent_encode(std::string_view s, bool (*is_safe)(unsigned char));

// The bytes percent_encode wrote: nullopt where a '%' is not followed by two
// upper-case hex digits (the only form the encoder writes, so that one
// string has one encoding).
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace xb
