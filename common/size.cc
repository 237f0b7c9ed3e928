#include "common/size.h"

#include <charconv>
#include <cmath>
#include <string>

namespace xb {

std::optional<uint64_t> parse_size(std::string_view text, SizeUnits units) {
  // As go-units' parseSize: the number ends at the last digit, dot or space.
  size_t sep = text.find_last_of("0123456789. ");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string_view num = text.substr(0, text[sep] == ' ' ? sep : sep + 1);
  std::string_view suffix = text.substr(sep + 1);
  // strconv.ParseFloat: an optional sign, then the whole rest must be the number.
  if (!num.empty() && num[0] == '+') num.remove_prefix(1);
  double size = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), size);
  if (num.empty() || ec != std::errc() || end != num.data() + num.size() || std::isnan(size) || size < 0)
    return std::nullopt;

  double mul = 1;
  if (!suffix.empty()) {
    if (suffix.size() > 3) return std::nullopt;
    std::string s(suffix);
    for (auto& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (s[0] == 'b') {
      if (s.size() > 1) return std::nullopt;
    } else {
      double base = units == SizeUnits::binary ? 1024.0 : 1000.0;
      size_t power = std::string_view("kmgtp").find(s[0]);
      if (power == std::string_view::npos) return std::nullopt;
      mul = std::pow(base, static_cast<double>(power + 1));
      // The unit may go on with "b" or "ib" (KiB, MB).
      if ((s.size() == 2 && s[1] != 'b') || (s.size() == 3 && s.substr(1) != "ib")) return std::nullopt;
    }
  }
  double bytes = size * mul;
  if (!(bytes < 9223372036854775808.0)) return std::nullopt;  // 2^63: beyond int64
  return static_cast<uint64_t>(bytes);
}

}  // namespace xb
