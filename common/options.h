// Option values shaped like buildx's "type=local,dest=out,mode=max".
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace xb {

// Splits text at commas into key=value pairs (empty parts skipped, a later
// key wins). A part without "=" is a usage error naming flag and text:
// `--secret id: "id" is not key=value`, with " (e.g. EXAMPLE)" when given.
std::map<std::string, std::string> parse_key_values(std::string_view flag, std::string_view text,
                                                    std::string_view example = {});

}  // namespace xb
