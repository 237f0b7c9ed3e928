#include "common/options.h"

#include "common/error.h"

namespace xb {

std::map<std::string, std::string> parse_key_values(std::string_view flag, std::string_view text,
                                                    std::string_view example) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view part = text.substr(i, j - i);
    i = j + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos)
      fail(ErrorKind::usage, std::string(flag) + " " + std::string(text) + ": \"" + std::string(part) +
                                 "\" is not key=value" +
                                 (example.empty() ? "" : " (e.g. " + std::string(example) + ")"));
    out[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  return out;
}

}  // namespace xb
